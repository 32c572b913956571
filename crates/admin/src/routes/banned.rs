//! Banned clients (EMQX's `/api/v5/banned`): by client id, username or peer address or
//! network, each with an optional end. Bans are stored and survive restarts; banning a
//! connected client id closes its connection.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use starling_broker::{BanKind, BanRecord};
use utoipa::{IntoParams, ToSchema};

use super::page::{self, Meta};
use crate::error::{ApiError, ErrorBody};
use crate::json::{Json, Path, Query};
use crate::state::Shared;

fn kind_name(kind: BanKind) -> &'static str {
    match kind {
        BanKind::ClientId => "clientid",
        BanKind::Username => "username",
        BanKind::Address => "peerhost",
    }
}

fn kind_of(name: &str) -> Result<BanKind, ApiError> {
    match name {
        "clientid" => Ok(BanKind::ClientId),
        "username" => Ok(BanKind::Username),
        "peerhost" | "peerhost_net" => Ok(BanKind::Address),
        other => Err(ApiError::field(
            "as",
            format!("must be clientid, username or peerhost, got {other:?}"),
        )),
    }
}

/// A ban.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BanView {
    /// `clientid`, `username` or `peerhost` (an address or a network).
    #[serde(rename = "as")]
    pub(crate) kind: &'static str,
    /// Whom.
    pub(crate) who: String,
    /// Who made it.
    pub(crate) by: String,
    /// Why.
    pub(crate) reason: String,
    /// When it was made (RFC 3339).
    pub(crate) at: String,
    /// When it ends (RFC 3339); never when absent.
    pub(crate) until: Option<String>,
}

fn view(b: &BanRecord) -> BanView {
    BanView {
        kind: kind_name(b.kind),
        who: b.who.clone(),
        by: b.by.clone(),
        reason: b.reason.clone(),
        at: page::rfc3339(b.at),
        until: b.until.map(page::rfc3339),
    }
}

/// `GET /api/v5/banned`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct BanQuery {
    /// Page size, 1 to 1,000 (100).
    pub(crate) limit: Option<usize>,
    /// Where the previous page stopped (its `meta.cursor`).
    pub(crate) cursor: Option<String>,
}

/// A page of bans.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BanList {
    /// By kind, then name.
    pub(crate) data: Vec<BanView>,
    /// Paging.
    pub(crate) meta: Meta,
}

/// Lists the bans in force.
#[utoipa::path(get, path = "/api/v5/banned", tag = "access", params(BanQuery),
    responses((status = 200, body = BanList), (status = 400, body = ErrorBody)))]
pub(crate) async fn list(
    State(state): State<Shared>,
    Query(q): Query<BanQuery>,
) -> Result<axum::Json<BanList>, ApiError> {
    let limit = page::limit(q.limit)?;
    let after = q
        .cursor
        .as_deref()
        .map(|c| page::decode(c, 2))
        .transpose()?;
    let after = after.map(|mut a| {
        let who = a.pop().unwrap_or_default();
        (a.pop().unwrap_or_default(), who)
    });
    let (taken, meta) = page::window(
        state.handle.bans().list(state.handle.now()),
        limit,
        after,
        |b| (kind_name(b.kind).to_owned(), b.who.clone()),
        |(kind, who)| page::encode(&[kind, who]),
    );
    Ok(axum::Json(BanList {
        data: taken.iter().map(view).collect(),
        meta,
    }))
}

/// `POST /api/v5/banned`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewBan {
    /// `clientid`, `username` or `peerhost`.
    #[serde(rename = "as")]
    pub(crate) kind: String,
    /// Whom: a client id, a username, an IP address or a network (`10.0.0.0/8`).
    pub(crate) who: String,
    /// Who makes it (default `api`).
    #[serde(default)]
    pub(crate) by: Option<String>,
    /// Why.
    #[serde(default)]
    pub(crate) reason: Option<String>,
    /// When it was made (RFC 3339; now when absent).
    #[serde(default)]
    pub(crate) at: Option<String>,
    /// When it ends (RFC 3339); never when absent.
    #[serde(default)]
    pub(crate) until: Option<String>,
}

fn time(field: &str, text: &str) -> Result<std::time::SystemTime, ApiError> {
    humantime::parse_rfc3339_weak(text)
        .map_err(|_| ApiError::field(field, format!("must be an RFC 3339 time, got {text:?}")))
}

