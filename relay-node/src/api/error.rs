//! The API's one error type: a status, a stable code and a sentence, answered as
//! `{"error":"<code>","message":"<what and why>"}` — and the refusals every endpoint shares.

use axum::{
    Json,
    extract::rejection::{BytesRejection, QueryRejection},
    http::{Method, StatusCode, Uri},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use crate::node::{HistoryError, SubmitError};

/// An API error: a status, a stable code and a sentence.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

impl ApiError {
    pub(crate) fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// The node's event loop has ended: it is shutting down.
    pub(crate) fn stopping() -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "stopping",
            "the node is shutting down",
        )
    }

    /// A request body over the size limit.
    pub(crate) fn body_over_limit(limit: usize) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "oversize",
            format!("request body over {limit} bytes, more than any event this node accepts"),
        )
    }

    /// A request body the extractor refused: over the size limit, or unreadable.
    pub(crate) fn body(rejection: BytesRejection, limit: usize) -> ApiError {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::body_over_limit(limit)
        } else {
            ApiError::new(rejection.status(), "bad_body", rejection.body_text())
        }
    }

    /// A query string that does not parse into the endpoint's parameters.
    pub(crate) fn query(rejection: QueryRejection) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_query", rejection.body_text())
    }

    /// A request for what only a signed-in reader may have, without a reader (401, with the
    /// `WWW-Authenticate` challenge RFC 6750 asks for).
    pub(crate) fn unauthenticated(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", message)
    }

    /// A request that names no valid stream part.
    pub(crate) fn bad_stream(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_stream", message)
    }
}

impl From<SubmitError> for ApiError {
    fn from(e: SubmitError) -> ApiError {
        match e {
            SubmitError::Rejected(rejection) => {
                let status = match rejection.reason() {
                    "no_permission" | "bad_signature" => StatusCode::FORBIDDEN,
                    "oversize" => StatusCode::PAYLOAD_TOO_LARGE,
                    _ => StatusCode::BAD_REQUEST,
                };
                ApiError::new(status, rejection.reason(), rejection.to_string())
            }
            SubmitError::Quorum(e) => {
                let status = match e.code() {
                    "not_stored" => StatusCode::NOT_FOUND,
                    "quorum_unavailable" => StatusCode::SERVICE_UNAVAILABLE,
                    _ => StatusCode::BAD_REQUEST,
                };
                ApiError::new(status, e.code(), e.to_string())
            }
            SubmitError::Stopping => ApiError::stopping(),
        }
    }
}

impl From<rivulet_client::ClientError> for ApiError {
    /// The node publishing as itself was refused (by its own validation, reached as a client) or could
    /// not reach itself.
    fn from(e: rivulet_client::ClientError) -> ApiError {
        use rivulet_client::ClientError;
        let (status, code): (StatusCode, &'static str) = match &e {
            ClientError::Refused { code, .. } => match code.as_str() {
                "no_permission" => (StatusCode::FORBIDDEN, "no_permission"),
                "bad_signature" => (StatusCode::FORBIDDEN, "bad_signature"),
                "oversize" => (StatusCode::PAYLOAD_TOO_LARGE, "oversize"),
                "not_encrypted" => (StatusCode::BAD_REQUEST, "not_encrypted"),
                "bad_stream" => (StatusCode::BAD_REQUEST, "bad_stream"),
                _ => (StatusCode::BAD_REQUEST, "refused"),
            },
            ClientError::InvalidArgument(_) | ClientError::Partition(_) => {
                (StatusCode::BAD_REQUEST, "bad_stream")
            }
            ClientError::NotConnected(_) | ClientError::Destroyed => {
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
            }
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        ApiError::new(status, code, e.to_string())
    }
}

impl From<HistoryError> for ApiError {
    fn from(e: HistoryError) -> ApiError {
        match e {
            HistoryError::NoPermission(e) => {
                ApiError::new(StatusCode::FORBIDDEN, "no_permission", e)
            }
            HistoryError::Store(e) => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "store", e),
            HistoryError::NotStored(e) => ApiError::new(StatusCode::NOT_FOUND, "not_stored", e),
            HistoryError::Busy(e) => ApiError::new(StatusCode::TOO_MANY_REQUESTS, "busy", e),
            HistoryError::Stopping => ApiError::stopping(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(json!({ "error": self.code, "message": self.message })),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            let challenge = if self.code == "bad_token" {
                r#"Bearer realm="rivulet", error="invalid_token""#
            } else {
                r#"Bearer realm="rivulet""#
            };
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static(challenge),
            );
        }
        response
    }
}

/// A WebSocket API error frame: `{"type":"error","id":…,"error":<code>,"message":…}`.
pub(crate) fn error_frame(id: &Option<Value>, code: &str, message: impl Into<String>) -> Value {
    json!({ "type": "error", "id": id, "error": code, "message": message.into() })
}

/// The answer to a path the API does not have.
pub(crate) async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!(
            "no {method} {} here; the endpoints are /health, /metrics, /api/v1/publish, /api/v1/history, /api/v1/auth/challenge, /api/v1/auth, /api/v1/streams and /api/v1/ws",
            uri.path()
        ),
    )
}

/// The answer to a method a path does not take.
pub(crate) async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    let allowed = match uri.path() {
        "/api/v1/publish" | "/api/v1/auth" => "POST",
        _ => "GET",
    };
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} takes {allowed}, not {method}", uri.path()),
    )
}
