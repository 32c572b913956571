//! The one gate every route passes: a route under `/api/v5/` needs a login token (`Bearer`)
//! or an API key (HTTP Basic `key:secret`), except login, the health check and, with
//! `prometheus.public`, the Prometheus route. An account that still has the default password
//! gets 403 `CHANGE_PASSWORD_REQUIRED` everywhere but its password change and logout.

use axum::extract::{Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;

use crate::error::ApiError;
use crate::state::{Caller, Shared};

/// Routes that need no credentials.
fn is_public(path: &str, state: &Shared) -> bool {
    !path.starts_with("/api/v5/")
        || path == "/api/v5/login"
        || path == "/api/v5/status"
        || (path == "/api/v5/prometheus/stats" && state.config.prometheus_public)
}

/// Routes an account that must change its password may still use.
fn allowed_before_change(method: &Method, path: &str, username: &str) -> bool {
    method == Method::POST
        && (path == format!("/api/v5/users/{username}/change_pwd") || path == "/api/v5/logout")
}

/// The middleware.
pub(crate) async fn require_login(
    State(state): State<Shared>,
    mut req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path().to_owned();
    if is_public(&path, &state) {
        return next.run(req).await;
    }
    let caller = match authenticate(&state, req.headers()).await {
        Ok(caller) => caller,
        Err(e) => return e.into_response(),
    };
    if let Some(username) = &caller.username {
        let must_change = state.accounts.user(username).is_none_or(|u| u.must_change);
        if must_change && !allowed_before_change(req.method(), &path, username) {
            return ApiError::Forbidden {
                code: "CHANGE_PASSWORD_REQUIRED",
                message: format!(
                    "the password of {username:?} is the default one: change it first \
                     (POST /api/v5/users/{username}/change_pwd)"
                ),
            }
            .into_response();
        }
    }
    req.extensions_mut().insert(caller);
    next.run(req).await
}

async fn authenticate(state: &Shared, headers: &axum::http::HeaderMap) -> Result<Caller, ApiError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            ApiError::Unauthorized(
                "a login token (Authorization: Bearer) or an API key (Basic) is required".into(),
            )
        })?;
    if let Some(token) = value.strip_prefix("Bearer ") {
        let username = state
            .tokens
            .check(token.trim())
            .ok_or_else(|| ApiError::Unauthorized("the token is unknown or expired".into()))?;
        return Ok(Caller {
            username: Some(username),
            token: Some(token.trim().to_owned()),
        });
    }
    if let Some(basic) = value.strip_prefix("Basic ") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(basic.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| ApiError::Unauthorized("malformed Basic credentials".into()))?;
        let (key, secret) = decoded
            .split_once(':')
            .ok_or_else(|| ApiError::Unauthorized("malformed Basic credentials".into()))?;
        if state.accounts.check_key(key, secret).await {
            return Ok(Caller {
                username: None,
                token: None,
            });
        }
        return Err(ApiError::Unauthorized(
            "the API key is unknown, disabled or expired, or the secret is wrong".into(),
        ));
    }
    Err(ApiError::Unauthorized(
        "unsupported Authorization scheme (Bearer or Basic)".into(),
    ))
}