/// Bans a client id, username, address or network.
#[utoipa::path(post, path = "/api/v5/banned", tag = "access", request_body = NewBan,
    responses((status = 200, body = BanView), (status = 400, body = ErrorBody)))]
pub(crate) async fn add(
    State(state): State<Shared>,
    Json(req): Json<NewBan>,
) -> Result<axum::Json<BanView>, ApiError> {
    let kind = kind_of(&req.kind)?;
    if req.who.is_empty() || req.who.len() > 1024 {
        return Err(ApiError::field("who", "must be 1 to 1024 bytes"));
    }
    let now = state.handle.now();
    let at = req
        .at
        .as_deref()
        .map(|t| time("at", t))
        .transpose()?
        .unwrap_or(now);
    let until = req.until.as_deref().map(|t| time("until", t)).transpose()?;
    if until.is_some_and(|u| u <= now) {
        return Err(ApiError::field("until", "is already past"));
    }
    let record = BanRecord {
        kind,
        who: req.who,
        at,
        until,
        reason: req.reason.unwrap_or_default(),
        by: req.by.unwrap_or_else(|| "api".to_owned()),
    };
    let shown = view(&record);
    state
        .handle
        .ban(record)
        .await
        .map_err(|e| ApiError::field("who", e))?;
    Ok(axum::Json(shown))
}

/// One ban, by what it is on and exactly whom (an address, or a network as it was added).
#[utoipa::path(get, path = "/api/v5/banned/{as}/{who}", tag = "access",
    params(("as" = String, Path, description = "clientid, username or peerhost"),
           ("who" = String, Path, description = "whom (URL-encoded)")),
    responses((status = 200, body = BanView), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub(crate) async fn get(
    State(state): State<Shared>,
    Path((kind, who)): Path<(String, String)>,
) -> Result<axum::Json<BanView>, ApiError> {
    let kind = kind_of(&kind)?;
    let ban = state
        .handle
        .bans()
        .get(kind, &who, state.handle.now())
        .ok_or_else(|| ApiError::not_found(format!("ban on {who:?}")))?;
    Ok(axum::Json(view(&ban)))
}

/// `PUT /api/v5/banned/{as}/{who}`: what changes (a field left out stays).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BanChange {
    /// Why.
    pub(crate) reason: Option<String>,
    /// The new end (RFC 3339 or Unix seconds); `null` or `""` for none (forever).
    #[serde(default, deserialize_with = "nullable")]
    pub(crate) until: Option<Option<String>>,
}

/// A field that may be left out (`None`), `null` (`Some(None)`) or a value.
fn nullable<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// Changes a ban's reason or end (EMQX has no such route: there a ban is added again).
#[utoipa::path(put, path = "/api/v5/banned/{as}/{who}", tag = "access",
    params(("as" = String, Path, description = "clientid, username or peerhost"),
           ("who" = String, Path, description = "whom (URL-encoded)")),
    request_body = BanChange,
    responses((status = 200, body = BanView), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub(crate) async fn update(
    State(state): State<Shared>,
    Path((kind, who)): Path<(String, String)>,
    Json(change): Json<BanChange>,
) -> Result<axum::Json<BanView>, ApiError> {
    let kind = kind_of(&kind)?;
    let now = state.handle.now();
    let mut ban = state
        .handle
        .bans()
        .get(kind, &who, now)
        .ok_or_else(|| ApiError::not_found(format!("ban on {who:?}")))?;
    if let Some(reason) = change.reason {
        ban.reason = reason;
    }
    if let Some(until) = change.until {
        ban.until = match until.as_deref() {
            None | Some("") => None,
            Some(t) => Some(time("until", t)?),
        };
        if ban.until.is_some_and(|u| u <= now) {
            return Err(ApiError::field("until", "is already past"));
        }
    }
    state
        .handle
        .bans()
        .add(ban.clone(), now)
        .map_err(|e| ApiError::field("who", e))?;
    Ok(axum::Json(view(&ban)))
}

/// Lifts a ban.
#[utoipa::path(delete, path = "/api/v5/banned/{as}/{who}", tag = "access",
    params(("as" = String, Path, description = "clientid, username or peerhost"),
           ("who" = String, Path, description = "whom (URL-encoded)")),
    responses((status = 204, description = "lifted"), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub(crate) async fn delete(
    State(state): State<Shared>,
    Path((kind, who)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let kind = kind_of(&kind)?;
    if state.handle.bans().remove(kind, &who) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("ban on {who:?}")))
    }
}
