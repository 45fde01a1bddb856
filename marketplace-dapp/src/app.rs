//! The shell and the routes: the configuration and the products loaded from the chain (again after
//! each change), the wallets found, the account, the header (navigation and `AccountBar`), and the
//! switch from the location hash's [`Route`] to its page. Routing is by hand (`use_route`): yew-router's
//! `HashRouter` cost about 25 KB of the gzipped wasm for four hash routes.

use std::{cell::RefCell, rc::Rc};

use wasm_bindgen::{JsCast, closure::Closure};
use wasm_bindgen_futures::spawn_local;
use yew::prelude::*;

use crate::{
    components::AccountBar,
    error::DappError,
    model::{Listing, Route},
    pages::{LicencesPage, NetworkPage, ProductPage, ProductsPage, SellPage},
    services::{
        chain,
        config::{self, Config},
        wallet::{self, Account, Wallet},
    },
};

/// The route in the location's hash.
fn current_route() -> Route {
    let hash = web_sys::window()
        .and_then(|w| w.location().hash().ok())
        .unwrap_or_default();
    Route::parse(&hash)
}

/// The route, kept current as the location's hash changes (links, the back button, typed URLs).
#[hook]
fn use_route() -> Route {
    let route = use_state(current_route);
    {
        let route = route.clone();
        use_effect_with((), move |_| {
            let listener = Closure::<dyn Fn()>::new(move || route.set(current_route()));
            let window = web_sys::window();
            if let Some(window) = &window {
                let _ = window.add_event_listener_with_callback(
                    "hashchange",
                    listener.as_ref().unchecked_ref(),
                );
            }
            move || {
                if let Some(window) = &window {
                    let _ = window.remove_event_listener_with_callback(
                        "hashchange",
                        listener.as_ref().unchecked_ref(),
                    );
                }
            }
        });
    }
    (*route).clone()
}

#[derive(Clone, PartialEq)]
enum Load {
    Loading,
    Failed(DappError),
    Ready(Rc<Config>, Rc<Vec<Listing>>),
}

/// The page for `route`.
fn switch(
    route: &Route,
    config: &Rc<Config>,
    listings: &Rc<Vec<Listing>>,
    account: Option<Account>,
    changed: Callback<()>,
) -> Html {
    match (route, account) {
        (Route::Product(id), account) => match listings.iter().find(|l| l.id == *id) {
            Some(listing) => html! {
                <ProductPage listing={listing.clone()} config={config.clone()} {account} on_changed={changed} />
            },
            None => html! {
                <p class="empty" id="empty">{ format!("There is no product {id}. ") }
                    <a href="#/">{ "All products" }</a></p>
            },
        },
        (Route::Licences, Some(account)) => html! {
            <LicencesPage {account} listings={listings.clone()} on_changed={changed} />
        },
        (Route::Sell, Some(account)) => html! {
            <SellPage {account} listings={listings.clone()} on_changed={changed} />
        },
        (Route::Licences | Route::Sell, None) => html! {
            <p class="empty" id="connect-first">{ "Connect a wallet (or, on the local chain, use the development account) to see this page." }</p>
        },
        (Route::Products, _) => html! { <ProductsPage listings={listings.clone()} /> },
        (Route::Network, _) => html! { <NetworkPage config={config.clone()} /> },
    }
}

/// The whole app.
#[function_component(App)]
pub(crate) fn app() -> Html {
    let load = use_state(|| Load::Loading);
    let route = use_route();
    let wallets = use_state(|| Rc::new(Vec::<Wallet>::new()));
    let account = use_state(|| None::<Account>);
    let refresh = use_state(|| 0u32);
    // Wallets, as they announce themselves.
    {
        let wallets = wallets.clone();
        use_effect_with((), move |_| {
            let found = Rc::new(RefCell::new(Vec::<Wallet>::new()));
            wallet::discover(Callback::from(move |w: Wallet| {
                let mut list = found.borrow_mut();
                if !list.contains(&w) {
                    list.push(w);
                    wallets.set(Rc::new(list.clone()));
                }
            }));
        });
    }
    // Configuration and products (again after a listing or a change).
    {
        let load = load.clone();
        use_effect_with(*refresh, move |_| {
            spawn_local(async move {
                let loaded = async {
                    let config = config::load().await?;
                    let listings = chain::listings(&config).await?;
                    Ok::<_, DappError>((config, Rc::new(listings)))
                };
                load.set(match loaded.await {
                    Ok((config, listings)) => Load::Ready(config, listings),
                    Err(e) => Load::Failed(e),
                });
            });
        });
    }
    let changed = {
        let refresh = refresh.clone();
        Callback::from(move |()| refresh.set(*refresh + 1))
    };

    let (config, listings) = match &*load {
        Load::Loading => {
            return html! {
                <>
                    <header><a href="../">{ "Rivulet" }</a>{ " · Marketplace" }</header>
                    <main><p class="status" id="status">{ "Loading products from the chain…" }</p></main>
                </>
            };
        }
        Load::Failed(e) => {
            return html! {
                <>
                    <header><a href="../">{ "Rivulet" }</a>{ " · Marketplace" }</header>
                    <main><p class="error" role="alert" id="error">{ format!("The marketplace could not be read: {e}") }</p></main>
                </>
            };
        }
        Load::Ready(config, listings) => (config.clone(), listings.clone()),
    };
    let on_account = {
        let account = account.clone();
        Callback::from(move |a: Option<Account>| account.set(a))
    };
    let link = |r: Route, label: &str, id: &str| {
        let current = route == r;
        html! {
            <a href={r.hash()} id={id.to_owned()} aria-current={current.then_some("page")}>{ label.to_owned() }</a>
        }
    };
    html! {
        <>
            <header>
                <nav aria-label="Marketplace">
                    <a href="../">{ "Rivulet" }</a>
                    { link(Route::Products, "Products", "nav-products") }
                    { link(Route::Licences, "My licences", "nav-licences") }
                    { link(Route::Sell, "Sell", "nav-sell") }
                    { link(Route::Network, "Network", "nav-network") }
                </nav>
                <AccountBar config={config.clone()} wallets={(*wallets).clone()} account={(*account).clone()}
                    refresh={*refresh} {on_account} on_changed={changed.clone()} />
            </header>
            <main>{ switch(&route, &config, &listings, (*account).clone(), changed) }</main>
        </>
    }
}
