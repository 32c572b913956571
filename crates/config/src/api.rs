//! `[api]` and `[prometheus]`: the management API on port 18083 (raw and validated).

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;
use crate::validate::{duration, int};

/// `[api]` as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawApi {
    /// Whether the management API (and the dashboard on it) is served.
    pub enabled: bool,
    /// Its address. All interfaces by default, as EMQX's: the forced password change at the
    /// first login is what protects a fresh install.
    pub bind: String,
    /// How long a login token lasts (humantime).
    pub token_ttl: String,
    /// The account made on first start; it must change its password at its first login.
    pub default_username: String,
    /// That account's first password.
    pub default_password: String,
    /// Dashboard accounts held at most.
    pub max_users: i64,
    /// API keys held at most.
    pub max_api_keys: i64,
    /// Login tokens alive at once at most (the oldest is dropped past it).
    pub max_tokens: i64,
    /// The largest request body accepted, in bytes.
    pub max_body: i64,
}

impl Default for RawApi {
    fn default() -> Self {
        Self {
            enabled: true,
            bind: "0.0.0.0:18083".to_owned(),
            token_ttl: "60m".to_owned(),
            default_username: "admin".to_owned(),
            default_password: "public".to_owned(),
            max_users: 100,
            max_api_keys: 100,
            max_tokens: 1_000,
            max_body: 1_048_576,
        }
    }
}

/// `[prometheus]` as written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawPrometheus {
    /// `GET /api/v5/prometheus/stats` answers without a login.
    pub public: bool,
}

/// `[api]` and `[prometheus]`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiConfig {
    /// Served at all.
    pub enabled: bool,
    /// Where.
    pub bind: SocketAddr,
    /// Login token lifetime.
    pub token_ttl: Duration,
    /// The first account.
    pub default_username: String,
    /// Its first password.
    pub default_password: String,
    /// Dashboard accounts at most.
    pub max_users: usize,
    /// API keys at most.
    pub max_api_keys: usize,
    /// Live login tokens at most.
    pub max_tokens: usize,
    /// Request bodies at most this many bytes.
    pub max_body: usize,
    /// The Prometheus route needs no login.
    pub prometheus_public: bool,
}

pub(crate) fn validate(raw: RawApi, prometheus: RawPrometheus) -> Result<ApiConfig, ConfigError> {
    let bind = raw.bind.parse().map_err(|_| {
        ConfigError::invalid(
            "api.bind",
            format!(
                "must be an address like \"0.0.0.0:18083\", got {:?}",
                raw.bind
            ),
        )
    })?;
    let token_ttl = duration("api.token_ttl", &raw.token_ttl)?;
    if token_ttl < Duration::from_secs(60) {
        return Err(ConfigError::invalid(
            "api.token_ttl",
            format!("must be at least 1m, got {:?}", raw.token_ttl),
        ));
    }
    if raw.default_username.is_empty() || raw.default_username.len() > 64 {
        return Err(ConfigError::invalid(
            "api.default_username",
            "must be 1 to 64 bytes",
        ));
    }
    if raw.default_password.is_empty() || raw.default_password.len() > 64 {
        return Err(ConfigError::invalid(
            "api.default_password",
            "must be 1 to 64 bytes",
        ));
    }
    Ok(ApiConfig {
        enabled: raw.enabled,
        bind,
        token_ttl,
        default_username: raw.default_username,
        default_password: raw.default_password,
        max_users: int("api.max_users", raw.max_users, 1, 10_000)?,
        max_api_keys: int("api.max_api_keys", raw.max_api_keys, 0, 10_000)?,
        max_tokens: int("api.max_tokens", raw.max_tokens, 1, 100_000)?,
        max_body: int("api.max_body", raw.max_body, 1024, 64 * 1024 * 1024)?,
        prometheus_public: prometheus.public,
    })
}
