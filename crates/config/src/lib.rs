//! `starling-config`: the broker's configuration schema, its defaults and its validation.
//!
//! It owns the meaning of every configuration key: raw serde types that TOML deserializes into
//! (unknown keys refused), their defaults (`Default` impls), and [`RawConfig::validate`], which
//! checks each value and returns the typed [`Config`] the rest of the broker reads. A refused
//! value is reported with its key path and the problem, e.g.
//! `mqtt.max_packet_size: must be between 1 and 268435456, got 0`.
//!
//! It must not depend on any other Starling crate, nor read files or the environment: layering a
//! file, `STARLING_*` environment variables and flags is the binary's job, which hands the
//! merged [`toml::Table`] to [`Config::from_table`].
//!
//! The documented default file, `config/starling.toml` at the repository root, is tested to
//! equal [`Config::default()`].
//!
//! Modules:
//! - `raw`: the serde types as written in the file, and their defaults;
//! - `model`: the typed configuration and its enums;
//! - `validate`: raw to typed, one check per key;
//! - `auth`: `[auth]`, raw and checked (its own module: it is the only section of lists of
//!   kinds);
//! - `protection`: `[flapping]`, `[banned]`, `[rate_limit]`, `[overload]`;
//! - `api`: `[api]` and `[prometheus]`, the management API;
//! - `modules`: `[[topic_rewrite]]` and `[[auto_subscribe]]`, the rules of the two modules
//!   that have them, and their checks (shared with the API);
//! - `trace`: `[trace]`, the bounds of traces started through the API;
//! - [`keys`]: keys as dotted paths: what changed, what applies live, what is secret;
//! - `error`: [`ConfigError`].

mod api;
mod auth;
mod error;
pub mod keys;
mod model;
mod modules;
mod protection;
mod raw;
mod trace;
mod validate;

pub use api::{ApiConfig, RawApi, RawPrometheus};
pub use auth::{
    AuthConfig, AuthnConfig, AuthzConfig, HttpConfig, HttpOnError, JwtAlgorithm, JwtConfig, JwtKey,
    JwtSecret, RawAuth, RawAuthn, RawAuthz, ScramAlgorithm, ScramConfig,
};
pub use error::ConfigError;
pub use model::{
    CertFiles, Config, DelayedConfig, DurabilityConfig, IpNet, ListenerConfig, ListenerKind,
    LogConfig, MqttConfig, NodeConfig, PeerCertField, PeerVerify, QueueOverflow, RetainConfig,
    SessionConfig, SharedConfig, SharedStrategy, SysConfig, TlsConfig, TlsVersion, WsConfig,
};
pub use modules::{
    check_auto_subscribe, check_rewrite, AutoSubscribeTopic, ModulesConfig, RewriteAction,
    RewriteRule, MAX_AUTO_SUBSCRIBE, MAX_REGEX_LEN, MAX_REWRITE_RULES,
};
pub use protection::{
    FlappingConfig, MemoryWatermark, OverloadConfig, RateLimitConfig, RawBanned, RawFlapping,
    RawOverload, RawRateLimit,
};
pub use raw::{
    RawConfig, RawDelayed, RawDurability, RawListener, RawLog, RawMqtt, RawNode, RawRetain,
    RawSession, RawShared, RawSys, RawTls, RawWs,
};
pub use trace::{RawTrace, TraceConfig, MAX_TRACES};
pub use validate::MAX_PACKET_SIZE;

/// Parses and validates a whole configuration file; `origin` (usually the file name) prefixes syntax errors.
pub fn parse_str(text: &str, origin: &str) -> Result<Config, ConfigError> {
    RawConfig::parse_str(text, origin)?.validate()
}

impl RawConfig {
    /// Deserializes TOML text without validating values; `origin` prefixes syntax errors.
    pub fn parse_str(text: &str, origin: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| syntax(origin, &e))
    }

    /// Deserializes an already parsed (and possibly layered) table without validating values.
    pub fn from_table(table: toml::Table, origin: &str) -> Result<Self, ConfigError> {
        toml::Value::Table(table)
            .try_into()
            .map_err(|e| syntax(origin, &e))
    }
}

impl Config {
    /// Deserializes and validates an already parsed (and possibly layered) table.
    pub fn from_table(table: toml::Table, origin: &str) -> Result<Self, ConfigError> {
        RawConfig::from_table(table, origin)?.validate()
    }
}

impl Default for Config {
    /// The validated defaults of [`RawConfig::default()`], which is what `config/starling.toml` documents.
    fn default() -> Self {
        match RawConfig::default().validate() {
            Ok(config) => config,
            // Unreachable: the `defaults_validate` test proves the defaults valid.
            Err(e) => panic!("the built-in configuration defaults are invalid: {e}"),
        }
    }
}

fn syntax(origin: &str, e: &toml::de::Error) -> ConfigError {
    ConfigError::Syntax {
        origin: origin.to_owned(),
        message: e.to_string().trim_end().to_owned(),
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_modules;
