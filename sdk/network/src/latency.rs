//! **For testing only**: a latency model for many nodes on one machine, and a TCP transport that
//! delays what each connection receives by the one-way delay the model gives for its two ends.
//!
//! The kernels the project runs on have no `sch_netem`, so the delay is added in user space: every
//! chunk read from the socket is held until `arrival + delay`, in order, so the byte stream and its
//! order are unchanged and only time moves. Each end delays what it receives, so each direction of a
//! connection is delayed once. At most [`HELD_BYTES`] wait per connection; beyond that the socket is
//! not read, and TCP's own flow control holds the sender back (a bandwidth-delay product of
//! `HELD_BYTES / delay`, some 20 MiB/s at 100 ms).
//!
//! The model maps each node's IP address to a region and gives a one-way delay between regions; each
//! pair of addresses gets its own delay, the regions' delay times a factor drawn from the pair (so it
//! is the same at both ends and in every run). Addresses the model does not name (loopback, the
//! harness's own) get no delay. Relay nodes use it only when `--network.latency-model` names a file.

use std::{
    collections::BTreeMap,
    future::Future,
    io,
    net::IpAddr,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use libp2p::futures::{AsyncRead, AsyncWrite};
use serde::Deserialize;

/// The most bytes a connection holds back at once.
pub const HELD_BYTES: usize = 2 * 1024 * 1024;

/// Why a latency model is not usable.
#[derive(Debug, thiserror::Error)]
pub enum LatencyModelError {
    /// A node names a region the delay matrix does not have.
    #[error("{0} is in region {1}, but the delay matrix has {2} regions")]
    UnknownRegion(IpAddr, usize, usize),
    /// The delay matrix is not square.
    #[error("the delay matrix must be square ({0} rows)")]
    NotSquare(usize),
    /// A delay or the jitter is negative or not a number.
    #[error("delays must be finite and at least 0, and jitter in 0..1")]
    BadValue,
}

/// Regions of node addresses and one-way delays between regions (the harness writes it as JSON).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencyModel {
    /// Each node address's region (an index into `delay_ms`).
    pub regions: BTreeMap<IpAddr, usize>,
    /// One-way delay between regions, ms: `delay_ms[a][b]` (within a region: `delay_ms[a][a]`).
    pub delay_ms: Vec<Vec<f64>>,
    /// Each pair of nodes gets the regions' delay times a factor in `1 ± jitter`, drawn from the pair.
    #[serde(default)]
    pub jitter: f64,
}

impl LatencyModel {
    /// Checks the model.
    pub fn check(&self) -> Result<(), LatencyModelError> {
        let n = self.delay_ms.len();
        if self.delay_ms.iter().any(|row| row.len() != n) {
            return Err(LatencyModelError::NotSquare(n));
        }
        let bad = |v: f64| !v.is_finite() || v < 0.0;
        if self.delay_ms.iter().flatten().any(|v| bad(*v)) || bad(self.jitter) || self.jitter >= 1.0
        {
            return Err(LatencyModelError::BadValue);
        }
        for (ip, region) in &self.regions {
            if *region >= n {
                return Err(LatencyModelError::UnknownRegion(*ip, *region, n));
            }
        }
        Ok(())
    }

    /// The one-way delay between two addresses (the same either way round); zero when the model does
    /// not name both.
    pub fn one_way(&self, a: IpAddr, b: IpAddr) -> Duration {
        let (Some(ra), Some(rb)) = (self.regions.get(&a), self.regions.get(&b)) else {
            return Duration::ZERO;
        };
        let base = self
            .delay_ms
            .get(*ra)
            .and_then(|row| row.get(*rb))
            .copied()
            .unwrap_or(0.0);
        let factor = 1.0 + self.jitter * (2.0 * pair_unit(a, b) - 1.0);
        Duration::from_secs_f64((base * factor).max(0.0) / 1000.0)
    }
}

