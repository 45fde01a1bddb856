//! The seller's page: create a stream (metadata, partitions), let a device key publish to it, list a
//! product (streams, price, minimum period, beneficiary, terms), pause and resume it, change its price,
//! and see its sales and revenue from the marketplace's events.

use std::rc::Rc;

use alloy_primitives::{Address, U256};
use rivulet_chain_lite::{GRANT, PUBLISH, StreamRecord, market::Purchase};
use rivulet_protocol::StreamId;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::spawn_local;
use yew::prelude::*;

use crate::{
    model::{Listing, Route, format_data, format_period, parse_data, plain_error, short},
    wallet::{Account, Buyer},
};

#[derive(Properties, PartialEq)]
pub(crate) struct SellProps {
    pub(crate) buyer: Buyer,
    pub(crate) listings: Rc<Vec<Listing>>,
    pub(crate) on_changed: Callback<()>,
}

/// The value of the input or select with this id.
fn value(id: &str) -> String {
    web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id(id))
        .map(|e| {
            if let Some(input) = e.dyn_ref::<web_sys::HtmlInputElement>() {
                input.value()
            } else if let Some(select) = e.dyn_ref::<web_sys::HtmlSelectElement>() {
                select.value()
            } else if let Some(area) = e.dyn_ref::<web_sys::HtmlTextAreaElement>() {
                area.value()
            } else {
                String::new()
            }
        })
        .unwrap_or_default()
}

/// The streams ticked for the new product.
fn ticked() -> Vec<String> {
    let mut out = Vec::new();
    if let Some(list) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.query_selector_all(".list-stream:checked").ok())
    {
        for i in 0..list.length() {
            if let Some(input) = list
                .item(i)
                .and_then(|n| n.dyn_into::<web_sys::HtmlInputElement>().ok())
            {
                out.push(input.value());
            }
        }
    }
    out
}

/// What one form is doing: its steps and its outcome.
#[derive(Clone, Default, PartialEq)]
struct Activity {
    form: &'static str,
    steps: Vec<String>,
    outcome: Option<Result<String, String>>,
}

/// Runs `work` as the account, showing its steps and outcome under `form`.
fn run<F>(
    account: &Rc<Account>,
    activity: &UseStateHandle<Activity>,
    form: &'static str,
    done: Callback<()>,
    work: impl FnOnce(Rc<Account>) -> F + 'static,
) where
    F: std::future::Future<Output = Result<String, String>> + 'static,
{
    let shown = Rc::new(std::cell::RefCell::new(Activity {
        form,
        ..Activity::default()
    }));
    activity.set(shown.borrow().clone());
    {
        let shown = shown.clone();
        let activity = activity.clone();
        account.listen(Callback::from(move |all| {
            shown.borrow_mut().steps = all;
            activity.set(shown.borrow().clone());
        }));
    }
    let account = account.clone();
    let activity = activity.clone();
    spawn_local(async move {
        let outcome = work(account).await;
        let ok = outcome.is_ok();
        shown.borrow_mut().outcome = Some(outcome);
        activity.set(shown.borrow().clone());
        if ok {
            done.emit(());
        }
    });
}

fn report(activity: &Activity, form: &str) -> Html {
    if activity.form != form {
        return html! {};
    }
    html! {
        <>
            <ol class="steps" aria-live="polite">{ for activity.steps.iter().map(|s| html! { <li>{ s }</li> }) }</ol>
            { match &activity.outcome {
                Some(Ok(s)) => html! { <p class="receipt" role="status">{ s }</p> },
                Some(Err(e)) => html! { <p class="error" role="alert">{ e }</p> },
                None => html! {},
            } }
        </>
    }
}

#[derive(Clone, PartialEq)]
struct Data {
    streams: Vec<StreamRecord>,
    sales: Vec<Purchase>,
}

