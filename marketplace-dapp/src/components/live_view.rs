//! A stream's live view: its last events on opening (history) and then every new one, from every
//! partition into one feed, each verified in the page before it shows; a table with publisher and
//! verification state, a chart per numeric field, and pause. Says when the stream is for licence holders
//! only, when nobody stores it, and when the relay nodes end the subscription. Used for public previews
//! and for licensed streams alike; the network is reached through `services::network`.

use std::collections::VecDeque;

use wasm_bindgen_futures::spawn_local;
use yew::prelude::*;

use crate::{
    components::time::{clock, now_ms},
    error::DappError,
    model::{Feed, Row, Verification, numeric_fields, polyline, short},
    services::network::{Follow, Live, Network},
};

/// What `LiveView` shows, through which client, and whom it tells.
#[derive(Properties, PartialEq)]
pub(crate) struct LiveViewProps {
    /// The stream id.
    pub(crate) stream: String,
    /// The client to subscribe with (none yet: connecting).
    pub(crate) network: Option<Network>,
    /// Bumped when access may have changed (a purchase): subscribe again, patiently.
    #[prop_or_default]
    pub(crate) generation: u32,
    /// The stream's partition count: each partition is subscribed to.
    #[prop_or(1)]
    pub(crate) partitions: u32,
    /// Events replayed from history on opening (per partition).
    #[prop_or(10)]
    pub(crate) history: u32,
    /// Told when the node ends the subscription (the licence lapsed).
    #[prop_or_default]
    pub(crate) on_ended: Callback<String>,
}

#[derive(Clone, PartialEq)]
enum State {
    Connecting,
    Live,
    Restricted,
    Ended(String),
    Failed(DappError),
}

/// What a delivery shows: its row, the numbers it charts, and whether it takes an undecryptable row's
/// place (an event decrypted late).
type Shown = (Row, Vec<(String, f64)>, bool);

/// The row a delivery shows, with the numbers it charts, and whether it replaces an undecryptable row.
fn row(live: Live) -> Option<Shown> {
    let notice = |publisher, verification| Row {
        time: clock(now_ms() as u64),
        publisher,
        verification,
        content: String::new(),
        at: None,
    };
    Some(match live {
        Live::Event {
            timestamp,
            publisher,
            content,
            late,
        } => {
            let numbers = numeric_fields(&content);
            let row = Row {
                time: clock(timestamp),
                publisher,
                verification: Verification::Verified,
                content,
                at: Some(timestamp),
            };
            (row, numbers, late)
        }
        Live::Undecryptable {
            timestamp,
            publisher,
            reason,
        } => {
            let row = Row {
                time: clock(timestamp),
                at: Some(timestamp),
                ..notice(publisher, Verification::Undecryptable(reason))
            };
            (row, Vec::new(), false)
        }
        Live::Gap { publisher } => (notice(publisher, Verification::Missing), Vec::new(), false),
        _ => return None,
    })
}

/// What the view says about its subscription.
fn status(state: &State, unstored: bool) -> Html {
    match state {
        State::Connecting => html! { <p class="status">{ "Connecting to the network…" }</p> },
        State::Live => html! {
            <p class="status live">{ "Live: each event's signature verified in this page" }
                if unstored { <span class="note">{ " (no relay node stores this stream, so there is no history: new events only)" }</span> }
            </p>
        },
        State::Restricted => html! {
            <p class="restricted">{ "This stream is for licence holders: its events are not public, so there is no preview." }</p>
        },
        State::Ended(reason) => html! {
            <p class="ended" role="status">{ format!("Delivery stopped: the relay nodes ended the subscription ({reason}). A licence that lapsed can be extended under My licences.") }</p>
        },
        State::Failed(e) => {
            html! { <p class="error" role="alert">{ format!("No live data: {e}") }</p> }
        }
    }
}

/// A chart per series: its last values as a line, the latest as a number.
fn charts(series: &[(String, VecDeque<f64>)]) -> Html {
    if series.is_empty() {
        return html! {};
    }
    html! {
        <div class="charts">
            { for series.iter().map(|(name, points)| {
                let values: Vec<f64> = points.iter().copied().collect();
                let latest = values.last().copied().unwrap_or_default();
                html! {
                    <figure class="chart">
                        <svg viewBox="0 0 300 60" preserveAspectRatio="none" role="img"
                            aria-label={format!("{name} over the last {} events", values.len())}>
                            <polyline fill="none" stroke="currentColor" stroke-width="1.5"
                                points={polyline(&values, 300.0, 56.0)} />
                        </svg>
                        <figcaption>{ format!("{name}: {latest}") }</figcaption>
                    </figure>
                }
            }) }
        </div>
    }
}

/// The rows as a table, newest first.
fn events(rows: &[Row]) -> Html {
    html! {
        <table class="events">
            <thead><tr><th>{ "Time" }</th><th>{ "Publisher" }</th><th>{ "Verified" }</th><th>{ "Content" }</th></tr></thead>
            <tbody>
                { for rows.iter().map(|r| html! {
                    <tr>
                        <td>{ &r.time }</td>
                        <td class="mono" title={r.publisher.clone()}>{ short(&r.publisher) }</td>
                        <td class={if r.verification == Verification::Verified { "verified" } else { "unverified" }}>
                            { r.verification.to_string() }
                        </td>
                        <td class="mono">{ &r.content }</td>
                    </tr>
                }) }
            </tbody>
        </table>
    }
}

