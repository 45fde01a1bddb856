//! Reading: subscriptions (optionally preceded by the newest stored events) and resends of stored
//! history, page after page, every event verified and checked to belong to the part asked for.

use rivulet_network::{
    HistoryQuery,
    light::{LightRequest, LightResponse},
};
use rivulet_protocol::{StreamMessage, StreamPartId, Verifier};

use crate::{
    client::{Client, unexpected},
    error::ClientError,
    subscription::Subscription,
};

/// Most pages one resend follows before it gives up on a node whose answer does not end: 2,500,000 events
/// in today's nodes' pages of 500.
const MAX_RESEND_PAGES: usize = 5_000;
/// Publishers whose public keys one resend remembers.
const RESEND_PUBLISHERS: usize = 256;

impl Client {
    /// Subscribes to a stream part; with `last`, the newest `last` stored events come first.
    pub async fn subscribe(
        &self,
        part: &StreamPartId,
        last: Option<u32>,
    ) -> Result<Subscription, ClientError> {
        // Keys saved by earlier runs decrypt what arrives.
        self.keys_ready().await;
        let (id, deliveries) = self.open_subscription(part, true).await?;
        let mut subscription = Subscription::new(part.clone(), id, self.clone(), deliveries);
        if let Some(n) = last.filter(|n| *n > 0) {
            let history = self.resend(part, HistoryQuery::Last { n }).await?;
            subscription.preload(history);
        }
        Ok(subscription)
    }

    /// Stored events of a stream part, verified, oldest first. Long answers come in pages (of at most
    /// [`HISTORY_PAGE_BYTES`](rivulet_network::HISTORY_PAGE_BYTES)), asked for one after another.
    pub async fn resend(
        &self,
        part: &StreamPartId,
        query: HistoryQuery,
    ) -> Result<Vec<StreamMessage>, ClientError> {
        let mut events = Vec::new();
        // A part's history comes from few publishers: each key is recovered once, then verified with.
        let mut verifier = Verifier::new(RESEND_PUBLISHERS);
        let mut next = Some(query);
        let mut pages = 0;
        while let Some(query) = next.take() {
            // A node's pages must end: the largest window a node answers, a `Last` of 1,000,000
            // events, is 2,000 pages of 500.
            pages += 1;
            if pages > MAX_RESEND_PAGES {
                return Err(ClientError::Unverifiable(format!(
                    "the node's answer did not end after {MAX_RESEND_PAGES} pages"
                )));
            }
            let response = self
                .request(LightRequest::Resend {
                    part: part.to_string(),
                    query,
                })
                .await?;
            let LightResponse::Messages {
                messages,
                next: rest,
            } = response
            else {
                return Err(unexpected(response));
            };
            // A node must make progress: an empty page that asks for more is a broken answer.
            if messages.is_empty() && rest.is_some() {
                return Err(ClientError::Unverifiable(
                    "the node answered an empty page with more to come".into(),
                ));
            }
            events.extend(self.verified_page(part, &messages, &mut verifier)?);
            next = rest;
        }
        Ok(events)
    }

    /// A page of resent wire messages, each verified and checked to belong to `part`.
    fn verified_page(
        &self,
        part: &StreamPartId,
        messages: &[impl AsRef<[u8]>],
        verifier: &mut Verifier,
    ) -> Result<Vec<StreamMessage>, ClientError> {
        messages
            .iter()
            .map(|wire| {
                let m = verifier.decode_verified(wire.as_ref(), &self.inner.limits)?;
                if m.id().stream_part() == *part {
                    Ok(m)
                } else {
                    Err(ClientError::Unverifiable(format!(
                        "the node answered with an event of {}",
                        m.id().stream_part()
                    )))
                }
            })
            .collect()
    }
}
