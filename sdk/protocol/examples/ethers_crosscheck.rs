//! The Rust half of the ethers cross-check that `cargo xtask test` runs (see `tests/ethers/`).
//!
//! `emit FILE`: writes random messages signed here, with their private keys, for ethers to re-encode,
//! verify and re-sign; and ECIES ciphertexts for eciesjs to open.
//! `verify FILE`: decodes and verifies messages that ethers signed, and opens eciesjs ciphertexts.

use anyhow::{Context, Result, bail, ensure};
use rand::{Rng, RngExt};
use rivulet_protocol::{
    Address, ChainId, ContentType, EncryptedGroupKey, Encryption, GroupKeyId, Limits, MessageId,
    MessageRef, MessageType, Partition, SignatureType, Signer, UnsignedMessage, decode_verified,
    ecies,
};
use serde_json::{Value, json};

fn word(rng: &mut impl Rng, max: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-";
    let n = rng.random_range(1..=max);
    (0..n)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

fn emit(path: &str) -> Result<()> {
    let mut rng = rand::rng();
    let mut messages = Vec::new();
    for i in 0..50 {
        let signer = Signer::random(&mut rng);
        let encrypted = i % 3 == 0;
        let body = UnsignedMessage {
            id: MessageId {
                stream_id: format!(
                    "{}/{}/{}",
                    signer.address(),
                    word(&mut rng, 20),
                    word(&mut rng, 8)
                )
                .parse()?,
                partition: Partition::new(rng.random_range(0..100))?,
                timestamp: rng.random(),
                sequence_number: rng.random(),
                publisher: signer.address(),
                chain_id: ChainId::new(word(&mut rng, 64))?,
            },
            prev: (i % 2 == 1).then(|| MessageRef::new(rng.random(), rng.random())),
            message_type: MessageType::from_byte(rng.random_range(0..3)).context("type")?,
            content_type: if encrypted {
                ContentType::Binary
            } else {
                ContentType::Json
            },
            encryption: if encrypted {
                Encryption::Aes256Gcm(GroupKeyId::new(word(&mut rng, 128))?)
            } else {
                Encryption::None
            },
            new_group_key: (i % 5 == 0).then(|| EncryptedGroupKey {
                id: GroupKeyId::new(word(&mut rng, 16)).unwrap_or_else(|_| unreachable!()),
                data: (0..60).map(|_| rng.random()).collect(),
            }),
            content: if encrypted {
                (0..rng.random_range(0..2000))
                    .map(|_| rng.random())
                    .collect()
            } else {
                json!({ "i": i, "v": rng.random::<f64>(), "s": word(&mut rng, 300) })
                    .to_string()
                    .into_bytes()
            },
            signature_type: SignatureType::Eip191Secp256k1,
        };
        let message = signer.sign(body.clone())?;
        let id = &body.id;
        messages.push(json!({
            "name": format!("rust random {i}"),
            "privateKey": format!("0x{}", hex::encode(signer.to_bytes())),
            "address": signer.address().to_checksum(),
            "streamId": id.stream_id.as_str(),
            "partition": id.partition.get(),
            "timestamp": id.timestamp,
            "sequenceNumber": id.sequence_number,
            "chainId": id.chain_id.as_str(),
            "prev": body.prev.map(|p| json!({ "timestamp": p.timestamp, "sequenceNumber": p.sequence_number })),
            "messageType": body.message_type.to_byte(),
            "contentType": body.content_type.to_byte(),
            "groupKeyId": body.encryption.group_key_id().map(|k| k.as_str()),
            "newGroupKey": body.new_group_key.as_ref().map(|k| json!({ "id": k.id.as_str(), "data": hex::encode(&k.data) })),
            "content": hex::encode(&body.content),
            "signature": hex::encode(message.signature.0),
            "wire": hex::encode(message.encode()?),
        }));
    }
    let recipient = Signer::random(&mut rng);
    let ecies: Vec<Value> = (0..10)
        .map(|_| {
            let plaintext: Vec<u8> = (0..rng.random_range(1..64)).map(|_| rng.random()).collect();
            let ciphertext = ecies::encrypt(&recipient.public_key(), &plaintext, &mut rng);
            json!({
                "recipientPrivateKey": format!("0x{}", hex::encode(recipient.to_bytes())),
                "plaintext": hex::encode(plaintext),
                "ciphertext": hex::encode(ciphertext),
            })
        })
        .collect();
    std::fs::write(
        path,
        serde_json::to_string_pretty(&json!({ "messages": messages, "ecies": ecies }))?,
    )?;
    println!("wrote {} Rust-signed messages to {path}", messages.len());
    Ok(())
}

fn verify(path: &str) -> Result<()> {
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path)?)?;
    let (mut passed, mut failed) = (0, 0);
    let messages = doc["messages"].as_array().context("messages")?;
    ensure!(
        messages.len() >= 20,
        "expected at least 20 ethers-signed messages"
    );
    for (i, m) in messages.iter().enumerate() {
        let wire = hex::decode(m["wire"].as_str().context("wire")?)?;
        let address: Address = m["address"].as_str().context("address")?.parse()?;
        match decode_verified(&wire, &Limits::default()) {
            Ok(message) if message.id().publisher == address && message.encode()? == wire => {
                passed += 1
            }
            Ok(message) => {
                failed += 1;
                eprintln!(
                    "message {i}: publisher {} is not {address} or re-encoding differs",
                    message.id().publisher
                );
            }
            Err(e) => {
                failed += 1;
                eprintln!("message {i}: {e}");
            }
        }
    }
    for (i, e) in doc["ecies"].as_array().context("ecies")?.iter().enumerate() {
        let secret = k256::SecretKey::from_slice(&hex::decode(
            e["recipientPrivateKey"]
                .as_str()
                .context("key")?
                .trim_start_matches("0x"),
        )?)?;
        let expected = hex::decode(e["plaintext"].as_str().context("plaintext")?)?;
        match ecies::decrypt(
            &secret,
            &hex::decode(e["ciphertext"].as_str().context("ciphertext")?)?,
        ) {
            Ok(plain) if plain == expected => passed += 1,
            other => {
                failed += 1;
                eprintln!("eciesjs ciphertext {i}: {other:?}");
            }
        }
    }
    println!("crosscheck: {passed} passed, {failed} failed");
    if failed > 0 {
        bail!("{failed} ethers-made items did not verify in Rust");
    }
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [cmd, path] if cmd == "emit" => emit(path),
        [cmd, path] if cmd == "verify" => verify(path),
        _ => bail!("usage: ethers_crosscheck emit|verify FILE"),
    }
}
