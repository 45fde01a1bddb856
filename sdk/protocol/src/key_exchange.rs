//! The content of key-exchange messages (JSON, never encrypted): a reader's request for group keys and
//! a publisher's response (to a request, or an envelope), and the account authorisation a session key
//! carries in its requests. PROTOCOL.md ("Key exchange") has the formats.
//!
//! A session key reads for the account that authorised it (a wallet signs [`authorisation_text`] once);
//! its key requests carry that authorisation, so relay nodes and publishers judge the **account**'s
//! subscribe permission, while the keys are encrypted to the session key that signed the request.

use serde::{Deserialize, Serialize};

use crate::{Address, Signature, signing::recover_personal};

/// The text an account signs (EIP-191 `personal_sign`) to let `session_key` act for it on relay nodes
/// until `expires` (Unix seconds). Rebuilt from its parts, never parsed.
pub fn authorisation_text(account: &str, session_key: &str, expires: u64) -> String {
    format!(
        "Rivulet session key\n\nThis key may read streams on Rivulet relay nodes for this account.\naccount: {account}\nsession key: {session_key}\nvalid until: {expires} (Unix seconds)"
    )
}

/// An account's authorisation of a session key, as a key request carries it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountAuthorisation {
    /// The account, `0x…`.
    pub account: String,
    /// Until when, Unix seconds.
    pub expires: u64,
    /// The account's signature of [`authorisation_text`], hex.
    pub signature: String,
}

/// A group-key request's content.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyRequest {
    /// Matches the response to the request.
    pub request_id: String,
    /// Whose keys (the publisher that encrypted with them).
    pub publisher: String,
    /// Which keys.
    pub group_key_ids: Vec<String>,
    /// For a session key: the account it reads for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorisation: Option<AccountAuthorisation>,
}

/// One key in a response: its id and the 32 key bytes encrypted to the recipient (ECIES), hex.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptedKey {
    /// The key id.
    pub id: String,
    /// ECIES ciphertext of the key bytes, hex.
    pub data: String,
}

/// A group-key response's content: an answer to a request, or (`requestId` `"envelope"`) keys sealed to
/// a reader unasked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyResponse {
    /// The request answered.
    pub request_id: String,
    /// Who may open the keys.
    pub recipient: String,
    /// The keys.
    pub keys: Vec<EncryptedKey>,
}

/// Why a key request names no reader.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyRequestError {
    /// The content is not a key request.
    #[error("not a key request: {0}")]
    Format(String),
    /// The authorisation does not hold.
    #[error("the session key's authorisation does not hold: {0}")]
    Authorisation(String),
    /// The authorisation has expired.
    #[error("the session key's authorisation expired at {0} (Unix seconds)")]
    Expired(u64),
}

impl KeyRequest {
    /// Parses a key request's content.
    pub fn parse(content: &[u8]) -> Result<KeyRequest, KeyRequestError> {
        serde_json::from_slice(content).map_err(|e| KeyRequestError::Format(e.to_string()))
    }

    /// The reader whose permission counts: the account that authorised `signer` (the request's
    /// signer) when the request carries an authorisation that holds at `now_secs`, else the signer.
    pub fn reader(&self, signer: Address, now_secs: u64) -> Result<Address, KeyRequestError> {
        let Some(auth) = &self.authorisation else {
            return Ok(signer);
        };
        let account: Address = auth
            .account
            .parse()
            .map_err(|e| KeyRequestError::Authorisation(format!("account: {e}")))?;
        let signature = hex::decode(auth.signature.trim_start_matches("0x"))
            .ok()
            .and_then(|b| <[u8; 65]>::try_from(b).ok())
            .ok_or_else(|| {
                KeyRequestError::Authorisation("a signature is 65 bytes of hex".into())
            })?;
        let text = authorisation_text(&account.to_checksum(), &signer.to_checksum(), auth.expires);
        match recover_personal(text.as_bytes(), &Signature(signature)) {
            Ok(who) if who == account => {}
            Ok(who) => {
                return Err(KeyRequestError::Authorisation(format!(
                    "signed by {who}, not {account}"
                )));
            }
            Err(e) => return Err(KeyRequestError::Authorisation(e.to_string())),
        }
        if auth.expires <= now_secs {
            return Err(KeyRequestError::Expired(auth.expires));
        }
        Ok(account)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::Signer;

    #[test]
    fn a_session_keys_request_reads_for_the_account_that_authorised_it() {
        let (account, key) = (
            Signer::from_bytes(&[1; 32]).unwrap(),
            Signer::from_bytes(&[2; 32]).unwrap(),
        );
        let text = authorisation_text(
            &account.address().to_checksum(),
            &key.address().to_checksum(),
            100,
        );
        let mut request = KeyRequest {
            request_id: "r".into(),
            publisher: "0x00".into(),
            group_key_ids: vec!["k".into()],
            authorisation: Some(AccountAuthorisation {
                account: account.address().to_checksum(),
                expires: 100,
                signature: hex::encode(account.sign_personal(text.as_bytes()).0),
            }),
        };
        assert_eq!(
            request.reader(key.address(), 99).unwrap(),
            account.address()
        );
        assert_eq!(
            request.reader(key.address(), 100),
            Err(KeyRequestError::Expired(100))
        );
        // Another signer cannot borrow the authorisation.
        assert!(request.reader(account.address(), 0).is_err());
        let json = serde_json::to_vec(&request).unwrap();
        assert_eq!(KeyRequest::parse(&json).unwrap(), request);
        request.authorisation = None;
        assert_eq!(request.reader(key.address(), 0).unwrap(), key.address());
        assert_eq!(
            serde_json::to_string(&request).unwrap(),
            r#"{"requestId":"r","publisher":"0x00","groupKeyIds":["k"]}"#,
            "no authorisation field unless there is one"
        );
    }
}
