//! The `http` authenticator: a web service decides, with EMQX 5's contract, so services
//! written for EMQX answer Starling unchanged.
//!
//! # The exchange
//!
//! At every CONNECT not answered from the cache, `POST url` with
//!
//! ```json
//! {"clientid": "c1", "username": "alice", "password": "s3cret", "peerhost": "192.0.2.7"}
//! ```
//!
//! (`Content-Type: application/json`; a missing username or password, or an unknown address,
//! is `""`; the password is sent as UTF-8, invalid bytes replaced). The service answers:
//!
//! - `200` with `{"result": "allow"}`, `{"result": "deny"}` or `{"result": "ignore"}`: the
//!   client is let in, refused ([`Refusal::BadCredentials`]), or passed to the next
//!   authenticator. An allow may say `"is_superuser": true` (no ACL check applies to the
//!   client) and carry the client's ACL rules, `"acl": [{"permission": "allow", "action":
//!   "publish", "topic": "t/${clientid}/#"}, ...]` (EMQX 5's form, as in a JWT's `acl` claim),
//!   compiled into the client's own trie and asked before `[[auth.authz]]`: this is how an
//!   HTTP service decides what a client may do, at the cost of a trie walk per check rather
//!   than a request. Other fields are ignored;
//! - `204`: allow.
//!
//! Anything else is a service error: another status (redirects are not followed), a body that
//! is not that JSON or is longer than [`MAX_BODY_BYTES`], no answer within `timeout`. Then
//! `on_error` decides: `deny` refuses the client ([`Refusal::NotAuthorized`]: the client's
//! credentials were not judged wrong), `ignore` passes it on. Each such error logs a warning
//! with the URL and the reason, never the password. No proxy is used, whatever the
//! environment says: the service is the operator's own.
//!
//! For `https://`, the server certificate is checked against the system's trust store, as
//! `starling pub`/`sub` do (rustls over ring); with no CA there, every request fails, which a
//! warning says at start.
//!
//! # The cache
//!
//! An allow or a deny is remembered for `cache_ttl` (see `cache`), so that a client that
//! reconnects in a loop costs the service one request per `cache_ttl`; `ignore` and errors
//! are not remembered. The time a request takes is spent on the broker's blocking thread.

mod cache;

use crate::acl::AclTrie;
use crate::authn::{AllowedBy, Authenticated, Credentials, Outcome, Refusal};
use cache::{Cache, CacheKey};
use serde::Serialize;
use starling_config::{HttpConfig, HttpOnError};
use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use tracing::warn;
use ureq::tls::{Certificate, RootCerts, TlsConfig};
use zeroize::Zeroize as _;

/// The longest answer read; a longer one is a service error.
pub(crate) const MAX_BODY_BYTES: u64 = 64 * 1024;

/// An `http` authenticator could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The URL is not one the client can use.
    #[error("http authenticator: bad url {url:?}: {reason}")]
    Url {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
}

/// What the service said.
#[derive(Debug, Clone)]
enum Answer {
    /// Let in, as a superuser or not, with the rules the answer carried (if any).
    Allow {
        superuser: bool,
        acl: Option<Arc<AclTrie>>,
    },
    Deny,
    Ignore,
}

impl Answer {
    const ALLOW: Answer = Answer::Allow {
        superuser: false,
        acl: None,
    };
}

/// Why the service gave no answer.
#[derive(Debug)]
enum ServiceError {
    /// No response: connection, TLS, timeout.
    Request(ureq::Error),
    /// A status other than 200 and 204.
    Status(u16),
    /// A 200 whose body is not `{"result": ...}`.
    Body(String),
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceError::Request(error) => write!(f, "{error}"),
            ServiceError::Status(status) => write!(f, "status {status}"),
            ServiceError::Body(why) => write!(f, "bad answer: {why}"),
        }
    }
}

/// The request body; borrowed, so that the password is copied only into the bytes sent,
/// which are wiped after.
#[derive(Serialize)]
struct Request<'a> {
    clientid: &'a str,
    username: &'a str,
    password: Cow<'a, str>,
    peerhost: String,
}

/// A configured `http` authenticator.
pub(crate) struct HttpAuthn {
    agent: ureq::Agent,
    url: String,
    on_error: HttpOnError,
    cache: Cache,
}

