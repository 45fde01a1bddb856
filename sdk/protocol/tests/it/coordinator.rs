//! Checks `testdata/coordinator.json`: rolling checksums and storage assignment. With `RIVULET_BLESS=1`
//! the outputs are rewritten from the code instead (for a deliberate change; review the diff).

use std::path::PathBuf;

use rivulet_protocol::{
    Address, ChainId, ChecksumError, ChecksumInterval, ContentType, MessageId, Partition,
    RollingChecksum, Signer, StreamPartId, UnsignedMessage,
    assignment::{self, Member},
    checksum::{self, interval_checksums},
    hash::keccak256,
};
use serde_json::{Value, json};

fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/coordinator.json")
}

fn load() -> Value {
    serde_json::from_str(&std::fs::read_to_string(path()).unwrap()).unwrap()
}

fn hex_of(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap().trim_start_matches("0x")).unwrap()
}

fn part_of(case: &Value) -> StreamPartId {
    StreamPartId::new(
        case["streamId"].as_str().unwrap().parse().unwrap(),
        Partition::new(case["partition"].as_u64().unwrap() as u32).unwrap(),
    )
}

/// The wire bytes of one input event: a plain JSON data message without a previous reference.
fn wire_of(part: &StreamPartId, e: &Value) -> Vec<u8> {
    let signer = Signer::from_hex(e["privateKey"].as_str().unwrap()).unwrap();
    let body = UnsignedMessage::data(
        part,
        signer.address(),
        ChainId::new(e["chainId"].as_str().unwrap()).unwrap(),
        (
            rivulet_protocol::MessageRef::new(
                e["timestamp"].as_u64().unwrap(),
                e["sequenceNumber"].as_u64().unwrap() as u32,
            ),
            None,
        ),
        ContentType::Json,
        e["content"].as_str().unwrap().as_bytes().to_vec(),
    );
    signer.sign(body).unwrap().encode().unwrap()
}

