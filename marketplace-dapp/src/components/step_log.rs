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
