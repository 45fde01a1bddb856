//! The HTTP API across real node processes: events published on one node reach the storage node through
//! the network; unauthorized, forged and malformed events are refused with a reason; a storage node killed
//! with `kill -9` keeps every event it acknowledged.

use std::time::{Duration, Instant};

use rivulet_protocol::{Limits, decode_verified};
use serde_json::Value;

use rivulet_protocol::Signer;

use crate::support::{World, frame, history, metrics, publish, start_node, token};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_cross_nodes_bad_ones_are_refused_and_storage_survives_kill_9() {
    let world = World::public().await;
    let (stream, part, device, deployment_file) = (
        &world.stream,
        &world.part,
        &world.device,
        &world.deployment_file,
    );
    let dir = &world.dir;
    let mallory = Signer::from_bytes(&[8; 32]).unwrap();

    let a = start_node(&dir.path().join("a"), deployment_file, &[]);
    let b = start_node(
        &dir.path().join("b"),
        deployment_file,
        &["--network.bootstrap", &a.listen[0], "--storage.part", part],
    );
    let http = reqwest::Client::new();

    // Publish on A until the events reach B's history through the network (the mesh forms on heartbeats).
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seq = 0;
    loop {
        seq += 1;
        let (status, body) = publish(
            &http,
            &a,
            &frame(device, stream, seq, &format!(r#"{{"seq":{seq}}}"#)),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let (_, h) = history(&http, &b, stream, &world.reader).await;
        if !h["messages"].as_array().unwrap().is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no event reached the storage node: {h}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Bad input is refused with a reason, on the HTTP API, and counted.
    let (status, body) = publish(&http, &a, &frame(&mallory, stream, 1, r#"{"evil":true}"#)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("no_permission")),
        "{body}"
    );
    let mut forged = frame(device, stream, 999, r#"{"n":1}"#);
    let at = forged.len() - 65 - 2;
    forged[at] ^= 1;
    let (status, body) = publish(&http, &a, &forged).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("bad_signature")),
        "{body}"
    );
    let (status, body) = publish(&http, &a, b"not a message").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("malformed")),
        "{body}"
    );
    let response = http
        .post(format!("{}/api/v1/publish", a.http))
        .json(&serde_json::json!({ "message": "zz" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "bad_hex");
    // A does not store the part: it asks its peers, and B (which does) answers — verified by A. (The
    // last events of the loop above settle first.)
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, from_a) = history(&http, &a, stream, &world.reader).await;
    assert_eq!(status, 200, "{from_a}");
    let (_, from_b) = history(&http, &b, stream, &world.reader).await;
    assert_eq!(from_a["messages"], from_b["messages"]);
    // Nobody stores partition 1.
    let response = http
        .get(format!("{}/api/v1/history", a.http))
        .bearer_auth(token(&http, &a, &world.reader).await)
        .query(&[
            ("stream", stream.as_str()),
            ("partition", "1"),
            ("last", "5"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "not_stored", "{body}");
    let metrics = metrics(&http, &a).await;
    assert!(
        metrics.contains(r#"rivulet_validation_failures_total{reason="no_permission"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"rivulet_validation_failures_total{reason="bad_signature"} 1"#),
        "{metrics}"
    );
    // Oversize events are refused by the validator with 413, before any signature work.
    let huge = frame(
        device,
        stream,
        77,
        &format!(r#"{{"pad":"{}"}}"#, "x".repeat(1024 * 1024 + 10_000)),
    );
    let (status, body) = publish(&http, &a, &huge).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (413, Some("oversize")),
        "{body}"
    );
    // Stream metadata and search come from the registry.
    let info: Value = http
        .get(format!("{}/api/v1/streams", a.http))
        .query(&[("id", stream.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["metadata"]["name"], "Sensors", "{info}");
    let found: Value = http
        .get(format!("{}/api/v1/streams", a.http))
        .query(&[("search", "SENS")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(found["streams"].as_array().unwrap().len(), 1, "{found}");
    let missing = http
        .get(format!("{}/api/v1/streams", a.http))
        .query(&[("id", "0x0000000000000000000000000000000000000001/none")])
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status().as_u16(), 404);
    let bad = http
        .get(format!("{}/api/v1/streams", a.http))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);

    // Requests the API cannot take still get its error shape, with a code and a sentence.
    let refusal = |response: reqwest::Response| async move {
        let status = response.status().as_u16();
        let body: Value = response.json().await.expect("a JSON error body");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}"
        );
        (
            status,
            body["error"].as_str().unwrap_or_default().to_owned(),
        )
    };
    // A body declared over the limit is refused before it is sent (so the node has nothing unread to
    // reset the connection over), and the answer closes the connection it cannot reuse.
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut tcp = tokio::net::TcpStream::connect(a.http.trim_start_matches("http://"))
            .await
            .unwrap();
        let head = "POST /api/v1/publish HTTP/1.1\r\nHost: node\r\nContent-Type: application/octet-stream\r\nContent-Length: 4194304\r\n\r\n";
        tcp.write_all(head.as_bytes()).await.unwrap();
        let mut answer = String::new();
        tokio::time::timeout(Duration::from_secs(10), tcp.read_to_string(&mut answer))
            .await
            .expect("the node answers and closes the connection")
            .unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        let head = head.to_ascii_lowercase();
        assert!(head.starts_with("http/1.1 413"), "{head}");
        assert!(head.contains("\r\nconnection: close"), "{head}");
        let body: Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["error"], "oversize", "{body}");
    }
    for query in [
        "stream=x&partition=one&last=1",
        "stream=x&partition=0&last=-1",
    ] {
        let response = http
            .get(format!("{}/api/v1/history?{query}", a.http))
            .send()
            .await
            .unwrap();
        assert_eq!(
            refusal(response).await,
            (400, "bad_query".into()),
            "{query}"
        );
    }
    let response = http
        .get(format!("{}/api/v1/streams?id=a&colour=red", a.http))
        .send()
        .await
        .unwrap();
    assert_eq!(refusal(response).await, (400, "bad_query".into()));
    let response = http
        .get(format!("{}/api/v2/publish", a.http))
        .send()
        .await
        .unwrap();
    assert_eq!(refusal(response).await, (404, "not_found".into()));
    let response = http
        .get(format!("{}/api/v1/publish", a.http))
        .send()
        .await
        .unwrap();
    assert_eq!(refusal(response).await, (405, "method_not_allowed".into()));
    // Pages on any origin may call the API (CORS preflight, then the request).
    let preflight = http
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/api/v1/publish", a.http),
        )
        .header("Origin", "https://example.org")
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "content-type")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");
    let allowed = preflight.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(allowed.contains("POST"), "{allowed}");
    let cross_origin = http
        .get(format!("{}/health", a.http))
        .header("Origin", "https://example.org")
        .send()
        .await
        .unwrap();
    assert_eq!(cross_origin.headers()["access-control-allow-origin"], "*");

    let health: Value = http
        .get(format!("{}/health", b.http))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    assert!(health["peers"].as_u64().unwrap() >= 1, "{health}");

    // The storage node holds only valid, verifiable events from the device.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, h) = history(&http, &b, stream, &world.reader).await;
    let stored = h["messages"].as_array().unwrap();
    assert!(!stored.is_empty());
    for m in stored {
        let wire = hex::decode(m["wire"].as_str().unwrap()).unwrap();
        let msg = decode_verified(&wire, &Limits::default()).unwrap();
        assert_eq!(msg.id().publisher, device.address());
        assert_eq!(m["publisher"], device.address().to_checksum());
        assert!(m["content"]["seq"].is_u64(), "{m}");
    }

    // Publishing straight to the storage node acknowledges only once the event is on disk...
    let acked: Vec<Vec<u8>> = (0..20)
        .map(|i| frame(device, stream, 10_000 + i, r#"{"durable":true}"#))
        .collect();
    for wire in &acked {
        let (status, body) = publish(&http, &b, wire).await;
        assert_eq!(
            (status, body["stored"].as_bool()),
            (200, Some(true)),
            "{body}"
        );
    }
    // ...so kill -9 loses none of them.
    let b_dir = b.dir.clone();
    let mut b = b;
    b.child.kill().unwrap(); // SIGKILL
    b.child.wait().unwrap();
    drop(b);
    let b = start_node(
        &b_dir,
        deployment_file,
        &["--network.bootstrap", &a.listen[0], "--storage.part", part],
    );
    let (_, h) = history(&http, &b, stream, &world.reader).await;
    let wires: Vec<String> = h["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["wire"].as_str().unwrap().to_owned())
        .collect();
    for wire in &acked {
        assert!(
            wires.contains(&hex::encode(wire)),
            "an acknowledged event is missing after kill -9"
        );
    }
}
