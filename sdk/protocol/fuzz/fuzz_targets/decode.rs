//! Feeds arbitrary bytes to the wire decoder and the verifying decoder: they must return an error or a
//! message, never panic, and whatever decodes must re-encode to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rivulet_protocol::{Limits, StreamMessage, decode_verified};

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    if let Ok(message) = StreamMessage::decode(data, &limits) {
        let again = message.encode().expect("a decoded message encodes");
        assert_eq!(again, data, "decode/encode is not the identity");
    }
    let _ = decode_verified(data, &limits);
});
