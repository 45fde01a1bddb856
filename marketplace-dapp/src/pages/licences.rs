//! `#/licences`, "My licences": every product the account bought, its expiry counting down by the
//! chain's clock (read every 2 s, so a development chain's jumps show), an extension, and the licensed
//! streams live. When a licence lapses the relay nodes stop delivering and the page says so.

use std::{rc::Rc, time::Duration};

use futures::future::{Either, select};
use wasm_bindgen_futures::spawn_local;
use yew::prelude::*;

use crate::{
    components::{
        LicenceCard,
        time::{date_time, now_ms},
    },
    error::DappError,
    model::{ClockReading, Licence, Listing, carried_forward},
    services::wallet::Account,
};

/// What "My licences" shows and whom it tells.
#[derive(Properties, PartialEq)]
pub(crate) struct LicencesProps {
    /// The account.
    pub(crate) account: Account,
    /// Every product.
    pub(crate) listings: Rc<Vec<Listing>>,
    /// Told after an extension.
    pub(crate) on_changed: Callback<()>,
}

#[derive(Clone, PartialEq)]
enum Load {
    Loading,
    Failed(DappError),
    Ready(Vec<Licence>),
}

/// The account's licences.
#[function_component(LicencesPage)]
pub(crate) fn licences_page(props: &LicencesProps) -> Html {
    let load = use_state(|| Load::Loading);
    let version = use_state(|| 0u32);
    let clock = use_state(|| None::<ClockReading>);
    let tick = use_force_update();
    let watching = use_state(|| None::<u64>);
    let generation = use_state(|| 0u32);
    // The licences, from the marketplace's purchase events and each product's expiry.
    {
        let load = load.clone();
        let account = props.account.clone();
        let listings = props.listings.clone();
        use_effect_with((account.address(), *version), move |_| {
            spawn_local(async move {
                load.set(
                    match account.chain().licences(account.address(), &listings).await {
                        Ok(l) => Load::Ready(l),
                        Err(e) => Load::Failed(e),
                    },
                );
            });
        });
    }
    // The chain's clock, read every 2 s (a development chain's time can jump); the countdown redraws
    // every second.
    {
        let clock = clock.clone();
        let account = props.account.clone();
        use_effect_with(account.address(), move |_| {
            let (stop, mut stopped) = futures::channel::oneshot::channel::<()>();
            spawn_local(async move {
                let mut n = 0u32;
                loop {
                    if n.is_multiple_of(2)
                        && let Ok(at) = account.chain().chain_time().await
                    {
                        clock.set(Some(ClockReading {
                            at,
                            page_ms: now_ms(),
                        }));
                    }
                    n += 1;
                    tick.force_update();
                    let pause = yew::platform::time::sleep(Duration::from_secs(1));
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
    let now = carried_forward(*clock, now_ms());
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
                    let extended = {
                        let (version, generation) = (version.clone(), generation.clone());
                        let on_changed = props.on_changed.clone();
                        Callback::from(move |()| {
                            version.set(*version + 1);
                            generation.set(*generation + 1);
                            on_changed.emit(());
                        })
                    };
                    let watch = {
                        let watching = watching.clone();
                        Callback::from(move |()| {
                            watching.set(if *watching == Some(id) { None } else { Some(id) });
                        })
                    };
                    html! {
                        <LicenceCard key={id} licence={licence.clone()} {now} account={props.account.clone()}
                            watching={*watching == Some(id)} generation={*generation}
                            on_watch={watch} on_extended={extended} />
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