impl HttpAuthn {
    /// Sets up the client (no request is made).
    pub(crate) fn load(config: &HttpConfig) -> Result<HttpAuthn, HttpError> {
        let url = &config.url;
        let uri = ureq::http::Uri::try_from(url.as_str()).map_err(|e| HttpError::Url {
            url: url.clone(),
            reason: e.to_string(),
        })?;
        let tls = match uri.scheme_str() {
            Some("https") => tls(),
            // Never used; ureq's default would want Mozilla's roots, which are not built in.
            _ => TlsConfig::builder()
                .root_certs(RootCerts::new_with_certs(&[]))
                .build(),
        };
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(config.timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .proxy(None)
            .tls_config(tls)
            .build()
            .new_agent();
        Ok(HttpAuthn {
            agent,
            url: url.clone(),
            on_error: config.on_error,
            cache: Cache::new(config.cache_ttl, config.cache_size),
        })
    }

    /// Allows, denies, or passes on, from the cache or the service.
    pub(crate) fn authenticate(&self, credentials: &Credentials) -> Outcome {
        let key = self.cache.key(credentials);
        let answer = match self.cache.get(&key) {
            Some(answer) => answer,
            None => match self.ask(credentials) {
                Ok(answer) => {
                    self.remember(key, answer.clone());
                    answer
                }
                Err(error) => {
                    warn!(url = self.url, client_id = credentials.client_id, %error,
                        on_error = ?self.on_error, "authentication service failed");
                    return match self.on_error {
                        HttpOnError::Deny => Outcome::Deny(Refusal::NotAuthorized),
                        HttpOnError::Ignore => Outcome::Pass,
                    };
                }
            },
        };
        match answer {
            Answer::Allow { superuser, acl } => Outcome::Allow(Authenticated {
                superuser,
                acl,
                ..Authenticated::by(AllowedBy::Http)
            }),
            Answer::Deny => Outcome::Deny(Refusal::BadCredentials),
            Answer::Ignore => Outcome::Pass,
        }
    }

    fn remember(&self, key: CacheKey, answer: Answer) {
        match answer {
            Answer::Allow { .. } | Answer::Deny => self.cache.put(key, answer),
            Answer::Ignore => {}
        }
    }

    /// One request. Blocking, at most `timeout`.
    fn ask(&self, credentials: &Credentials) -> Result<Answer, ServiceError> {
        let request = Request {
            clientid: &credentials.client_id,
            username: credentials.username.as_deref().unwrap_or_default(),
            password: String::from_utf8_lossy(credentials.password.as_deref().unwrap_or_default()),
            peerhost: credentials
                .peer
                .map(|ip| ip.to_string())
                .unwrap_or_default(),
        };
        let mut body = match serde_json::to_vec(&request) {
            Ok(body) => body,
            // Unreachable: strings always serialize.
            Err(e) => return Err(ServiceError::Body(e.to_string())),
        };
        if let Cow::Owned(mut password) = request.password {
            password.zeroize();
        }
        let sent = self
            .agent
            .post(&self.url)
            .content_type("application/json")
            .send(&body[..]);
        body.zeroize();
        let mut response = sent.map_err(ServiceError::Request)?;
        match response.status().as_u16() {
            204 => Ok(Answer::ALLOW),
            200 => {
                let text = response
                    .body_mut()
                    .with_config()
                    .limit(MAX_BODY_BYTES)
                    .read_to_string()
                    .map_err(ServiceError::Request)?;
                parse_answer(&text).map_err(ServiceError::Body)
            }
            status => Err(ServiceError::Status(status)),
        }
    }
}

/// `{"result": "allow" | "deny" | "ignore"}`; an allow may carry `"is_superuser": true` and
/// `"acl": [...]` (the client's rules, in the form of a JWT's `acl` claim: `crate::jwt::acl`).
fn parse_answer(text: &str) -> Result<Answer, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not JSON ({e})"))?;
    match value.get("result").and_then(serde_json::Value::as_str) {
        Some("allow") => {
            let superuser = match value.get("is_superuser") {
                None | Some(serde_json::Value::Null) => false,
                Some(serde_json::Value::Bool(b)) => *b,
                Some(other) => return Err(format!("is_superuser {other}, not a boolean")),
            };
            let acl = match value.get("acl") {
                None | Some(serde_json::Value::Null) => None,
                // A rule that cannot be read refuses the answer (a service error): dropping
                // it could grant more than the service meant.
                Some(rules) => crate::jwt::acl::compile(rules)
                    .map_err(|e| format!("acl: {e}"))?
                    .map(Arc::new),
            };
            Ok(Answer::Allow { superuser, acl })
        }
        Some("deny") => Ok(Answer::Deny),
        Some("ignore") => Ok(Answer::Ignore),
        Some(other) => Err(format!("result {other:?}, not allow, deny or ignore")),
        None => Err("no \"result\" string".to_owned()),
    }
}

/// The TLS setup for an `https://` service: ring, and the system's trust store.
fn tls() -> TlsConfig {
    let found = rustls_native_certs::load_native_certs();
    if found.certs.is_empty() {
        let why = found.errors.first().map(ToString::to_string);
        warn!(
            error = why,
            "no CA certificate in the system's trust store: the http authenticator cannot \
             verify its service, and every request will fail"
        );
    }
    let certs: Vec<Certificate<'static>> = found
        .certs
        .iter()
        .map(|der| Certificate::from_der(der.as_ref()).to_owned())
        .collect();
    TlsConfig::builder()
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .root_certs(RootCerts::new_with_certs(&certs))
        .build()
}

#[cfg(test)]
mod tests;
