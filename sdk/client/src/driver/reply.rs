//! Who waits for a request's answer, and how each is answered (a batch of publishes: one answer each).

use futures::channel::oneshot;
use rivulet_network::light::{LightResponse, PublishResult};
use rivulet_protocol::StreamPartId;

use crate::error::ClientError;

/// Who waits for a request's answer.
pub(super) enum Reply {
    User(oneshot::Sender<Result<LightResponse, ClientError>>),
    /// A (key service's or reader's) subscription: on refusal only that sink goes.
    Subscribe(StreamPartId, u64, oneshot::Sender<Result<(), ClientError>>),
    /// A re-subscription after a reconnect.
    Resubscribe(StreamPartId),
    /// An unsubscribe nobody waits for.
    Nobody,
    /// A batch of publishes: one answer each, in order.
    Batch(Vec<oneshot::Sender<Result<LightResponse, ClientError>>>),
}

pub(super) fn answer(reply: Reply, result: Result<LightResponse, ClientError>) {
    match reply {
        Reply::User(tx) => {
            let _ = tx.send(result);
        }
        Reply::Subscribe(_, _, tx) => {
            let _ = tx.send(result.and_then(|r| match r {
                LightResponse::Error { code, message } => {
                    Err(ClientError::Refused { code, message })
                }
                _ => Ok(()),
            }));
        }
        Reply::Batch(replies) => answer_batch(replies, result),
        Reply::Resubscribe(_) | Reply::Nobody => {}
    }
}

/// Answers each publish of a batch with its own result.
fn answer_batch(
    replies: Vec<futures::channel::oneshot::Sender<Result<LightResponse, ClientError>>>,
    result: Result<LightResponse, ClientError>,
) {
    match result {
        Ok(LightResponse::PublishedBatch { results }) if results.len() == replies.len() => {
            for (reply, result) in replies.into_iter().zip(results) {
                let response = match result {
                    PublishResult::Published { duplicate, stored } => LightResponse::Published {
                        duplicate,
                        stored,
                        replicas: None,
                    },
                    PublishResult::Error { code, message } => {
                        LightResponse::Error { code, message }
                    }
                };
                let _ = reply.send(Ok(response));
            }
        }
        Ok(LightResponse::PublishedBatch { results }) => {
            let message = format!(
                "the node answered {} results for a batch of {}",
                results.len(),
                replies.len()
            );
            for reply in replies {
                let _ = reply.send(Ok(LightResponse::error("protocol", message.clone())));
            }
        }
        Ok(other) => {
            for reply in replies {
                let _ = reply.send(Ok(other.clone()));
            }
        }
        Err(e) => {
            let message = e.to_string();
            for reply in replies {
                let _ = reply.send(Err(match &e {
                    ClientError::Destroyed => ClientError::Destroyed,
                    _ => ClientError::NotConnected(message.clone()),
                }));
            }
        }
    }
}
