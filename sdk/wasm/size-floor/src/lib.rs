//! Measurement only (see BENCHMARKS.md, "the npm package: size"): the libp2p browser client by itself —
//! WebSocket and WebRTC-direct transports, noise, yamux, two CBOR request-response protocols and ping,
//! as `@rivulet/sdk` builds them — so the size of the package can be read against what libp2p alone weighs.
#![allow(missing_docs)]

use futures::StreamExt;
use libp2p::{
    Multiaddr, StreamProtocol, SwarmBuilder, Transport, core::upgrade::Version, ping,
    request_response, swarm::NetworkBehaviour,
};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use wasm_bindgen::prelude::*;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Req {
    A { x: String, b: serde_bytes::ByteBuf },
    B(u64),
}
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Resp {
    Ok,
    Err { code: String },
}

#[derive(NetworkBehaviour)]
pub struct B {
    rr: request_response::cbor::Behaviour<Req, Resp>,
    rr2: request_response::cbor::Behaviour<Resp, Req>,
    ping: ping::Behaviour,
}

#[wasm_bindgen]
pub async fn run(addr: String) -> Result<String, JsValue> {
    let addr: Multiaddr = addr
        .parse()
        .map_err(|e| JsValue::from_str(&format!("{e}")))?;
    let cfg = request_response::Config::default();
    let mut swarm = SwarmBuilder::with_new_identity()
        .with_wasm_bindgen()
        .with_other_transport(|key| {
            Ok(libp2p::websocket_websys::Transport::default()
                .upgrade(Version::V1)
                .authenticate(libp2p::noise::Config::new(key)?)
                .multiplex(libp2p::yamux::Config::default())
                .or_transport(libp2p::webrtc_websys::Transport::new(
                    libp2p::webrtc_websys::Config::new(key),
                ))
                .map(|e, _| match e {
                    futures::future::Either::Left((p, m)) => {
                        (p, libp2p::core::muxing::StreamMuxerBox::new(m))
                    }
                    futures::future::Either::Right((p, m)) => {
                        (p, libp2p::core::muxing::StreamMuxerBox::new(m))
                    }
                })
                .boxed())
        })
        .map_err(|e| JsValue::from_str(&format!("{e}")))?
        .with_behaviour(|_| B {
            rr: request_response::cbor::Behaviour::new(
                [(
                    StreamProtocol::new("/a/1"),
                    request_response::ProtocolSupport::Outbound,
                )],
                cfg.clone(),
            ),
            rr2: request_response::cbor::Behaviour::new(
                [(
                    StreamProtocol::new("/b/1"),
                    request_response::ProtocolSupport::Inbound,
                )],
                cfg,
            ),
            ping: ping::Behaviour::default(),
        })
        .map_err(|e| JsValue::from_str(&format!("{e}")))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build();
    swarm
        .dial(addr.clone())
        .map_err(|e| JsValue::from_str(&format!("{e}")))?;
    let peer = swarm.local_peer_id().to_owned();
    swarm.behaviour_mut().rr.send_request(&peer, Req::B(1));
    loop {
        match swarm.select_next_some().await {
            libp2p::swarm::SwarmEvent::Behaviour(BEvent::Rr(
                request_response::Event::Message {
                    message: request_response::Message::Response { response, .. },
                    ..
                },
            )) => return Ok(format!("{response:?}")),
            libp2p::swarm::SwarmEvent::Behaviour(BEvent::Rr2(
                request_response::Event::Message {
                    message:
                        request_response::Message::Request {
                            request, channel, ..
                        },
                    ..
                },
            )) => {
                let _ = swarm.behaviour_mut().rr2.send_response(channel, Req::B(2));
                let _ = request;
            }
            libp2p::swarm::SwarmEvent::OutgoingConnectionError { error, .. } => {
                return Err(JsValue::from_str(&format!("{error} {addr}")));
            }
            _ => {}
        }
    }
}
