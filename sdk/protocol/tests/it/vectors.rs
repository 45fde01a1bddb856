//! Checks `testdata/vectors.json`. With `RIVULET_BLESS=1` the outputs are rewritten from the code instead
//! (for a deliberate protocol change; review the diff).

use std::path::PathBuf;

use rivulet_protocol::{
    Address, ChainId, ContentType, DecodeError, EncryptedGroupKey, Encryption, GroupKey,
    GroupKeyId, Limits, MessageId, MessageRef, MessageType, Partition, SignatureType, Signer,
    StreamMessage, UnsignedMessage, codec::SIGNING_DOMAIN, decode_verified, ecies, encryption,
    hash, partition_for_key,
};
use serde_json::{Value, json};

use crate::support::Replay;

fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/vectors.json")
}

fn hex_of(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap().trim_start_matches("0x")).unwrap()
}

fn key32(v: &Value) -> [u8; 32] {
    hex_of(v).try_into().unwrap()
}

fn message_from(v: &Value) -> (Signer, UnsignedMessage) {
    let signer = Signer::from_bytes(&key32(&v["privateKey"])).unwrap();
    let prev = v["prev"].as_object().map(|p| {
        MessageRef::new(
            p["timestamp"].as_u64().unwrap(),
            p["sequenceNumber"].as_u64().unwrap() as u32,
        )
    });
    let encryption = match v["groupKeyId"].as_str() {
        None => Encryption::None,
        Some(id) => Encryption::Aes256Gcm(GroupKeyId::new(id).unwrap()),
    };
    let new_group_key = v["newGroupKey"].as_object().map(|k| EncryptedGroupKey {
        id: GroupKeyId::new(k["id"].as_str().unwrap()).unwrap(),
        data: hex_of(&k["data"]),
    });
    let body = UnsignedMessage {
        id: MessageId {
            stream_id: v["streamId"].as_str().unwrap().parse().unwrap(),
            partition: Partition::new(v["partition"].as_u64().unwrap() as u32).unwrap(),
            timestamp: v["timestamp"].as_u64().unwrap(),
            sequence_number: v["sequenceNumber"].as_u64().unwrap() as u32,
            publisher: signer.address(),
            chain_id: ChainId::new(v["chainId"].as_str().unwrap()).unwrap(),
        },
        prev,
        message_type: MessageType::from_byte(v["messageType"].as_u64().unwrap() as u8).unwrap(),
        content_type: ContentType::from_byte(v["contentType"].as_u64().unwrap() as u8).unwrap(),
        encryption,
        new_group_key,
        content: hex_of(&v["content"]),
        signature_type: SignatureType::Eip191Secp256k1,
    };
    (signer, body)
}

/// Computes every output field of the vectors from their inputs.
fn compute(doc: &Value) -> Value {
    let mut doc = doc.clone();
    let mut first_wire = Vec::new();
    let mut first_body = None;
    for m in doc["messages"].as_array_mut().unwrap() {
        let (signer, body) = message_from(m);
        let payload = body.signed_payload().unwrap();
        let message = signer.sign(body.clone()).unwrap();
        let wire = message.encode().unwrap();
        if first_wire.is_empty() {
            first_wire = wire.clone();
            first_body = Some(body);
        }
        let o = m.as_object_mut().unwrap();
        o.insert("address".into(), json!(signer.address().to_checksum()));
        o.insert("signedPayload".into(), json!(hex::encode(&payload)));
        o.insert(
            "eip191Hash".into(),
            json!(hex::encode(hash::eip191_hash(&[&payload]))),
        );
        o.insert("signature".into(), json!(hex::encode(message.signature.0)));
        o.insert("wire".into(), json!(hex::encode(&wire)));
    }
    for p in doc["partitions"].as_array_mut().unwrap() {
        let part = partition_for_key(
            p["key"].as_str().unwrap().as_bytes(),
            p["partitions"].as_u64().unwrap() as u32,
        )
        .unwrap();
        p.as_object_mut()
            .unwrap()
            .insert("partition".into(), json!(part.get()));
    }
    for a in doc["addresses"].as_array_mut().unwrap() {
        let signer = Signer::from_bytes(&key32(&a["privateKey"])).unwrap();
        a.as_object_mut()
            .unwrap()
            .insert("address".into(), json!(signer.address().to_checksum()));
    }
    let messages = doc["messages"].clone();
    for e in doc["contentEncryption"].as_array_mut().unwrap() {
        let (_, mut body) = message_from(&messages[e["messageIndex"].as_u64().unwrap() as usize]);
        body.content = hex_of(&e["plaintext"]);
        let key = GroupKey::new(
            GroupKeyId::new(e["groupKeyId"].as_str().unwrap()).unwrap(),
            key32(&e["groupKey"]),
        );
        encryption::encrypt_content(&mut body, &key, &mut Replay::new(&[&hex_of(&e["nonce"])]))
            .unwrap();
        e.as_object_mut()
            .unwrap()
            .insert("ciphertext".into(), json!(hex::encode(&body.content)));
    }
    for e in doc["ecies"].as_array_mut().unwrap() {
        let recipient = Signer::from_bytes(&key32(&e["recipientPrivateKey"])).unwrap();
        let mut rng = Replay::new(&[&key32(&e["ephemeralPrivateKey"]), &hex_of(&e["nonce"])]);
        let ct = ecies::encrypt(&recipient.public_key(), &hex_of(&e["plaintext"]), &mut rng);
        e.as_object_mut()
            .unwrap()
            .insert("ciphertext".into(), json!(hex::encode(ct)));
    }
    doc["badWire"] = Value::Array(bad_wire(&first_wire, first_body.unwrap()));
    doc
}

