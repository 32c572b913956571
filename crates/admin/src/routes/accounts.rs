//! Login, logout, dashboard accounts and password changes, API keys.

use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::Extension;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use utoipa::ToSchema;

use crate::accounts::{ApiKey, KeyChange, User};
use crate::error::{ApiError, ErrorBody};
use crate::json::{Json, Path};
use crate::state::{Caller, Shared};

/// `POST /api/v5/login`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoginRequest {
    /// The account.
    pub(crate) username: String,
    /// Its password.
    pub(crate) password: String,
}

/// A login's answer.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LoginResponse {
    /// Send as `Authorization: Bearer <token>`.
    pub(crate) token: String,
    /// The broker's version.
    pub(crate) version: String,
    /// The account must set a new password before anything else.
    pub(crate) must_change_password: bool,
    /// What a new password must be.
    pub(crate) password_rules: String,
}

/// Logs in.
#[utoipa::path(post, path = "/api/v5/login", tag = "accounts", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 400, body = ErrorBody),
              (status = 401, description = "wrong username or password", body = ErrorBody)),
    security(()))]
pub(crate) async fn login(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(req): Json<LoginRequest>,
) -> Result<axum::Json<LoginResponse>, ApiError> {
    match state.accounts.login(&req.username, &req.password).await {
        Some(user) => {
            state.failures.succeeded(Some(peer.ip()));
            Ok(axum::Json(LoginResponse {
                token: state.tokens.issue(&user.username),
                version: env!("CARGO_PKG_VERSION").to_owned(),
                must_change_password: user.must_change,
                password_rules: crate::password::RULES.to_owned(),
            }))
        }
        None => {
            let delay = state
                .failures
                .failed(Some(peer.ip()), std::time::Instant::now());
            tracing::info!(%peer, "management API login refused");
            tokio::time::sleep(delay).await;
            Err(ApiError::Unauthorized("wrong username or password".into()))
        }
    }
}

/// Ends the token used.
#[utoipa::path(post, path = "/api/v5/logout", tag = "accounts",
    responses((status = 204, description = "the token ended")))]
pub(crate) async fn logout(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
) -> StatusCode {
    if let Some(token) = caller.token {
        state.tokens.revoke(&token);
    }
    StatusCode::NO_CONTENT
}

/// `POST /api/v5/users/{username}/change_pwd`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChangePassword {
    /// The current password.
    pub(crate) old_pwd: String,
    /// The new one.
    pub(crate) new_pwd: String,
}

/// Changes an account's password (an account may change its own; an API key any). Every
/// token of the account ends.
#[utoipa::path(post, path = "/api/v5/users/{username}/change_pwd", tag = "accounts",
    params(("username" = String, Path, description = "the account")),
    request_body = ChangePassword,
    responses((status = 204, description = "changed"), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub(crate) async fn change_pwd(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
    Path(username): Path<String>,
    Json(req): Json<ChangePassword>,
) -> Result<StatusCode, ApiError> {
    if caller.username.as_deref().is_some_and(|me| me != username) {
        return Err(ApiError::Forbidden {
            code: "FORBIDDEN",
            message: "an account may change only its own password".into(),
        });
    }
    state
        .accounts
        .change_password(&username, &req.old_pwd, &req.new_pwd)
        .await?;
    state.tokens.revoke_user(&username);
    Ok(StatusCode::NO_CONTENT)
}

/// A dashboard account.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UserView {
    /// Its name.
    pub(crate) username: String,
    /// A note.
    pub(crate) description: String,
    /// It still has the default password.
    pub(crate) must_change_password: bool,
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        Self {
            username: u.username,
            description: u.description,
            must_change_password: u.must_change,
        }
    }
}

/// Lists the dashboard accounts.
#[utoipa::path(get, path = "/api/v5/users", tag = "accounts",
    responses((status = 200, body = Vec<UserView>)))]
pub(crate) async fn list_users(State(state): State<Shared>) -> axum::Json<Vec<UserView>> {
    axum::Json(
        state
            .accounts
            .users()
            .into_iter()
            .map(UserView::from)
            .collect(),
    )
}

/// `POST /api/v5/users`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewUser {
    /// 1 to 64 letters, digits or `_ - . @`.
    pub(crate) username: String,
    /// Its password (the rules of a new password apply).
    pub(crate) password: String,
    /// A note.
    #[serde(default)]
    pub(crate) description: String,
}

