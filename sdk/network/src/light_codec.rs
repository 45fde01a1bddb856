//! The light protocols' framing, one side at a time: [`Asking`] writes requests and reads responses,
//! [`Answering`] reads requests and writes responses. Frames are what libp2p's
//! `request_response::cbor::Codec` makes (one CBOR value per stream direction, read to the end within
//! a size limit), so either side speaks to that codec. It is split because that codec encodes and
//! decodes both message types on every side: a browser, which only asks the light protocol and only
//! answers deliveries, linked the decoders of every request a node reads (history queries, publishes
//! and their events) and the encoders of every delivery.

use std::{collections::TryReserveError, convert::Infallible, io, marker::PhantomData};

use cbor4ii::core::error::DecodeError;
use futures::prelude::*;
use libp2p::{StreamProtocol, request_response::Codec};
use serde::{Serialize, de::DeserializeOwned};

/// The side that sends `Req` and reads `Resp` of at most `response_maximum` bytes.
pub struct Asking<Req, Resp> {
    response_maximum: u64,
    types: PhantomData<fn() -> (Req, Resp)>,
}

/// The side that reads `Req` of at most `request_maximum` bytes and answers `Resp`.
pub struct Answering<Req, Resp> {
    request_maximum: u64,
    types: PhantomData<fn() -> (Req, Resp)>,
}

impl<Req, Resp> Asking<Req, Resp> {
    /// Reads responses of at most `response_maximum` bytes.
    pub fn new(response_maximum: u64) -> Self {
        Asking {
            response_maximum,
            types: PhantomData,
        }
    }
}

impl<Req, Resp> Answering<Req, Resp> {
    /// Reads requests of at most `request_maximum` bytes.
    pub fn new(request_maximum: u64) -> Self {
        Answering {
            request_maximum,
            types: PhantomData,
        }
    }
}

impl<Req, Resp> Clone for Asking<Req, Resp> {
    fn clone(&self) -> Self {
        Asking::new(self.response_maximum)
    }
}

impl<Req, Resp> Clone for Answering<Req, Resp> {
    fn clone(&self) -> Self {
        Answering::new(self.request_maximum)
    }
}

/// What a side answers when asked to do the other side's half (its behaviour never negotiates the
/// protocol in that direction, so this is not reached).
pub(crate) fn other_side() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "this side of the protocol does not do that",
    )
}

/// One CBOR frame: the stream read to its end, at most `maximum` bytes.
pub(crate) async fn read<T, V>(io: &mut T, maximum: u64) -> io::Result<V>
where
    T: AsyncRead + Unpin + Send,
    V: DeserializeOwned,
{
    let mut frame = Vec::new();
    io.take(maximum).read_to_end(&mut frame).await?;
    decode(&frame)
}

/// One CBOR frame's value.
pub(crate) fn decode<V: DeserializeOwned>(frame: &[u8]) -> io::Result<V> {
    cbor4ii::serde::from_slice(frame).map_err(decode_error)
}

/// `value` written as one CBOR frame (encoded before any await, so the value need not be `Sync`).
pub(crate) async fn write<T, V>(io: &mut T, value: V) -> io::Result<()>
where
    T: AsyncWrite + Unpin + Send,
    V: Serialize,
{
    let frame = cbor4ii::serde::to_vec(Vec::new(), &value).map_err(encode_error)?;
    drop(value);
    io.write_all(&frame).await
}

impl<Req, Resp> Codec for Asking<Req, Resp>
where
    Req: Send + Serialize,
    Resp: Send + DeserializeOwned,
{
    type Protocol = StreamProtocol;
    type Request = Req;
    type Response = Resp;

    async fn read_request<T>(&mut self, _: &StreamProtocol, _: &mut T) -> io::Result<Req>
    where
        T: AsyncRead + Unpin + Send,
    {
        Err(other_side())
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Resp>
    where
        T: AsyncRead + Unpin + Send,
    {
        read(io, self.response_maximum).await
    }

    async fn write_request<T>(&mut self, _: &StreamProtocol, io: &mut T, req: Req) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write(io, req).await
    }

    async fn write_response<T>(&mut self, _: &StreamProtocol, _: &mut T, _: Resp) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        Err(other_side())
    }
}

impl<Req, Resp> Codec for Answering<Req, Resp>
where
    Req: Send + DeserializeOwned,
    Resp: Send + Serialize,
{
    type Protocol = StreamProtocol;
    type Request = Req;
    type Response = Resp;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Req>
    where
        T: AsyncRead + Unpin + Send,
    {
        read(io, self.request_maximum).await
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, _: &mut T) -> io::Result<Resp>
    where
        T: AsyncRead + Unpin + Send,
    {
        Err(other_side())
    }

    async fn write_request<T>(&mut self, _: &StreamProtocol, _: &mut T, _: Req) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        Err(other_side())
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Resp,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write(io, res).await
    }
}

/// The error kinds libp2p's CBOR codec gives a frame that does not decode.
fn decode_error(error: cbor4ii::serde::DecodeError<Infallible>) -> io::Error {
    match error {
        cbor4ii::serde::DecodeError::Core(DecodeError::Read(e)) => io::Error::other(e),
        cbor4ii::serde::DecodeError::Core(e @ DecodeError::Unsupported { .. }) => {
            io::Error::new(io::ErrorKind::Unsupported, e)
        }
        cbor4ii::serde::DecodeError::Core(e @ DecodeError::Eof { .. }) => {
            io::Error::new(io::ErrorKind::UnexpectedEof, e)
        }
        cbor4ii::serde::DecodeError::Core(e) => io::Error::new(io::ErrorKind::InvalidData, e),
        cbor4ii::serde::DecodeError::Custom(e) => io::Error::other(e.to_string()),
    }
}

