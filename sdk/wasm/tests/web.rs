//! The protocol core and the SDK's argument handling compiled to wasm, checked against the same pinned
//! vectors as the native build: in Node (`cargo test --target wasm32-unknown-unknown`) and in headless
//! Chromium (the same with `WASM_BINDGEN_USE_BROWSER=1`), as the test command runs them.
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use rivulet_protocol::{Limits, Signer, partition_for_key, signing::decode_verified};
use rivulet_wasm::options::{ClientOptions, PartArg, ResendArg};
use serde_json::Value;
use wasm_bindgen_test::wasm_bindgen_test;

const VECTORS: &str = include_str!("../../protocol/testdata/vectors.json");

fn vectors() -> Value {
    serde_json::from_str(VECTORS).unwrap()
}

fn bytes(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap().trim_start_matches("0x")).unwrap()
}

#[wasm_bindgen_test]
fn addresses_from_keys() {
    for v in vectors()["addresses"].as_array().unwrap() {
        let key: [u8; 32] = bytes(&v["privateKey"]).try_into().unwrap();
        let signer = Signer::from_bytes(&key).unwrap();
        assert_eq!(
            signer.address().to_checksum(),
            v["address"].as_str().unwrap()
        );
    }
}

#[wasm_bindgen_test]
fn messages_verify_and_signatures_are_deterministic() {
    for v in vectors()["messages"].as_array().unwrap() {
        let wire = bytes(&v["wire"]);
        let message = decode_verified(&wire, &Limits::default()).unwrap();
        assert_eq!(
            message.id().publisher.to_checksum().to_lowercase(),
            v["address"].as_str().unwrap().to_lowercase()
        );
        // Re-signing the body with the vector's key gives the same bytes (RFC 6979).
        let key: [u8; 32] = bytes(&v["privateKey"]).try_into().unwrap();
        let resigned = Signer::from_bytes(&key)
            .unwrap()
            .sign(message.body.clone())
            .unwrap();
        assert_eq!(resigned.encode().unwrap(), wire, "{}", v["name"]);
    }
}

#[wasm_bindgen_test]
fn bad_wire_is_rejected() {
    for v in vectors()["badWire"].as_array().unwrap() {
        assert!(
            decode_verified(&bytes(&v["hex"]), &Limits::default()).is_err(),
            "{}",
            v["name"]
        );
    }
}

#[wasm_bindgen_test]
fn partitions_match() {
    for v in vectors()["partitions"].as_array().unwrap() {
        let p = partition_for_key(
            v["key"].as_str().unwrap().as_bytes(),
            v["partitions"].as_u64().unwrap() as u32,
        )
        .unwrap();
        assert_eq!(u64::from(p.get()), v["partition"].as_u64().unwrap());
    }
}

#[wasm_bindgen_test]
fn sdk_arguments() {
    let o: ClientOptions =
        serde_json::from_str(r#"{"nodes":["/ip4/127.0.0.1/tcp/1/ws/p2p/12D3KooWRHdYBmbz5N7jVRTw23QvwYZUt7uv2k2vDjeLV3YC1frz"]}"#).unwrap();
    assert_eq!(o.to_config().unwrap().nodes.len(), 1);
    let p: PartArg = serde_json::from_str(r#"{"id":"rivulet.eth/a","partition":2}"#).unwrap();
    assert_eq!(p.to_part().unwrap().to_string(), "rivulet.eth/a#2");
    let q: ResendArg = serde_json::from_str(r#"{"last":3}"#).unwrap();
    assert!(q.to_query().is_ok());
}

/// `patches/serde_core`: in wasm, a float in serde's "invalid type" errors is written without core's
/// float formatting, as Rust writes it where that is exact, to nine fractional digits otherwise.
#[wasm_bindgen_test]
fn floats_in_type_errors() {
    use serde::de::Unexpected::Float;
    let cases = [
        (1.0, "1.0"),
        (-0.5, "-0.5"),
        (0.1, "0.1"),
        (1.25, "1.25"),
        (123_456.000_000_001, "123456.000000001"),
        (0.999_999_999_9, "1.0"),
        (9_007_199_254_740_993.0, "9007199254740992.0"),
        (1e20, "100000000000000000000.0"),
        (-0.0, "-0.0"),
        (f64::NAN, "NaN"),
        (f64::NEG_INFINITY, "-inf"),
        (1e-10, "7737125245533627.0*2^-86"),
        (2f64.powi(200), "1.0*2^200"),
    ];
    for (v, text) in cases {
        assert_eq!(
            Float(v).to_string(),
            format!("floating point `{text}`"),
            "{v:e}"
        );
    }
    // A deserializer without its own message for the mismatch (serde's default) reports it this way.
    use serde::{Deserialize, de::IntoDeserializer, de::value::Error};
    let err = u32::deserialize(IntoDeserializer::<Error>::into_deserializer(1.5f64)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid type: floating point `1.5`, expected u32"
    );
}
