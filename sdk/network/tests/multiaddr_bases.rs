//! The multibase encodings of addresses, read and written by the patched `multiaddr`
//! (`patches/multiaddr`: its own RFC 4648 codec and `bs58` instead of the `multibase` and
//! `data-encoding` crates; `data-encoding` is the reference here). Vectors: the
//! WebRTC-direct address of multiaddr's own tests, its certificate hash written in each base a
//! `/certhash/` may use, and round trips of every protocol whose value is a multibase encoding.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use libp2p::{Multiaddr, PeerId, identity::Keypair, multiaddr::Protocol};
use rand::{RngExt, SeedableRng, rngs::StdRng};

/// multiaddr's test vector: a SHA-256 multihash (0x12 0x20 + 32 bytes) in multibase base64url.
const WEBRTC_DIRECT: &str = "/ip4/127.0.0.1/udp/1234/webrtc-direct/certhash/uEiDDq4_xNyDorZBH3TlGazyJdOWSwvo4PUo5YHFMrvDE8g";

/// The same multihash's bytes.
const HASH_HEX: &str = "1220c3ab8ff13720e8ad9047dd39466b3c8974e592c2fa383d4a3960714caef0c4f2";

fn certhash(address: &str) -> Vec<u8> {
    let address: Multiaddr = address
        .parse()
        .map_err(|e| format!("{address}: {e:?}"))
        .unwrap();
    last_certhash(&address)
}

fn last_certhash(address: &Multiaddr) -> Vec<u8> {
    match address.iter().last() {
        Some(Protocol::Certhash(hash)) => hash.to_bytes(),
        other => panic!("no certhash at the end of {address}: {other:?}"),
    }
}

fn with_certhash(encoded: &str) -> String {
    format!("/ip4/127.0.0.1/udp/1234/webrtc-direct/certhash/{encoded}")
}

#[test]
fn a_webrtc_direct_address_round_trips_in_base64url() {
    let address: Multiaddr = WEBRTC_DIRECT.parse().unwrap();
    assert_eq!(address.to_string(), WEBRTC_DIRECT);
    assert_eq!(hex::encode(certhash(WEBRTC_DIRECT)), HASH_HEX);
    assert_eq!(Multiaddr::try_from(address.to_vec()).unwrap(), address);
}

#[test]
fn a_certhash_is_read_in_every_rfc4648_base_and_base58() {
    // (Base64 with the standard alphabet, `m` and `M`, is read too, but this hash's has a `/`, which
    // no address can hold.)
    for encoded in [
        "zQmbWTwYGcmdyK9CYfNBcfs9nhZs17a6FQ4Y8oea278xx41",
        "f1220c3ab8ff13720e8ad9047dd39466b3c8974e592c2fa383d4a3960714caef0c4f2",
        "F1220C3AB8FF13720E8AD9047DD39466B3C8974E592C2FA383D4A3960714CAEF0C4F2",
        "bciqmhk4p6e3sb2fnsbd52okgnm6is5hfslbpuob5ji4wa4kmv3ymj4q",
        "BCIQMHK4P6E3SB2FNSBD52OKGNM6IS5HFSLBPUOB5JI4WA4KMV3YMJ4Q",
        "CCIQMHK4P6E3SB2FNSBD52OKGNM6IS5HFSLBPUOB5JI4WA4KMV3YMJ4Q=",
        "UEiDDq4_xNyDorZBH3TlGazyJdOWSwvo4PUo5YHFMrvDE8g==",
    ] {
        let address = with_certhash(encoded);
        assert_eq!(hex::encode(certhash(&address)), HASH_HEX, "{encoded}");
        // Written back, always in base64url.
        assert_eq!(
            address.parse::<Multiaddr>().unwrap().to_string(),
            WEBRTC_DIRECT
        );
    }
}

#[test]
fn a_certhash_in_a_base_not_read_is_refused_naming_it() {
    // base36 of the same multihash.
    let base36 = with_certhash("kmuiib6bqg0bktv4t5nae8tff2a4ltry28v4urnjbjb1guvv3x4oi");
    let error = base36.parse::<Multiaddr>().unwrap_err().to_string();
    assert!(error.contains("'k'"), "{error}");
    // Upper case in a lower-case base, a character outside the alphabet, a missing character.
    for bad in [
        "bCIQMHK4P6E3SB2FNSBD52OKGNM6IS5HFSLBPUOB5JI4WA4KMV3YMJ4Q",
        "uEiDDq4+xNyDorZBH3TlGazyJdOWSwvo4PUo5YHFMrvDE8g",
        "b2uaraocy6yrdblb4sfptaddgimjmmp",
        "",
    ] {
        assert!(with_certhash(bad).parse::<Multiaddr>().is_err(), "{bad:?}");
    }
}

