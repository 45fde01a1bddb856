//! What can go wrong in the client, with a stable code per kind for other languages' bindings.

/// A client operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// An argument is malformed (a stream id, a key, an option).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// No entry node could be reached in time.
    #[error("not connected to any entry node: {0}")]
    NotConnected(String),
    /// The entry node refused the request; `code` is the node's (`permission_denied`, `invalid_signature`,
    /// `bad_request`, `not_found`, `unavailable`, ...).
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
    /// The chain could not be used (what the chain crate reported).
    #[error("{0}")]
    Chain(String),
    /// The operation needs chain access and the client has none configured.
    #[error("{0} needs chain access: configure the deployment and an RPC URL")]
    NoChain(&'static str),
    /// The client was shut down.
    #[error("the client was destroyed")]
    Destroyed,
}

impl ClientError {
    /// A stable upper-case code: `INVALID_ARGUMENT`, `NOT_CONNECTED`, `PERMISSION_DENIED`,
    /// `INVALID_SIGNATURE`, `REFUSED`, `UNVERIFIABLE`, `CHAIN`, `NO_CHAIN`, `DESTROYED`, or the node's
    /// code in upper case.
    pub fn code(&self) -> String {
        match self {
            ClientError::InvalidArgument(_) => "INVALID_ARGUMENT".into(),
            ClientError::NotConnected(_) => "NOT_CONNECTED".into(),
            ClientError::Refused { code, .. } => code.to_ascii_uppercase(),
            ClientError::Unverifiable(_) => "UNVERIFIABLE".into(),
            ClientError::Chain(_) => "CHAIN".into(),
            ClientError::NoChain(_) => "NO_CHAIN".into(),
            ClientError::Destroyed => "DESTROYED".into(),
        }
    }
}
