//! The WebSocket API across three real nodes: a publisher on A, authenticated subscribers on B and C get
//! every event exactly once, in order, with valid signatures (as JSON, or as binary frames of the wire
//! bytes); strangers are refused; bad frames and floods get clear errors and the connection keeps
//! working; one address holds only its share of connections; a subscription ends when its reader's
//! permission does.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use rivulet_contracts::{PermissionKind, to_alloy};
use rivulet_deploy::dev::dev_key;
use rivulet_protocol::{Limits, MessageRef, Partition, Signer, StreamPartId, decode_verified};
use serde_json::{Value, json};
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream, connect_async,
    tungstenite::{Message, protocol::CloseFrame},
};

use crate::support::{
    Node, World, chained_frames, frame, metrics, publish, sealed_frame, start_configured_node,
    start_node,
};

pub(crate) type Ws = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// Connects, reads the challenge, and signs it with `signer` when given.
pub(crate) async fn connect(node: &Node, signer: Option<&Signer>) -> Ws {
    let url = format!("{}/api/v1/ws", node.http.replace("http://", "ws://"));
    let (mut ws, _) = connect_async(url).await.unwrap();
    let challenge = next(&mut ws).await;
    assert_eq!(challenge["type"], "challenge", "{challenge}");
    if let Some(s) = signer {
        let signature = s.sign_personal(challenge["text"].as_str().unwrap().as_bytes());
        send(&mut ws, json!({ "type": "auth", "address": s.address().to_string(), "signature": hex::encode(signature.0) })).await;
        let answer = next(&mut ws).await;
        assert_eq!(answer["type"], "authenticated", "{answer}");
    }
    ws
}

/// Opens a WebSocket to `node` from the loopback address `from` (127.0.0.x); the upgrade's outcome.
async fn connect_from(
    node: &Node,
    from: [u8; 4],
) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    let url = format!("{}/api/v1/ws", node.http.replace("http://", "ws://"));
    let to: std::net::SocketAddr = node.http.trim_start_matches("http://").parse().unwrap();
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind((from, 0).into())?;
    let tcp = socket.connect(to).await?;
    let (ws, _) = tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(tcp)).await?;
    Ok(ws)
}

pub(crate) async fn send(ws: &mut Ws, frame: Value) {
    ws.send(Message::Text(frame.to_string().into()))
        .await
        .unwrap();
}

pub(crate) async fn next(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(15), ws.next())
            .await
            .expect("no frame within 15 s")
            .unwrap()
            .unwrap();
        if let Message::Text(t) = msg {
            return serde_json::from_str(&t).unwrap();
        }
    }
}

/// Reads until the node's close frame and returns it (`None`: closed without a code). Fails if the
/// connection breaks without a closing handshake or nothing comes within 10 s.
async fn close_frame(ws: &mut Ws) -> Option<CloseFrame> {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("no close frame within 10 s")
        {
            Some(Ok(Message::Close(frame))) => return frame,
            Some(Ok(_)) => continue,
            None => return None,
            Some(Err(e)) => panic!("the connection failed instead of closing: {e}"),
        }
    }
}

/// Collects `message` frames' sequence numbers and wires until `count` arrived.
async fn collect(ws: &mut Ws, count: usize) -> Vec<(u32, Vec<u8>)> {
    let mut out = Vec::new();
    while out.len() < count {
        let f = next(ws).await;
        assert_eq!(f["type"], "message", "{f}");
        let m = &f["message"];
        out.push((
            m["sequenceNumber"].as_u64().unwrap() as u32,
            hex::decode(m["wire"].as_str().unwrap()).unwrap(),
        ));
    }
    out
}

