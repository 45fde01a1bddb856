//! `#/sell`, the seller's page: their products (pause and resume sales, change a price), their sales
//! and revenue, and the forms that create a stream, let a device key publish to it, and list a product.
//! One transaction runs at a time; its steps and outcome show under the form that started it.

use std::{cell::RefCell, future::Future, rc::Rc};

use alloy_primitives::U256;
use wasm_bindgen_futures::spawn_local;
use yew::prelude::*;

use crate::{
    components::{
        StepLog,
        sell::{CreateStream, GrantDevice, ListProduct, MyProducts, Sales},
    },
    error::DappError,
    input::{DeviceForm, ProductForm, StreamForm, price_per_second},
    model::{Listing, OwnStream, Sale, format_data},
    services::wallet::Account,
};

/// What the seller's page shows and whom it tells.
#[derive(Properties, PartialEq)]
pub(crate) struct SellProps {
    /// The account.
    pub(crate) account: Account,
    /// Every product (the account's are picked out).
    pub(crate) listings: Rc<Vec<Listing>>,
    /// Told after each change on the chain.
    pub(crate) on_changed: Callback<()>,
}

/// The part of the page a transaction was started from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Form {
    #[default]
    None,
    Products,
    Stream,
    Device,
    Product,
}

/// What the last transaction did: where it started, its steps, its outcome (none: running).
#[derive(Clone, Default, PartialEq)]
struct Activity {
    form: Form,
    steps: Vec<String>,
    outcome: Option<Result<String, DappError>>,
}

/// The account's streams and its products' sales.
#[derive(Clone, PartialEq)]
struct Data {
    streams: Vec<OwnStream>,
    sales: Rc<Vec<Sale>>,
}

/// Runs one transaction at a time as the account, showing its steps and outcome under the form that
/// started it; success is told to `done`.
#[derive(Clone)]
struct Runner {
    account: Account,
    activity: UseStateHandle<Activity>,
    done: Callback<()>,
}

