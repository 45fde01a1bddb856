//! Quorum acknowledgements (Kafka's `acks=all`, by majority): a publish that asks for them is answered
//! only once a majority of the stream part's assigned replicas hold the event on disk. The entry node
//! counts itself when it is a replica and stored the event; it hands the event to the other replicas
//! over `/rivulet/store/1.0.0` and waits for their answers (`PROTOCOL.md`, "Quorum acknowledgements").

use std::time::Duration;

use futures::{StreamExt, stream::FuturesUnordered};
use rivulet_network::libp2p::PeerId;
pub(crate) use rivulet_network::replica::Acks;
use rivulet_protocol::{Address, StreamPartId};
use tokio::sync::{mpsc, oneshot};

use super::{
    commands::{Command, Published},
    coordination::Coordination,
};

/// How long a publish waits for its quorum.
pub(crate) const QUORUM_WAIT: Duration = Duration::from_secs(10);

/// Why a quorum was not reached.
#[derive(Debug, thiserror::Error)]
pub(crate) enum QuorumError {
    /// The node does not follow a network coordinator: it knows no replicas.
    #[error(
        "quorum acknowledgements need the network coordinator, which this node does not follow"
    )]
    NoCoordinator,
    /// The network does not store the part.
    #[error("the network does not store {0}: nobody to acknowledge it")]
    NotStored(String),
    /// Too few replicas answered in time.
    #[error(
        "{have} of the {need} replicas needed for {part} have the event on disk after {}s ({})",
        QUORUM_WAIT.as_secs(),
        failures.join("; ")
    )]
    Unavailable {
        /// The part.
        part: StreamPartId,
        /// Replicas that have it.
        have: usize,
        /// A majority of the assigned replicas.
        need: usize,
        /// What the others said.
        failures: Vec<String>,
    },
}

impl QuorumError {
    /// The stable code clients see.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            QuorumError::NoCoordinator => "bad_request",
            QuorumError::NotStored(_) => "not_stored",
            QuorumError::Unavailable { .. } => "quorum_unavailable",
        }
    }
}

/// What waiting for a quorum needs of the node. Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct Quorum {
    pub(crate) coordination: Coordination,
    pub(crate) commands: mpsc::Sender<Command>,
    /// This node's account (how the coordinator knows it).
    pub(crate) account: Address,
    /// This node's peer id.
    pub(crate) peer: PeerId,
}

impl Quorum {
    /// [`Quorum::confirm`] for an accepted publish, its answer saying how many replicas have it.
    pub(crate) async fn confirm_published(
        &self,
        wire: Vec<u8>,
        published: Published,
    ) -> Result<Published, QuorumError> {
        let part: StreamPartId = published
            .part
            .parse()
            .map_err(|_| QuorumError::NotStored(published.part.clone()))?;
        let replicas = self.confirm(&part, wire, &published).await?;
        Ok(Published {
            replicas: Some(replicas),
            ..published
        })
    }

    /// After this node accepted `wire` (`local`), waits until a majority of `part`'s replicas hold it
    /// durably; returns how many do.
    pub(crate) async fn confirm(
        &self,
        part: &StreamPartId,
        wire: Vec<u8>,
        local: &Published,
    ) -> Result<usize, QuorumError> {
        let snapshot = self
            .coordination
            .snapshot()
            .ok_or(QuorumError::NoCoordinator)?;
        let replicas = snapshot.replicas(part);
        if replicas.is_empty() {
            return Err(QuorumError::NotStored(part.to_string()));
        }
        let need = replicas.len() / 2 + 1;
        let mut have = usize::from(replicas.contains(&self.account) && local.stored);
        if have >= need {
            return Ok(have);
        }
        let mut answers: FuturesUnordered<_> = snapshot
            .replica_peers(part, &self.peer)
            .into_iter()
            .map(|(peer, addresses)| {
                let commands = self.commands.clone();
                let wire = wire.clone();
                async move {
                    let (reply, answer) = oneshot::channel();
                    let sent = commands
                        .send(Command::ReplicaStore {
                            peer,
                            addresses,
                            wire,
                            reply,
                        })
                        .await;
                    let result = match sent {
                        Ok(()) => answer
                            .await
                            .unwrap_or_else(|_| Err("the node is stopping".to_owned())),
                        Err(_) => Err("the node is stopping".to_owned()),
                    };
                    (peer, result)
                }
            })
            .collect();
        let mut failures = Vec::new();
        let deadline = tokio::time::sleep(QUORUM_WAIT);
        tokio::pin!(deadline);
        while have < need {
            tokio::select! {
                next = answers.next() => match next {
                    Some((_, Ok(()))) => have += 1,
                    Some((peer, Err(e))) => failures.push(format!("{peer}: {e}")),
                    None => break,
                },
                () = &mut deadline => {
                    failures.push(format!("{} did not answer", answers.len()));
                    break;
                }
            }
        }
        if have >= need {
            Ok(have)
        } else {
            Err(QuorumError::Unavailable {
                part: part.clone(),
                have,
                need,
                failures,
            })
        }
    }
}
