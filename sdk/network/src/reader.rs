//! Who reads: the proofs a reader gives its entry node, and that the entry node forwards when it asks
//! another node for history on the reader's behalf. Each proof is an EIP-191 signature (what any wallet
//! or ethers' `signMessage` makes) of a text that names the entry node, so a node can only forward the
//! proofs its own readers gave it; the answering node rebuilds the text with the requesting peer as the
//! entry node and recovers the reader's address itself.
//!
//! The texts, byte for byte (`\n` is a line feed; pinned by tests):
//! - light session: [`session_text`] (`Rivulet light session\nnode: <entry>\nclient: <client>`), with,
//!   for a session key, the account's [`authorisation_text`];
//! - WebSocket sign-in: [`challenge_text`] (`Sign in to Rivulet node <entry>\nnonce: <hex>`);
//! - HTTP access token: [`token_text`] (`Rivulet read access\nnode: <entry>\naddress: <0x…>\nexpires: <unix s>\nnonce: <hex>`).

use libp2p::PeerId;
pub use rivulet_protocol::key_exchange::authorisation_text;
use rivulet_protocol::{Address, Signature, signing::recover_personal};
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

/// The text a client signs to sign in on `node` from the libp2p peer `client`.
pub fn session_text(node: &PeerId, client: &PeerId) -> String {
    format!("Rivulet light session\nnode: {node}\nclient: {client}")
}

/// The text a WebSocket client signs to sign in on `node`, with the node's `nonce`.
pub fn challenge_text(node: &PeerId, nonce: &str) -> String {
    format!("Sign in to Rivulet node {node}\nnonce: {nonce}")
}

/// The text an HTTP client signs for an access token on `node` for `address` (checksummed), valid until
/// `expires` (Unix seconds, by the chain's clock), with the node's `nonce`.
pub fn token_text(node: &PeerId, address: &str, expires: u64, nonce: &str) -> String {
    format!(
        "Rivulet read access\nnode: {node}\naddress: {address}\nexpires: {expires}\nnonce: {nonce}"
    )
}

/// An account's authorisation of a light client's session key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountProof {
    /// The account, `0x…`.
    pub account: String,
    /// Until when, Unix seconds.
    pub expires: u64,
    /// The account's signature of [`authorisation_text`].
    pub signature: ByteBuf,
}

/// A reader's proof of its address, as its entry node got it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReaderProof {
    /// A light client's session sign-in.
    Session {
        /// The client's libp2p peer id.
        client: String,
        /// The session key's address, `0x…`.
        address: String,
        /// Its signature of [`session_text`]`(entry, client)`.
        signature: ByteBuf,
        /// The account it reads for, if any.
        account: Option<AccountProof>,
    },
    /// A WebSocket client's signed challenge.
    Challenge {
        /// The entry node's nonce, hex.
        nonce: String,
        /// The client's address, `0x…`.
        address: String,
        /// Its signature of [`challenge_text`]`(entry, nonce)`.
        signature: ByteBuf,
    },
    /// An HTTP access token.
    Token {
        /// The reader's address, `0x…`.
        address: String,
        /// Until when the token holds, Unix seconds.
        expires: u64,
        /// The entry node's nonce, hex.
        nonce: String,
        /// The reader's signature of [`token_text`].
        signature: ByteBuf,
    },
}

/// Why a reader proof does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// A field is not what it should be (an address, a peer id, a signature's length).
    #[error("malformed reader proof: {0}")]
    Malformed(String),
    /// The signature was made by someone other than the address claimed.
    #[error("the reader proof was signed by {signer}, not {claimed}")]
    WrongSigner {
        /// The address claimed.
        claimed: Address,
        /// Who signed.
        signer: Address,
    },
    /// The signature does not recover.
    #[error("the reader proof's signature does not hold: {0}")]
    Signature(String),
    /// The proof (a token, or an account's authorisation) has expired.
    #[error("the reader proof expired at {0} (Unix seconds)")]
    Expired(u64),
}

impl ReaderProof {
    /// The address this proof shows reading through `entry` (the node that forwards it) at `now_secs`,
    /// by the chain's clock: the account for an authorised session key.
    pub fn reader(&self, entry: &PeerId, now_secs: u64) -> Result<Address, ProofError> {
        match self {
            ReaderProof::Session {
                client,
                address,
                signature,
                account,
            } => {
                let client: PeerId = client
                    .parse()
                    .map_err(|_| ProofError::Malformed(format!("{client:?} is not a peer id")))?;
                let key = signed_by(address, &session_text(entry, &client), signature)?;
                match account {
                    None => Ok(key),
                    Some(a) => {
                        let text = authorisation_text(
                            &parse(&a.account)?.to_checksum(),
                            &key.to_checksum(),
                            a.expires,
                        );
                        let account = signed_by(&a.account, &text, &a.signature)?;
                        if a.expires <= now_secs {
                            return Err(ProofError::Expired(a.expires));
                        }
                        Ok(account)
                    }
                }
            }
            ReaderProof::Challenge {
                nonce,
                address,
                signature,
            } => signed_by(address, &challenge_text(entry, nonce), signature),
            ReaderProof::Token {
                address,
                expires,
                nonce,
                signature,
            } => {
                let text = token_text(entry, &parse(address)?.to_checksum(), *expires, nonce);
                let reader = signed_by(address, &text, signature)?;
                if *expires <= now_secs {
                    return Err(ProofError::Expired(*expires));
                }
                Ok(reader)
            }
        }
    }
}

