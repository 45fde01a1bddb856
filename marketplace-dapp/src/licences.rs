//! "My licences": every product the account bought, its expiry counting down by the chain's clock, an
//! extension, and the licensed streams live. When a licence lapses the relay nodes stop delivering and
//! the page says so.

use std::rc::Rc;

use alloy_primitives::U256;
use futures::future::{Either, select};
use wasm_bindgen_futures::spawn_local;
use yew::prelude::*;

use crate::{
    app::{BuyPanel, date_time},
    live::{LiveView, Shared},
    model::{Listing, format_data, format_remaining, plain_error},
    wallet::Buyer,
};

#[derive(Properties, PartialEq)]
pub(crate) struct LicencesProps {
    pub(crate) buyer: Buyer,
    pub(crate) listings: Rc<Vec<Listing>>,
    pub(crate) on_changed: Callback<()>,
}

/// One licence as the page shows it.
#[derive(Clone, PartialEq)]
struct Licence {
    listing: Listing,
    expiry: u64,
    paid: U256,
}

#[derive(Clone, PartialEq)]
enum Load {
    Loading,
    Failed(String),
    Ready(Vec<Licence>),
}

/// The chain's clock as last read: (chain seconds, page milliseconds when read).
type ChainClock = (u64, f64);

fn chain_now(clock: Option<ChainClock>) -> u64 {
    let page_now = js_sys::Date::now();
    match clock {
        Some((chain, at)) => chain + ((page_now - at) / 1000.0) as u64,
        None => page_now as u64 / 1000,
    }
}

/// The account's licences.
#[function_component(LicencesPage)]
pub(crate) fn licences_page(props: &LicencesProps) -> Html {
    let load = use_state(|| Load::Loading);
    let version = use_state(|| 0u32);
    let clock = use_state(|| None::<ChainClock>);
    let tick = use_force_update();
    let watching = use_state(|| None::<u64>);
    let generation = use_state(|| 0u32);
    // The licences, from the marketplace's purchase events and each product's expiry.
    {
        let load = load.clone();
        let account = props.buyer.0.clone();
        let listings = props.listings.clone();
        use_effect_with((account.address, *version), move |_| {
            spawn_local(async move {
                let result = async {
                    let purchases = account.registry.purchases(Some(account.address)).await?;
                    let mut licences: Vec<Licence> = Vec::new();
                    for p in &purchases {
                        if let Some(l) = licences.iter_mut().find(|l| l.listing.id == p.product_id)
                        {
                            l.paid += p.price;
                            continue;
                        }
                        let Some(listing) = listings.iter().find(|l| l.id == p.product_id) else {
                            continue;
                        };
                        licences.push(Licence {
                            listing: listing.clone(),
                            expiry: account
                                .registry
                                .licence_expiry(p.product_id, account.address)
                                .await?,
                            paid: p.price,
                        });
                    }
                    Ok::<_, rivulet_chain_lite::LiteError>(licences)
                };
                load.set(match result.await {
                    Ok(l) => Load::Ready(l),
                    Err(e) => Load::Failed(plain_error(&e)),
                });
            });
        });
    }
    // The chain's clock, read every 2 s (a development chain's time can jump); the countdown redraws
    // every second.
    {
        let clock = clock.clone();
        let account = props.buyer.0.clone();
        use_effect_with(account.address, move |_| {
            let (stop, mut stopped) = futures::channel::oneshot::channel::<()>();
            spawn_local(async move {
                let mut n = 0u32;
                loop {
                    if n.is_multiple_of(2)
                        && let Ok(t) = account.registry.chain_time().await
                    {
                        clock.set(Some((t, js_sys::Date::now())));
                    }
                    n += 1;
                    tick.force_update();
                    let pause = rivulet_client::runtime::sleep(std::time::Duration::from_secs(1));
                    futures::pin_mut!(pause);
                    if let Either::Right(_) = select(pause, &mut stopped).await {
                        break;
                    }
                }
            });
            move || {
                let _ = stop.send(());
            }
        });
    }
    let now = chain_now(*clock);
    let body = match &*load {
        Load::Loading => {
            html! { <p class="status">{ "Reading your purchases from the marketplace…" }</p> }
        }
        Load::Failed(e) => {
            html! { <p class="error" role="alert">{ format!("Your licences could not be read: {e}") }</p> }
        }
        Load::Ready(licences) if licences.is_empty() => html! {
            <p class="empty" id="empty">{ "You hold no licences yet. " }<a href="#/">{ "Find a product" }</a>{ " and buy one." }</p>
        },
        Load::Ready(licences) => html! {
            <ul class="licences" id="licences">
                { for licences.iter().map(|licence| {
                    let id = licence.listing.id;
                    let active = licence.expiry > now;
                    let extended = {
                        let version = version.clone();
                        let generation = generation.clone();
                        let on_changed = props.on_changed.clone();
                        Callback::from(move |()| {
                            version.set(*version + 1);
                            generation.set(*generation + 1);
                            on_changed.emit(());
                        })
                    };
                    let toggle = {
                        let watching = watching.clone();
                        Callback::from(move |_: MouseEvent| {
                            watching.set(if *watching == Some(id) { None } else { Some(id) });
                        })
                    };
                    html! {
                        <li class={classes!("licence", if active { "active" } else { "lapsed" })} id={format!("licence-{id}")} key={id}>
                            <h2><a href={crate::model::Route::Product(id).hash()}>{ &licence.listing.name }</a></h2>
                            <p class="countdown" aria-live="off">
                                { if active { format!("Active — {}", format_remaining(licence.expiry, now)) }
                                  else { format!("Lapsed — {}. The relay nodes no longer deliver its streams to you.", format_remaining(licence.expiry, now)) } }
                            </p>
                            <p class="meta">{ format!("Until {} · paid {} DATA in all · streams: {}",
                                date_time(licence.expiry),
                                format_data(licence.paid, 6), licence.listing.streams.join(", ")) }</p>
                            <button class="watch" onclick={toggle} aria-expanded={(*watching == Some(id)).to_string()}>
                                { if *watching == Some(id) { "Hide live data" } else { "Watch live data" } }
                            </button>
                            <details class="extend">
                                <summary>{ if active { "Extend" } else { "Renew" } }</summary>
                                <BuyPanel listing={licence.listing.clone()} buyer={props.buyer.clone()}
                                    on_bought={extended} title={if active { "Extend the licence" } else { "Renew the licence" }} />
                            </details>
                            if *watching == Some(id) {
                                { for licence.listing.stream_parts().map(|(s, partitions)| html! {
                                    <LiveView stream={s.clone()} partitions={partitions} client={Some(Shared(props.buyer.0.client.clone()))}
                                        generation={*generation} history={20} />
                                }) }
                            }
                        </li>
                    }
                }) }
            </ul>
        },
    };
    html! {
        <section id="my-licences">
            <h1>{ "My licences" }</h1>
            <p class="meta" id="chain-time">{ format!("Times by the chain's clock ({}).", date_time(now)) }</p>
            { body }
        </section>
    }
}
