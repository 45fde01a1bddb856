//! What can go wrong in the client, with a stable code per kind for other languages' bindings. Errors
//! that come from elsewhere (the protocol core, JSON) keep their source.

use rivulet_protocol::{IdError, PartitionError, PublishError, SignatureError, VerifyError};

/// A client operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// An argument is malformed (a stream id, a key, an option).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The private key is not a secp256k1 key.
    #[error("invalid argument: private key: {0}")]
    PrivateKey(#[source] SignatureError),
    /// An id (chain id, group key id) is malformed.
    #[error("invalid argument: {0}")]
    Id(#[from] IdError),
    /// A partition (or partition count) is out of range.
    #[error("invalid argument: {0}")]
    Partition(#[from] PartitionError),
    /// An event could not be built: its content could not be encrypted or it could not be signed.
    #[error("invalid argument: {0}")]
    Publish(#[from] PublishError),
    /// A JSON document the client writes (a key request or response) could not be made.
    #[error("cannot encode {what} as JSON: {source}")]
    Json {
        /// What was being encoded.
        what: &'static str,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// No entry node could be reached in time.
    #[error("not connected to any entry node: {0}")]
    NotConnected(String),
    /// The entry node refused the request; `code` is the node's (`no_permission`, `bad_signature`,
    /// `bad_request`, `not_stored`, `unavailable`, ...).
    #[error("{message}")]
    Refused {
        /// The node's code.
        code: String,
        /// What and why.
        message: String,
    },
    /// A message from the network failed verification.
    #[error("unverifiable message: {0}")]
    Unverifiable(String),
    /// A message from the network failed verification, with the protocol core's reason.
    #[error("unverifiable message: {0}")]
    Verify(#[from] VerifyError),
    /// The chain could not be used (what the chain crate reported).
    #[error("{0}")]
    Chain(String),
    /// The operation needs chain access and the client has none configured.
    #[error("{0} needs chain access: configure the deployment and an RPC URL")]
    NoChain(&'static str),
    /// The key vault could not load or save the client's group keys.
    #[error("key vault: {0}")]
    Vault(String),
    /// The client was shut down.
    #[error("the client was destroyed")]
    Destroyed,
}

impl ClientError {
    /// A stable upper-case code: `INVALID_ARGUMENT`, `NOT_CONNECTED`, `UNVERIFIABLE`, `CHAIN`,
    /// `NO_CHAIN`, `KEY_VAULT`, `DESTROYED`, or the node's code in upper case (`NO_PERMISSION`, `BAD_SIGNATURE`, ...).
    pub fn code(&self) -> String {
        match self {
            ClientError::InvalidArgument(_)
            | ClientError::PrivateKey(_)
            | ClientError::Id(_)
            | ClientError::Partition(_)
            | ClientError::Publish(_)
            | ClientError::Json { .. } => "INVALID_ARGUMENT".into(),
            ClientError::NotConnected(_) => "NOT_CONNECTED".into(),
            ClientError::Refused { code, .. } => code.to_ascii_uppercase(),
            ClientError::Unverifiable(_) | ClientError::Verify(_) => "UNVERIFIABLE".into(),
            ClientError::Chain(_) => "CHAIN".into(),
            ClientError::Vault(_) => "KEY_VAULT".into(),
            ClientError::NoChain(_) => "NO_CHAIN".into(),
            ClientError::Destroyed => "DESTROYED".into(),
        }
    }

    /// A JSON encoding failure of `what`.
    pub(crate) fn json(what: &'static str) -> impl FnOnce(serde_json::Error) -> ClientError {
        move |source| ClientError::Json { what, source }
    }
}
