//! A neighbour that stops reading — here a relay process stopped with SIGSTOP, so the kernel's buffers
//! and yamux's window fill and then gossipsub's queue for it — costs the others nothing: a subscriber on
//! another node gets every event in order, the node counts and reports the slow peer, what it holds for
//! the stalled peer stays within `network.gossip_queue_mb_per_peer`, and the peer is served again once
//! it reads.

use std::{
    process::Command,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use futures::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::{
    support::{Node, World, chained_frames, frame, metric, publish, start_configured_node},
    ws_api::{Ws, connect, next, send},
};

/// 4 MiB queued for one peer at most (8 MiB for all), so that a few dozen large events exceed it.
const CONFIG: &str = "[network]\ngossip_queue_mb_per_peer = 4\ngossip_queue_mb = 8\n";

/// 128 events of 256 KiB each (32 MiB) while the neighbour is stopped: eight times its queue's bound.
const EVENTS: usize = 128;
const PAD: usize = 256 * 1024;
/// Events published ahead of B's subscriber at most.
const WINDOW: usize = 8;

/// Sends `signal` (`-STOP`, `-CONT`) to the node's process.
fn signal(node: &Node, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &node.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {signal} failed");
}

async fn subscribe(node: &Node, world: &World) -> Ws {
    let mut ws = connect(node, Some(&world.reader)).await;
    send(
        &mut ws,
        json!({ "type": "subscribe", "stream": world.stream.as_str() }),
    )
    .await;
    assert_eq!(next(&mut ws).await["type"], "subscribed");
    ws
}

/// Whether a `message` frame with `phase` in its content arrives on `ws` within `wait`.
async fn sees(ws: &mut Ws, phase: &str, wait: Duration) -> bool {
    let deadline = Instant::now() + wait;
    while let Ok(Some(Ok(msg))) = tokio::time::timeout_at(deadline.into(), ws.next()).await {
        if let Message::Text(t) = msg {
            let f: Value = serde_json::from_str(&t).unwrap();
            if f["type"] == "message" && f["message"]["content"]["phase"] == phase {
                return true;
            }
        }
    }
    false
}

/// The hex wires of the next `count` `message` frames on `ws` whose content has `marker`, read without
/// parsing them (a reader that falls behind is told it lagged, and fails here); how many so far in
/// `read`.
async fn wires(ws: &mut Ws, marker: &str, count: usize, read: &AtomicUsize) -> Vec<String> {
    let mut out = Vec::new();
    while out.len() < count {
        let msg = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .expect("no frame within 30 s")
            .unwrap()
            .unwrap();
        let Message::Text(text) = msg else { continue };
        let text = text.as_str();
        assert!(text.starts_with(r#"{"type":"message""#), "{text:.300}");
        if !text.contains(marker) {
            continue;
        }
        let start = text.find(r#""wire":""#).expect("a wire") + r#""wire":""#.len();
        let len = text[start..].find('"').expect("the wire's end");
        out.push(text[start..start + len].to_owned());
        read.store(out.len(), Ordering::Release);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_neighbour_costs_the_others_nothing_and_its_queue_stays_bounded() {
    let world = World::public().await;
    let dir = world.dir.path();
    let start = |name: &str, extra: &[&str]| {
        start_configured_node(&dir.join(name), &world.deployment_file, CONFIG, extra)
    };
    let a = start("a", &[]);
    let bootstrap = ["--network.bootstrap", a.listen[0].as_str()];
    let b = start("b", &bootstrap);
    let stalled = start("s", &bootstrap);
    let http = reqwest::Client::new();
    let mut on_b = subscribe(&b, &world).await;
    let mut on_stalled = subscribe(&stalled, &world).await;

    // Until events published on A reach both subscribers (A gossips to B and the other node directly).
    let mut seq = 0;
    let (mut seen_b, mut seen_s) = (false, false);
    while !(seen_b && seen_s) {
        seq += 1;
        assert!(seq < 150, "events from A never reached both subscribers");
        let wire = frame(&world.device, &world.stream, seq, r#"{"phase":"warm"}"#);
        let (status, body) = publish(&http, &a, &wire).await;
        assert_eq!(status, 200, "{body}");
        seen_b |= sees(&mut on_b, "warm", Duration::from_millis(100)).await;
        seen_s |= sees(&mut on_stalled, "warm", Duration::from_millis(100)).await;
    }

    signal(&stalled, "-STOP");
    let rss = "process_resident_memory_bytes";
    let before = metric(&http, &a, rss).await;
    let contents: Vec<String> = (0..EVENTS)
        .map(|i| format!(r#"{{"phase":"big","i":{i},"pad":"{}"}}"#, "x".repeat(PAD)))
        .collect();
    let sent = chained_frames(&world.device, &world.stream, "big", &contents);
    let expected: Vec<String> = sent.iter().map(hex::encode).collect();
    let read = Arc::new(AtomicUsize::new(0));
    let reader = tokio::spawn({
        let read = read.clone();
        async move { wires(&mut on_b, r#""phase":"big""#, EVENTS, &read).await }
    });
    for (i, wire) in sent.iter().enumerate() {
        // At most WINDOW ahead of B's subscriber: this machine's two cores run three debug-build nodes
        // and the test, and a subscriber that cannot keep up would be dropped events (`lagged`) by B.
        while i >= read.load(Ordering::Acquire) + WINDOW {
            assert!(!reader.is_finished(), "B's subscriber stopped");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let (status, body) = publish(&http, &a, wire).await;
        assert_eq!(status, 200, "{body}");
    }
    // B's subscriber gets every one, in order, while the stopped node reads nothing.
    let got = reader.await.unwrap();
    assert!(
        got == expected,
        "B's subscriber did not get every event in order"
    );

    // A holds at most its bound for the stalled peer, and counts what did not fit (reported at the
    // heartbeat after)...
    let queued = metric(&http, &a, "rivulet_gossip_queued_bytes").await;
    assert!(
        queued > 0.0 && queued <= f64::from(4 << 20),
        "A's queues hold {queued} bytes"
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while metric(&http, &a, "rivulet_gossip_unsent_total").await == 0.0 {
        assert!(Instant::now() < deadline, "A never reported the slow peer");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // ...and its memory shows it: once its message cache has let the events go (a few heartbeats) and
    // the allocator has returned the pages (its decay, ~10 s), A is near where it was, not the 32 MiB
    // above it that keeping every event for the stalled peer would cost.
    let deadline = Instant::now() + Duration::from_secs(45);
    loop {
        let grown_mib = (metric(&http, &a, rss).await - before) / f64::from(1 << 20);
        if grown_mib < 16.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "A still holds {grown_mib:.1} MiB more than before the stalled peer's backlog"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Resumed, the peer is served again.
    signal(&stalled, "-CONT");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        seq += 1;
        let wire = frame(&world.device, &world.stream, seq, r#"{"phase":"after"}"#);
        let (status, body) = publish(&http, &a, &wire).await;
        assert_eq!(status, 200, "{body}");
        if sees(&mut on_stalled, "after", Duration::from_millis(300)).await {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the resumed node was not served again"
        );
    }
}
