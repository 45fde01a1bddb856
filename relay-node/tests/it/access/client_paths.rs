//! The paths a client reads by: HTTP history, WebSocket subscribe and resend, the light protocol. On each,
//! the licensed reader reads the stream and `stranger`, `lapsed` and `revoked` read nothing of it.

use std::time::Duration;

use futures::StreamExt;
use rivulet_client::{HistoryQuery, SubscriptionEvent};
use rivulet_protocol::{MessageType, StreamMessage};
use serde_json::{Value, json};

use super::{Access, client, publish_secret, secret, until};
use crate::{
    support::{history, start_node},
    ws_api::{Ws, connect, next, send},
};

/// The device's events in a JSON history answer (the part also holds key-exchange messages and the
/// setup's other publishers' events).
fn device_events<'a>(access: &Access, body: &'a Value) -> Vec<&'a Value> {
    let device = access.world.device.address().to_checksum();
    body["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("no messages in {body}"))
        .iter()
        .filter(|m| m["publisher"] == device.as_str())
        .collect()
}

/// A refusal in the JSON error shape naming `signer`, with nothing else in it.
fn assert_refused(body: &Value, code: &str, who: &str) {
    assert_eq!(body["error"], code, "{who}: {body}");
    assert!(body["message"].is_string(), "{who}: {body}");
    assert!(
        body.get("messages").is_none(),
        "{who} was refused but got data: {body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_history_serves_the_licensed_reader_only() {
    let access = Access::new().await;
    let world = &access.world;
    let http = reqwest::Client::new();
    // A node that does not store the part answers by asking the storage node, forwarding the token.
    let relay = start_node(
        &world.dir.path().join("relay"),
        &world.deployment_file,
        &["--network.bootstrap", &access.node.listen[0]],
    );
    for node in [&access.node, &relay] {
        until(
            &http,
            node,
            world,
            &world.reader,
            "the licensed reader",
            |s, b| s == 200 && device_events(&access, b).len() == 3,
        )
        .await;
        let (_, body) = history(&http, node, &world.stream, &world.reader).await;
        for event in device_events(&access, &body) {
            assert!(event["groupKeyId"].is_string(), "encrypted: {event}");
        }
        for (who, signer) in access.outsiders() {
            let (status, body) = history(&http, node, &world.stream, signer).await;
            assert_eq!(status, 403, "{who} on {}: {body}", node.http);
            assert_refused(&body, "no_permission", who);
            let message = body["message"].as_str().unwrap().to_lowercase();
            assert!(
                message.contains(&signer.address().to_string().to_lowercase()),
                "the refusal names {who}: {body}"
            );
        }
        // Without a token: 401, never the data.
        let response = http
            .get(format!("{}/api/v1/history", node.http))
            .query(&[("stream", world.stream.as_str()), ("last", "10")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 401);
        assert_refused(
            &response.json().await.unwrap(),
            "unauthenticated",
            "anonymous",
        );
    }
    // A token is good on the node that issued it only: the licensed reader's token from the storage
    // node, shown to the relay, is refused.
    let foreign = crate::support::token(&http, &access.node, &world.reader).await;
    let response = http
        .get(format!("{}/api/v1/history", relay.http))
        .query(&[("stream", world.stream.as_str()), ("last", "10")])
        .bearer_auth(foreign)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    assert_refused(
        &response.json().await.unwrap(),
        "bad_token",
        "another node's token",
    );
}

/// Nothing comes on `ws` for a while.
async fn assert_quiet(ws: &mut Ws, who: &str) {
    if let Ok(frame) = tokio::time::timeout(Duration::from_secs(2), ws.next()).await {
        panic!("{who} got a frame after being refused: {frame:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_subscribe_and_resend_serve_the_licensed_reader_only() {
    let access = Access::new().await;
    let stream = access.world.stream.as_str();
    let subscribe = json!({ "type": "subscribe", "id": "s", "stream": stream, "partition": 0 });
    let resend =
        json!({ "type": "resend", "id": "r", "stream": stream, "partition": 0, "last": 100 });

    let mut licensed = connect(&access.node, Some(&access.world.reader)).await;
    send(&mut licensed, resend.clone()).await;
    let answer = next(&mut licensed).await;
    assert_eq!(answer["type"], "resent", "{answer}");
    assert_eq!(device_events(&access, &answer).len(), 3, "{answer}");
    send(&mut licensed, subscribe.clone()).await;
    assert_eq!(next(&mut licensed).await["type"], "subscribed");

    let mut refused = Vec::new();
    let outsiders = access.outsiders().map(|(who, s)| (who, Some(s)));
    for (who, signer) in outsiders.into_iter().chain([("anonymous", None)]) {
        let mut ws = connect(&access.node, signer).await;
        for (request, id) in [(&subscribe, "s"), (&resend, "r")] {
            send(&mut ws, request.clone()).await;
            let answer = next(&mut ws).await;
            assert_eq!(
                (answer["type"].as_str(), answer["id"].as_str()),
                (Some("error"), Some(id)),
                "{who}: {answer}"
            );
            assert_refused(&answer, "no_permission", who);
        }
        refused.push((who, ws));
    }

    // A new event reaches the licensed subscriber, and none of the refused connections.
    publish_secret(&access, 4).await;
    let event = loop {
        let frame = next(&mut licensed).await;
        if frame["type"] == "message"
            && frame["message"]["publisher"] == access.world.device.address().to_checksum()
        {
            break frame;
        }
    };
    assert!(event["message"]["groupKeyId"].is_string(), "{event}");
    for (who, ws) in &mut refused {
        assert_quiet(ws, who).await;
    }
}

/// The device's data events among `messages`.
fn device_data(access: &Access, messages: &[StreamMessage]) -> Vec<StreamMessage> {
    messages
        .iter()
        .filter(|m| {
            m.body.message_type == MessageType::Data
                && m.id().publisher == access.world.device.address()
        })
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_light_protocol_serves_the_licensed_reader_only() {
    let access = Access::new().await;
    let part = access.part();
    let entry = access.node.listen[0].as_str();

    // The licensed reader: history (ciphertext, as stored), then a live event it decrypts.
    let reader = client(&[entry], access.world.reader.to_bytes());
    let stored = reader
        .resend(&part, HistoryQuery::Last { n: 100 })
        .await
        .unwrap();
    let stored = device_data(&access, &stored);
    assert_eq!(stored.len(), 3);
    let key_id = stored[0].body.encryption.group_key_id().unwrap().clone();
    let mut sub = reader.subscribe(&part, None).await.unwrap();
    publish_secret(&access, 4).await;
    match tokio::time::timeout(Duration::from_secs(20), sub.next()).await {
        Ok(Some(SubscriptionEvent::Message(m))) => {
            assert_eq!(m.body.content, secret(4).into_bytes())
        }
        other => panic!("the licensed reader got {other:?}"),
    }

    for (who, signer) in access.outsiders() {
        let outsider = client(&[entry], signer.to_bytes());
        let refused = outsider
            .resend(&part, HistoryQuery::Last { n: 100 })
            .await
            .map(|m| m.len())
            .unwrap_err();
        assert_eq!(refused.code(), "NO_PERMISSION", "{who} resend: {refused}");
        let refused = outsider
            .subscribe(&part, None)
            .await
            .map(|_| ())
            .unwrap_err();
        assert_eq!(
            refused.code(),
            "NO_PERMISSION",
            "{who} subscribe: {refused}"
        );
        // Nor may it ask the publisher for the key of what it might have got elsewhere (for `lapsed`,
        // a request stamped by its clock, before its licence's end: the node judges it by the chain's).
        let refused = outsider
            .request_group_keys(
                &part,
                access.world.device.address(),
                std::slice::from_ref(&key_id),
            )
            .await
            .unwrap_err();
        assert_eq!(
            refused.code(),
            "NO_PERMISSION",
            "{who} key request: {refused}"
        );
        assert!(
            refused.to_string().contains("send key requests"),
            "{who}: {refused}"
        );
        outsider.destroy();
    }
}
