//! What a node holds of requests it is still reading: bytes that arrived on a stream before the request
//! is whole and decoded.
//!
//! A request-response protocol reads each request to its end before decoding it, and a stream that
//! sends most of a large request and then nothing keeps those bytes in memory until the request times
//! out. Many such streams (256 per connection, many connections per address) would hold gigabytes of a
//! node's memory without ever signing in. A [`RequestBudget`] bounds it: every connection from one
//! address shares one [`Share`] (an IPv4 address, or an IPv6 /64; a connection without an IP address
//! by its peer id), each address holds at most its share, and all addresses together at most the
//! node's total. A request that would go beyond either is refused — its remaining bytes read and
//! dropped, so the sender gets an answer saying why — rather than waited for, so requests never wait on
//! one another, and an address that fills its share denies only itself.

use std::{
    collections::HashMap,
    io,
    net::IpAddr,
    sync::{
        Arc, Mutex, Weak,
        atomic::{AtomicUsize, Ordering},
    },
};

use futures::prelude::*;
use libp2p::PeerId;

/// Bytes a request's buffer grows by at least, when it is full.
const MIN_GROWTH: usize = 8 * 1024;

/// Who a share of the budget belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Holder {
    /// Connections from this host ([`crate::address_limits::host_ip`]).
    Host(IpAddr),
    /// A connection without an IP address (relayed, in memory), by its peer.
    Peer(PeerId),
    /// Connections the node could not place (none in practice): they share one share.
    Unplaced,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Holder::Host(ip) => write!(f, "{ip}"),
            Holder::Peer(peer) => write!(f, "peer {peer}"),
            Holder::Unplaced => f.write_str("an unplaced connection"),
        }
    }
}

/// A request refused before it was read whole: an error code and a sentence for the sender.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// `oversize`, `busy` (the address's share is full) or `unavailable` (the node's total is).
    pub code: &'static str,
    /// What and why.
    pub message: String,
}

/// A node's budget for requests being read: one share per address, and a total.
#[derive(Debug)]
pub struct RequestBudget {
    per_holder: usize,
    total: usize,
    used: Arc<AtomicUsize>,
    shares: Mutex<Shares>,
}

#[derive(Debug, Default)]
struct Shares {
    by_holder: HashMap<Holder, Weak<Share>>,
    /// Sweep shares no connection holds any more when the map reaches this many.
    sweep_at: usize,
}

/// What the connections of one [`Holder`] hold of a [`RequestBudget`].
#[derive(Debug)]
pub struct Share {
    holder: Holder,
    used: AtomicUsize,
    budget: Arc<RequestBudget>,
}

impl RequestBudget {
    /// At most `per_holder` bytes being read for one address, `total` for all.
    pub fn new(per_holder: usize, total: usize) -> Arc<RequestBudget> {
        Arc::new(RequestBudget {
            per_holder,
            total,
            used: Arc::new(AtomicUsize::new(0)),
            shares: Mutex::new(Shares::default()),
        })
    }

    /// Bytes held now by requests being read, all addresses together (a gauge's source).
    pub fn used(&self) -> Arc<AtomicUsize> {
        self.used.clone()
    }

    /// The share of `holder`, the same for all its connections while any holds it.
    pub fn share(self: &Arc<Self>, holder: Holder) -> Arc<Share> {
        let mut shares = self.shares.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(share) = shares.by_holder.get(&holder).and_then(Weak::upgrade) {
            return share;
        }
        let share = Arc::new(Share {
            holder,
            used: AtomicUsize::new(0),
            budget: self.clone(),
        });
        shares.by_holder.insert(holder, Arc::downgrade(&share));
        if shares.by_holder.len() >= shares.sweep_at {
            shares.by_holder.retain(|_, s| s.strong_count() > 0);
            shares.sweep_at = (shares.by_holder.len() * 2).max(64);
        }
        share
    }
}

