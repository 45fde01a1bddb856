//! A transaction's steps as they happen (signature requested, sent, confirmed, ...) and how it ended:
//! a receipt, or a sentence saying what went wrong.

use yew::prelude::*;

use crate::error::DappError;

/// What `StepLog` shows.
#[derive(Properties, PartialEq)]
pub(crate) struct StepLogProps {
    /// The steps so far, as sentences.
    pub(crate) steps: Vec<String>,
    /// The receipt, or what went wrong; none while running (or before).
    pub(crate) outcome: Option<Result<String, DappError>>,
    /// Classes the error sentence has besides `error`.
    #[prop_or_default]
    pub(crate) error_class: Classes,
}

/// The steps, then the receipt or the error.
#[function_component(StepLog)]
pub(crate) fn step_log(props: &StepLogProps) -> Html {
    html! {
        <>
            <ol class="steps" aria-live="polite">
                { for props.steps.iter().map(|s| html! { <li>{ s }</li> }) }
            </ol>
            { match &props.outcome {
                Some(Ok(receipt)) => html! { <p class="receipt" role="status">{ receipt }</p> },
                Some(Err(e)) => html! {
                    <p class={classes!("error", props.error_class.clone())} role="alert">{ e.to_string() }</p>
                },
                None => html! {},
            } }
        </>
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is a failure report

    use wasm_bindgen_test::wasm_bindgen_test;

    use super::*;
    use crate::testing::{find, root, settle, texts};

    #[wasm_bindgen_test]
    async fn steps_then_an_error_sentence() {
        let root = root();
        yew::Renderer::<StepLog>::with_root_and_props(
            root.clone(),
            StepLogProps {
                steps: vec!["Signed the permit.".into(), "Transaction sent.".into()],
                outcome: Some(Err(DappError::Rejected)),
                error_class: classes!("buy-error"),
            },
        )
        .render();
        settle().await;
        assert_eq!(
            texts(&root, ".steps li"),
            ["Signed the permit.", "Transaction sent."]
        );
        let error = find(&root, ".error.buy-error[role=alert]");
        assert!(
            error
                .text_content()
                .unwrap()
                .contains("You rejected the request")
        );
        assert!(root.query_selector(".receipt").unwrap().is_none());
    }

    #[wasm_bindgen_test]
    async fn a_receipt() {
        let root = root();
        yew::Renderer::<StepLog>::with_root_and_props(
            root.clone(),
            StepLogProps {
                steps: Vec::new(),
                outcome: Some(Ok("Created 0xab/air.".into())),
                error_class: Classes::new(),
            },
        )
        .render();
        settle().await;
        assert_eq!(
            find(&root, ".receipt[role=status]").text_content().unwrap(),
            "Created 0xab/air."
        );
    }
}
