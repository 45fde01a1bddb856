//! `#/network`, "Network": the relay nodes the network coordinator knows — stakes, weights, liveness,
//! assignments and the DATA they earned — and every stored stream part with its replicas and latest
//! finalised checksum, read again every 5 s.

use std::time::Duration;

use futures::future::{Either, select};
use wasm_bindgen_futures::spawn_local;
use yew::prelude::*;

use crate::{
    error::DappError,
    services::{
        config::Config,
        coordinator::{NetworkView, network},
    },
};

/// The network page's input.
#[derive(Properties, PartialEq)]
pub(crate) struct NetworkProps {
    /// The deployment.
    pub(crate) config: std::rc::Rc<Config>,
}

#[derive(Clone, PartialEq)]
enum Load {
    Loading,
    Failed(DappError),
    NoCoordinator,
    Ready(NetworkView),
}

/// The network.
#[function_component(NetworkPage)]
pub(crate) fn network_page(props: &NetworkProps) -> Html {
    let load = use_state(|| Load::Loading);
    {
        let load = load.clone();
        let config = props.config.clone();
        use_effect_with((), move |_| {
            let (stop, mut stopped) = futures::channel::oneshot::channel::<()>();
            spawn_local(async move {
                loop {
                    load.set(match network(&config).await {
                        Ok(Some(view)) => Load::Ready(view),
                        Ok(None) => Load::NoCoordinator,
                        Err(e) => Load::Failed(e),
                    });
                    let pause = yew::platform::time::sleep(Duration::from_secs(5));
                    if let Either::Right(_) = select(Box::pin(pause), &mut stopped).await {
                        break;
                    }
                }
            });
            move || drop(stop)
        });
    }
    let view = match &*load {
        Load::Loading => {
            return html! { <p class="status" id="network-status">{ "Reading the network coordinator…" }</p> };
        }
        Load::Failed(e) => {
            return html! { <p class="error" role="alert" id="network-error">{ format!("The network coordinator could not be read: {e}") }</p> };
        }
        Load::NoCoordinator => {
            return html! { <p class="empty" id="network-none">{ "This deployment has no network coordinator: its nodes store what their operators list." }</p> };
        }
        Load::Ready(view) => view,
    };
    let short = |s: &str| {
        if s.len() > 14 {
            format!("{}…{}", &s[..8], &s[s.len() - 4..])
        } else {
            s.to_owned()
        }
    };
    html! {
        <section id="network">
            <h1>{ "Network" }</h1>
            <p id="network-summary">{ format!(
                "Epoch {} · {} nodes · reward pool {} · checksums every {} s",
                view.epoch, view.nodes.len(), view.reward_pool, view.interval_secs
            ) }</p>
            <h2>{ "Nodes" }</h2>
            <table id="network-nodes">
                <thead><tr>
                    <th>{ "Account" }</th><th>{ "Peer" }</th><th>{ "Stake" }</th><th>{ "Weight" }</th>
                    <th>{ "State" }</th><th>{ "Parts" }</th><th>{ "DATA (rewards)" }</th>
                </tr></thead>
                <tbody>
                    { for view.nodes.iter().map(|n| html! {
                        <tr class="node" data-account={n.account.clone()}>
                            <td title={n.account.clone()}>{ short(&n.account) }</td>
                            <td title={n.peer_id.clone()}>{ short(&n.peer_id) }</td>
                            <td>{ n.stake.clone() }</td>
                            <td>{ n.weight }</td>
                            <td class="state">{ match (n.live, n.active) {
                                (true, true) => "live, storing",
                                (true, false) => "live, joining",
                                (false, true) => "silent",
                                (false, false) => "gone",
                            } }</td>
                            <td class="parts">{ n.parts }</td>
                            <td>{ n.balance.clone() }</td>
                        </tr>
                    }) }
                </tbody>
            </table>
            <h2>{ "Stored stream parts" }</h2>
            <table id="network-parts">
                <thead><tr><th>{ "Part" }</th><th>{ "Replicas" }</th><th>{ "Last final checksum" }</th></tr></thead>
                <tbody>
                    { for view.parts.iter().map(|p| html! {
                        <tr class="part" data-part={p.part.clone()}>
                            <td>{ p.part.clone() }</td>
                            <td class="replicas">{ p.nodes.iter().map(|a| short(a)).collect::<Vec<_>>().join(", ") }</td>
                            <td class="final">{ match &p.last_final {
                                Some((interval, count, checksum)) => format!("interval {interval}: {count} events, {}", short(checksum)),
                                None => "none yet".to_owned(),
                            } }</td>
                        </tr>
                    }) }
                </tbody>
            </table>
        </section>
    }
}
