//! Backdating, end to end against a real node (`rivulet-validate`'s unit tests judge the same rule
//! in memory): a publisher whose permission ended by the chain's clock cannot publish events stamped
//! before its end, and a reader whose licence lapsed cannot send key requests stamped before the lapse.
//! Stamps inside the node's window (60 s either way of its clock) are judged by the permission now;
//! stamps outside it are refused whoever signs.

use rivulet_client::PublishOptions;
use rivulet_protocol::ContentType;
use serde_json::{Value, json};

use super::{Access, client, key_request, sealed};
use crate::{
    support::{metrics, now_ms, publish},
    ws_api::{connect, next, send},
};

/// How many refusals of `reason` the node's metrics count.
async fn refusals(http: &reqwest::Client, access: &Access, reason: &str) -> u64 {
    let text = metrics(http, &access.node).await;
    let series = format!(r#"rivulet_validation_failures_total{{reason="{reason}"}} "#);
    text.lines()
        .find_map(|l| l.strip_prefix(series.as_str()))
        .map_or(0, |n| n.parse().unwrap())
}

fn assert_refused(answer: (u16, Value), code: &str, says: &str, what: &str) {
    let (status, body) = answer;
    assert_eq!(
        (status, body["error"].as_str()),
        // A permission refused is 403; a stamp outside the window is a bad request (400).
        (if code == "no_permission" { 403 } else { 400 }, Some(code)),
        "{what}: {body}"
    );
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains(says),
        "{what}: {message:?} should say {says:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backdated_events_and_key_requests_are_refused() {
    let access = Access::new().await;
    let http = reqwest::Client::new();
    let node = &access.node;
    let now = now_ms();
    let end_ms = access.expiry * 1000;
    // Every stamp below is before the permission's end (which the chain's clock has passed).
    assert!(
        now < end_ms - 61_000,
        "the setup took too long for this test's stamps"
    );
    let before = ["no_permission", "stale_timestamp", "future_timestamp"]
        .map(|r| async { refusals(&http, &access, r).await });
    let before = futures::future::join_all(before).await;

    // Events of the publisher whose permission ended, stamped before the end.
    let publisher = &access.lapsed_publisher;
    for (stamp, code, says, what) in [
        (
            now,
            "no_permission",
            "may not publish",
            "an event stamped now",
        ),
        (
            now - 30_000,
            "no_permission",
            "may not publish",
            "an event stamped 30 s ago",
        ),
        (
            now - 61_000,
            "stale_timestamp",
            "",
            "an event stamped 61 s ago",
        ),
        (
            end_ms - 1_000,
            "future_timestamp",
            "",
            "an event stamped 1 s before the end",
        ),
    ] {
        let event = sealed(&access, publisher, stamp, r#"{"backdated":true}"#);
        assert_refused(publish(&http, node, &event).await, code, says, what);
    }
    // The same over WebSocket `publish`. Through the light protocol, the publisher's own client is
    // refused before any event: an encrypting publisher first offers the nodes its key service, which
    // needs publish permission now.
    let mut ws = connect(node, Some(publisher)).await;
    let event = sealed(&access, publisher, now - 10_000, r#"{"backdated":"ws"}"#);
    send(
        &mut ws,
        json!({ "type": "publish", "id": 1, "message": hex::encode(&event) }),
    )
    .await;
    let answer = next(&mut ws).await;
    assert_eq!(answer["error"], "no_permission", "{answer}");
    let refused = client(&[&node.listen[0]], publisher.to_bytes())
        .publish(
            &access.world.stream,
            ContentType::Json,
            br#"{"backdated":"light"}"#.to_vec(),
            PublishOptions {
                encrypt: Some(true),
                ..PublishOptions::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(refused.code(), "NO_PERMISSION", "{refused}");
    assert!(refused.to_string().contains("may not publish"), "{refused}");

    // Key requests of the reader whose licence lapsed, stamped before the lapse.
    for (stamp, code, says, what) in [
        (
            now,
            "no_permission",
            "may not send key requests",
            "a key request stamped now",
        ),
        (
            now - 30_000,
            "no_permission",
            "may not send key requests",
            "a key request stamped 30 s ago",
        ),
        (
            now - 61_000,
            "stale_timestamp",
            "",
            "a key request stamped 61 s ago",
        ),
    ] {
        let request = key_request(&access, &access.lapsed, stamp, what);
        assert_refused(publish(&http, node, &request).await, code, says, what);
    }
    // The licensed reader's request, stamped now, goes through: the refusals above are the lapse.
    let request = key_request(&access, &access.world.reader, now, "licensed");
    let (status, body) = publish(&http, node, &request).await;
    assert_eq!(status, 200, "{body}");

    // Each refusal is counted by its reason.
    let after = ["no_permission", "stale_timestamp", "future_timestamp"]
        .map(|r| async { refusals(&http, &access, r).await });
    let after = futures::future::join_all(after).await;
    let counted: Vec<u64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
    assert_eq!(counted, [2 + 1 + 2, 2, 1], "no_permission, stale, future");
}