/// Collects `count` binary event frames (wire bytes), skipping nothing else: a text frame fails.
async fn collect_wire(ws: &mut Ws, count: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while out.len() < count {
        match tokio::time::timeout(Duration::from_secs(15), ws.next())
            .await
            .expect("no frame within 15 s")
            .unwrap()
            .unwrap()
        {
            Message::Binary(b) => out.push(b.to_vec()),
            other => panic!("expected an event's wire bytes, got {other:?}"),
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_on_other_nodes_get_every_event_once_in_order() {
    let world = World::public().await;
    let dir = world.dir.path();
    let a = start_node(&dir.join("a"), &world.deployment_file, &[]);
    let b = start_node(
        &dir.join("b"),
        &world.deployment_file,
        &["--network.bootstrap", &a.listen[0]],
    );
    let c = start_configured_node(
        &dir.join("c"),
        &world.deployment_file,
        "[http]\nws_frames_per_second = 5\nws_max_connections = 3\nws_max_subscriptions = 1\n",
        &["--network.bootstrap", &a.listen[0]],
    );
    let http = reqwest::Client::new();
    let stream = world.stream.as_str();

    let mut on_b = connect(&b, Some(&world.reader)).await;
    let mut on_c = connect(&c, Some(&world.reader)).await;
    for ws in [&mut on_b, &mut on_c] {
        send(
            ws,
            json!({ "type": "subscribe", "id": 1, "stream": stream, "partition": 0 }),
        )
        .await;
        let answer = next(ws).await;
        assert_eq!(
            (answer["type"].as_str(), answer["id"].as_u64()),
            (Some("subscribed"), Some(1)),
            "{answer}"
        );
    }

    // Strangers may not subscribe to a stream that is not public (here, one nobody may read).
    let private = "0x0000000000000000000000000000000000000001/private";
    let mut stranger = connect(&c, Some(&Signer::from_bytes(&[9; 32]).unwrap())).await;
    send(
        &mut stranger,
        json!({ "type": "subscribe", "stream": private }),
    )
    .await;
    assert_eq!(next(&mut stranger).await["error"], "no_permission");
    let mut anonymous = connect(&c, None).await;
    send(
        &mut anonymous,
        json!({ "type": "subscribe", "stream": private }),
    )
    .await;
    assert_eq!(next(&mut anonymous).await["error"], "no_permission");

    // C's limits: one subscription per connection, three connections at once.
    send(
        &mut on_c,
        json!({ "type": "subscribe", "id": "second", "stream": "rivulet.eth/other" }),
    )
    .await;
    let refused = next(&mut on_c).await;
    assert_eq!(
        (refused["error"].as_str(), refused["id"].as_str()),
        (Some("too_many_subscriptions"), Some("second")),
        "{refused}"
    );
    let url = format!("{}/api/v1/ws", c.http.replace("http://", "ws://"));
    match connect_async(url.as_str()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 503);
            let body: Value = serde_json::from_slice(response.body().as_deref().unwrap()).unwrap();
            assert_eq!(body["error"], "too_many_connections", "{body}");
        }
        other => panic!(
            "a fourth connection was not refused: {:?}",
            other.map(|_| ())
        ),
    }
    // A connection that ends frees its place.
    drop((stranger, anonymous));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while connect_async(url.as_str()).await.is_err() {
        assert!(std::time::Instant::now() < deadline, "no place came free");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Warm up until both subscribers see events from A (meshes form on heartbeats).
    let mut seq = 0;
    let mut seen_b = false;
    let mut seen_c = false;
    while !(seen_b && seen_c) {
        seq += 1;
        assert!(seq < 150, "events from A never reached both subscribers");
        let (status, body) = publish(
            &http,
            &a,
            &frame(&world.device, &world.stream, seq, r#"{"warmup":true}"#),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        for (ws, seen) in [(&mut on_b, &mut seen_b), (&mut on_c, &mut seen_c)] {
            while let Ok(Some(Ok(Message::Text(t)))) =
                tokio::time::timeout(Duration::from_millis(100), ws.next()).await
            {
                let f: Value = serde_json::from_str(&t).unwrap();
                assert_eq!(f["type"], "message", "{f}");
                *seen = true;
            }
        }
    }

    // A subscriber that asks for events as wire bytes (binary frames); a format the node does not
    // know is refused, naming the ones it does.
    let mut wire_on_b = connect(&b, Some(&world.reader)).await;
    send(
        &mut wire_on_b,
        json!({ "type": "subscribe", "id": 2, "stream": stream, "format": "xml" }),
    )
    .await;
    let refused = next(&mut wire_on_b).await;
    assert_eq!(refused["error"], "bad_frame", "{refused}");
    assert!(
        refused["message"].as_str().unwrap().contains("`wire`"),
        "{refused}"
    );
    send(
        &mut wire_on_b,
        json!({ "type": "subscribe", "id": 2, "stream": stream, "format": "wire" }),
    )
    .await;
    assert_eq!(next(&mut wire_on_b).await["type"], "subscribed");

    // 30 events: each subscriber gets all of them, once, in order, each verifiable.
    let first = seq + 1;
    let contents: Vec<String> = (first..first + 30)
        .map(|s| format!(r#"{{"n":{s}}}"#))
        .collect();
    let sent = chained_frames(&world.device, &world.stream, "ordered", &contents);
    for wire in &sent {
        let (status, body) = publish(&http, &a, wire).await;
        assert_eq!(status, 200, "{body}");
    }
    for ws in [&mut on_b, &mut on_c] {
        let got = collect(ws, 30).await;
        let wires: Vec<&Vec<u8>> = got.iter().map(|(_, w)| w).collect();
        assert_eq!(
            wires,
            sent.iter().collect::<Vec<_>>(),
            "every event once, in order"
        );
        for ((_, wire), original) in got.iter().zip(&sent) {
            assert_eq!(wire, original);
            assert_eq!(
                decode_verified(wire, &Limits::default())
                    .unwrap()
                    .id()
                    .publisher,
                world.device.address()
            );
        }
        // Nothing more (no duplicates).
        assert!(
            tokio::time::timeout(Duration::from_millis(300), ws.next())
                .await
                .is_err()
        );
    }
    assert_eq!(
        collect_wire(&mut wire_on_b, 30).await,
        sent,
        "as wire bytes"
    );

    // Publishing over the WebSocket works too, and reaches the other node's subscriber.
    let wire = frame(&world.device, &world.stream, first + 30, r#"{"via":"ws"}"#);
    send(
        &mut on_b,
        json!({ "type": "publish", "id": "p1", "message": hex::encode(&wire) }),
    )
    .await;
    let mut published = false;
    for _ in 0..2 {
        let f = next(&mut on_b).await;
        match f["type"].as_str() {
            Some("published") => published = true,
            Some("message") => assert_eq!(f["message"]["wire"], hex::encode(&wire)),
            _ => panic!("{f}"),
        }
    }
    assert!(published);
    assert_eq!(collect(&mut on_c, 1).await[0].1, wire);
    assert_eq!(
        collect_wire(&mut wire_on_b, 1).await,
        std::slice::from_ref(&wire)
    );

    // So does a binary frame of the wire bytes: answered as a publish without an id, and delivered
    // to the binary subscriber as the very same bytes.
    let binary = frame(
        &world.device,
        &world.stream,
        first + 31,
        r#"{"via":"binary"}"#,
    );
    wire_on_b
        .send(Message::Binary(binary.clone().into()))
        .await
        .unwrap();
    let mut answered = false;
    let mut delivered = false;
    while !(answered && delivered) {
        match tokio::time::timeout(Duration::from_secs(15), wire_on_b.next())
            .await
            .expect("no frame within 15 s")
            .unwrap()
            .unwrap()
        {
            Message::Text(t) => {
                let f: Value = serde_json::from_str(&t).unwrap();
                assert_eq!(
                    (f["type"].as_str(), f["duplicate"].as_bool()),
                    (Some("published"), Some(false)),
                    "{f}"
                );
                answered = true;
            }
            Message::Binary(b) => {
                assert_eq!(b.as_ref(), binary.as_slice());
                delivered = true;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(collect(&mut on_c, 1).await[0].1, binary);
    assert_eq!(collect(&mut on_b, 1).await[0].1, binary);

    // The same event again is a duplicate; a copy of it under another signature is a forgery.
    send(
        &mut on_c,
        json!({ "type": "publish", "id": "again", "message": hex::encode(&wire) }),
    )
    .await;
    let again = next(&mut on_c).await;
    assert_eq!(
        (again["type"].as_str(), again["duplicate"].as_bool()),
        (Some("published"), Some(true)),
        "{again}"
    );
    let mut forged = wire.clone();
    let s_byte = forged.len() - 10;
    forged[s_byte] ^= 1;
    send(
        &mut on_c,
        json!({ "type": "publish", "id": "forged", "message": hex::encode(&forged) }),
    )
    .await;
    let refused = next(&mut on_c).await;
    assert_eq!(
        (refused["error"].as_str(), refused["id"].as_str()),
        (Some("bad_signature"), Some("forged")),
        "{refused}"
    );

    // Bad frames get errors; the connection keeps working.
    on_c.send(Message::Text("not json".into())).await.unwrap();
    assert_eq!(next(&mut on_c).await["error"], "bad_frame");
    send(
        &mut on_c,
        json!({ "type": "subscribe", "stream": "no slash" }),
    )
    .await;
    assert_eq!(next(&mut on_c).await["error"], "bad_stream");
    on_c.send(Message::Binary(vec![1, 2, 3].into()))
        .await
        .unwrap();
    let refused = next(&mut on_c).await;
    assert_eq!(refused["error"], "malformed", "{refused}");
    send(&mut on_c, json!({ "type": "publish", "id": 7, "message": hex::encode(frame(&Signer::from_bytes(&[9; 32]).unwrap(), &world.stream, 1, "{}")) })).await;
    let refused = next(&mut on_c).await;
    assert_eq!(
        (refused["error"].as_str(), refused["id"].as_u64()),
        (Some("no_permission"), Some(7)),
        "{refused}"
    );

    // C allows 5 frames a second (bursts of 10): a flood is refused frame by frame, then service resumes.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for i in 0..30 {
        send(
            &mut on_c,
            json!({ "type": "unsubscribe", "id": i, "stream": "rivulet.eth/other" }),
        )
        .await;
    }
    let mut limited = 0;
    for _ in 0..30 {
        let f = next(&mut on_c).await;
        if f["error"] == "rate_limited" {
            limited += 1;
        }
    }
    assert!(
        limited >= 15,
        "only {limited} of 30 flood frames were limited"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    send(
        &mut on_c,
        json!({ "type": "unsubscribe", "id": "after", "stream": stream }),
    )
    .await;
    assert_eq!(next(&mut on_c).await["type"], "unsubscribed");
    let metrics = metrics(&http, &c).await;
    assert!(
        metrics.contains(r#"rivulet_http_errors_total{reason="rate_limited"}"#),
        "{metrics}"
    );

    // A message over the limit ends that connection with 1009 and a reason (the stream of frames
    // cannot resume mid-message); the node serves everyone else on.
    let mut flooder = connect(&c, None).await;
    let oversized = json!({ "type": "publish", "message": "00".repeat(3 << 20) });
    flooder
        .send(Message::Text(oversized.to_string().into()))
        .await
        .unwrap();
    let frame = close_frame(&mut flooder).await.expect("a close code");
    assert_eq!(u16::from(frame.code), 1009, "{frame:?}");
    assert!(frame.reason.contains("at most"), "{frame:?}");
    send(
        &mut on_c,
        json!({ "type": "unsubscribe", "id": "still", "stream": stream }),
    )
    .await;
    assert_eq!(next(&mut on_c).await["type"], "unsubscribed");

    // A client's close is answered with the node's close frame (RFC 6455 5.5.1), not a dropped socket.
    on_c.close(None).await.unwrap();
    close_frame(&mut on_c).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_keep_receiving_when_a_node_dies() {
    let world = World::public().await;
    let dir = world.dir.path();
    let a = start_node(&dir.join("a"), &world.deployment_file, &[]);
    let b = start_node(
        &dir.join("b"),
        &world.deployment_file,
        &["--network.bootstrap", &a.listen[0]],
    );
    let c = start_node(
        &dir.join("c"),
        &world.deployment_file,
        &[
            "--network.bootstrap",
            &a.listen[0],
            "--network.bootstrap",
            &b.listen[0],
        ],
    );
    let http = reqwest::Client::new();
    let mut on_c = connect(&c, Some(&world.reader)).await;
    send(
        &mut on_c,
        json!({ "type": "subscribe", "stream": world.stream.as_str() }),
    )
    .await;
    assert_eq!(next(&mut on_c).await["type"], "subscribed");
    // A subscriber on A too, so that A is in the topic's mesh and carries traffic until it dies.
    let mut on_a = connect(&a, Some(&world.reader)).await;
    send(
        &mut on_a,
        json!({ "type": "subscribe", "stream": world.stream.as_str() }),
    )
    .await;
    assert_eq!(next(&mut on_a).await["type"], "subscribed");

    let mut seq = 0u32;
    let mut publish_until_c_sees = async |label: &str| {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            seq += 1;
            let (status, body) = publish(
                &http,
                &b,
                &frame(
                    &world.device,
                    &world.stream,
                    seq,
                    &format!(r#"{{"phase":"{label}"}}"#),
                ),
            )
            .await;
            assert_eq!(status, 200, "{body}");
            if let Ok(Some(Ok(Message::Text(t)))) =
                tokio::time::timeout(Duration::from_millis(200), on_c.next()).await
            {
                let f: Value = serde_json::from_str(&t).unwrap();
                if f["type"] == "message" && f["message"]["content"]["phase"] == label {
                    return;
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "C stopped receiving ({label})"
            );
        }
    };
    publish_until_c_sees("before").await;
    // Kill the node everyone bootstrapped from, mid-stream.
    drop(a);
    publish_until_c_sees("after").await;
    // And every later event keeps arriving, in its chain's order (gossip may carry them out of order
    // while the mesh re-forms; the node orders each publisher chain for its subscribers).
    let contents: Vec<String> = (0..10)
        .map(|i| format!(r#"{{"phase":"steady","i":{i}}}"#))
        .collect();
    let sent = chained_frames(&world.device, &world.stream, "steady", &contents);
    for wire in &sent {
        let (status, _) = publish(&http, &b, wire).await;
        assert_eq!(status, 200);
    }
    let mut got = Vec::new();
    while got.len() < 10 {
        let f = next(&mut on_c).await;
        if f["type"] == "message" && f["message"]["content"]["phase"] == "steady" {
            got.push(hex::decode(f["message"]["wire"].as_str().unwrap()).unwrap());
        }
    }
    assert_eq!(got, sent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_signs_plain_content_when_its_key_may_publish() {
    let world = World::public().await;
    let a = start_node(&world.dir.path().join("a"), &world.deployment_file, &[]);
    let http = reqwest::Client::new();
    let health: Value = http
        .get(format!("{}/health", a.http))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let node_address = health["publisher"].as_str().unwrap().to_owned();

    let mut ws = connect(&a, Some(&world.reader)).await;
    send(
        &mut ws,
        json!({ "type": "subscribe", "stream": world.stream.as_str() }),
    )
    .await;
    assert_eq!(next(&mut ws).await["type"], "subscribed");
    let plain = json!({ "type": "publish", "id": 1, "stream": world.stream.as_str(), "content": { "temp": 21.5 } });
    send(&mut ws, plain.clone()).await;
    let refused = next(&mut ws).await;
    assert_eq!(refused["error"], "no_permission", "{refused}");
    send(&mut ws, json!({ "type": "publish", "message": "00", "content": {}, "stream": world.stream.as_str() })).await;
    assert_eq!(next(&mut ws).await["error"], "bad_frame");

    // The owner lets the node's key publish; the node's permission cache follows the registry.
    let owner = rivulet_contracts::Contracts::connect_http(
        rivulet_contracts::Deployment::load(&world.deployment_file).unwrap(),
        None,
        rivulet_contracts::Sender::Key(rivulet_deploy::dev::dev_key(1)),
    )
    .await
    .unwrap();
    owner
        .grant(
            &world.stream,
            node_address.parse().unwrap(),
            rivulet_contracts::PermissionKind::Publish,
        )
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    // The answer and the event itself can come in either order.
    let mut event = None;
    loop {
        send(&mut ws, plain.clone()).await;
        let mut answer = next(&mut ws).await;
        if answer["type"] == "message" {
            event = Some(answer);
            answer = next(&mut ws).await;
        }
        if answer["type"] == "published" {
            break;
        }
        assert_eq!(answer["error"], "no_permission", "{answer}");
        assert!(
            std::time::Instant::now() < deadline,
            "the node never saw its publish permission"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // The subscriber gets the event, signed by the node.
    let event = match event {
        Some(event) => event,
        None => loop {
            let f = next(&mut ws).await;
            if f["type"] == "message" {
                break f;
            }
        },
    };
    assert_eq!(event["message"]["publisher"], node_address.as_str());
    assert_eq!(event["message"]["content"]["temp"], 21.5);
    let wire = hex::decode(event["message"]["wire"].as_str().unwrap()).unwrap();
    assert!(decode_verified(&wire, &Limits::default()).is_ok());

    // A node told to stop closes its WebSocket connections with "going away" (1001).
    let status = std::process::Command::new("kill")
        .args(["-TERM", &a.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let frame = close_frame(&mut ws).await.expect("a close code");
    assert_eq!(u16::from(frame.code), 1001, "{frame:?}");
}

/// One address may hold `http.ws_max_connections_per_address` WebSocket connections: another from it
/// is refused with 429 naming the address, while a second address still connects; a connection that
/// ends gives its address's place back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_holds_only_its_share_of_connections() {
    let world = World::public().await;
    let node = start_configured_node(
        &world.dir.path().join("n"),
        &world.deployment_file,
        "[http]\nws_max_connections_per_address = 2\n",
        &[],
    );
    let here = [127, 0, 0, 1];
    let first = connect_from(&node, here).await.unwrap();
    let _second = connect_from(&node, here).await.unwrap();
    match connect_from(&node, here).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 429);
            let body: Value = serde_json::from_slice(response.body().as_deref().unwrap()).unwrap();
            assert_eq!(body["error"], "too_many_connections", "{body}");
            assert!(
                body["message"]
                    .as_str()
                    .unwrap()
                    .starts_with("127.0.0.1 already holds 2 WebSocket connections"),
                "{body}"
            );
        }
        other => panic!(
            "a third connection from one address was not refused: {:?}",
            other.map(|_| ())
        ),
    }
    let mut elsewhere = connect_from(&node, [127, 0, 0, 2]).await.unwrap();
    assert_eq!(next(&mut elsewhere).await["type"], "challenge");
    drop(first);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while connect_from(&node, here).await.is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "no place came free for the address"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An encrypted event of `world`'s device (the stream is private: plaintext would be refused).
fn sealed_event(world: &World, seq: u32) -> Vec<u8> {
    let part = StreamPartId::new(world.stream.clone(), Partition::new(0).unwrap());
    let at = MessageRef::new(crate::support::now_ms(), seq);
    sealed_frame(
        &world.device,
        &part,
        "lapse",
        at,
        &format!("{{\"n\":{seq}}}"),
    )
}

/// A reader whose permission is taken away while subscribed is told (`unsubscribed`, with the reason)
/// and gets no event after that; the node goes on serving its other subscribers.
#[tokio::test(flavor = "multi_thread")]
async fn a_subscription_ends_when_its_reader_loses_permission() {
    let world = World::new().await;
    let node = start_node(&world.dir.path().join("a"), &world.deployment_file, &[]);
    let owner = world.owner().await;
    let http = reqwest::Client::new();
    let stream = world.stream.as_str();
    // The same reader twice: as JSON and as wire frames; the owner (who may always read) watches on.
    let owner_signer = dev_key(1);
    let mut as_json = connect(&node, Some(&world.reader)).await;
    let mut as_wire = connect(&node, Some(&world.reader)).await;
    let mut watcher = connect(&node, Some(&owner_signer)).await;
    for (ws, format) in [
        (&mut as_json, "json"),
        (&mut as_wire, "wire"),
        (&mut watcher, "json"),
    ] {
        send(
            ws,
            json!({ "type": "subscribe", "stream": stream, "partition": 0, "format": format }),
        )
        .await;
        assert_eq!(next(ws).await["type"], "subscribed");
    }
    let (status, body) = publish(&http, &node, &sealed_event(&world, 0)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(next(&mut as_json).await["type"], "message");
    let first = tokio::time::timeout(Duration::from_secs(10), as_wire.next()).await;
    assert!(
        matches!(first, Ok(Some(Ok(Message::Binary(_))))),
        "{first:?}"
    );
    assert_eq!(next(&mut watcher).await["type"], "message");

    owner
        .revoke(
            &world.stream,
            to_alloy(world.reader.address()),
            PermissionKind::Subscribe,
        )
        .await
        .unwrap();
    // Events keep coming; within a few seconds of the node seeing the change, each of the reader's
    // subscriptions ends with a notice, and nothing follows it.
    let mut seq = 1;
    for (who, ws) in [("json", &mut as_json), ("wire", &mut as_wire)] {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            assert!(
                std::time::Instant::now() < deadline,
                "{who}: still subscribed 30 s after the revocation"
            );
            let (status, body) = publish(&http, &node, &sealed_event(&world, seq)).await;
            assert_eq!(status, 200, "{body}");
            seq += 1;
            let mut ended = false;
            while let Ok(frame) = tokio::time::timeout(Duration::from_millis(300), ws.next()).await
            {
                match frame {
                    Some(Ok(Message::Text(text))) => {
                        let frame: Value = serde_json::from_str(&text).unwrap();
                        if frame["type"] == "unsubscribed" {
                            assert_eq!(
                                frame["reason"], "subscribe permission ended",
                                "{who}: {frame}"
                            );
                            ended = true;
                            break;
                        }
                        // Events come as the subscription asked: JSON frames only to the JSON one.
                        assert_eq!(
                            (who, frame["type"].as_str()),
                            ("json", Some("message")),
                            "{frame}"
                        );
                    }
                    Some(Ok(Message::Binary(_))) => assert_eq!(who, "wire", "a binary frame"),
                    other => panic!("{who}: the connection ended: {other:?}"),
                }
            }
            if ended {
                break;
            }
        }
    }
    let (status, body) = publish(&http, &node, &sealed_event(&world, seq)).await;
    assert_eq!(status, 200, "{body}");
    for (who, ws) in [("json", &mut as_json), ("wire", &mut as_wire)] {
        if let Ok(frame) = tokio::time::timeout(Duration::from_secs(2), ws.next()).await {
            panic!("{who} got {frame:?} after its subscription ended");
        }
    }
    // The owner's subscription saw every event.
    let mut seen = 1;
    while seen < seq + 1 {
        assert_eq!(next(&mut watcher).await["type"], "message");
        seen += 1;
    }
}
