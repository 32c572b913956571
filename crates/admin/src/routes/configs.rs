//! The running configuration (`/api/v5/configs`, EMQX's paths): read it whole or by root,
//! change a root, reload the file.
//!
//! A change is validated whole before anything is saved or applied: a refused change (400,
//! naming the key) changes nothing. Keys the broker applies live are in force when the answer
//! comes; the others are saved (`<data_dir>/configs/overrides.toml`) and listed as needing a
//! restart. Secrets are shown as `******`; sent back unchanged, they keep their value.

use axum::extract::State;
use serde::Serialize;
use starling_broker::{ConfigChange, ConfigChangeError};
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::json::{Json, Path};
use crate::state::Shared;

/// What a change or a reload did.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ConfigChangeView {
    /// Keys changed and in force now (for a connection limit: for connections made from now on).
    applied: Vec<String>,
    /// Keys changed and saved, in force after a restart.
    restart_required: Vec<String>,
    /// Keys the change set that a `STARLING_*` environment variable overrides.
    overridden_by_env: Vec<String>,
    /// Every key that differs from what the broker started with and waits for a restart.
    pending_restart: Vec<String>,
}

impl From<ConfigChange> for ConfigChangeView {
    fn from(c: ConfigChange) -> Self {
        Self {
            applied: c.applied,
            restart_required: c.restart_required,
            overridden_by_env: c.overridden_by_env,
            pending_restart: c.pending_restart,
        }
    }
}

impl From<ConfigChangeError> for ApiError {
    fn from(e: ConfigChangeError) -> Self {
        match e {
            ConfigChangeError::UnknownRoot(root) => {
                ApiError::not_found(format!("configuration root {root:?}"))
            }
            e @ (ConfigChangeError::Invalid(_) | ConfigChangeError::Fixed(_)) => {
                ApiError::BadRequest(e.to_string())
            }
            e @ (ConfigChangeError::Unavailable | ConfigChangeError::Save { .. }) => {
                ApiError::Unavailable(e.to_string())
            }
        }
    }
}

/// An object of configuration roots.
#[derive(Debug, Serialize, ToSchema)]
#[schema(value_type = Object)]
pub(crate) struct ConfigView(serde_json::Value);

/// One root's value: an object, or a list for `listener`.
#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
#[schema(value_type = Value)]
pub(crate) struct RootValue(serde_json::Value);

/// The running configuration: every root, every key (defaults included), as the file,
/// the saved changes and the environment make it. Changes waiting for a restart show.
#[utoipa::path(get, path = "/api/v5/configs", tag = "configs",
    responses((status = 200, body = ConfigView), (status = 503, body = ErrorBody)))]
pub(crate) async fn all(State(state): State<Shared>) -> Result<axum::Json<ConfigView>, ApiError> {
    let table = state.handle.running_config().await?;
    Ok(axum::Json(ConfigView(to_json(toml::Value::Table(table)))))
}

/// One root of the running configuration (`mqtt`, `session`, `listener`, ...).
#[utoipa::path(get, path = "/api/v5/configs/{root}", tag = "configs",
    params(("root" = String, Path, description = "a top-level section: mqtt, session, log, listener, ...")),
    responses((status = 200, body = RootValue), (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub(crate) async fn get(
    State(state): State<Shared>,
    Path(root): Path<String>,
) -> Result<axum::Json<RootValue>, ApiError> {
    let mut table = state.handle.running_config().await?;
    let value = table
        .remove(&root)
        .ok_or_else(|| ApiError::not_found(format!("configuration root {root:?}")))?;
    Ok(axum::Json(RootValue(to_json(value))))
}

/// Changes keys of one root: an object sets the keys it names (the others stay); a list
/// (`listener`, `topic_rewrite`, `auto_subscribe`) replaces the list. Validated whole; saved;
/// live keys applied at once, the others after a restart.
#[utoipa::path(put, path = "/api/v5/configs/{root}", tag = "configs",
    params(("root" = String, Path, description = "a top-level section: mqtt, session, log, listener, ...")),
    request_body = RootValue,
    responses((status = 200, body = ConfigChangeView), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(crate) async fn put(
    State(state): State<Shared>,
    Path(root): Path<String>,
    Json(RootValue(body)): Json<RootValue>,
) -> Result<axum::Json<ConfigChangeView>, ApiError> {
    let value = to_toml(&root, body)?;
    let change = state.handle.change_config(&root, value).await?;
    Ok(axum::Json(change.into()))
}

/// Reads the configuration file (and the saved changes) again, as SIGHUP does; applies what
/// can be applied live and lists what needs a restart. A file that does not validate changes
/// nothing (400, naming the key).
#[utoipa::path(post, path = "/api/v5/configs/reload", tag = "configs",
    responses((status = 200, body = ConfigChangeView), (status = 400, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub(crate) async fn reload(
    State(state): State<Shared>,
) -> Result<axum::Json<ConfigChangeView>, ApiError> {
    Ok(axum::Json(state.handle.reload_config().await?.into()))
}

/// TOML as JSON (dates, which the schema has none of, as strings).
fn to_json(value: toml::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        toml::Value::String(s) => J::String(s),
        toml::Value::Integer(i) => J::from(i),
        toml::Value::Float(f) => J::from(f),
        toml::Value::Boolean(b) => J::Bool(b),
        toml::Value::Datetime(d) => J::String(d.to_string()),
        toml::Value::Array(items) => J::Array(items.into_iter().map(to_json).collect()),
        toml::Value::Table(t) => J::Object(t.into_iter().map(|(k, v)| (k, to_json(v))).collect()),
    }
}

/// JSON as TOML; `path` names the key in an error (TOML has no null).
fn to_toml(path: &str, value: serde_json::Value) -> Result<toml::Value, ApiError> {
    use serde_json::Value as J;
    Ok(match value {
        J::Null => {
            return Err(ApiError::field(
                path,
                "null is not a configuration value (leave the key out to keep it)",
            ))
        }
        J::Bool(b) => toml::Value::Boolean(b),
        J::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => toml::Value::Integer(i),
            (None, Some(f)) if n.is_f64() => toml::Value::Float(f),
            _ => return Err(ApiError::field(path, format!("{n} is out of range"))),
        },
        J::String(s) => toml::Value::String(s),
        J::Array(items) => toml::Value::Array(
            items
                .into_iter()
                .enumerate()
                .map(|(i, v)| to_toml(&format!("{path}[{i}]"), v))
                .collect::<Result<_, _>>()?,
        ),
        J::Object(map) => toml::Value::Table(
            map.into_iter()
                .map(|(k, v)| {
                    let value = to_toml(&format!("{path}.{k}"), v)?;
                    Ok((k, value))
                })
                .collect::<Result<_, ApiError>>()?,
        ),
    })
}