fn parse(address: &str) -> Result<Address, ProofError> {
    address
        .parse()
        .map_err(|_| ProofError::Malformed(format!("{address:?} is not an address")))
}

/// The address that signed `text`, if it is `claimed`.
fn signed_by(claimed: &str, text: &str, signature: &[u8]) -> Result<Address, ProofError> {
    let claimed = parse(claimed)?;
    let signature = <[u8; 65]>::try_from(signature)
        .map_err(|_| ProofError::Malformed("a signature is 65 bytes".into()))?;
    match recover_personal(text.as_bytes(), &Signature(signature)) {
        Ok(signer) if signer == claimed => Ok(claimed),
        Ok(signer) => Err(ProofError::WrongSigner { claimed, signer }),
        Err(e) => Err(ProofError::Signature(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use rivulet_protocol::Signer;

    use super::*;

    fn sign(signer: &Signer, text: &str) -> ByteBuf {
        ByteBuf::from(signer.sign_personal(text.as_bytes()).0.to_vec())
    }

    /// Pinned: clients (wallets, curl scripts) sign these texts, and nodes rebuild them byte for byte.
    #[test]
    fn text_vectors() {
        let node: PeerId = "12D3KooWRBhwfeP2Y9CDkFRBAZ1pmxUadH36TBuECnQUvoEAVdVb"
            .parse()
            .unwrap();
        assert_eq!(
            challenge_text(&node, "00ff"),
            "Sign in to Rivulet node 12D3KooWRBhwfeP2Y9CDkFRBAZ1pmxUadH36TBuECnQUvoEAVdVb\nnonce: 00ff"
        );
        assert_eq!(
            token_text(
                &node,
                "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
                1_800_000_000,
                "ab12"
            ),
            "Rivulet read access\nnode: 12D3KooWRBhwfeP2Y9CDkFRBAZ1pmxUadH36TBuECnQUvoEAVdVb\n\
             address: 0x70997970C51812dc3A010C7d01b50e0d17dc79C8\nexpires: 1800000000\nnonce: ab12"
        );
    }

    #[test]
    fn a_proof_holds_only_through_the_node_it_was_given_to_and_until_it_expires() {
        let reader = Signer::from_bytes(&[3; 32]).unwrap();
        let (entry, other, client) = (PeerId::random(), PeerId::random(), PeerId::random());
        let address = reader.address().to_checksum();
        let token = ReaderProof::Token {
            address: address.clone(),
            expires: 1_000,
            nonce: "aa".into(),
            signature: sign(&reader, &token_text(&entry, &address, 1_000, "aa")),
        };
        assert_eq!(token.reader(&entry, 999).unwrap(), reader.address());
        assert_eq!(token.reader(&entry, 1_000), Err(ProofError::Expired(1_000)));
        assert!(matches!(
            token.reader(&other, 999),
            Err(ProofError::WrongSigner { .. })
        ));
        let challenge = ReaderProof::Challenge {
            nonce: "01".into(),
            address: address.clone(),
            signature: sign(&reader, &challenge_text(&entry, "01")),
        };
        assert_eq!(challenge.reader(&entry, 0).unwrap(), reader.address());
        assert!(challenge.reader(&other, 0).is_err());
        // A session key reading for an account, until the account's authorisation ends.
        let key = Signer::from_bytes(&[4; 32]).unwrap();
        let key_address = key.address().to_checksum();
        let text = authorisation_text(&address, &key_address, 500);
        let session = ReaderProof::Session {
            client: client.to_string(),
            address: key_address.clone(),
            signature: sign(&key, &session_text(&entry, &client)),
            account: Some(AccountProof {
                account: address.clone(),
                expires: 500,
                signature: sign(&reader, &text),
            }),
        };
        assert_eq!(session.reader(&entry, 499).unwrap(), reader.address());
        assert_eq!(session.reader(&entry, 500), Err(ProofError::Expired(500)));
        let forged = ReaderProof::Session {
            client: client.to_string(),
            address: address.clone(),
            signature: sign(&key, &session_text(&entry, &client)),
            account: None,
        };
        assert!(matches!(
            forged.reader(&entry, 0),
            Err(ProofError::WrongSigner { .. })
        ));
    }
}
