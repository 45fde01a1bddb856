//! Light-session sign-in: the address a client proves with its signature of the session text, and the
//! account that authorised a session key. Each refusal is the light protocol's error answer.

use rivulet_network::{
    libp2p::PeerId,
    light::{LightResponse, authorisation_text, session_text},
};
use rivulet_protocol::{Address, Signature, signing::recover_personal};

/// The address that signed the session text for (`node`, `client`), if it is the one claimed.
pub(crate) fn session_key(
    node: &PeerId,
    client: &PeerId,
    address: &str,
    signature: &[u8],
) -> Result<Address, LightResponse> {
    let text = session_text(node, client);
    recovered_as(claimed(address)?, &text, signature, "the session text")
}

/// The account that authorised session key `key` until `expires` (Unix seconds), if its signature says
/// so and the authorisation has not ended by `now_secs`.
pub(crate) fn authorising_account(
    account: &str,
    key: &Address,
    expires: u64,
    signature: &[u8],
    now_secs: u64,
) -> Result<Address, LightResponse> {
    let account = claimed(account)?;
    let text = authorisation_text(&account.to_checksum(), &key.to_checksum(), expires);
    let account = recovered_as(account, &text, signature, "the session key's authorisation")?;
    if expires <= now_secs {
        return Err(LightResponse::error(
            "bad_signature",
            format!("the authorisation of {key} expired at {expires}"),
        ));
    }
    Ok(account)
}

/// A claimed address, or the refusal of a request that names something else.
fn claimed(address: &str) -> Result<Address, LightResponse> {
    address
        .parse()
        .map_err(|_| LightResponse::error("bad_request", format!("{address:?} is not an address")))
}

/// The address that signed `text`, if it is `claimed` (`what` names the text in the refusal).
fn recovered_as(
    claimed: Address,
    text: &str,
    signature: &[u8],
    what: &str,
) -> Result<Address, LightResponse> {
    let Ok(signature) = <[u8; 65]>::try_from(signature) else {
        return Err(LightResponse::error(
            "bad_signature",
            "a signature is 65 bytes",
        ));
    };
    match recover_personal(text.as_bytes(), &Signature(signature)) {
        Ok(signer) if signer == claimed => Ok(claimed),
        Ok(signer) => Err(LightResponse::error(
            "bad_signature",
            format!("{what} was signed by {signer}, not {claimed}"),
        )),
        Err(e) => Err(LightResponse::error("bad_signature", e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use rivulet_protocol::{Signer, hash::eip191_hash};

    use super::*;

    fn code(response: LightResponse) -> String {
        match response {
            LightResponse::Error { code, .. } => code,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_session_is_signed_by_the_claimed_key_for_this_node_and_client() {
        let key = Signer::from_bytes(&[5; 32]).unwrap();
        let (node, client) = (PeerId::random(), PeerId::random());
        let sign = |text: &str| key.sign_hash(&eip191_hash(&[text.as_bytes()])).0.to_vec();
        let signature = sign(&session_text(&node, &client));
        let me = key.address().to_checksum();
        assert_eq!(
            session_key(&node, &client, &me, &signature).unwrap(),
            key.address()
        );
        // Replayed on another node, or claimed for another address: refused.
        let other = PeerId::random();
        assert_eq!(
            code(session_key(&other, &client, &me, &signature).unwrap_err()),
            "bad_signature"
        );
        let someone = Address([1; 20]).to_checksum();
        assert_eq!(
            code(session_key(&node, &client, &someone, &signature).unwrap_err()),
            "bad_signature"
        );
        assert_eq!(
            code(session_key(&node, &client, "me", &signature).unwrap_err()),
            "bad_request"
        );
        assert_eq!(
            code(session_key(&node, &client, &me, &[0; 3]).unwrap_err()),
            "bad_signature"
        );
        // An authorisation holds until it expires.
        let account = Signer::from_bytes(&[6; 32]).unwrap();
        let text = authorisation_text(&account.address().to_checksum(), &me, 1_000);
        let auth = account
            .sign_hash(&eip191_hash(&[text.as_bytes()]))
            .0
            .to_vec();
        let acct = account.address().to_checksum();
        assert_eq!(
            authorising_account(&acct, &key.address(), 1_000, &auth, 999).unwrap(),
            account.address()
        );
        assert_eq!(
            code(authorising_account(&acct, &key.address(), 1_000, &auth, 1_000).unwrap_err()),
            "bad_signature"
        );
    }
}
