//! Props-only components: each gets its data and callbacks through props and does input and output only
//! through `services`. `AccountBar` (connect a wallet or the development account, switch chains,
//! balance, faucet), `ProductCard`, `BuyPanel` (period, price, permit or approve-then-buy, each step
//! shown), `LiveView` (a stream's verified events and charts), `LicenceCard`, `StepLog` (a transaction's
//! steps and outcome), `time` (dates in the page's time zone) and `sell` (the seller's forms and tables);
//! `keep_typed`, the handler of a field whose text is held in state.

mod account_bar;
mod buy_panel;
mod licence_card;
mod live_view;
mod product_card;
pub(crate) mod sell;
mod step_log;
pub(crate) mod time;

pub(crate) use account_bar::AccountBar;
pub(crate) use buy_panel::BuyPanel;
pub(crate) use licence_card::LicenceCard;
pub(crate) use live_view::LiveView;
pub(crate) use product_card::ProductCard;
pub(crate) use step_log::StepLog;

use yew::{Callback, InputEvent, TargetCast, UseStateHandle};

/// Keeps what is typed into an input in `state`, for a field rendered with `value={state}`. A field's
/// value is held in state rather than only in the DOM whenever the component sets it: Yew writes a
/// field's `value` back on every render, so a field rendered with a constant (an initial value) would
/// lose what was typed whenever the component renders again.
pub(crate) fn keep_typed<T: From<String> + 'static>(
    state: &UseStateHandle<T>,
) -> Callback<InputEvent> {
    let state = state.clone();
    Callback::from(move |e: InputEvent| {
        if let Some(input) = e.target_dyn_into::<web_sys::HtmlInputElement>() {
            state.set(input.value().into());
        }
    })
}
