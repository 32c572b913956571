//! `[auth]`: who may connect (`[[auth.authn]]`, an ordered chain) and what each client may do
//! with topics (`[[auth.authz]]`), raw and validated.

mod http;
mod jwt;
mod scram;

pub use http::{HttpConfig, HttpOnError};
pub use jwt::{JwtAlgorithm, JwtConfig, JwtKey, JwtSecret};
pub use scram::{ScramAlgorithm, ScramConfig};

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;
use crate::validate::{duration, int};

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
    /// The most users the `builtin` authenticator holds.
    pub max_users: i64,
    /// The most rules the `builtin` authorization source holds.
    pub max_rules: i64,
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
            max_users: 100_000,
            max_rules: 100_000,
            authn: Vec::new(),
            authz: Vec::new(),
        }
    }
}

/// One `[[auth.authn]]` as written. Each kind reads its own keys and refuses the others'.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAuthn {
    /// `"builtin"`, `"password_file"`, `"x509"`, `"jwt"`, `"http"` or `"scram"`.
    pub kind: String,
    /// The file, for `password_file`.
    pub path: String,
    /// `jwt`: the signature algorithm tokens must use (`"HS256"`, ..., `"ES384"`).
    #[serde(default)]
    pub algorithm: String,
    /// `jwt`: the HMAC secret (`HS*`).
    #[serde(default)]
    pub secret: String,
    /// `jwt`: `secret` is base64 (standard alphabet), decoded to the key's bytes.
    #[serde(default)]
    pub secret_base64: bool,
    /// `jwt`: a PEM file holding the RSA or EC public key (`RS*`, `ES*`).
    #[serde(default)]
    pub public_key: String,
    /// `jwt`: a JWKS file (JSON `{"keys": [...]}`); a token's `kid` picks its key.
    #[serde(default)]
    pub jwks: String,
    /// `jwt`: claims a token must carry, name to value; `%u` is the username, `%c` the
    /// client id.
    #[serde(default)]
    pub verify_claims: BTreeMap<String, String>,
    /// `http`: the service asked at every CONNECT (`http://` or `https://`).
    #[serde(default)]
    pub url: String,
    /// `http`: how long a request may take (humantime); default `"5s"`.
    #[serde(default)]
    pub timeout: Option<String>,
    /// `http`: how long an answer is remembered (humantime); default `"60s"`, `"0s"`: never.
    #[serde(default)]
    pub cache_ttl: Option<String>,
    /// `http`: how many answers are remembered at most; default 10000.
    #[serde(default)]
    pub cache_size: Option<i64>,
    /// `http`: `"deny"` (default) or `"ignore"`: what a failing service means.
    #[serde(default)]
    pub on_error: Option<String>,
    /// `scram`: the mechanisms offered; default `["SCRAM-SHA-256", "SCRAM-SHA-512"]`.
    #[serde(default)]
    pub algorithms: Option<Vec<String>>,
    /// `scram`: the PBKDF2 iteration count of credentials derived from now on; default 4096.
    #[serde(default)]
    pub iterations: Option<i64>,
}

impl RawAuthn {
    /// The keys this entry sets, besides `kind`.
    fn keys_set(&self) -> impl Iterator<Item = &'static str> {
        [
            ("path", !self.path.is_empty()),
            ("algorithm", !self.algorithm.is_empty()),
            ("secret", !self.secret.is_empty()),
            ("secret_base64", self.secret_base64),
            ("public_key", !self.public_key.is_empty()),
            ("jwks", !self.jwks.is_empty()),
            ("verify_claims", !self.verify_claims.is_empty()),
            ("url", !self.url.is_empty()),
            ("timeout", self.timeout.is_some()),
            ("cache_ttl", self.cache_ttl.is_some()),
            ("cache_size", self.cache_size.is_some()),
            ("on_error", self.on_error.is_some()),
            ("algorithms", self.algorithms.is_some()),
            ("iterations", self.iterations.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
    }

    /// Refuses a key that `kind` does not read (`allowed` are the ones it does).
    fn only(&self, key: &dyn Fn(&str) -> String, allowed: &[&str]) -> Result<(), ConfigError> {
        match self.keys_set().find(|name| !allowed.contains(name)) {
            None => Ok(()),
            Some(name) => {
                let hint = match self.kind.as_str() {
                    "x509" => " (the TLS listener verifies certificates)",
                    "builtin" => " (its users are in the store)",
                    _ => "",
                };
                Err(ConfigError::invalid(
                    key(name),
                    format!("kind {:?} takes no {name}{hint}", self.kind),
                ))
            }
        }
    }
}

/// One `[[auth.authz]]` as written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAuthz {
    /// `"builtin"`, `"acl_file"`, `"jwt"` or `"http"` (the rules those authenticators'
    /// credentials carry, asked at this place in the chain).
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
    /// The most users the `builtin` authenticator holds (`max_users`, 100,000).
    pub max_users: usize,
    /// The most rules the `builtin` authorization source holds (`max_rules`, 100,000).
    pub max_rules: usize,
    /// The authenticators, in order.
    pub authn: Vec<AuthnConfig>,
    /// The authorization sources, in order; empty: every topic is allowed.
    pub authz: Vec<AuthzConfig>,
}