#[test]
fn peer_ids_and_garlic_addresses_round_trip() {
    let peer = PeerId::from(Keypair::generate_ed25519().public());
    let address = format!("/ip4/10.0.0.1/tcp/4001/p2p/{peer}");
    let parsed: Multiaddr = address.parse().unwrap();
    assert_eq!(parsed.to_string(), address);
    assert_eq!(parsed.iter().last(), Some(Protocol::P2p(peer)));
    assert!(
        "/p2p/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kin0upNKC"
            .parse::<Multiaddr>()
            .is_err()
    );

    let garlic32: Vec<u8> = (0..32).collect();
    let address = Multiaddr::empty().with(Protocol::Garlic32(garlic32.clone().into()));
    let text = address.to_string();
    assert_eq!(
        text,
        "/garlic32/aaaqeayeaudaocajbifqydiob4ibceqtcqkrmfyydenbwha5dypq"
    );
    assert_eq!(text.parse::<Multiaddr>().unwrap(), address);

    let garlic64: Vec<u8> = (0..400u32).map(|i| (i * 7 % 256) as u8).collect();
    let address = Multiaddr::empty().with(Protocol::Garlic64(garlic64.into()));
    let text = address.to_string();
    let value = text.strip_prefix("/garlic64/").unwrap();
    assert!(!value.contains('+') && !value.contains('/'), "{value}");
    assert_eq!(text.parse::<Multiaddr>().unwrap(), address);
}

#[test]
fn certhashes_read_as_data_encoding_reads_them() {
    use data_encoding as de;
    let bases = [
        ('f', de::HEXLOWER),
        ('F', de::HEXUPPER),
        ('B', de::BASE32_NOPAD),
        ('C', de::BASE32),
        ('V', de::BASE32HEX_NOPAD),
        ('T', de::BASE32HEX),
        ('u', de::BASE64URL_NOPAD),
        ('U', de::BASE64URL),
    ];
    // Seeded, so a failure names a reproducible case.
    let mut cases = StdRng::seed_from_u64(7);
    for (prefix, reference) in &bases {
        let symbols = reference.specification().symbols.into_bytes();
        for _ in 0..5_000 {
            // A SHA-256 multihash, as WebRTC-direct's certhash is.
            let mut hash = vec![0x12, 0x20];
            hash.extend((0..32).map(|_| cases.random::<u8>()));
            let mut text = reference.encode(&hash).into_bytes();
            let address = with_certhash(&format!("{prefix}{}", String::from_utf8_lossy(&text)));
            assert_eq!(certhash(&address), hash, "{address}");

            // The same with one symbol changed, dropped or added, or padding moved: read exactly
            // when the reference reads it (and the bytes still make a multihash).
            let at = cases.random_range(0..text.len());
            match cases.random_range(0..4) {
                0 => text[at] = symbols[cases.random_range(0..symbols.len())],
                1 => {
                    text.remove(at);
                }
                2 => text.insert(at, symbols[cases.random_range(0..symbols.len())]),
                _ => text[at] = b'=',
            }
            let text = String::from_utf8(text).unwrap();
            let expected = reference
                .decode(text.as_bytes())
                .ok()
                .filter(|bytes| libp2p::multihash::Multihash::<64>::from_bytes(bytes).is_ok());
            let read = with_certhash(&format!("{prefix}{text}"))
                .parse::<Multiaddr>()
                .ok()
                .map(|address| last_certhash(&address));
            assert_eq!(read, expected, "{prefix}{text}");
        }
    }
}

#[test]
fn onion_addresses_round_trip_in_either_ascii_case() {
    for address in [
        "/onion/aaimaq4ygg2iegci:80",
        "/onion3/vww6ybal4bd7szmgncyruucpgfkqahzddi37ktceo3ah7ngmcopnpyyd:1234",
    ] {
        let parsed: Multiaddr = address.parse().unwrap();
        assert_eq!(parsed.to_string(), address);
        // Read in either case, written in lower case.
        let (protocol, value) = address.rsplit_once('/').unwrap();
        let (host, port) = value.split_once(':').unwrap();
        let upper = format!("{protocol}/{}:{port}", host.to_ascii_uppercase());
        assert_eq!(upper.parse::<Multiaddr>().unwrap(), parsed, "{upper}");
    }
    // A letter that is only an 's' in Unicode's upper case is not base32 (upper case is ASCII's).
    assert!("/onion/aaimaq4ygg2iegcſ:80".parse::<Multiaddr>().is_err());
}