impl Share {
    /// Bytes this share's connections hold now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// Takes `bytes` from this share and the node's total, or nothing and says which is full.
    fn take(&self, bytes: usize) -> Result<(), Refusal> {
        let budget = &self.budget;
        let before = self.used.fetch_add(bytes, Ordering::Relaxed);
        if before + bytes > budget.per_holder {
            self.used.fetch_sub(bytes, Ordering::Relaxed);
            return Err(Refusal {
                code: "busy",
                message: format!(
                    "{} already has {before} bytes of requests being read by this node, and may have {} (network.request_mb_per_address); wait for answers before sending more",
                    self.holder, budget.per_holder
                ),
            });
        }
        let total = budget.used.fetch_add(bytes, Ordering::Relaxed);
        if total + bytes > budget.total {
            budget.used.fetch_sub(bytes, Ordering::Relaxed);
            self.used.fetch_sub(bytes, Ordering::Relaxed);
            return Err(Refusal {
                code: "unavailable",
                message: format!(
                    "this node is reading {total} bytes of requests, its most is {} (network.request_mb); try again shortly",
                    budget.total
                ),
            });
        }
        Ok(())
    }

    fn give_back(&self, bytes: usize) {
        self.used.fetch_sub(bytes, Ordering::Relaxed);
        self.budget.used.fetch_sub(bytes, Ordering::Relaxed);
    }
}

/// A request's bytes as they arrive, the memory taken from a share (its buffer's whole capacity) and
/// given back when dropped.
struct Buffer<'a> {
    bytes: Vec<u8>,
    filled: usize,
    share: &'a Share,
}

impl Buffer<'_> {
    /// Grows the buffer towards `maximum`, by half its size and at least [`MIN_GROWTH`].
    fn grow(&mut self, maximum: usize) -> Result<(), Refusal> {
        let now = self.bytes.len();
        let to = (now + (now / 2).max(MIN_GROWTH)).min(maximum);
        self.share.take(to - now)?;
        // Exactly: what is taken from the share is what the buffer holds.
        self.bytes.reserve_exact(to - now);
        self.bytes.resize(to, 0);
        Ok(())
    }
}

impl Drop for Buffer<'_> {
    fn drop(&mut self) {
        self.share.give_back(self.bytes.len());
    }
}