/// The seller's page.
#[function_component(SellPage)]
pub(crate) fn sell_page(props: &SellProps) -> Html {
    let account = props.buyer.0.clone();
    let data = use_state(|| None::<Result<Data, String>>);
    let version = use_state(|| 0u32);
    let activity = use_state(Activity::default);
    let mine: Vec<Listing> = props
        .listings
        .iter()
        .filter(|l| l.seller.eq_ignore_ascii_case(&account.checksum()))
        .cloned()
        .collect();
    {
        let data = data.clone();
        let account = account.clone();
        let ids: Vec<u64> = mine.iter().map(|l| l.id).collect();
        use_effect_with((account.address, *version, ids.clone()), move |_| {
            spawn_local(async move {
                let read = async {
                    let me = rivulet_protocol::Address(account.address.into_array());
                    let streams = account
                        .registry
                        .list_streams()
                        .await?
                        .into_iter()
                        .filter(|s| s.creator == me)
                        .collect();
                    let sales = account
                        .registry
                        .purchases(None)
                        .await?
                        .into_iter()
                        .filter(|p| ids.contains(&p.product_id))
                        .collect();
                    Ok::<_, rivulet_chain_lite::LiteError>(Data { streams, sales })
                };
                data.set(Some(read.await.map_err(|e| plain_error(&e))));
            });
        });
    }
    let done = {
        let version = version.clone();
        let on_changed = props.on_changed.clone();
        Callback::from(move |()| {
            version.set(*version + 1);
            on_changed.emit(());
        })
    };
    let busy = activity.outcome.is_none() && !activity.form.is_empty();

    let create_stream = {
        let (account, activity, done) = (account.clone(), activity.clone(), done.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let path = value("stream-path");
            let metadata = serde_json::json!({
                "name": value("stream-name"),
                "description": value("stream-description"),
                "partitions": value("stream-partitions").parse::<u32>().unwrap_or(1).clamp(1, 100),
            })
            .to_string();
            run(
                &account,
                &activity,
                "stream",
                done.clone(),
                move |account| async move {
                    let id = account
                        .registry
                        .create_stream(path.trim(), &metadata)
                        .await
                        .map_err(|e| plain_error(&e))?;
                    Ok(format!("Created {id}."))
                },
            );
        })
    };
    let grant_device = {
        let (account, activity, done) = (account.clone(), activity.clone(), done.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let stream = value("device-stream");
            let device = value("device-address");
            run(
                &account,
                &activity,
                "device",
                done.clone(),
                move |account| async move {
                    let id: StreamId = stream
                        .parse()
                        .map_err(|e| format!("Choose a stream ({e})."))?;
                    let device: rivulet_protocol::Address = device.trim().parse().map_err(|e| {
                        format!("The device address is not an Ethereum address ({e}).")
                    })?;
                    account
                        .registry
                        .grant(&id, Some(device), PUBLISH)
                        .await
                        .map_err(|e| plain_error(&e))?;
                    Ok(format!("{device} may now publish to {id}."))
                },
            );
        })
    };
    let list_product = {
        let (account, activity, done) = (account.clone(), activity.clone(), done.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let streams = ticked();
            let name = value("product-name");
            let metadata = serde_json::json!({
                "name": name,
                "description": value("product-description"),
                "category": value("product-category"),
            })
            .to_string();
            let price = value("product-price");
            let minimum = value("product-minimum").parse::<u64>().unwrap_or(60);
            let beneficiary = value("product-beneficiary");
            let terms = value("product-terms");
            run(
                &account,
                &activity,
                "product",
                done.clone(),
                move |account| async move {
                    if streams.is_empty() {
                        return Err("Tick at least one stream the licence covers.".into());
                    }
                    if name.trim().is_empty() {
                        return Err("Give the product a name.".into());
                    }
                    let per_hour = parse_data(&price)?;
                    let per_second = per_hour / U256::from(3600u64);
                    if per_second.is_zero() {
                        return Err("The price per hour must be more than zero (at least 0.0000000000000036 DATA).".into());
                    }
                    let beneficiary = match beneficiary.trim() {
                        "" => None,
                        b => Some(
                            b.parse::<Address>()
                                .map_err(|e| format!("The beneficiary is not an address ({e})."))?,
                        ),
                    };
                    // The marketplace grants licences, so it needs grant permission on each stream.
                    let marketplace = account
                        .registry
                        .marketplace()
                        .map_err(|e| plain_error(&e))?;
                    let market = rivulet_protocol::Address(marketplace.into_array());
                    for s in &streams {
                        let id: StreamId = s.parse().map_err(|e| format!("{s}: {e}"))?;
                        if !account
                            .registry
                            .has_permission(&id, market, GRANT, false)
                            .await
                            .map_err(|e| plain_error(&e))?
                        {
                            account
                                .registry
                                .grant(&id, Some(market), GRANT)
                                .await
                                .map_err(|e| plain_error(&e))?;
                        }
                    }
                    let id = account
                        .registry
                        .create_product(
                            streams,
                            beneficiary,
                            per_second,
                            minimum,
                            &metadata,
                            terms.trim(),
                        )
                        .await
                        .map_err(|e| plain_error(&e))?;
                    Ok(format!(
                        "Listed as product {id}: {} DATA per hour.",
                        format_data(per_second * U256::from(3600u64), 6)
                    ))
                },
            );
        })
    };

    let streams = match &*data {
        Some(Ok(d)) => d.streams.clone(),
        _ => Vec::new(),
    };
    let sales = match &*data {
        Some(Ok(d)) => d.sales.clone(),
        _ => Vec::new(),
    };
    let revenue = sales.iter().fold(U256::ZERO, |sum, p| sum + p.price);
    let minimums = [(60u64, "1 minute"), (3600, "1 hour"), (86_400, "1 day")];
    html! {
        <section id="sell">
            <h1>{ "Sell" }</h1>
            if let Some(Err(e)) = &*data {
                <p class="error" role="alert">{ format!("Your streams and sales could not be read: {e}") }</p>
            }

            <h2>{ "Your products" }</h2>
            if mine.is_empty() {
                <p class="empty" id="no-products">{ "You have not listed a product yet: list one below." }</p>
            } else {
                <table class="events" id="my-products">
                    <thead><tr><th>{ "Product" }</th><th>{ "Price per hour" }</th><th>{ "Sales" }</th><th>{ "Actions" }</th></tr></thead>
                    <tbody>
                        { for mine.iter().map(|l| {
                            let id = l.id;
                            let active = l.active;
                            let toggle = {
                                let (account, activity, done) = (account.clone(), activity.clone(), done.clone());
                                Callback::from(move |_: MouseEvent| {
                                    run(&account, &activity, "products", done.clone(), move |account| async move {
                                        account.registry.set_product_active(id, !active).await.map_err(|e| plain_error(&e))?;
                                        Ok(if active { format!("Sales of product {id} are paused.") } else { format!("Product {id} is on sale again.") })
                                    });
                                })
                            };
                            let reprice = {
                                let (account, activity, done) = (account.clone(), activity.clone(), done.clone());
                                Callback::from(move |e: SubmitEvent| {
                                    e.prevent_default();
                                    let price = value(&format!("price-{id}"));
                                    run(&account, &activity, "products", done.clone(), move |account| async move {
                                        let per_second = parse_data(&price)? / U256::from(3600u64);
                                        if per_second.is_zero() {
                                            return Err("The price per hour must be more than zero.".into());
                                        }
                                        account.registry.set_price(id, per_second).await.map_err(|e| plain_error(&e))?;
                                        Ok(format!("Product {id} now costs {} DATA per hour.", format_data(per_second * U256::from(3600u64), 6)))
                                    });
                                })
                            };
                            let sold = sales.iter().filter(|p| p.product_id == id).count();
                            html! {
                                <tr id={format!("my-product-{id}")} key={id}>
                                    <td><a href={Route::Product(id).hash()}>{ &l.name }</a>
                                        { if active { "" } else { " (paused)" } }</td>
                                    <td>{ format_data(l.price_per_second * U256::from(3600u64), 6) }</td>
                                    <td>{ sold }</td>
                                    <td>
                                        <button class="toggle-sale" onclick={toggle} disabled={busy}>
                                            { if active { "Pause sales" } else { "Resume sales" } }
                                        </button>
                                        <form class="reprice" onsubmit={reprice}>
                                            <label for={format!("price-{id}")}>{ "New price per hour (DATA) " }</label>
                                            <input id={format!("price-{id}")} inputmode="decimal" size="8" required=true />
                                            <button type="submit" disabled={busy}>{ "Change price" }</button>
                                        </form>
                                    </td>
                                </tr>
                            }
                        }) }
                    </tbody>
                </table>
            }
            { report(&activity, "products") }

            <h2>{ "Sales" }</h2>
            <p id="revenue">{ format!("Revenue: {} DATA from {} sale{}.", format_data(revenue, 6), sales.len(), if sales.len() == 1 { "" } else { "s" }) }</p>
            if !sales.is_empty() {
                <table class="events" id="sales">
                    <thead><tr><th>{ "Block" }</th><th>{ "Product" }</th><th>{ "Buyer" }</th><th>{ "Period" }</th><th>{ "Paid (DATA)" }</th></tr></thead>
                    <tbody>
                        { for sales.iter().rev().map(|p| html! {
                            <tr>
                                <td>{ p.block }</td>
                                <td>{ mine.iter().find(|l| l.id == p.product_id).map_or_else(|| p.product_id.to_string(), |l| l.name.clone()) }</td>
                                <td class="mono" title={p.buyer.to_checksum(None)}>{ short(&p.buyer.to_checksum(None)) }</td>
                                <td>{ format_period(p.seconds) }</td>
                                <td>{ format_data(p.price, 6) }</td>
                            </tr>
                        }) }
                    </tbody>
                </table>
            }

            <h2>{ "Create a stream" }</h2>
            <form id="create-stream" onsubmit={create_stream}>
                <label for="stream-path">{ "Path " }</label>
                <input id="stream-path" required=true pattern="[A-Za-z0-9._\\/\\-]+" placeholder="sensors/air" />
                <span class="meta">{ format!(" → {}/…", account.checksum().to_lowercase()) }</span><br />
                <label for="stream-name">{ "Name " }</label><input id="stream-name" /><br />
                <label for="stream-description">{ "Description " }</label><input id="stream-description" /><br />
                <label for="stream-partitions">{ "Partitions " }</label>
                <input id="stream-partitions" type="number" min="1" max="100" value="1" /><br />
                <button type="submit" disabled={busy}>{ "Create stream" }</button>
            </form>
            { report(&activity, "stream") }

            <h2>{ "Let a device publish" }</h2>
            if streams.is_empty() {
                <p class="empty">{ "Create a stream first." }</p>
            } else {
                <form id="grant-device" onsubmit={grant_device}>
                    <label for="device-stream">{ "Stream " }</label>
                    <select id="device-stream">
                        { for streams.iter().map(|s| html! { <option value={s.id.to_string()}>{ s.id.to_string() }</option> }) }
                    </select><br />
                    <label for="device-address">{ "Device address " }</label>
                    <input id="device-address" required=true placeholder="0x…" size="44" /><br />
                    <button type="submit" disabled={busy}>{ "Grant publish permission" }</button>
                </form>
            }
            { report(&activity, "device") }

            <h2>{ "List a product" }</h2>
            if streams.is_empty() {
                <p class="empty">{ "Create a stream first: a product licenses streams you own." }</p>
            } else {
                <form id="list-product" onsubmit={list_product}>
                    <fieldset>
                        <legend>{ "Streams the licence covers" }</legend>
                        { for streams.iter().map(|s| {
                            let id = s.id.to_string();
                            html! {
                                <label class="check"><input type="checkbox" class="list-stream" value={id.clone()} />{ format!(" {id} ") }
                                    <span class="meta">{ s.field("name") }</span></label>
                            }
                        }) }
                    </fieldset>
                    <label for="product-name">{ "Name " }</label><input id="product-name" required=true /><br />
                    <label for="product-description">{ "Description " }</label><input id="product-description" /><br />
                    <label for="product-category">{ "Category " }</label><input id="product-category" /><br />
                    <label for="product-price">{ "Price per hour (DATA) " }</label>
                    <input id="product-price" inputmode="decimal" required=true placeholder="0.5" /><br />
                    <label for="product-minimum">{ "Shortest licence " }</label>
                    <select id="product-minimum">
                        { for minimums.iter().map(|(s, label)| html! { <option value={s.to_string()}>{ *label }</option> }) }
                    </select><br />
                    <label for="product-beneficiary">{ "Paid to " }</label>
                    <input id="product-beneficiary" placeholder={account.checksum()} size="44" /><br />
                    <label for="product-terms">{ "Terms (URL) " }</label>
                    <input id="product-terms" type="url" placeholder="https://…" /><br />
                    <button type="submit" disabled={busy}>{ "List product" }</button>
                </form>
            }
            { report(&activity, "product") }
        </section>
    }
}