/// A number in `[0, 1)` drawn from an unordered pair of addresses (splitmix64 over both).
pub fn pair_unit(a: IpAddr, b: IpAddr) -> f64 {
    let key = |ip: IpAddr| match ip {
        IpAddr::V4(v4) => u64::from(u32::from(v4)),
        IpAddr::V6(v6) => {
            let x = u128::from(v6);
            (x as u64) ^ ((x >> 64) as u64)
        }
    };
    let (lo, hi) = if key(a) <= key(b) {
        (key(a), key(b))
    } else {
        (key(b), key(a))
    };
    let mix = |mut z: u64| {
        z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    (mix(mix(lo) ^ hi) >> 11) as f64 / (1u64 << 53) as f64
}

/// A stream whose received bytes are each held for `delay` after they arrive (see the module docs).
/// Writes go straight through.
#[derive(Debug)]
pub struct DelayedStream<S> {
    inner: S,
    delay: Duration,
    /// Chunks received and not yet handed out, with the time each may be.
    held: std::collections::VecDeque<(tokio::time::Instant, Vec<u8>)>,
    /// Bytes of the first chunk already handed out.
    head_offset: usize,
    held_bytes: usize,
    /// The end of the stream (or a read error), due at the time it comes after the held bytes.
    end: Option<(tokio::time::Instant, Option<io::Error>)>,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<S> DelayedStream<S> {
    /// Wraps `inner`, delaying what it receives by `delay` (none: a zero delay).
    pub fn new(inner: S, delay: Duration) -> DelayedStream<S> {
        DelayedStream {
            inner,
            delay,
            held: Default::default(),
            head_offset: 0,
            held_bytes: 0,
            end: None,
            timer: None,
        }
    }

    /// The delay it adds.
    pub fn delay(&self) -> Duration {
        self.delay
    }
}

impl<S: AsyncRead + Unpin> DelayedStream<S> {
    /// Reads what the socket has, stamping each chunk with its release time, until it has nothing
    /// more, the stream ends, or [`HELD_BYTES`] wait.
    fn fill(&mut self, cx: &mut Context<'_>) {
        let mut chunk = [0u8; 16 * 1024];
        while self.end.is_none() && self.held_bytes < HELD_BYTES {
            match Pin::new(&mut self.inner).poll_read(cx, &mut chunk) {
                Poll::Ready(Ok(0)) => {
                    self.end = Some((tokio::time::Instant::now() + self.delay, None));
                }
                Poll::Ready(Ok(n)) => {
                    self.held.push_back((
                        tokio::time::Instant::now() + self.delay,
                        chunk[..n].to_vec(),
                    ));
                    self.held_bytes += n;
                }
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Poll::Ready(Err(e)) => {
                    self.end = Some((tokio::time::Instant::now() + self.delay, Some(e)));
                }
                Poll::Pending => break,
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for DelayedStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.delay.is_zero() && this.held.is_empty() {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        loop {
            this.fill(cx);
            let now = tokio::time::Instant::now();
            let due = match (this.held.front(), &this.end) {
                (Some((at, _)), _) => *at,
                (None, Some((at, _))) => *at,
                (None, None) => return Poll::Pending,
            };
            if due > now {
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
                timer.as_mut().reset(due);
                if timer.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                continue;
            }
            if this.held.is_empty() {
                return match this.end.as_mut().and_then(|(_, e)| e.take()) {
                    Some(e) => Poll::Ready(Err(e)),
                    None => Poll::Ready(Ok(0)),
                };
            }
            // Hand out every chunk that is due, as far as `buf` goes.
            let mut n = 0;
            while n < buf.len() {
                let Some((at, chunk)) = this.held.front() else {
                    break;
                };
                if *at > now {
                    break;
                }
                let rest = &chunk[this.head_offset..];
                let take = rest.len().min(buf.len() - n);
                buf[n..n + take].copy_from_slice(&rest[..take]);
                n += take;
                this.head_offset += take;
                this.held_bytes -= take;
                if this.head_offset == chunk.len() {
                    this.held.pop_front();
                    this.head_offset = 0;
                }
            }
            return Poll::Ready(Ok(n));
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for DelayedStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_close(cx)
    }
}

/// libp2p's tokio TCP transport with every connection's received bytes delayed by the model's
/// one-way delay between its two ends' addresses.
pub fn delayed_tcp(
    config: libp2p::tcp::Config,
    model: std::sync::Arc<LatencyModel>,
) -> impl libp2p::Transport<
    Output = DelayedStream<libp2p::tcp::tokio::TcpStream>,
    Error = io::Error,
    Dial: Send,
    ListenerUpgrade: Send,
> + Send
+ Unpin
+ 'static {
    use libp2p::Transport;
    libp2p::tcp::tokio::Transport::new(config).map(move |stream, _| {
        let delay = match (stream.0.local_addr(), stream.0.peer_addr()) {
            (Ok(local), Ok(peer)) => model.one_way(local.ip(), peer.ip()),
            _ => Duration::ZERO,
        };
        DelayedStream::new(stream, delay)
    })
}

#[cfg(test)]
mod tests {
    use libp2p::futures::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    fn model() -> LatencyModel {
        LatencyModel {
            regions: [
                ("10.0.0.1".parse().unwrap(), 0),
                ("10.0.0.2".parse().unwrap(), 1),
                ("10.0.0.3".parse().unwrap(), 1),
            ]
            .into_iter()
            .collect(),
            delay_ms: vec![vec![2.0, 80.0], vec![80.0, 2.0]],
            jitter: 0.1,
        }
    }

    #[test]
    fn delays_are_symmetric_per_pair_and_within_the_jitter() {
        let m = model();
        m.check().unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let ab = m.one_way(ip("10.0.0.1"), ip("10.0.0.2"));
        assert_eq!(ab, m.one_way(ip("10.0.0.2"), ip("10.0.0.1")));
        assert!(ab >= Duration::from_millis(72) && ab <= Duration::from_millis(88));
        let bc = m.one_way(ip("10.0.0.2"), ip("10.0.0.3"));
        assert!(bc <= Duration::from_micros(2200));
        assert_eq!(m.one_way(ip("127.0.0.1"), ip("10.0.0.1")), Duration::ZERO);
        let bad = LatencyModel {
            delay_ms: vec![vec![1.0]],
            ..model()
        };
        assert!(bad.check().is_err());
    }

    #[tokio::test]
    async fn received_bytes_arrive_in_order_after_the_delay() {
        use libp2p::tcp::tokio::TcpStream;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (dialed, accepted) =
            tokio::join!(tokio::net::TcpStream::connect(addr), listener.accept());
        let mut writer = TcpStream(dialed.unwrap());
        let mut reader =
            DelayedStream::new(TcpStream(accepted.unwrap().0), Duration::from_millis(60));
        let start = tokio::time::Instant::now();
        let payload: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        let sent = payload.clone();
        let write = tokio::spawn(async move {
            for part in sent.chunks(1000) {
                writer.write_all(part).await.unwrap();
            }
            writer.close().await.unwrap();
        });
        let mut first = [0u8; 1];
        reader.read_exact(&mut first).await.unwrap();
        assert!(start.elapsed() >= Duration::from_millis(60));
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest).await.unwrap();
        write.await.unwrap();
        assert_eq!(first[0], payload[0]);
        assert_eq!(rest, payload[1..]);
    }
}