/// One request frame: `io` read to its end, at most `maximum` bytes held from `share` while reading.
/// `Err(refusal)` when it is larger or the share or the node's total is full: the rest of the stream
/// is then read and dropped (so the sender can be answered), holding nothing.
pub async fn read_frame<T>(
    io: &mut T,
    maximum: usize,
    share: &Share,
) -> io::Result<Result<Vec<u8>, Refusal>>
where
    T: AsyncRead + Unpin + Send,
{
    let mut buffer = Buffer {
        bytes: Vec::new(),
        filled: 0,
        share,
    };
    loop {
        if buffer.filled == buffer.bytes.len() {
            let refusal = if buffer.filled == maximum {
                let mut probe = [0u8; 1];
                if io.read(&mut probe).await? == 0 {
                    break;
                }
                Refusal {
                    code: "oversize",
                    message: format!("the request is larger than this node's {maximum} bytes"),
                }
            } else {
                match buffer.grow(maximum) {
                    Ok(()) => continue,
                    Err(refusal) => refusal,
                }
            };
            drop(buffer);
            futures::io::copy(io, &mut futures::io::sink()).await?;
            return Ok(Err(refusal));
        }
        let filled = buffer.filled;
        let read = io.read(&mut buffer.bytes[filled..]).await?;
        if read == 0 {
            break;
        }
        buffer.filled += read;
    }
    let mut frame = std::mem::take(&mut buffer.bytes);
    share.give_back(frame.len());
    frame.truncate(buffer.filled);
    Ok(Ok(frame))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::{
        net::Ipv4Addr,
        pin::Pin,
        task::{Context, Poll},
    };

    use futures::{executor::block_on, io::Cursor};

    use super::*;

    fn host(n: u8) -> Holder {
        Holder::Host(Ipv4Addr::new(10, 0, 0, n).into())
    }

    /// A stream that gives `bytes`, then neither data nor its end: a request never finished.
    struct Stalled {
        bytes: Cursor<Vec<u8>>,
    }

    impl AsyncRead for Stalled {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            match Pin::new(&mut self.bytes).poll_read(cx, buf) {
                Poll::Ready(Ok(0)) => Poll::Pending,
                other => other,
            }
        }
    }

    #[test]
    fn a_whole_frame_is_read_and_its_bytes_given_back() {
        let budget = RequestBudget::new(1 << 20, 4 << 20);
        let share = budget.share(host(1));
        let sent: Vec<u8> = (0..300_000u32).map(|i| i as u8).collect();
        let frame = block_on(read_frame(&mut Cursor::new(sent.clone()), 1 << 20, &share)).unwrap();
        assert_eq!(frame.unwrap(), sent);
        assert_eq!(share.used(), 0);
        assert_eq!(budget.used().load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_frame_of_exactly_the_maximum_is_read_one_byte_more_is_refused() {
        let budget = RequestBudget::new(1 << 20, 4 << 20);
        let share = budget.share(host(1));
        let exact = block_on(read_frame(
            &mut Cursor::new(vec![1; 100_000]),
            100_000,
            &share,
        ));
        assert_eq!(exact.unwrap().unwrap().len(), 100_000);
        let over = block_on(read_frame(
            &mut Cursor::new(vec![1; 100_001]),
            100_000,
            &share,
        ));
        let refusal = over.unwrap().unwrap_err();
        assert_eq!(refusal.code, "oversize");
        assert!(
            refusal.message.contains("100000 bytes"),
            "{}",
            refusal.message
        );
        assert_eq!(budget.used().load(Ordering::Relaxed), 0);
    }

    /// Requests held unfinished take from their address's share; the one that would go beyond it is
    /// refused and read to its end holding nothing (here the third of three, two holding 410 KiB
    /// each); another address still reads.
    #[test]
    fn an_address_holds_at_most_its_share_and_denies_only_itself() {
        let budget = RequestBudget::new(1 << 20, 4 << 20);
        let mut held = Vec::new();
        for _ in 0..3 {
            let share = budget.share(host(1));
            let mut stalled = Stalled {
                bytes: Cursor::new(vec![0; 300_000]),
            };
            let mut read = Box::pin(async move { read_frame(&mut stalled, 8 << 20, &share).await });
            let waker = futures::task::noop_waker();
            assert!(
                read.as_mut()
                    .poll(&mut Context::from_waker(&waker))
                    .is_pending()
            );
            held.push(read);
        }
        let share = budget.share(host(1));
        let held_now = share.used();
        assert_eq!(held_now, 2 * 419_904);
        let refused = block_on(read_frame(
            &mut Cursor::new(vec![0; 300_000]),
            8 << 20,
            &share,
        ));
        let refusal = refused.unwrap().unwrap_err();
        assert_eq!(refusal.code, "busy");
        assert!(
            refusal.message.starts_with("10.0.0.1 already has"),
            "{}",
            refusal.message
        );
        assert_eq!(share.used(), held_now);
        let other = budget.share(host(2));
        let read = block_on(read_frame(
            &mut Cursor::new(vec![0; 300_000]),
            8 << 20,
            &other,
        ));
        assert_eq!(read.unwrap().unwrap().len(), 300_000);
        drop(held);
        assert_eq!(share.used(), 0);
        assert_eq!(budget.used().load(Ordering::Relaxed), 0);
    }

    #[test]
    fn all_addresses_together_hold_at_most_the_total() {
        let budget = RequestBudget::new(1 << 20, 1 << 20);
        let first = budget.share(host(1));
        let mut stalled = Stalled {
            bytes: Cursor::new(vec![0; 900_000]),
        };
        let mut read = Box::pin(read_frame(&mut stalled, 8 << 20, &first));
        let waker = futures::task::noop_waker();
        assert!(
            read.as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending()
        );
        let second = budget.share(host(2));
        let refused = block_on(read_frame(
            &mut Cursor::new(vec![0; 300_000]),
            8 << 20,
            &second,
        ));
        let refusal = refused.unwrap().unwrap_err();
        assert_eq!(refusal.code, "unavailable");
        assert_eq!(second.used(), 0);
        drop(read);
        assert_eq!(budget.used().load(Ordering::Relaxed), 0);
    }

    #[test]
    fn connections_of_one_address_share_one_share_until_none_holds_it() {
        let budget = RequestBudget::new(1 << 20, 4 << 20);
        let a = budget.share(host(1));
        let b = budget.share(host(1));
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &budget.share(host(2))));
        drop((a, b));
        for n in 0..200 {
            drop(budget.share(host(n)));
        }
        let live = budget.shares.lock().unwrap().by_holder.len();
        assert!(live < 200, "shares nobody holds are swept: {live}");
    }
}
