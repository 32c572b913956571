//! [`ApiError`]: every refusal the API gives, as a status and a JSON body
//! `{"code": "...", "message": "..."}` in EMQX's style, so that scripts can match on `code`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// A stable word for the kind of error (`BAD_REQUEST`, `NOT_FOUND`, ...).
    pub code: &'static str,
    /// What went wrong, naming the field when one is at fault.
    pub message: String,
}

/// An error answer.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed or a value is out of range.
    #[error("{0}")]
    BadRequest(String),
    /// 401: no credentials, or wrong ones.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: the default password must be changed first, or the action is not allowed.
    #[error("{message}")]
    Forbidden {
        /// The code (`CHANGE_PASSWORD_REQUIRED`, `FORBIDDEN`).
        code: &'static str,
        /// Why.
        message: String,
    },
    /// 404: no such resource.
    #[error("{0}")]
    NotFound(String),
    /// 409: it exists already.
    #[error("{0}")]
    Conflict(String),
    /// 503: the broker is stopping, or the store failed.
    #[error("{0}")]
    Unavailable(String),
}

impl ApiError {
    /// A 400 naming `field`.
    pub fn field(field: &str, problem: impl std::fmt::Display) -> Self {
        Self::BadRequest(format!("{field}: {problem}"))
    }

    /// A 404 for `what`.
    pub fn not_found(what: impl std::fmt::Display) -> Self {
        Self::NotFound(format!("{what} not found"))
    }

    fn parts(&self) -> (StatusCode, &'static str) {
        match self {
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "BAD_REQUEST"),
            Self::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "BAD_USERNAME_OR_PWD"),
            Self::Forbidden { code, .. } => (StatusCode::FORBIDDEN, code),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "NOT_FOUND"),
            Self::Conflict(_) => (StatusCode::CONFLICT, "ALREADY_EXISTS"),
            Self::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE"),
        }
    }
}

impl From<starling_broker::Stopped> for ApiError {
    fn from(e: starling_broker::Stopped) -> Self {
        Self::Unavailable(e.to_string())
    }
}

impl From<starling_store::StoreError> for ApiError {
    fn from(e: starling_store::StoreError) -> Self {
        tracing::error!(error = %e, "the management API could not write to the store");
        Self::Unavailable(format!("the store failed: {e}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.parts();
        let body = ErrorBody {
            code,
            message: self.to_string(),
        };
        (status, axum::Json(body)).into_response()
    }
}
