//! `kind = "http"`: a web service asked at every CONNECT, with EMQX 5's contract.

use std::time::Duration;

use super::RawAuthn;
use crate::error::ConfigError;
use crate::validate::duration;

/// The keys `kind = "http"` reads.
pub(super) const KEYS: &[&str] = &["url", "timeout", "cache_ttl", "cache_size", "on_error"];

const MIN_TIMEOUT: Duration = Duration::from_millis(100);
const MAX_TIMEOUT: Duration = Duration::from_secs(60);
const MAX_CACHE_SIZE: i64 = 1_000_000;

/// What a failing service (unreachable, too slow, an unexpected status or body) means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpOnError {
    /// The client is refused.
    Deny,
    /// The client passes to the next authenticator.
    Ignore,
}

/// `kind = "http"`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    /// Where each CONNECT is POSTed (`http://` or `https://`).
    pub url: String,
    /// How long a request may take, connecting included.
    pub timeout: Duration,
    /// How long an allow or deny is remembered; zero: answers are not remembered.
    pub cache_ttl: Duration,
    /// How many answers are remembered at most; zero: none.
    pub cache_size: usize,
    /// What a failing service means.
    pub on_error: HttpOnError,
}

/// Checks a `kind = "http"` entry; `key` names its fields.
pub(super) fn validate(
    entry: &RawAuthn,
    key: &dyn Fn(&str) -> String,
) -> Result<HttpConfig, ConfigError> {
    let url = url(&key("url"), &entry.url)?;
    let timeout_key = key("timeout");
    let timeout = duration(&timeout_key, entry.timeout.as_deref().unwrap_or("5s"))?;
    if !(MIN_TIMEOUT..=MAX_TIMEOUT).contains(&timeout) {
        return Err(ConfigError::invalid(
            timeout_key,
            format!(
                "must be between 100ms and 60s, got {}",
                entry.timeout.as_deref().unwrap_or_default()
            ),
        ));
    }
    let cache_ttl = duration(
        &key("cache_ttl"),
        entry.cache_ttl.as_deref().unwrap_or("60s"),
    )?;
    let cache_size = match entry.cache_size.unwrap_or(10_000) {
        n @ 0..=MAX_CACHE_SIZE => n as usize,
        n => {
            return Err(ConfigError::invalid(
                key("cache_size"),
                format!("must be between 0 and {MAX_CACHE_SIZE}, got {n}"),
            ))
        }
    };
    let on_error = match entry.on_error.as_deref().unwrap_or("deny") {
        "deny" => HttpOnError::Deny,
        "ignore" => HttpOnError::Ignore,
        other => {
            return Err(ConfigError::invalid(
                key("on_error"),
                format!("must be \"deny\" or \"ignore\", got {other:?}"),
            ))
        }
    };
    Ok(HttpConfig {
        url,
        timeout,
        cache_ttl,
        cache_size,
        on_error,
    })
}

/// An `http://` or `https://` URL with a host; the client parses the rest when it loads.
fn url(key: &str, raw: &str) -> Result<String, ConfigError> {
    if raw.is_empty() {
        return Err(ConfigError::invalid(key, "kind \"http\" needs a url"));
    }
    let Some(rest) = raw
        .strip_prefix("http://")
        .or_else(|| raw.strip_prefix("https://"))
    else {
        return Err(ConfigError::invalid(
            key,
            format!("must start with http:// or https://, got {raw:?}"),
        ));
    };
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ConfigError::invalid(
            key,
            format!("must not contain blanks, got {raw:?}"),
        ));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    if host.is_empty() || host.starts_with(':') {
        return Err(ConfigError::invalid(
            key,
            format!("has no host, got {raw:?}"),
        ));
    }
    Ok(raw.to_owned())
}
