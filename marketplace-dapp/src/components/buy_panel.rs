//! Buying a licence: choose a period, see the price the marketplace asks, buy with a permit (one
//! transaction) or approve-then-buy (two); each step shown as it happens, then the receipt or a plain
//! sentence saying what went wrong (a balance below the price is said before anything is signed).

use alloy_primitives::U256;
use wasm_bindgen_futures::spawn_local;
use yew::prelude::*;

use crate::{
    components::{StepLog, time::date_time},
    error::DappError,
    model::{Listing, format_data, format_period, periods_from},
    services::{chain::Payment, wallet::Account},
};

/// What `BuyPanel` sells, to whom, and whom it tells.
#[derive(Properties, PartialEq)]
pub(crate) struct BuyPanelProps {
    /// The product.
    pub(crate) listing: Listing,
    /// The buying account.
    pub(crate) account: Account,
    /// Told after a purchase is mined.
    pub(crate) on_bought: Callback<()>,
    /// The panel's title ("Buy a licence", "Extend the licence", ...).
    #[prop_or(AttrValue::Static("Buy a licence"))]
    pub(crate) title: AttrValue,
}

/// The purchase panel.
#[function_component(BuyPanel)]
pub(crate) fn buy_panel(props: &BuyPanelProps) -> Html {
    let l = &props.listing;
    let periods = periods_from(l.minimum_seconds);
    let first = periods.first().map_or(l.minimum_seconds, |p| p.0);
    let seconds = use_state(|| first);
    let price = use_state(|| None::<Result<U256, DappError>>);
    let steps = use_state(Vec::<String>::new);
    let busy = use_state(|| false);
    let outcome = use_state(|| None::<Result<String, DappError>>);
    {
        let price = price.clone();
        let account = props.account.clone();
        use_effect_with((l.id, *seconds), move |&(id, seconds)| {
            spawn_local(async move {
                price.set(Some(account.chain().price_of(id, seconds).await));
            });
        });
    }
    let buy = |payment: Payment| {
        let account = props.account.clone();
        let (steps, busy, outcome) = (steps.clone(), busy.clone(), outcome.clone());
        let on_bought = props.on_bought.clone();
        let (id, seconds, price) = (l.id, *seconds, (*price).clone());
        Callback::from(move |_: MouseEvent| {
            let Some(Ok(price)) = price.clone() else {
                return;
            };
            let (account, busy, outcome) = (account.clone(), busy.clone(), outcome.clone());
            let on_bought = on_bought.clone();
            let log = steps.clone();
            steps.set(Vec::new());
            busy.set(true);
            outcome.set(None);
            account
                .chain()
                .listen(Callback::from(move |all| log.set(all)));
            spawn_local(async move {
                let bought = account
                    .chain()
                    .buy(account.address(), id, seconds, price, payment)
                    .await;
                busy.set(false);
                match bought {
                    Ok(expiry) => {
                        outcome.set(Some(Ok(format!(
                            "Receipt: paid {} DATA for {}; licensed until {}.",
                            format_data(price, 6),
                            format_period(seconds),
                            date_time(expiry)
                        ))));
                        on_bought.emit(());
                    }
                    Err(e) => outcome.set(Some(Err(e))),
                }
            });
        })
    };
    let choose = {
        let seconds = seconds.clone();
        Callback::from(move |e: Event| {
            if let Some(select) = e.target_dyn_into::<web_sys::HtmlSelectElement>()
                && let Ok(s) = select.value().parse()
            {
                seconds.set(s);
            }
        })
    };
    let priced = matches!(&*price, Some(Ok(_)));
    let disabled = *busy || !priced || !l.active;
    html! {
        <section class="buy" aria-labelledby="buy-title">
            <h2 id="buy-title">{ props.title.clone() }</h2>
            if !l.active {
                <p class="note" id="paused-note">{ "The seller has paused sales of this product." }</p>
            }
            <label for={format!("period-{}", l.id)}>{ "Period " }</label>
            <select id={format!("period-{}", l.id)} class="period" onchange={choose} disabled={*busy}>
                { for periods.iter().map(|(s, label)| html! {
                    <option value={s.to_string()} selected={*s == *seconds}>{ *label }</option>
                }) }
            </select>
            <p class="price-quote">{ match &*price {
                None => "Asking the marketplace for the price…".to_owned(),
                Some(Ok(p)) => format!("Price: {} DATA for {}.", format_data(*p, 6), format_period(*seconds)),
                Some(Err(e)) => format!("No price: {e}"),
            } }</p>
            <button class="buy-permit" onclick={buy(Payment::Permit)} {disabled}>
                { "Buy — one transaction (permit)" }
            </button>
            { " " }
            <button class="buy-approve" onclick={buy(Payment::ApproveThenBuy)} {disabled}>
                { "Buy — approve, then buy (two transactions)" }
            </button>
            <StepLog steps={(*steps).clone()} outcome={(*outcome).clone()} error_class="buy-error" />
        </section>
    }
}