/// One authenticator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthnConfig {
    /// Users kept in the store (argon2id hashes), managed at run time.
    Builtin,
    /// Mosquitto's password file (`mosquitto_passwd` / `starling passwd`).
    PasswordFile {
        /// The file.
        path: PathBuf,
    },
    /// A client certificate verified by a TLS listener (`verify = "optional"` or `"required"`).
    X509,
    /// A JSON Web Token sent as the MQTT password.
    Jwt(JwtConfig),
    /// A web service asked at every CONNECT (EMQX 5's HTTP authentication contract).
    Http(HttpConfig),
    /// MQTT 5.0 enhanced authentication (AUTH packets) with SCRAM, against the `builtin`
    /// users' SCRAM credentials. Asked only by a CONNECT that names a SCRAM method.
    Scram(ScramConfig),
}

/// One authorization source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthzConfig {
    /// Rules kept in the store, managed at run time.
    Builtin,
    /// The rules a JWT carried in its `acl` claim, at this place in the chain.
    JwtClaims,
    /// The rules an `http` authenticator's service put in its allow, at this place in the
    /// chain.
    HttpRules,
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

/// Checks one `[[auth.authn]]`, the `i`th.
fn authenticator(i: usize, entry: &RawAuthn) -> Result<AuthnConfig, ConfigError> {
    let key = |field: &str| format!("auth.authn[{i}].{field}");
    Ok(match entry.kind.as_str() {
        "builtin" => {
            entry.only(&key, &[])?;
            AuthnConfig::Builtin
        }
        "password_file" => {
            entry.only(&key, &["path"])?;
            AuthnConfig::PasswordFile {
                path: path(key("path"), &entry.path, &entry.kind)?,
            }
        }
        "x509" => {
            entry.only(&key, &[])?;
            AuthnConfig::X509
        }
        "jwt" => {
            entry.only(&key, jwt::KEYS)?;
            AuthnConfig::Jwt(jwt::validate(entry, &key)?)
        }
        "http" => {
            entry.only(&key, http::KEYS)?;
            AuthnConfig::Http(http::validate(entry, &key)?)
        }
        "scram" => {
            entry.only(&key, scram::KEYS)?;
            AuthnConfig::Scram(scram::validate(entry, &key)?)
        }
        other => {
            return Err(ConfigError::invalid(
                key("kind"),
                format!(
                    "must be \"builtin\", \"password_file\", \"x509\", \"jwt\", \"http\" or \
                     \"scram\", got {other:?}"
                ),
            ))
        }
    })
}

/// Checks `[auth]`.
pub(crate) fn validate(raw: RawAuth) -> Result<AuthConfig, ConfigError> {
    let mut authn = Vec::with_capacity(raw.authn.len());
    for (i, entry) in raw.authn.iter().enumerate() {
        authn.push(authenticator(i, entry)?);
    }
    let mut authz = Vec::with_capacity(raw.authz.len());
    for (i, entry) in raw.authz.iter().enumerate() {
        let key = |field: &str| format!("auth.authz[{i}].{field}");
        authz.push(match entry.kind.as_str() {
            "builtin" if !entry.path.is_empty() => {
                return Err(ConfigError::invalid(
                    key("path"),
                    "kind \"builtin\" takes no path (its rules are in the store)",
                ))
            }
            "builtin" => AuthzConfig::Builtin,
            "acl_file" => AuthzConfig::AclFile {
                path: path(key("path"), &entry.path, &entry.kind)?,
            },
            kind @ ("jwt" | "http") => {
                if !entry.path.is_empty() {
                    let problem = format!(
                        "kind {kind:?} takes no path (its rules come with the credentials)"
                    );
                    return Err(ConfigError::invalid(key("path"), problem));
                }
                let issued = authn.iter().any(|a| match a {
                    AuthnConfig::Jwt(_) => kind == "jwt",
                    AuthnConfig::Http(_) => kind == "http",
                    _ => false,
                });
                if !issued {
                    let problem = format!(
                        "kind {kind:?} reads the rules a {kind} authenticator's credentials carry: \
                         add an [[auth.authn]] kind = {kind:?}"
                    );
                    return Err(ConfigError::invalid(key("kind"), problem));
                }
                if kind == "jwt" {
                    AuthzConfig::JwtClaims
                } else {
                    AuthzConfig::HttpRules
                }
            }
            other => {
                return Err(ConfigError::invalid(
                    key("kind"),
                    format!(
                        "must be \"builtin\", \"acl_file\", \"jwt\" or \"http\", got {other:?}"
                    ),
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
        max_users: int("auth.max_users", raw.max_users, 1, 100_000_000)?,
        max_rules: int("auth.max_rules", raw.max_rules, 1, 100_000_000)?,
        allow_anonymous: raw.allow_anonymous,
        no_match_allows,
        deny_disconnects,
        failure_delay,
        max_failure_delay,
        authn,
        authz,
    })
}
