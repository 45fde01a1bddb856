//! Readers over HTTP: a signed challenge earns a short-lived bearer token, which any later request
//! carries as `Authorization: Bearer <token>`.
//!
//! 1. `GET /api/v1/auth/challenge?address=0x…` → `{"address","expires","nonce","text"}`: the text to sign
//!    ([`token_text`]), valid for [`TOKEN_LIFETIME_SECS`] by the chain's clock. The nonce is a MAC of the
//!    address and expiry under a secret this node made when it started, so the node keeps no state.
//! 2. `POST /api/v1/auth` with `{"address","expires","nonce","signature"}` (an EIP-191 `personal_sign`
//!    of the text) → `{"token","address","expires"}`.
//! 3. The token, `<address>.<expires>.<nonce>.<signature>`, is the signed challenge itself: this node
//!    checks the nonce, the signature and the expiry on every request, and forwards it to a peer that
//!    answers history on the reader's behalf, which checks the signature itself.
//!
//! Tokens end when they expire or the node restarts.

use std::sync::Arc;

use axum::{
    Json,
    extract::{Query, State, rejection::QueryRejection},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use rivulet_network::{ReaderProof, reader::token_text};
use rivulet_protocol::{Address, hash::keccak256};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Api, ApiError};
use crate::node::Reader;

/// How long a token holds, seconds.
pub(crate) const TOKEN_LIFETIME_SECS: u64 = 3600;

/// The per-process secret nonces are made with.
pub(crate) type TokenSecret = [u8; 32];

/// The nonce for `address`'s token expiring at `expires`: 16 bytes of keccak256(secret ‖ address ‖
/// expires), hex.
fn nonce(secret: &TokenSecret, address: &Address, expires: u64) -> String {
    let mut input = Vec::with_capacity(32 + 20 + 8);
    input.extend_from_slice(secret);
    input.extend_from_slice(address.as_bytes());
    input.extend_from_slice(&expires.to_be_bytes());
    hex::encode(&keccak256(&input)[..16])
}

fn bad_token(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "bad_token", message)
}

fn parse_address(address: &str) -> Result<Address, ApiError> {
    address.parse().map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_address",
            format!("address {address:?}: {e}"),
        )
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ChallengeParams {
    address: String,
}

pub(super) async fn challenge(
    State(api): State<Arc<Api>>,
    params: Result<Query<ChallengeParams>, QueryRejection>,
) -> Response {
    let result = params.map_err(ApiError::query).and_then(|Query(p)| {
        let address = parse_address(&p.address)?;
        let expires = api.node.now_secs() + TOKEN_LIFETIME_SECS;
        let nonce = nonce(&api.token_secret, &address, expires);
        let address = address.to_checksum();
        let text = token_text(&api.node.peer_id(), &address, expires, &nonce);
        Ok(json!({ "address": address, "expires": expires, "nonce": nonce, "text": text }))
    });
    answer(&api, result)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SignedChallenge {
    address: String,
    expires: u64,
    nonce: String,
    signature: String,
}

pub(super) async fn token(
    State(api): State<Arc<Api>>,
    body: Result<Json<SignedChallenge>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let result = body
        .map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_json",
                format!("expected {{\"address\",\"expires\",\"nonce\",\"signature\"}}: {e}"),
            )
        })
        .and_then(|Json(signed)| {
            let token = format!(
                "{}.{}.{}.{}",
                signed.address,
                signed.expires,
                signed.nonce,
                signed.signature.trim_start_matches("0x")
            );
            let reader = check(&api, &token)?;
            Ok(json!({
                "token": token,
                "address": reader.address.to_checksum(),
                "expires": signed.expires,
            }))
        });
    answer(&api, result)
}

fn answer(api: &Api, result: Result<Value, ApiError>) -> Response {
    match result {
        Ok(v) => Json(v).into_response(),
        Err(e) => {
            api.node.metrics().http_error(e.code);
            e.into_response()
        }
    }
}

/// The reader a request's `Authorization: Bearer <token>` shows; `None` without the header.
pub(crate) fn reader(api: &Api, headers: &HeaderMap) -> Result<Option<Reader>, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| bad_token("the Authorization header is not text"))?;
    let Some(token) = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
    else {
        return Err(bad_token("expected Authorization: Bearer <token>"));
    };
    check(api, token.trim()).map(Some)
}

/// The reader a token shows: its nonce made by this node, its signature by the address, unexpired.
fn check(api: &Api, token: &str) -> Result<Reader, ApiError> {
    let parts: Vec<&str> = token.split('.').collect();
    let [address, expires, nonce_hex, signature] = parts[..] else {
        return Err(bad_token(
            "a token is <address>.<expires>.<nonce>.<signature>, from POST /api/v1/auth",
        ));
    };
    let address = parse_address(address).map_err(|e| bad_token(e.message))?;
    let expires: u64 = expires
        .parse()
        .map_err(|_| bad_token(format!("expires {expires:?} is not a number")))?;
    if nonce(&api.token_secret, &address, expires) != nonce_hex {
        return Err(bad_token(
            "the token was not issued by this node (or the node restarted since): get a new challenge",
        ));
    }
    let now = api.node.now_secs();
    if expires <= now {
        return Err(bad_token(format!(
            "the token expired at {expires} (now {now}, by the chain's clock): get a new one"
        )));
    }
    let signature = hex::decode(signature.trim_start_matches("0x"))
        .map_err(|e| bad_token(format!("the signature is not hex: {e}")))?;
    let proof = ReaderProof::Token {
        address: address.to_checksum(),
        expires,
        nonce: nonce_hex.to_owned(),
        signature: signature.into(),
    };
    let reader = proof
        .reader(&api.node.peer_id(), now)
        .map_err(|e| bad_token(e.to_string()))?;
    Ok(Reader {
        address: reader,
        proof,
    })
}
