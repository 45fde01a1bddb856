//! `GET /api/v1/history` against the fake node: pages followed and verified, the cursor for the rest,
//! bad requests named, private history for permitted readers only, and a client's flood refused.

use super::*;

#[tokio::test]
async fn history_follows_pages_verifies_events_and_names_bad_requests() {
    let node = Arc::new(FakeNode::new());
    let app = app(&node);
    let mut events = signed(3);
    // A peer's forgery among them: an event with another's content under the first's signature.
    let mut forged = events[1].clone();
    let at = forged.windows(5).position(|w| w == br#""n":1"#).unwrap();
    forged[at + 4] = b'7';
    events.push(forged);
    let rest = HistoryQuery::Range {
        from: (1_002, 0),
        to: (u64::MAX, u32::MAX),
        resume: None,
    };
    *node.pages.lock().unwrap() = vec![
        (events[..2].to_vec(), Some(rest.clone())),
        (events[2..].to_vec(), None),
    ];
    let (status, body) = get(&app, "/api/v1/history?stream=rivulet.eth/a&last=5").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["truncated"], false);
    let contents: Vec<&Value> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["content"]["n"])
        .collect();
    assert_eq!(
        contents,
        [&json!(0), &json!(1), &json!(2)],
        "the forgery is left out"
    );
    assert_eq!(
        *node.asked.lock().unwrap(),
        vec![HistoryQuery::Last { n: 5 }, rest]
    );
    for (uri, code) in [
        (
            "/api/v1/history?stream=rivulet.eth/a&last=1&from=2",
            "bad_query",
        ),
        (
            "/api/v1/history?stream=rivulet.eth/a&partition=100",
            "bad_stream",
        ),
        ("/api/v1/history?stream=nope", "bad_stream"),
        ("/api/v1/history?stream=rivulet.eth/a&last=x", "bad_query"),
        (
            "/api/v1/history?stream=rivulet.eth/a&last=1000001",
            "bad_query",
        ),
        ("/api/v1/history?stream=rivulet.eth/a", "not_stored"),
    ] {
        let (status, body) = get(&app, uri).await;
        assert!(status.is_client_error(), "{uri}: {status}");
        assert_eq!(body["error"], code, "{uri}: {body}");
    }
}

/// A truncated answer names its rest as `next`, a cursor that asks for exactly that rest — even when
/// the answer ended among events that share one reference.
#[tokio::test]
async fn a_truncated_history_answer_names_its_rest_as_a_cursor() {
    let node = Arc::new(FakeNode::new());
    let app = app(&node);
    let event = signed(1).remove(0);
    let publisher = format!("0x{}", "ab".repeat(20));
    let rest = |i: u64| HistoryQuery::Range {
        from: (1_000 + i, 7),
        to: (u64::MAX, u32::MAX),
        resume: Some(rivulet_network::ResumeAfter {
            publisher: publisher.clone(),
            chain_id: format!("chain-{i}"),
        }),
    };
    // Four pages of 2,500 fill an answer (10,000 events); the fourth's rest is the cursor.
    *node.pages.lock().unwrap() = (0..4)
        .map(|i| (vec![event.clone(); 2_500], Some(rest(i))))
        .chain([(vec![event.clone()], None)])
        .collect();
    let (status, body) = get(&app, "/api/v1/history?stream=rivulet.eth/a&from=5").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["messages"].as_array().unwrap().len(), 10_000);
    assert_eq!(body["truncated"], true);
    let cursor = body["next"].as_str().unwrap().to_owned();
    assert_eq!(
        cursor,
        format!("1003.7.18446744073709551615.4294967295.{publisher}.chain-3")
    );
    let (status, body) = get(
        &app,
        &format!("/api/v1/history?stream=rivulet.eth/a&cursor={cursor}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["truncated"].clone(), body["next"].clone()),
        (json!(false), Value::Null)
    );
    assert_eq!(node.asked.lock().unwrap().last(), Some(&rest(3)));
    // A cursor without the chain part resumes at a reference; anything else is refused, saying why.
    node.pages.lock().unwrap().push((vec![event.clone()], None));
    let (status, _) = get(&app, "/api/v1/history?stream=rivulet.eth/a&cursor=1.2.3.4").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        node.asked.lock().unwrap().last(),
        Some(&HistoryQuery::Range {
            from: (1, 2),
            to: (3, 4),
            resume: None
        })
    );
    for (cursor, says) in [
        ("1.2.3", "3 dot-separated parts"),
        ("1.x.3.4", "part 2 is not a sequence number"),
        ("1.2.3.4.0x12.c", "publisher"),
        (&format!("1.2.3.4.{publisher}.bad!chain")[..], "chain id"),
    ] {
        let (status, body) = get(
            &app,
            &format!("/api/v1/history?stream=rivulet.eth/a&cursor={cursor}"),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{cursor}");
        assert_eq!(body["error"], "bad_query");
        assert!(
            body["message"].as_str().unwrap().contains(says),
            "{cursor}: {body}"
        );
    }
    let (status, body) = get(
        &app,
        "/api/v1/history?stream=rivulet.eth/a&cursor=1.2.3.4&last=3",
    )
    .await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &json!("bad_query"))
    );
}