impl Runner {
    /// Runs `work` from `form`.
    fn start<F, W>(&self, form: Form, work: W)
    where
        W: FnOnce(Account) -> F + 'static,
        F: Future<Output = Result<String, DappError>> + 'static,
    {
        let shown = Rc::new(RefCell::new(Activity {
            form,
            ..Activity::default()
        }));
        self.activity.set(shown.borrow().clone());
        {
            let (shown, activity) = (shown.clone(), self.activity.clone());
            self.account.chain().listen(Callback::from(move |all| {
                shown.borrow_mut().steps = all;
                activity.set(shown.borrow().clone());
            }));
        }
        let Runner {
            account,
            activity,
            done,
        } = self.clone();
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
}

/// What the seller's components ask for, each run as one transaction.
struct Actions {
    on_sale: Callback<(u64, bool)>,
    on_reprice: Callback<(u64, String)>,
    on_create: Callback<StreamForm>,
    on_grant: Callback<DeviceForm>,
    on_list: Callback<ProductForm>,
}

impl Actions {
    /// Each request checked (where typed) and sent through `runner`, with its receipt.
    fn new(runner: &Runner) -> Actions {
        let on_sale = {
            let runner = runner.clone();
            Callback::from(move |(id, active): (u64, bool)| {
                runner.start(Form::Products, move |account| async move {
                    account.chain().set_on_sale(id, active).await?;
                    Ok(if active {
                        format!("Product {id} is on sale again.")
                    } else {
                        format!("Sales of product {id} are paused.")
                    })
                })
            })
        };
        let on_reprice = {
            let runner = runner.clone();
            Callback::from(move |(id, price): (u64, String)| {
                runner.start(Form::Products, move |account| async move {
                    let per_second = price_per_second(&price)?;
                    account.chain().set_price(id, per_second).await?;
                    Ok(format!(
                        "Product {id} now costs {} DATA per hour.",
                        format_data(per_second * U256::from(3600u64), 6)
                    ))
                })
            })
        };
        let on_create = {
            let runner = runner.clone();
            Callback::from(move |form: StreamForm| {
                runner.start(Form::Stream, move |account| async move {
                    let stream = form.check()?;
                    let id = account.chain().create_stream(&stream).await?;
                    let Some(days) = stream.retention_days else {
                        return Ok(format!("Created {id}; the network keeps no history of it."));
                    };
                    Ok(
                        match account
                            .chain()
                            .request_storage(&id, stream.partitions, days)
                            .await?
                        {
                            Some(replicas) => format!(
                                "Created {id}; {replicas} storage nodes keep its history {}.",
                                match days {
                                    0 => "for good".to_owned(),
                                    1 => "for a day".to_owned(),
                                    d => format!("for {d} days"),
                                }
                            ),
                            None => format!(
                                "Created {id}; this network has no coordinator, so no node stores its history."
                            ),
                        },
                    )
                })
            })
        };
        let on_grant = {
            let runner = runner.clone();
            Callback::from(move |form: DeviceForm| {
                runner.start(Form::Device, move |account| async move {
                    let grant = form.check()?;
                    account.chain().grant_publish(&grant).await?;
                    Ok(format!(
                        "{} may now publish to {}.",
                        grant.device, grant.stream
                    ))
                })
            })
        };
        let on_list = {
            let runner = runner.clone();
            Callback::from(move |form: ProductForm| {
                runner.start(Form::Product, move |account| async move {
                    let product = form.check()?;
                    let hourly = product.price_per_second * U256::from(3600u64);
                    let id = account.chain().list_product(product).await?;
                    Ok(format!(
                        "Listed as product {id}: {} DATA per hour.",
                        format_data(hourly, 6)
                    ))
                })
            })
        };
        Actions {
            on_sale,
            on_reprice,
            on_create,
            on_grant,
            on_list,
        }
    }
}

/// The seller's page.
#[function_component(SellPage)]
pub(crate) fn sell_page(props: &SellProps) -> Html {
    let account = props.account.clone();
    let data = use_state(|| None::<Result<Data, DappError>>);
    let version = use_state(|| 0u32);
    let activity = use_state(Activity::default);
    let mine: Vec<Listing> = props
        .listings
        .iter()
        .filter(|l| l.seller.eq_ignore_ascii_case(&account.checksum()))
        .cloned()
        .collect();
    {
        let (data, account) = (data.clone(), account.clone());
        let ids: Vec<u64> = mine.iter().map(|l| l.id).collect();
        use_effect_with((account.address(), *version, ids), move |(_, _, ids)| {
            let ids = ids.clone();
            spawn_local(async move {
                let read = async {
                    let streams = account.chain().streams_of(account.address()).await?;
                    let sales = Rc::new(account.chain().sales(&ids).await?);
                    Ok::<_, DappError>(Data { streams, sales })
                };
                data.set(Some(read.await));
            });
        });
    }
    let runner = Runner {
        account: account.clone(),
        activity: activity.clone(),
        done: {
            let version = version.clone();
            let on_changed = props.on_changed.clone();
            Callback::from(move |()| {
                version.set(*version + 1);
                on_changed.emit(());
            })
        },
    };
    let busy = activity.outcome.is_none() && activity.form != Form::None;

    let Actions {
        on_sale,
        on_reprice,
        on_create,
        on_grant,
        on_list,
    } = Actions::new(&runner);

    let (streams, sales) = match &*data {
        Some(Ok(d)) => (d.streams.clone(), d.sales.clone()),
        _ => (Vec::new(), Rc::default()),
    };
    let log = |form: Form| {
        if activity.form != form {
            return html! {};
        }
        html! { <StepLog steps={activity.steps.clone()} outcome={activity.outcome.clone()} /> }
    };
    let checksum = account.checksum();
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
                <MyProducts products={mine.clone()} sales={sales.clone()} {busy} {on_sale} {on_reprice} />
            }
            { log(Form::Products) }

            <h2>{ "Sales" }</h2>
            <Sales {sales} products={mine} />

            <h2>{ "Create a stream" }</h2>
            <CreateStream owner={checksum.to_lowercase()} {busy} {on_create} />
            { log(Form::Stream) }

            <h2>{ "Let a device publish" }</h2>
            if streams.is_empty() {
                <p class="empty">{ "Create a stream first." }</p>
            } else {
                <GrantDevice streams={streams.clone()} {busy} {on_grant} />
            }
            { log(Form::Device) }

            <h2>{ "List a product" }</h2>
            if streams.is_empty() {
                <p class="empty">{ "Create a stream first: a product licenses streams you own." }</p>
            } else {
                <ListProduct {streams} seller={checksum} {busy} {on_list} />
            }
            { log(Form::Product) }
        </section>
    }
}
