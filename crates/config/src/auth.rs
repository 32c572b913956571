//! `[auth]`: who may connect (`[[auth.authn]]`, an ordered chain) and what each client may do
//! with topics (`[[auth.authz]]`), raw and validated.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;
use crate::validate::duration;

/// `[auth]` as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAuth {
    /// Whether a client without a username (that no authenticator claimed) may connect.
    pub allow_anonymous: bool,
    /// `"allow"`, `"deny"`, or `""`: deny when an authz source is configured, else allow.
    pub no_match: String,
    /// `"ignore"` or `"disconnect"`: what a denied PUBLISH costs the client.
    pub deny_action: String,
    /// The first delay before a refused CONNECT is answered (humantime), doubled per failure
    /// from the same address.
    pub failure_delay: String,
    /// The longest such delay.
    pub max_failure_delay: String,
    /// `[[auth.authn]]`: authenticators, asked in order.
    pub authn: Vec<RawAuthn>,
    /// `[[auth.authz]]`: authorization sources, asked in order.
    pub authz: Vec<RawAuthz>,
}

impl Default for RawAuth {
    fn default() -> Self {
        Self {
            allow_anonymous: true,
            no_match: String::new(),
            deny_action: "ignore".to_owned(),
            failure_delay: "500ms".to_owned(),
            max_failure_delay: "5s".to_owned(),
            authn: Vec::new(),
            authz: Vec::new(),
        }
    }
}

/// One `[[auth.authn]]` as written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAuthn {
    /// `"password_file"` or `"x509"`.
    pub kind: String,
    /// The file, for `password_file`.
    pub path: String,
}

/// One `[[auth.authz]]` as written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAuthz {
    /// `"acl_file"`.
    pub kind: String,
    /// The file, for `acl_file`.
    pub path: String,
}

/// `[auth]`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthConfig {
    /// Whether a client without a username that no authenticator claimed may connect.
    pub allow_anonymous: bool,
    /// The decision when no authorization rule matches (`no_match`: `"deny"` by default once
    /// an authz source is configured; with none, nothing is checked at all).
    pub no_match_allows: bool,
    /// Whether a denied PUBLISH also closes the connection (`deny_action = "disconnect"`).
    pub deny_disconnects: bool,
    /// The first delay before a refused CONNECT is answered.
    pub failure_delay: Duration,
    /// The longest such delay.
    pub max_failure_delay: Duration,
    /// The authenticators, in order.
    pub authn: Vec<AuthnConfig>,
    /// The authorization sources, in order; empty: every topic is allowed.
    pub authz: Vec<AuthzConfig>,
}

/// One authenticator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthnConfig {
    /// Mosquitto's password file (`mosquitto_passwd` / `starling passwd`).
    PasswordFile {
        /// The file.
        path: PathBuf,
    },
    /// A client certificate verified by a TLS listener (`verify = "optional"` or `"required"`).
    X509,
}

/// One authorization source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthzConfig {
    /// Mosquitto's ACL file.
    AclFile {
        /// The file.
        path: PathBuf,
    },
}

fn path(key: String, raw: &str, kind: &str) -> Result<PathBuf, ConfigError> {
    if raw.is_empty() {
        return Err(ConfigError::invalid(
            key,
            format!("kind {kind:?} needs a path"),
        ));
    }
    Ok(raw.into())
}

/// Checks `[auth]`.
pub(crate) fn validate(raw: RawAuth) -> Result<AuthConfig, ConfigError> {
    let mut authn = Vec::with_capacity(raw.authn.len());
    for (i, entry) in raw.authn.iter().enumerate() {
        let key = |field: &str| format!("auth.authn[{i}].{field}");
        authn.push(match entry.kind.as_str() {
            "password_file" => AuthnConfig::PasswordFile {
                path: path(key("path"), &entry.path, &entry.kind)?,
            },
            "x509" => {
                if !entry.path.is_empty() {
                    return Err(ConfigError::invalid(
                        key("path"),
                        "kind \"x509\" takes no path (the TLS listener verifies certificates)",
                    ));
                }
                AuthnConfig::X509
            }
            other => {
                return Err(ConfigError::invalid(
                    key("kind"),
                    format!("must be \"password_file\" or \"x509\", got {other:?}"),
                ))
            }
        });
    }
    let mut authz = Vec::with_capacity(raw.authz.len());
    for (i, entry) in raw.authz.iter().enumerate() {
        let key = |field: &str| format!("auth.authz[{i}].{field}");
        authz.push(match entry.kind.as_str() {
            "acl_file" => AuthzConfig::AclFile {
                path: path(key("path"), &entry.path, &entry.kind)?,
            },
            other => {
                return Err(ConfigError::invalid(
                    key("kind"),
                    format!("must be \"acl_file\", got {other:?}"),
                ))
            }
        });
    }
    let no_match_allows = match raw.no_match.as_str() {
        "" => authz.is_empty(),
        "allow" => true,
        "deny" => false,
        other => {
            return Err(ConfigError::invalid(
                "auth.no_match",
                format!("must be \"allow\" or \"deny\", got {other:?}"),
            ))
        }
    };
    let deny_disconnects = match raw.deny_action.as_str() {
        "ignore" => false,
        "disconnect" => true,
        other => {
            return Err(ConfigError::invalid(
                "auth.deny_action",
                format!("must be \"ignore\" or \"disconnect\", got {other:?}"),
            ))
        }
    };
    let failure_delay = duration("auth.failure_delay", &raw.failure_delay)?;
    let max_failure_delay = duration("auth.max_failure_delay", &raw.max_failure_delay)?;
    if max_failure_delay < failure_delay {
        return Err(ConfigError::invalid(
            "auth.max_failure_delay",
            format!(
                "must be at least auth.failure_delay ({}), got {}",
                raw.failure_delay, raw.max_failure_delay
            ),
        ));
    }
    Ok(AuthConfig {
        allow_anonymous: raw.allow_anonymous,
        no_match_allows,
        deny_disconnects,
        failure_delay,
        max_failure_delay,
        authn,
        authz,
    })
}