/// Malformed inputs derived from the first vector, each with the error it must produce.
fn bad_wire(wire: &[u8], body: UnsignedMessage) -> Vec<Value> {
    let stream_len = body.id.stream_id.as_str().len();
    let partition_at = 2 + stream_len;
    let chain_len_at = partition_at + 1 + 8 + 4 + 20;
    let after_chain = chain_len_at + 1 + body.id.chain_id.as_str().len();
    let type_at = after_chain + 1; // prev flag is 0 in the first vector
    let content_len_at = type_at + 5;
    let mut cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty input", vec![]),
        ("unknown version", vec![2]),
        (
            "truncated in the signature",
            wire[..wire.len() - 1].to_vec(),
        ),
        ("trailing byte", [wire, &[0]].concat()),
        (
            "stream id owner with a multi-byte character (found by fuzzing)",
            {
                let mut w = wire.to_vec();
                w[3] = 0xd2;
                w[4] = 0x88;
                w
            },
        ),
        ("stream id of zero length", {
            let mut w = wire.to_vec();
            w[1] = 0;
            w
        }),
    ];
    let mut set = |name: &'static str, at: usize, value: u8| {
        let mut w = wire.to_vec();
        w[at] = value;
        cases.push((name, w));
    };
    set("stream id owner in upper case (not canonical)", 5, b'E');
    set("partition 100", partition_at, 100);
    set("stream id not UTF-8", 3, 0xff);
    set("stream id path with a space", 2 + stream_len - 1, b' ');
    set("chain id with a slash", chain_len_at + 1, b'/');
    set("previous reference flag 2", after_chain, 2);
    set("unknown message type", type_at, 3);
    set("unknown content type", type_at + 1, 9);
    set("unknown encryption type", type_at + 2, 2);
    set("new group key flag 7", type_at + 3, 7);
    set("unknown signature type", type_at + 4, 0);
    let last = wire.len() - 1;
    set("signature v byte 0 (not canonical)", last, 0);
    set("signature v byte 29", last, 29);
    let mut oversize = wire.to_vec();
    oversize[content_len_at..content_len_at + 4]
        .copy_from_slice(&(1024u32 * 1024 + 1).to_be_bytes());
    cases.push(("content over 1 MiB", oversize));
    let mut utf8 = body.clone();
    utf8.content = vec![b'"', 0xc3, 0x28, b'"'];
    let signer = crate::support::signer(1);
    cases.push((
        "JSON content not UTF-8",
        signer.sign(utf8).unwrap().encode().unwrap(),
    ));
    cases
        .into_iter()
        .map(|(name, hex)| {
            let err = StreamMessage::decode(&hex, &Limits::default()).expect_err(name);
            json!({ "name": name, "hex": hex::encode(&hex), "error": err.to_string() })
        })
        .collect()
}

#[test]
fn vectors() {
    let text = std::fs::read_to_string(path()).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    let computed = compute(&doc);
    if std::env::var_os("RIVULET_BLESS").is_some() {
        std::fs::write(
            path(),
            serde_json::to_string_pretty(&computed).unwrap() + "\n",
        )
        .unwrap();
        return;
    }
    // Compare field by field for readable failures.
    for (section, items) in computed.as_object().unwrap() {
        if let Some(items) = items.as_array() {
            for (i, item) in items.iter().enumerate() {
                assert_eq!(
                    &doc[section][i], item,
                    "{section}[{i}] differs from the pinned vector"
                );
            }
        }
    }
    assert_eq!(doc, computed);
}

#[test]
fn pinned_wire_decodes_and_verifies() {
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path()).unwrap()).unwrap();
    for m in doc["messages"].as_array().unwrap() {
        let wire = hex_of(&m["wire"]);
        let message = decode_verified(&wire, &Limits::default()).unwrap();
        let expected: Address = m["address"].as_str().unwrap().parse().unwrap();
        assert_eq!(message.id().publisher, expected);
        assert_eq!(
            message.encode().unwrap(),
            wire,
            "re-encoding must give the same bytes"
        );
        assert_eq!(
            [SIGNING_DOMAIN.as_slice(), &wire[..wire.len() - 65]].concat(),
            hex_of(&m["signedPayload"])
        );
    }
    for b in doc["badWire"].as_array().unwrap() {
        let err: DecodeError =
            StreamMessage::decode(&hex_of(&b["hex"]), &Limits::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            b["error"].as_str().unwrap(),
            "{}",
            b["name"]
        );
    }
    for e in doc["ecies"].as_array().unwrap() {
        let recipient = k256::SecretKey::from_slice(&key32(&e["recipientPrivateKey"])).unwrap();
        let plain = ecies::decrypt(&recipient, &hex_of(&e["ciphertext"])).unwrap();
        assert_eq!(plain, hex_of(&e["plaintext"]));
    }
}

#[test]
fn streamr_style_collisions_sign_different_bytes() {
    // In Streamr's signed string, stream "…/a1" + partition "23" and "…/a12" + partition "3" concatenate
    // to the same text. Here the two payloads differ, and one's signature fails on the other.
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path()).unwrap()).unwrap();
    let a = &doc["messages"][1];
    let b = &doc["messages"][2];
    assert_eq!(a["streamId"], "rivulet.eth/a1");
    assert_eq!(b["streamId"], "rivulet.eth/a12");
    assert_ne!(a["signedPayload"], b["signedPayload"]);
    let (_, body_b) = message_from(b);
    let forged = StreamMessage {
        body: body_b,
        signature: rivulet_protocol::Signature(hex_of(&a["signature"]).try_into().unwrap()),
    };
    assert!(forged.verify().is_err());
}
