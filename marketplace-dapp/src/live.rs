//! A stream's live view: its last events on opening (history) and then every new one, each verified in
//! the page before it shows; a table with publisher and verification state, a chart per numeric field,
//! and pause. Used for public previews and for licensed streams alike.

use std::collections::VecDeque;

use futures::future::{Either, select};

use rivulet_client::{Client, ClientError, SubscriptionEvent};
use rivulet_protocol::StreamPartId;
use wasm_bindgen_futures::spawn_local;
use yew::prelude::*;

use crate::model::{numeric_fields, polyline, short};

/// A client handed to components (compared by identity).
#[derive(Clone)]
pub(crate) struct Shared(pub(crate) Client);

impl PartialEq for Shared {
    fn eq(&self, other: &Shared) -> bool {
        self.0.peer_id() == other.0.peer_id()
    }
}

/// Rows the table keeps.
const ROWS: usize = 20;
/// Points each chart keeps.
const POINTS: usize = 60;
/// Charts drawn (the first numeric fields).
const CHARTS: usize = 3;

#[derive(Properties, PartialEq)]
pub(crate) struct LiveProps {
    /// The stream id.
    pub(crate) stream: String,
    /// The client to subscribe with (none yet: connecting).
    pub(crate) client: Option<Shared>,
    /// Bumped when access may have changed (a purchase): subscribe again.
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
    Failed(String),
}

/// One shown event.
#[derive(Clone, PartialEq)]
struct Row {
    time: String,
    publisher: String,
    verified: Result<(), String>,
    content: String,
}

#[derive(Default)]
struct Feed {
    rows: VecDeque<Row>,
    series: Vec<(String, VecDeque<f64>)>,
    received: u64,
}

impl Feed {
    fn push(&mut self, row: Row, numbers: Vec<(String, f64)>) {
        self.received += 1;
        self.rows.push_front(row);
        self.rows.truncate(ROWS);
        for (name, value) in numbers {
            let index = match self.series.iter().position(|(n, _)| *n == name) {
                Some(i) => i,
                None if self.series.len() < CHARTS => {
                    self.series.push((name, VecDeque::new()));
                    self.series.len() - 1
                }
                None => continue,
            };
            let points = &mut self.series[index].1;
            points.push_back(value);
            if points.len() > POINTS {
                points.pop_front();
            }
        }
    }
}

fn clock(ms: u64) -> String {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms as f64));
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        date.get_hours(),
        date.get_minutes(),
        date.get_seconds(),
        date.get_milliseconds()
    )
}