fn encode_error(error: cbor4ii::serde::EncodeError<TryReserveError>) -> io::Error {
    io::Error::other(error)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

    use futures::{executor::block_on, io::Cursor};
    use libp2p::request_response::cbor::codec::Codec as Cbor;
    use serde_bytes::ByteBuf;

    use super::*;
    use crate::light::{Delivery, DeliveryAck, LIGHT_PROTOCOL, LightRequest, LightResponse};

    fn request() -> LightRequest {
        LightRequest::Auth {
            address: "0xabc".into(),
            signature: ByteBuf::from(vec![7; 65]),
        }
    }

    fn response() -> LightResponse {
        LightResponse::Published {
            duplicate: false,
            stored: true,
            replicas: Some(2),
        }
    }

    /// What `codec` writes as a request and as a response.
    fn written<C: Codec<Protocol = StreamProtocol>>(
        codec: &mut C,
        req: Option<C::Request>,
        res: Option<C::Response>,
    ) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
        block_on(async {
            let mut a = Cursor::new(Vec::new());
            let mut b = Cursor::new(Vec::new());
            let req = match req {
                Some(r) => Some(
                    codec
                        .write_request(&LIGHT_PROTOCOL, &mut a, r)
                        .await
                        .map(|()| a.into_inner()),
                ),
                None => None,
            };
            let res = match res {
                Some(r) => Some(
                    codec
                        .write_response(&LIGHT_PROTOCOL, &mut b, r)
                        .await
                        .map(|()| b.into_inner()),
                ),
                None => None,
            };
            (req.map(Result::unwrap), res.map(Result::unwrap))
        })
    }

    #[test]
    fn each_side_writes_the_frames_libp2ps_cbor_codec_writes() {
        let mut cbor = Cbor::<LightRequest, LightResponse>::default();
        let (cbor_req, cbor_res) = written(&mut cbor, Some(request()), Some(response()));
        let mut asking = Asking::<LightRequest, LightResponse>::new(1024);
        let mut answering = Answering::<LightRequest, LightResponse>::new(1024);
        assert_eq!(written(&mut asking, Some(request()), None).0, cbor_req);
        assert_eq!(written(&mut answering, None, Some(response())).1, cbor_res);
    }

    #[test]
    fn each_side_reads_what_the_other_and_libp2ps_cbor_codec_write() {
        let mut cbor = Cbor::<LightRequest, LightResponse>::default();
        let (req, res) = written(&mut cbor, Some(request()), Some(response()));
        let (req, res) = (req.unwrap(), res.unwrap());
        let mut asking = Asking::<LightRequest, LightResponse>::new(1024);
        let mut answering = Answering::<LightRequest, LightResponse>::new(1024);
        block_on(async {
            let read = answering
                .read_request(&LIGHT_PROTOCOL, &mut Cursor::new(&req))
                .await;
            assert_eq!(read.unwrap(), request());
            let read = asking
                .read_response(&LIGHT_PROTOCOL, &mut Cursor::new(&res))
                .await;
            assert_eq!(read.unwrap(), response());
        });
    }

    #[test]
    fn a_frame_over_the_limit_or_not_cbor_is_an_error_and_the_other_half_is_refused() {
        let mut cbor = Cbor::<LightRequest, LightResponse>::default();
        let (req, res) = written(&mut cbor, Some(request()), Some(response()));
        let (req, res) = (req.unwrap(), res.unwrap());
        block_on(async {
            // Cut short by the limit, the frame does not decode.
            let mut small = Answering::<LightRequest, LightResponse>::new(req.len() as u64 - 1);
            let e = small
                .read_request(&LIGHT_PROTOCOL, &mut Cursor::new(&req))
                .await
                .unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
            let mut asking = Asking::<LightRequest, LightResponse>::new(1024);
            let e = asking
                .read_response(&LIGHT_PROTOCOL, &mut Cursor::new(&[0xff_u8][..]))
                .await;
            assert!(e.is_err());

            // Each side refuses the other's half.
            let e = asking
                .read_request(&LIGHT_PROTOCOL, &mut Cursor::new(&req))
                .await
                .unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::Unsupported);
            let mut sink = Cursor::new(Vec::new());
            let e = asking
                .write_response(&LIGHT_PROTOCOL, &mut sink, response())
                .await;
            assert_eq!(e.unwrap_err().kind(), io::ErrorKind::Unsupported);
            let mut answering = Answering::<Delivery, DeliveryAck>::new(1024);
            let e = answering
                .read_response(&LIGHT_PROTOCOL, &mut Cursor::new(&res))
                .await;
            assert_eq!(e.unwrap_err().kind(), io::ErrorKind::Unsupported);
            let e = answering
                .write_request(
                    &LIGHT_PROTOCOL,
                    &mut sink,
                    Delivery::Lagged {
                        part: "s#0".into(),
                        dropped: 1,
                        seq: None,
                    },
                )
                .await;
            assert_eq!(e.unwrap_err().kind(), io::ErrorKind::Unsupported);
            assert!(sink.into_inner().is_empty());
        });
    }
}