/// The live view of one stream.
#[function_component(LiveView)]
pub(crate) fn live_view(props: &LiveViewProps) -> Html {
    let feed = use_mut_ref(Feed::default);
    let state = use_state(|| State::Connecting);
    let paused = use_state(|| None::<(Vec<Row>, u64)>);
    let unstored = use_state(|| false);
    let redraw = use_force_update();
    {
        let (feed, state, unstored) = (feed.clone(), state.clone(), unstored.clone());
        let on_ended = props.on_ended.clone();
        let history = props.history;
        let deps = (
            props.stream.clone(),
            props.network.clone(),
            props.generation,
            props.partitions.max(1),
        );
        use_effect_with(deps, move |(stream, network, generation, partitions)| {
            let mut stops = Vec::new();
            state.set(State::Connecting);
            // One subscription per partition, into one feed.
            for partition in 0..*partitions {
                let Some(network) = network.clone() else {
                    continue;
                };
                let (stop, stopped) = futures::channel::oneshot::channel::<()>();
                stops.push(stop);
                let what = Follow {
                    stream: stream.clone(),
                    partition,
                    history,
                    attempts: if *generation > 0 { 20 } else { 1 },
                };
                let (feed, state, unstored, on_ended, redraw) = (
                    feed.clone(),
                    state.clone(),
                    unstored.clone(),
                    on_ended.clone(),
                    redraw.clone(),
                );
                spawn_local(async move {
                    network
                        .follow(what, stopped, move |live| match live {
                            Live::Unstored => unstored.set(true),
                            Live::Started => state.set(State::Live),
                            Live::Restricted => state.set(State::Restricted),
                            Live::Failed(e) => state.set(State::Failed(e)),
                            Live::Ended(reason) => {
                                on_ended.emit(reason.clone());
                                state.set(State::Ended(reason));
                            }
                            delivered => {
                                match row(delivered) {
                                    Some((row, numbers, true)) => {
                                        feed.borrow_mut().decrypted_late(row, numbers)
                                    }
                                    Some((row, numbers, false)) => {
                                        feed.borrow_mut().push(row, numbers)
                                    }
                                    None => {}
                                }
                                redraw.force_update();
                            }
                        })
                        .await;
                });
            }
            move || {
                for stop in stops {
                    let _ = stop.send(());
                }
            }
        });
    }
    let feed = feed.borrow();
    let status = status(&state, *unstored);
    let toggle = {
        let paused = paused.clone();
        let rows: Vec<Row> = feed.rows.iter().cloned().collect();
        let received = feed.received;
        Callback::from(move |_: MouseEvent| {
            if paused.is_some() {
                paused.set(None);
            } else {
                paused.set(Some((rows.clone(), received)));
            }
        })
    };
    let (rows, waiting): (Vec<Row>, u64) = match &*paused {
        Some((rows, at)) => (rows.clone(), feed.received - at),
        None => (feed.rows.iter().cloned().collect(), 0),
    };
    html! {
        <section class="stream" data-stream={props.stream.clone()}>
            <h3><span class="mono">{ &props.stream }</span>
                if props.partitions > 1 { <span class="meta">{ format!(" · {} partitions", props.partitions) }</span> }
            </h3>
            { status }
            { charts(&feed.series) }
            if !rows.is_empty() {
                <p>
                    <button class="pause" onclick={toggle} aria-pressed={paused.is_some().to_string()}>
                        { if paused.is_some() { "Resume" } else { "Pause" } }
                    </button>
                    if waiting > 0 { { format!(" {waiting} new events while paused") } }
                </p>
                { events(&rows) }
            }
        </section>
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is a failure report

    use wasm_bindgen_test::wasm_bindgen_test;

    use super::*;
    use crate::testing::{root, settle};

    #[wasm_bindgen_test]
    async fn a_live_view_without_a_client_is_connecting() {
        let root = root();
        yew::Renderer::<LiveView>::with_root_and_props(
            root.clone(),
            LiveViewProps {
                stream: "0xab/demo".into(),
                partitions: 3,
                network: None,
                generation: 0,
                history: 10,
                on_ended: Callback::noop(),
            },
        )
        .render();
        settle().await;
        let text = root.text_content().unwrap();
        assert!(text.contains("Connecting to the network"), "{text}");
        assert!(text.contains("3 partitions"), "{text}");
        assert!(root.query_selector(".events").unwrap().is_none());
    }

    #[wasm_bindgen_test]
    fn deliveries_become_rows() {
        let (event, numbers, late) = row(Live::Event {
            timestamp: 0,
            publisher: "0xab".into(),
            content: r#"{"pm25":12}"#.into(),
            late: false,
        })
        .unwrap();
        assert_eq!(event.verification, Verification::Verified);
        assert_eq!(numbers, [("pm25".to_owned(), 12.0)]);
        assert!(!late);
        let (gap, numbers, _) = row(Live::Gap {
            publisher: "0xab".into(),
        })
        .unwrap();
        assert_eq!(gap.verification, Verification::Missing);
        assert!(numbers.is_empty());
        assert!(row(Live::Started).is_none());
    }
}