/// The live view of one stream (its partition 0).
#[function_component(LiveView)]
pub(crate) fn live_view(props: &LiveProps) -> Html {
    let feed = use_mut_ref(Feed::default);
    let state = use_state(|| State::Connecting);
    let paused = use_state(|| None::<(Vec<Row>, u64)>);
    let unstored = use_state(|| false);
    let redraw = use_force_update();
    {
        let feed = feed.clone();
        let state = state.clone();
        let stream = props.stream.clone();
        let client = props.client.clone();
        let peer = client.as_ref().map(|Shared(c)| c.peer_id());
        let generation = props.generation;
        let history = props.history;
        let on_ended = props.on_ended.clone();
        let unstored = unstored.clone();
        let partitions = props.partitions.max(1);
        use_effect_with((stream.clone(), peer, generation, partitions), move |_| {
            let mut stops = Vec::new();
            state.set(State::Connecting);
            // One subscription per partition, into one feed.
            for partition in 0..partitions {
                let (Some(Shared(client)), Ok(part)) = (
                    client.clone(),
                    format!("{stream}#{partition}").parse::<StreamPartId>(),
                ) else {
                    continue;
                };
                let (stop, mut stopped) = futures::channel::oneshot::channel::<()>();
                stops.push(stop);
                let (feed, state, unstored, on_ended, redraw) = (
                    feed.clone(),
                    state.clone(),
                    unstored.clone(),
                    on_ended.clone(),
                    redraw.clone(),
                );
                // Just after a purchase the relay nodes may not have seen the licence yet (they follow
                // the chain): ask again for a while before calling the stream restricted.
                let attempts = if generation > 0 { 20 } else { 1 };
                spawn_local(async move {
                    let mut attempt = 0;
                    let mut last = Some(history);
                    let mut sub = loop {
                        attempt += 1;
                        match client.subscribe(&part, last).await {
                            Ok(sub) => break sub,
                            // Nobody stores the stream: live events only.
                            Err(ClientError::Refused { code, .. })
                                if code == "not_stored" && last.is_some() =>
                            {
                                last = None;
                                unstored.set(true);
                            }
                            Err(ClientError::Refused { code, .. })
                                if code == "no_permission" && attempt < attempts =>
                            {
                                rivulet_client::runtime::sleep(std::time::Duration::from_millis(
                                    500,
                                ))
                                .await;
                            }
                            Err(ClientError::Refused { code, .. }) if code == "no_permission" => {
                                state.set(State::Restricted);
                                return;
                            }
                            Err(e) => {
                                state.set(State::Failed(e.to_string()));
                                return;
                            }
                        }
                    };
                    if !matches!(stopped.try_recv(), Ok(None)) {
                        return;
                    }
                    state.set(State::Live);
                    loop {
                        // Dropping the subscription (on leaving) unsubscribes.
                        let next = sub.next();
                        futures::pin_mut!(next);
                        let event = match select(next, &mut stopped).await {
                            Either::Left((Some(event), _)) => event,
                            _ => break,
                        };
                        match event {
                            SubscriptionEvent::Message(m) => {
                                let content = String::from_utf8_lossy(&m.body.content).into_owned();
                                let numbers = numeric_fields(&content);
                                feed.borrow_mut().push(
                                    Row {
                                        time: clock(m.id().timestamp),
                                        publisher: m.id().publisher.to_checksum(),
                                        verified: Ok(()),
                                        content,
                                    },
                                    numbers,
                                );
                            }
                            SubscriptionEvent::Undecryptable {
                                publisher, reason, ..
                            } => feed.borrow_mut().push(
                                Row {
                                    time: clock(js_sys::Date::now() as u64),
                                    publisher,
                                    verified: Err(format!("cannot decrypt: {reason}")),
                                    content: String::new(),
                                },
                                Vec::new(),
                            ),
                            SubscriptionEvent::Gap { publisher } => feed.borrow_mut().push(
                                Row {
                                    time: clock(js_sys::Date::now() as u64),
                                    publisher,
                                    verified: Err(
                                        "events missing here (no node stores them)".into()
                                    ),
                                    content: String::new(),
                                },
                                Vec::new(),
                            ),
                            SubscriptionEvent::Ended(reason) => {
                                on_ended.emit(reason.clone());
                                state.set(State::Ended(reason));
                                break;
                            }
                        }
                        redraw.force_update();
                    }
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
    let status = match &*state {
        State::Connecting => html! { <p class="status">{ "Connecting to the network…" }</p> },
        State::Live => html! {
            <p class="status live">{ "Live: each event's signature verified in this page" }
                if *unstored { <span class="note">{ " (no relay node stores this stream, so there is no history: new events only)" }</span> }
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
    };
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
            if !feed.series.is_empty() {
                <div class="charts">
                    { for feed.series.iter().map(|(name, points)| {
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
            if !rows.is_empty() {
                <p>
                    <button class="pause" onclick={toggle} aria-pressed={paused.is_some().to_string()}>
                        { if paused.is_some() { "Resume" } else { "Pause" } }
                    </button>
                    if waiting > 0 { { format!(" {waiting} new events while paused") } }
                </p>
                <table class="events">
                    <thead><tr><th>{ "Time" }</th><th>{ "Publisher" }</th><th>{ "Verified" }</th><th>{ "Content" }</th></tr></thead>
                    <tbody>
                        { for rows.iter().map(|r| html! {
                            <tr>
                                <td>{ &r.time }</td>
                                <td class="mono" title={r.publisher.clone()}>{ short(&r.publisher) }</td>
                                { match &r.verified {
                                    Ok(()) => html! { <td class="verified">{ "✓ signature verified" }</td> },
                                    Err(why) => html! { <td class="unverified">{ format!("✗ {why}") }</td> },
                                } }
                                <td class="mono">{ &r.content }</td>
                            </tr>
                        }) }
                    </tbody>
                </table>
            }
        </section>
    }
}