/// A reader with a private stream's permission earns a token by signing a challenge; the history of a
/// part that is not public is for such readers only.
#[tokio::test]
async fn private_history_needs_a_token_of_a_permitted_reader() {
    let reader = Signer::from_bytes(&[9; 32]).unwrap();
    let stranger = Signer::from_bytes(&[10; 32]).unwrap();
    let node = Arc::new(FakeNode {
        readers: vec![Some(reader.address())],
        ..FakeNode::new()
    });
    let app = app(&node);
    let history = "/api/v1/history?stream=rivulet.eth/private&last=5";
    let (status, headers, body) =
        call(&app, Request::get(history).body(Body::empty()).unwrap()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthenticated"))
    );
    assert_eq!(
        headers[header::WWW_AUTHENTICATE],
        r#"Bearer realm="rivulet""#
    );
    let token = |signer: &Signer| {
        let app = app.clone();
        let signer = signer.clone();
        async move {
            let address = signer.address().to_checksum();
            let (status, challenge) =
                get(&app, &format!("/api/v1/auth/challenge?address={address}")).await;
            assert_eq!(status, StatusCode::OK, "{challenge}");
            let text = challenge["text"].as_str().unwrap();
            assert!(text.starts_with("Rivulet read access\nnode: "), "{text}");
            let signature = hex::encode(signer.sign_personal(text.as_bytes()).0);
            let body = json!({
                "address": address,
                "expires": challenge["expires"],
                "nonce": challenge["nonce"],
                "signature": format!("0x{signature}"),
            });
            let (status, _, answer) = call(
                &app,
                Request::post("/api/v1/auth")
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from(body.to_string()))
                    .unwrap(),
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{answer}");
            answer["token"].as_str().unwrap().to_owned()
        }
    };
    let with = |token: &str| {
        Request::get(history)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap()
    };
    *node.pages.lock().unwrap() = vec![(signed(1), None)];
    let good = token(&reader).await;
    let (status, _, body) = call(&app, with(&good)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["messages"].as_array().unwrap().len(), 1);
    // A reader without the permission: refused, not unknown.
    let other = token(&stranger).await;
    let (status, _, body) = call(&app, with(&other)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("no_permission"))
    );
    // A token changed to name the permitted reader, or signed for another node, or expired: refused.
    let forged = format!("{}{}", reader.address().to_checksum(), &other[42..]);
    let (status, headers, body) = call(&app, with(&forged)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("bad_token"))
    );
    assert!(
        headers[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
    let elsewhere = Arc::new(FakeNode {
        readers: vec![Some(reader.address())],
        ..FakeNode::new()
    });
    let (status, _, _) = call(&super::app(&elsewhere), with(&good)).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a token is for the node that issued it"
    );
    *node.now.lock().unwrap() += crate::api::auth::TOKEN_LIFETIME_SECS;
    let (status, _, body) = call(&app, with(&good)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body["message"].as_str().unwrap().contains("expired"),
        "{body}"
    );
    for bad in ["Basic abc", "Bearer nonsense"] {
        let request = Request::get(history)
            .header(header::AUTHORIZATION, bad)
            .body(Body::empty())
            .unwrap();
        let (status, _, body) = call(&app, request).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("bad_token"))
        );
    }
}

/// A client with as many history requests waiting as it may is refused with 429 `busy`, saying so,
/// and its waiting requests are all answered once the node gets to them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_with_too_many_history_requests_waiting_is_refused() {
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let node = Arc::new(FakeNode {
        gate: Some(gate.clone()),
        ..FakeNode::new()
    });
    let app = app(&node);
    let running = crate::node::history_concurrency();
    let uri = "/api/v1/history?stream=rivulet.eth/a&last=1";
    let requests: Vec<_> = (0..running + super::super::MAX_WAITING_ANSWERS)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move { get(&app, uri).await })
        })
        .collect();
    // The first ones reach the node and wait at its gate; the rest wait for their turn.
    while node.asked.lock().unwrap().len() < running {
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let (status, body) = tokio::time::timeout(std::time::Duration::from_secs(5), get(&app, uri))
        .await
        .expect("refused at once, not queued");
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"], "busy");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("192.0.2.1 already has 64 history requests waiting"),
        "{body}"
    );
    gate.add_permits(1_000);
    for request in requests {
        let (status, body) = request.await.unwrap();
        assert_eq!(body["error"], "not_stored", "{status} {body}");
    }
}
