//! What a WebSocket session sends, and how fast it may be sent to: the [`Outbox`] (a writer task, so a
//! slow reader never holds up its session or the node), and the close frame for a message the node
//! cannot read.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures::{SinkExt, stream::SplitSink};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::api::error::error_frame;

/// Bytes of frames a session lets wait for a slow reader before it drops events.
pub(super) const WS_QUEUE_BYTES: usize = 16 * 1024 * 1024;

/// Frames a writer takes from its queue at once (then one flush).
const WRITE_BATCH: usize = 256;

/// The frames a session sends. A task of their own writes them to the socket, so the session never waits
/// on a slow reader: events beyond [`WS_QUEUE_BYTES`] waiting are dropped and counted, and the client is
/// told how many (`lagged`) once it has caught up; answers, notices and close frames always go.
pub(super) struct Outbox {
    frames: mpsc::UnboundedSender<Message>,
    /// Bytes sent to the writer and not yet written.
    queued: Arc<AtomicUsize>,
    /// Events dropped since the last `lagged` notice.
    dropped: u64,
}

impl Outbox {
    pub(super) fn new() -> (Outbox, mpsc::UnboundedReceiver<Message>) {
        let (frames, receiver) = mpsc::unbounded_channel();
        let outbox = Outbox {
            frames,
            queued: Arc::default(),
            dropped: 0,
        };
        (outbox, receiver)
    }

    /// Writes the frames to `sink` until the outbox is dropped or a close frame went; then closes (which
    /// also answers a client's close).
    pub(super) fn writer(
        &self,
        mut sink: SplitSink<WebSocket, Message>,
        mut frames: mpsc::UnboundedReceiver<Message>,
    ) -> tokio::task::JoinHandle<()> {
        let queued = self.queued.clone();
        tokio::spawn(async move {
            // Whatever waits is written together and flushed once: one write for a burst of events,
            // not one per event.
            let mut batch = Vec::with_capacity(WRITE_BATCH);
            'write: while frames.recv_many(&mut batch, WRITE_BATCH).await > 0 {
                let mut len = 0;
                let mut closing = false;
                for frame in batch.drain(..) {
                    len += text_len(&frame);
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
        self.queued.fetch_add(text_len(&frame), Ordering::AcqRel);
        self.frames.send(frame).is_ok()
    }

    /// Sends a JSON frame that must go.
    pub(super) fn send_json(&self, frame: &Value) -> bool {
        self.send(Message::Text(frame.to_string().into()))
    }

    /// Sends an event frame, unless [`WS_QUEUE_BYTES`] are already waiting: then it is dropped and
    /// counted. False when the connection is gone.
    pub(super) fn send_event(&mut self, frame: Utf8Bytes) -> bool {
        let queued = self.queued.load(Ordering::Acquire);
        if self.dropped > 0 && queued <= WS_QUEUE_BYTES / 2 {
            let notice = error_frame(
                &None,
                "lagged",
                format!(
                    "{} events dropped: this connection reads too slowly",
                    self.dropped
                ),
            );
            self.dropped = 0;
            if !self.send_json(&notice) {
                return false;
            }
        }
        if queued > 0 && queued + frame.len() > WS_QUEUE_BYTES {
            self.dropped += 1;
            return true;
        }
        self.send(Message::Text(frame))
    }
}

fn text_len(frame: &Message) -> usize {
    match frame {
        Message::Text(text) => text.as_str().len(),
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

    use super::*;

    fn text(frame: Message) -> String {
        match frame {
            Message::Text(t) => t.as_str().to_owned(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_slow_reader_loses_events_beyond_the_bound_and_is_told_how_many() {
        let (mut outbox, mut written) = Outbox::new();
        let event = "x".repeat(1 << 20);
        let fit = WS_QUEUE_BYTES >> 20;
        // Nothing is written meanwhile: events beyond the bound are dropped, answers still go.
        for _ in 0..fit + 5 {
            assert!(outbox.send_event(event.clone().into()));
        }
        assert!(outbox.send_json(&serde_json::json!({ "type": "published" })));
        assert_eq!(outbox.dropped, 5);
        let mut queued = Vec::new();
        while let Ok(frame) = written.try_recv() {
            queued.push(text(frame));
        }
        assert_eq!(queued.len(), fit + 1);
        assert!(queued[fit].contains("published"));
        // The writer catches up: the next event is preceded by the count of what was lost.
        outbox.queued.store(0, Ordering::Release);
        assert!(outbox.send_event("{}".into()));
        let notice: Value = serde_json::from_str(&text(written.try_recv().unwrap())).unwrap();
        assert_eq!(notice["error"], "lagged");
        assert!(
            notice["message"]
                .as_str()
                .unwrap()
                .starts_with("5 events dropped"),
            "{notice}"
        );
        assert_eq!(text(written.try_recv().unwrap()), "{}");
        assert_eq!(outbox.dropped, 0);
        // A connection that is gone says so.
        drop(written);
        assert!(!outbox.send_event("{}".into()));
    }
}