fn compute(doc: &Value) -> Value {
    let mut doc = doc.clone();
    for v in doc["intervalOf"].as_array_mut().unwrap() {
        let interval = ChecksumInterval::from_secs(v["intervalSeconds"].as_u64().unwrap()).unwrap();
        let k = checksum::interval_of(v["timestamp"].as_u64().unwrap(), interval);
        v.as_object_mut()
            .unwrap()
            .insert("interval".into(), json!(k));
    }
    for case in doc["checksums"].as_array_mut().unwrap() {
        let part = part_of(case);
        let interval =
            ChecksumInterval::from_secs(case["intervalSeconds"].as_u64().unwrap()).unwrap();
        let wires: Vec<Vec<u8>> = case["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| wire_of(&part, e))
            .collect();
        let ids: Vec<MessageId> = wires
            .iter()
            .map(|w| {
                rivulet_protocol::StreamMessage::decode(w, &Default::default())
                    .unwrap()
                    .body
                    .id
            })
            .collect();
        let mut order: Vec<usize> = (0..wires.len()).collect();
        order.sort_by(|&a, &b| checksum::key_order(&ids[a], &ids[b]));
        // Step by step with RollingChecksum, then compare with interval_checksums.
        let mut intervals: Vec<Value> = Vec::new();
        let mut rolling: Option<(RollingChecksum, Vec<String>)> = None;
        for &i in &order {
            let k = interval.index_of(ids[i].timestamp);
            if rolling.as_ref().is_some_and(|(r, _)| r.interval() != k) {
                let (r, steps) = rolling.take().unwrap();
                intervals.push(interval_json(&r, steps));
            }
            let (r, steps) = rolling.get_or_insert_with(|| (RollingChecksum::new(k), Vec::new()));
            r.add(&wires[i]);
            steps.push(hex::encode(r.hash()));
        }
        if let Some((r, steps)) = rolling {
            intervals.push(interval_json(&r, steps));
        }
        let direct = interval_checksums(&part, interval, &wires).unwrap();
        assert_eq!(direct.len(), intervals.len());
        for (d, v) in direct.iter().zip(&intervals) {
            assert_eq!(json!(d.interval), v["interval"]);
            assert_eq!(json!(d.count), v["count"]);
            assert_eq!(json!(hex::encode(d.hash)), v["checksum"]);
        }
        let o = case.as_object_mut().unwrap();
        o.insert(
            "wires".into(),
            json!(wires.iter().map(hex::encode).collect::<Vec<_>>()),
        );
        o.insert(
            "eventHashes".into(),
            json!(
                wires
                    .iter()
                    .map(|w| hex::encode(keccak256(w)))
                    .collect::<Vec<_>>()
            ),
        );
        o.insert("keyOrder".into(), json!(order));
        o.insert("intervals".into(), Value::Array(intervals));
    }
    for case in doc["assignments"].as_array_mut().unwrap() {
        let stream_id = case["streamId"].as_str().unwrap().to_owned();
        let partition = case["partition"].as_u64().unwrap() as u32;
        let members: Vec<Member> = case["active"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| Member {
                account: m["account"].as_str().unwrap().parse().unwrap(),
                weight: m["weight"].as_u64().unwrap() as u16,
            })
            .collect();
        let key = assignment::stream_key(&stream_id);
        let scores: Vec<String> = members
            .iter()
            .map(|m| hex::encode(assignment::score(&m.account, &key, partition, m.weight).unwrap()))
            .collect();
        let assigned = assignment::assigned_nodes(
            &members,
            &stream_id,
            partition,
            case["replication"].as_u64().unwrap() as usize,
        );
        let o = case.as_object_mut().unwrap();
        o.insert("streamKey".into(), json!(hex::encode(key)));
        o.insert("scores".into(), json!(scores));
        o.insert(
            "assigned".into(),
            json!(
                assigned
                    .iter()
                    .map(Address::to_checksum)
                    .collect::<Vec<_>>()
            ),
        );
    }
    doc
}

fn interval_json(r: &RollingChecksum, steps: Vec<String>) -> Value {
    json!({
        "interval": r.interval(),
        "count": r.count(),
        "steps": steps,
        "checksum": hex::encode(r.hash()),
    })
}

#[test]
fn coordinator_vectors() {
    let doc = load();
    let computed = compute(&doc);
    if std::env::var_os("RIVULET_BLESS").is_some() {
        std::fs::write(
            path(),
            serde_json::to_string_pretty(&computed).unwrap() + "\n",
        )
        .unwrap();
        return;
    }
    for section in ["intervalOf", "checksums", "assignments"] {
        for (i, item) in computed[section].as_array().unwrap().iter().enumerate() {
            assert_eq!(
                &doc[section][i], item,
                "{section}[{i}] differs from the pinned vector"
            );
        }
    }
    assert_eq!(doc, computed);
}

#[test]
fn checksums_ignore_arrival_order_and_repeats() {
    let doc = load();
    let case = &doc["checksums"][1];
    let part = part_of(case);
    let interval = ChecksumInterval::from_secs(60).unwrap();
    let mut wires: Vec<Vec<u8>> = case["wires"]
        .as_array()
        .unwrap()
        .iter()
        .map(hex_of)
        .collect();
    let expected = interval_checksums(&part, interval, &wires).unwrap();
    wires.reverse();
    wires.push(wires[3].clone());
    assert_eq!(
        interval_checksums(&part, interval, &wires).unwrap(),
        expected
    );
    // Every event changes the checksum of its interval: dropping any one changes the answer.
    for i in 0..wires.len() - 1 {
        let mut fewer = wires.clone();
        fewer.remove(i);
        fewer.pop(); // the repeat
        assert_ne!(
            interval_checksums(&part, interval, &fewer).unwrap(),
            expected,
            "{i}"
        );
    }
}

#[test]
fn checksums_refuse_other_parts_conflicts_and_garbage() {
    let doc = load();
    let case = &doc["checksums"][1];
    let part = part_of(case);
    let interval = ChecksumInterval::from_secs(60).unwrap();
    let wires: Vec<Vec<u8>> = case["wires"]
        .as_array()
        .unwrap()
        .iter()
        .map(hex_of)
        .collect();
    let other = StreamPartId::new(part.stream_id.clone(), Partition::new(0).unwrap());
    assert!(matches!(
        interval_checksums(&other, interval, &wires),
        Err(ChecksumError::WrongPart { index: 0, .. })
    ));
    let mut garbage = wires.clone();
    garbage.push(vec![1, 2, 3]);
    assert!(matches!(
        interval_checksums(&part, interval, &garbage),
        Err(ChecksumError::Decode { index: 9, .. })
    ));
    // The same message id signed over other content: a conflict, not a silent choice.
    let mut forked = case["events"][3].clone();
    forked["content"] = json!("{\"n\":\"fork\"}");
    let mut conflicting = wires.clone();
    conflicting.push(wire_of(&part, &forked));
    assert!(matches!(
        interval_checksums(&part, interval, &conflicting),
        Err(ChecksumError::Conflict {
            first: 3,
            second: 9,
            ..
        })
    ));
}
