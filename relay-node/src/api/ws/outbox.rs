//! What a WebSocket session sends, and how fast it may be sent to: the [`Outbox`] (a writer task, so a
//! slow reader never holds up its session or the node), and the close frame for a message the node
//! cannot read.

use std::sync::{
    Arc,
    atomic::{AtomicU64, AtomicUsize, Ordering},
};

use axum::extract::ws::{CloseFrame, Message};
use futures::{Sink, SinkExt};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::api::error::error_frame;

/// Bytes of frames a session lets wait for a slow reader before it drops events.
pub(super) const WS_QUEUE_BYTES: usize = 16 * 1024 * 1024;

/// Frames a writer takes from its queue at once (then one flush).
const WRITE_BATCH: usize = 256;

/// What goes to the writer: a frame, or the place where events began to be dropped.
pub(super) enum Out {
    Frame(Message),
    /// Events were dropped here: the writer tells the client how many (`lagged`) when it gets here —
    /// where the gap is, and even if no event ever follows.
    Dropped,
}

/// The frames a session sends. A task of their own writes them to the socket, so the session never waits
/// on a slow reader: events beyond [`WS_QUEUE_BYTES`] waiting are dropped and counted, and the client is
/// told how many (`lagged`) in the stream where they are missing; answers, notices and close frames always
/// go.
pub(super) struct Outbox {
    frames: mpsc::UnboundedSender<Out>,
    /// Bytes sent to the writer and not yet written.
    queued: Arc<AtomicUsize>,
    /// Events dropped that the client has not been told about yet.
    dropped: Arc<AtomicU64>,
}

impl Outbox {
    pub(super) fn new() -> (Outbox, mpsc::UnboundedReceiver<Out>) {
        let (frames, receiver) = mpsc::unbounded_channel();
        let outbox = Outbox {
            frames,
            queued: Arc::default(),
            dropped: Arc::default(),
        };
        (outbox, receiver)
    }

    /// Writes the frames to `sink` until the outbox is dropped or a close frame went; then closes (which
    /// also answers a client's close).
    pub(super) fn writer<S>(
        &self,
        mut sink: S,
        mut frames: mpsc::UnboundedReceiver<Out>,
    ) -> tokio::task::JoinHandle<()>
    where
        S: Sink<Message> + Unpin + Send + 'static,
    {
        let queued = self.queued.clone();
        let dropped = self.dropped.clone();
        tokio::spawn(async move {
            // Whatever waits is written together and flushed once: one write for a burst of events,
            // not one per event.
            let mut batch = Vec::with_capacity(WRITE_BATCH);
            'write: while frames.recv_many(&mut batch, WRITE_BATCH).await > 0 {
                let mut len = 0;
                let mut closing = false;
                for out in batch.drain(..) {
                    let frame = match out {
                        Out::Frame(frame) => {
                            len += frame_len(&frame);
                            frame
                        }
                        // (Not counted in `queued`: it never was.)
                        Out::Dropped => match dropped.swap(0, Ordering::AcqRel) {
                            0 => continue,
                            n => lagged_notice(n),
                        },
                    };
                    closing = matches!(frame, Message::Close(_));
                    if sink.feed(frame).await.is_err() {
                        break 'write;
                    }
                    if closing {
                        break;
                    }
                }
                let flushed = sink.flush().await.is_ok();
                queued.fetch_sub(len, Ordering::AcqRel);
                if !flushed || closing {
                    break;
                }
            }
            let _ = sink.close().await;
        })
    }

    /// Sends a frame that must go; false when the connection is gone.
    pub(super) fn send(&self, frame: Message) -> bool {
        self.queued.fetch_add(frame_len(&frame), Ordering::AcqRel);
        self.frames.send(Out::Frame(frame)).is_ok()
    }

    /// Sends a JSON frame that must go.
    pub(super) fn send_json(&self, frame: &Value) -> bool {
        self.send(Message::Text(frame.to_string().into()))
    }

    /// Sends an event frame, unless [`WS_QUEUE_BYTES`] are already waiting: then it is dropped and
    /// counted (the first of a run of drops marks its place for the notice). False when the connection
    /// is gone.
    pub(super) fn send_event(&self, frame: Message) -> bool {
        let queued = self.queued.load(Ordering::Acquire);
        if queued > 0 && queued + frame_len(&frame) > WS_QUEUE_BYTES {
            if self.dropped.fetch_add(1, Ordering::AcqRel) == 0 {
                return self.frames.send(Out::Dropped).is_ok();
            }
            return true;
        }
        self.send(frame)
    }
}

