//! The session descriptions of WebRTC-direct, rendered by the patched `libp2p-webrtc-utils`
//! (`patches/libp2p-webrtc-utils`: placeholders replaced in place) exactly as upstream rendered them
//! with `tinytemplate` (its code below, as published), for both descriptions the transports use,
//! IPv4 and IPv6, and values `tinytemplate` escapes.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::net::{IpAddr, SocketAddr};

use libp2p_webrtc_utils::{
    Fingerprint,
    sdp::{answer, render_description},
};
use serde::Serialize;
use tinytemplate::TinyTemplate;

/// The browser's description of the node (`libp2p_webrtc_utils::sdp::answer`), as published.
const SERVER: &str = "v=0
o=- 0 0 IN {ip_version} {target_ip}
s=-
t=0 0
a=ice-lite
m=application {target_port} UDP/DTLS/SCTP webrtc-datachannel
c=IN {ip_version} {target_ip}
a=mid:0
a=ice-options:ice2
a=ice-ufrag:{ufrag}
a=ice-pwd:{pwd}
a=fingerprint:{fingerprint_algorithm} {fingerprint_value}
a=setup:passive
a=sctp-port:5000
a=max-message-size:16384
a=candidate:1467250027 1 UDP 1467250027 {target_ip} {target_port} typ host
a=end-of-candidates
";
/// The node's description of the browser (`libp2p-webrtc`'s `CLIENT_SESSION_DESCRIPTION`), as
/// published.
const CLIENT: &str = "v=0
o=- 0 0 IN {ip_version} {target_ip}
s=-
c=IN {ip_version} {target_ip}
t=0 0

m=application {target_port} UDP/DTLS/SCTP webrtc-datachannel
a=mid:0
a=ice-options:ice2
a=ice-ufrag:{ufrag}
a=ice-pwd:{pwd}
a=fingerprint:{fingerprint_algorithm} {fingerprint_value}
a=setup:actpass
a=sctp-port:5000
a=max-message-size:16384
";

#[derive(Serialize)]
enum IpVersion {
    IP4,
    IP6,
}

#[derive(Serialize)]
struct DescriptionContext {
    ip_version: IpVersion,
    target_ip: IpAddr,
    target_port: u16,
    fingerprint_algorithm: String,
    fingerprint_value: String,
    ufrag: String,
    pwd: String,
}

/// `libp2p-webrtc-utils` 0.5.0's `render_description`, as published.
fn upstream(description: &str, addr: SocketAddr, fingerprint: Fingerprint, ufrag: &str) -> String {
    let mut tt = TinyTemplate::new();
    tt.add_template("description", description).unwrap();
    let context = DescriptionContext {
        ip_version: if addr.is_ipv4() {
            IpVersion::IP4
        } else {
            IpVersion::IP6
        },
        target_ip: addr.ip(),
        target_port: addr.port(),
        fingerprint_algorithm: fingerprint.algorithm(),
        fingerprint_value: fingerprint.to_sdp_format(),
        ufrag: ufrag.to_owned(),
        pwd: ufrag.to_owned(),
    };
    tt.render("description", &context).unwrap()
}

#[test]
fn descriptions_render_as_upstreams_template_engine_rendered_them() {
    let addresses: [SocketAddr; 4] = [
        "127.0.0.1:1".parse().unwrap(),
        "10.0.0.1:9000".parse().unwrap(),
        "[::1]:65535".parse().unwrap(),
        "[2001:db8::8a2e:370:7334]:4242".parse().unwrap(),
    ];
    let ufrags = [
        "libp2p+webrtc+v1/abcDEF0123456789",
        "",
        "<a&b>'\"x",
        "ünï/cödé {x}",
    ];
    for (i, address) in addresses.into_iter().enumerate() {
        for ufrag in ufrags {
            let fingerprint = Fingerprint::raw([(i * 37 + ufrag.len()) as u8; 32]);
            for description in [SERVER, CLIENT] {
                assert_eq!(
                    render_description(description, address, fingerprint, ufrag),
                    upstream(description, address, fingerprint, ufrag),
                    "{address} {ufrag:?}"
                );
            }
            assert_eq!(
                answer(address, fingerprint, ufrag),
                upstream(SERVER, address, fingerprint, ufrag)
            );
        }
    }
}
