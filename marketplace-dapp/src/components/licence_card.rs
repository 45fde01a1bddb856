//! One licence the account holds: the product, the time left (or since it lapsed) by the chain's clock,
//! its end and what was paid, a button that shows its streams live, and a `BuyPanel` that extends or
//! renews it.

use yew::prelude::*;

use crate::{
    components::{BuyPanel, LiveView, time::date_time},
    model::{Licence, Route, format_data, format_remaining},
    services::wallet::Account,
};

/// What `LicenceCard` shows and whom it tells.
#[derive(Properties, PartialEq)]
pub(crate) struct LicenceCardProps {
    /// The licence.
    pub(crate) licence: Licence,
    /// Now by the chain's clock, Unix seconds.
    pub(crate) now: u64,
    /// The account holding it.
    pub(crate) account: Account,
    /// Whether its streams are shown live.
    pub(crate) watching: bool,
    /// Bumped after an extension: the live views subscribe again.
    pub(crate) generation: u32,
    /// Told when the watch button is pressed.
    pub(crate) on_watch: Callback<()>,
    /// Told after an extension or renewal is mined.
    pub(crate) on_extended: Callback<()>,
}

/// A licence as a list item.
#[function_component(LicenceCard)]
pub(crate) fn licence_card(props: &LicenceCardProps) -> Html {
    let licence = &props.licence;
    let id = licence.listing.id;
    let now = props.now;
    let active = licence.expiry > now;
    let toggle = props.on_watch.reform(|_: MouseEvent| ());
    html! {
        <li class={classes!("licence", if active { "active" } else { "lapsed" })} id={format!("licence-{id}")}>
            <h2><a href={Route::Product(id).hash()}>{ &licence.listing.name }</a></h2>
            <p class="countdown" aria-live="off">
                { if active { format!("Active — {}", format_remaining(licence.expiry, now)) }
                  else { format!("Lapsed — {}. The relay nodes no longer deliver its streams to you.", format_remaining(licence.expiry, now)) } }
            </p>
            <p class="meta">{ format!("Until {} · paid {} DATA in all · streams: {}",
                date_time(licence.expiry),
                format_data(licence.paid, 6), licence.listing.streams.join(", ")) }</p>
            <button class="watch" onclick={toggle} aria-expanded={props.watching.to_string()}>
                { if props.watching { "Hide live data" } else { "Watch live data" } }
            </button>
            <details class="extend">
                <summary>{ if active { "Extend" } else { "Renew" } }</summary>
                <BuyPanel listing={licence.listing.clone()} account={props.account.clone()}
                    on_bought={props.on_extended.clone()} title={if active { "Extend the licence" } else { "Renew the licence" }} />
            </details>
            if props.watching {
                { for licence.listing.stream_parts().map(|(s, partitions)| html! {
                    <LiveView stream={s.clone()} partitions={partitions} network={Some(props.account.network().clone())}
                        generation={props.generation} history={20} />
                }) }
            }
        </li>
    }
}