/// The notice that `n` events were dropped for a slow reader.
fn lagged_notice(n: u64) -> Message {
    Message::Text(lagged(n).to_string().into())
}

/// The `lagged` notice: `n` events this connection did not get because it reads too slowly (dropped
/// here, or overtaken on the node's channel).
pub(super) fn lagged(n: u64) -> Value {
    error_frame(
        &None,
        "lagged",
        format!("{n} events dropped: this connection reads too slowly"),
    )
}

/// The bytes of an event or answer frame (what [`WS_QUEUE_BYTES`] counts).
fn frame_len(frame: &Message) -> usize {
    match frame {
        Message::Text(text) => text.as_str().len(),
        Message::Binary(bytes) => bytes.len(),
        _ => 0,
    }
}

/// The close frame for a connection whose next frame could not be read: 1009 for a message over the
/// limit, 1007 for text that is not UTF-8, 1002 for other protocol violations; none when the connection
/// is already gone.
pub(super) fn read_error_close(error: axum::Error, max_content: usize) -> Option<CloseFrame> {
    use tokio_tungstenite::tungstenite::Error;
    let inner = error.into_inner();
    let (code, mut reason) = match inner.downcast_ref::<Error>()? {
        Error::Capacity(e) => (
            1009,
            format!("{e}; an event carries at most {max_content} bytes of content"),
        ),
        Error::Utf8(_) => (1007, "a text frame that is not UTF-8".to_owned()),
        Error::Protocol(e) => (1002, e.to_string()),
        _ => return None,
    };
    // A close frame's reason has room for 123 bytes.
    while reason.len() > 123 {
        reason.pop();
    }
    Some(CloseFrame {
        code,
        reason: reason.into(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use futures::StreamExt;

    use super::*;

    fn text(frame: Message) -> String {
        match frame {
            Message::Text(t) => t.as_str().to_owned(),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_slow_reader_is_told_how_many_events_it_lost_where_they_are_missing() {
        let (outbox, frames) = Outbox::new();
        let event = "x".repeat(1 << 20);
        let fit = WS_QUEUE_BYTES >> 20;
        // Nothing is written yet: events beyond the bound are dropped, answers still go.
        for _ in 0..fit + 5 {
            assert!(outbox.send_event(Message::Text(event.clone().into())));
        }
        assert!(outbox.send_json(&serde_json::json!({ "type": "published" })));
        assert_eq!(outbox.dropped.load(Ordering::Acquire), 5);
        // The writer catches up: the notice comes where the events are missing — and with no event
        // after it (the run of drops may be the last thing the connection ever gets).
        let (sink, mut written) = futures::channel::mpsc::unbounded::<Message>();
        let writer = outbox.writer(sink, frames);
        for _ in 0..fit {
            assert_eq!(text(written.next().await.unwrap()).len(), 1 << 20);
        }
        let notice: Value = serde_json::from_str(&text(written.next().await.unwrap())).unwrap();
        assert_eq!(notice["error"], "lagged");
        assert!(
            notice["message"]
                .as_str()
                .unwrap()
                .starts_with("5 events dropped"),
            "{notice}"
        );
        assert!(text(written.next().await.unwrap()).contains("published"));
        // Caught up: the next event goes, and no notice with it.
        assert!(outbox.send_event(Message::Text("{}".into())));
        assert_eq!(text(written.next().await.unwrap()), "{}");
        assert_eq!(outbox.dropped.load(Ordering::Acquire), 0);
        assert_eq!(outbox.queued.load(Ordering::Acquire), 0);
        // A connection that is gone says so: the writer stops at its next frame, and then sending
        // fails.
        drop(written);
        outbox.send_event(Message::Text("{}".into()));
        writer.await.unwrap();
        assert!(!outbox.send_event(Message::Text("{}".into())));
    }
}