/// Adds a dashboard account.
#[utoipa::path(post, path = "/api/v5/users", tag = "accounts", request_body = NewUser,
    responses((status = 200, body = UserView), (status = 400, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
pub(crate) async fn add_user(
    State(state): State<Shared>,
    Json(req): Json<NewUser>,
) -> Result<axum::Json<UserView>, ApiError> {
    let user = state
        .accounts
        .add_user(&req.username, &req.password, &req.description)
        .await?;
    Ok(axum::Json(user.into()))
}

/// `PUT /api/v5/users/{username}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UserChange {
    /// A new note.
    pub(crate) description: String,
}

/// Changes a dashboard account's description.
#[utoipa::path(put, path = "/api/v5/users/{username}", tag = "accounts",
    params(("username" = String, Path, description = "the account")),
    request_body = UserChange,
    responses((status = 200, body = UserView), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub(crate) async fn update_user(
    State(state): State<Shared>,
    Path(username): Path<String>,
    Json(req): Json<UserChange>,
) -> Result<axum::Json<UserView>, ApiError> {
    let user = state
        .accounts
        .update_user(&username, &req.description)
        .await?;
    Ok(axum::Json(user.into()))
}

/// Removes a dashboard account (not the caller's own, not the last one).
#[utoipa::path(delete, path = "/api/v5/users/{username}", tag = "accounts",
    params(("username" = String, Path, description = "the account")),
    responses((status = 204, description = "removed"), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub(crate) async fn delete_user(
    State(state): State<Shared>,
    Extension(caller): Extension<Caller>,
    Path(username): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .accounts
        .delete_user(&username, caller.username.as_deref())
        .await?;
    state.tokens.revoke_user(&username);
    Ok(StatusCode::NO_CONTENT)
}

/// An API key (its secret is shown only when it is made).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ApiKeyView {
    /// Its name.
    pub(crate) name: String,
    /// The key: the HTTP Basic username.
    pub(crate) api_key: String,
    /// The secret: the HTTP Basic password. Only in the answer to its creation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) api_secret: Option<String>,
    /// A note.
    pub(crate) desc: String,
    /// Whether it is accepted.
    pub(crate) enable: bool,
    /// When it stops being accepted (RFC 3339), if ever.
    pub(crate) expired_at: Option<String>,
    /// When it was made (RFC 3339).
    pub(crate) created_at: String,
}

fn unix(secs: u64) -> String {
    super::page::rfc3339(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
}

fn parse_time(field: &str, text: &str) -> Result<u64, ApiError> {
    humantime::parse_rfc3339_weak(text)
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
        .ok_or_else(|| ApiError::field(field, format!("must be an RFC 3339 time, got {text:?}")))
}

impl ApiKeyView {
    fn of(k: ApiKey, secret: Option<String>) -> Self {
        Self {
            name: k.name,
            api_key: k.api_key,
            api_secret: secret,
            desc: k.desc,
            enable: k.enable,
            expired_at: k.expired_at.map(unix),
            created_at: unix(k.created_at),
        }
    }
}

/// Lists the API keys.
#[utoipa::path(get, path = "/api/v5/api_key", tag = "accounts",
    responses((status = 200, body = Vec<ApiKeyView>)))]
pub(crate) async fn list_keys(State(state): State<Shared>) -> axum::Json<Vec<ApiKeyView>> {
    axum::Json(
        state
            .accounts
            .keys()
            .into_iter()
            .map(|k| ApiKeyView::of(k, None))
            .collect(),
    )
}

/// `POST /api/v5/api_key`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewApiKey {
    /// 1 to 64 letters, digits or `_ - . @`.
    pub(crate) name: String,
    /// A note.
    #[serde(default)]
    pub(crate) desc: String,
    /// Accepted from the start (default true).
    #[serde(default = "yes")]
    pub(crate) enable: bool,
    /// When it ends (RFC 3339); never when absent.
    #[serde(default)]
    pub(crate) expired_at: Option<String>,
}

fn yes() -> bool {
    true
}

/// Makes an API key; the answer holds its secret, shown this once.
#[utoipa::path(post, path = "/api/v5/api_key", tag = "accounts", request_body = NewApiKey,
    responses((status = 200, body = ApiKeyView), (status = 400, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
pub(crate) async fn add_key(
    State(state): State<Shared>,
    Json(req): Json<NewApiKey>,
) -> Result<axum::Json<ApiKeyView>, ApiError> {
    let expired_at = req
        .expired_at
        .as_deref()
        .map(|t| parse_time("expired_at", t))
        .transpose()?;
    let (key, secret) = state
        .accounts
        .add_key(&req.name, &req.desc, req.enable, expired_at)
        .await?;
    Ok(axum::Json(ApiKeyView::of(key, Some(secret))))
}

/// One API key.
#[utoipa::path(get, path = "/api/v5/api_key/{name}", tag = "accounts",
    params(("name" = String, Path, description = "the key's name")),
    responses((status = 200, body = ApiKeyView), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_key(
    State(state): State<Shared>,
    Path(name): Path<String>,
) -> Result<axum::Json<ApiKeyView>, ApiError> {
    let key = state
        .accounts
        .key(&name)
        .ok_or_else(|| ApiError::not_found(format!("API key {name:?}")))?;
    Ok(axum::Json(ApiKeyView::of(key, None)))
}

/// `PUT /api/v5/api_key/{name}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApiKeyChange {
    /// A new note.
    #[serde(default)]
    pub(crate) desc: Option<String>,
    /// Accepted or not.
    #[serde(default)]
    pub(crate) enable: Option<bool>,
    /// A new end (RFC 3339); `""` for never.
    #[serde(default)]
    pub(crate) expired_at: Option<String>,
}

/// Changes an API key.
#[utoipa::path(put, path = "/api/v5/api_key/{name}", tag = "accounts",
    params(("name" = String, Path, description = "the key's name")),
    request_body = ApiKeyChange,
    responses((status = 200, body = ApiKeyView), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub(crate) async fn update_key(
    State(state): State<Shared>,
    Path(name): Path<String>,
    Json(req): Json<ApiKeyChange>,
) -> Result<axum::Json<ApiKeyView>, ApiError> {
    let expired_at = match req.expired_at.as_deref() {
        None => None,
        Some("") => Some(None),
        Some(t) => Some(Some(parse_time("expired_at", t)?)),
    };
    let change = KeyChange {
        desc: req.desc,
        enable: req.enable,
        expired_at,
    };
    let key = state.accounts.update_key(&name, change).await?;
    Ok(axum::Json(ApiKeyView::of(key, None)))
}

/// Removes an API key.
#[utoipa::path(delete, path = "/api/v5/api_key/{name}", tag = "accounts",
    params(("name" = String, Path, description = "the key's name")),
    responses((status = 204, description = "removed"), (status = 404, body = ErrorBody)))]
pub(crate) async fn delete_key(
    State(state): State<Shared>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.accounts.delete_key(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}
