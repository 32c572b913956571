//! The `jwt` authenticator: a JSON Web Token sent as the MQTT password, as EMQX takes it.
//!
//! # What is checked
//!
//! A password that is not a JWT at all (not three dot-separated base64url parts, or not UTF-8)
//! is not this authenticator's business: the next one decides. Anything shaped like a JWT is
//! this authenticator's to allow or deny, and is denied ([`Refusal::BadCredentials`]) unless:
//!
//! - its header's `alg` is the configured `algorithm` (never `none`, never another family, so
//!   an RSA public key can't be used as an HMAC secret);
//! - its signature verifies with the configured `secret`, `public_key`, or the JWKS key its
//!   header's `kid` names (a token without a `kid`, or with one the file lacks, is denied);
//! - it has an `exp` and `exp` is not past, with **no leeway** (jsonwebtoken's default is 60 s:
//!   set to 0, so a token is refused from the second after its `exp`), and its `nbf`, if any,
//!   is not in the future (no leeway either); `aud` is not checked unless `verify_claims` asks;
//! - every `verify_claims` entry matches: the claim exists and equals the configured value,
//!   `%u` replaced by the username and `%c` by the client id (a string claim compares as is,
//!   a number or a boolean by its JSON text);
//! - its `acl` claim, if any, compiles (see `acl`), within the caps below.
//!
//! A token allowed sets [`Authenticated::expires_at`] to its `exp`, and
//! [`Authenticated::acl`] to its rules.
//!
//! # Caps
//!
//! A token is refused, with a debug log, when it is longer than [`MAX_TOKEN_BYTES`] (MQTT's
//! own limit on a password is 65535 bytes) or carries more than [`acl::MAX_RULES`] rules: a
//! client's token decides what the broker holds for it, so that is bounded.
//!
//! # Keys
//!
//! A `public_key` or `jwks` file is read at start (an error stops the start) and again by
//! [`JwtAuthn::reload`] when it changes; a bad new version keeps the old keys. See `keys`.

pub(crate) mod acl;
mod keys;

pub use keys::JwtKeyError;

use crate::authn::{AllowedBy, Authenticated, Credentials, Outcome, Refusal};
use crate::reload::{Reloadable, Reloaded};
use jsonwebtoken::{DecodingKey, Validation};
use keys::Keys;
use serde_json::{Map, Value};
use starling_config::{JwtAlgorithm, JwtConfig, JwtKey};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tracing::debug;

/// The longest token looked at; a longer one is refused.
pub(crate) const MAX_TOKEN_BYTES: usize = 64 * 1024;

/// Where the keys come from.
enum KeySource {
    /// `secret`: fixed.
    Secret(DecodingKey),
    /// `public_key` or `jwks` (`jwks: true`): a file, reloaded when it changes.
    File { jwks: bool, file: Reloadable<Keys> },
}

/// A configured `jwt` authenticator.
pub(crate) struct JwtAuthn {
    algorithm: JwtAlgorithm,
    keys: KeySource,
    validation: Validation,
    verify_claims: Vec<(String, String)>,
}

impl JwtAuthn {
    /// Reads the key file, if any; an error names it.
    pub(crate) fn load(config: &JwtConfig) -> Result<JwtAuthn, JwtKeyError> {
        let algorithm = config.algorithm;
        let keys = match &config.key {
            JwtKey::Secret(secret) => {
                KeySource::Secret(DecodingKey::from_secret(secret.as_bytes()))
            }
            JwtKey::PublicKey(path) => KeySource::File {
                jwks: false,
                file: Reloadable::load(path, |path: &Path| Keys::load(path, algorithm, false))?,
            },
            JwtKey::Jwks(path) => KeySource::File {
                jwks: true,
                file: Reloadable::load(path, |path: &Path| Keys::load(path, algorithm, true))?,
            },
        };
        let mut validation = Validation::new(keys::algorithm(algorithm));
        validation.leeway = 0;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp"]);
        Ok(JwtAuthn {
            algorithm,
            keys,
            validation,
            verify_claims: config.verify_claims.clone(),
        })
    }

    /// Reads the key file again if it changed.
    pub(crate) fn reload(&self) -> Option<Reloaded<JwtKeyError>> {
        let KeySource::File { jwks, file } = &self.keys else {
            return None;
        };
        let algorithm = self.algorithm;
        file.reload(|path: &Path| Keys::load(path, algorithm, *jwks), Keys::len)
    }

    /// Allows, denies, or passes on (not a JWT).
    pub(crate) fn authenticate(&self, credentials: &Credentials) -> Outcome {
        let Some(token) = credentials
            .password
            .as_deref()
            .and_then(|p| std::str::from_utf8(p).ok())
        else {
            return Outcome::Pass;
        };
        if !looks_like_jwt(token) {
            return Outcome::Pass;
        }
        match self.verify(token, credentials) {
            Ok(authenticated) => Outcome::Allow(authenticated),
            Err(why) => {
                debug!(client_id = credentials.client_id, why, "JWT refused");
                Outcome::Deny(Refusal::BadCredentials)
            }
        }
    }

    /// The token's verdict; `Err` says why it is refused, for the debug log (never quoting
    /// the token).
    fn verify(&self, token: &str, credentials: &Credentials) -> Result<Authenticated, String> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(format!(
                "token of {} bytes, over the cap of {MAX_TOKEN_BYTES}",
                token.len()
            ));
        }
        let file_keys;
        let key = match &self.keys {
            KeySource::Secret(key) => key,
            KeySource::File { file, .. } => {
                file_keys = file.get();
                let kid = jsonwebtoken::decode_header(token)
                    .map_err(|e| format!("bad header: {e}"))?
                    .kid;
                file_keys.pick(kid.as_deref())?
            }
        };
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, key, &self.validation)
            .map_err(|e| format!("{e}"))?
            .claims;
        for (name, template) in &self.verify_claims {
            let expected = expand(template, credentials);
            if !claim_is(claims.get(name), expected.as_deref()) {
                return Err(format!("claim {name:?} does not match"));
            }
        }
        let acl = match claims.get("acl") {
            None => None,
            Some(claim) => acl::compile(claim)
                .map_err(|e| format!("acl claim: {e}"))?
                .map(Arc::new),
        };
        Ok(Authenticated {
            by: AllowedBy::Jwt,
            expires_at: claims.get("exp").and_then(expiry),
            acl,
            superuser: false,
        })
    }
}

/// Three dot-separated parts of base64url text, the first two non-empty (the third, the
/// signature, is empty in an unsigned token: still a JWT, and refused).
fn looks_like_jwt(token: &str) -> bool {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let base64url = |part: &str| {
        part.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_=".contains(&b))
    };
    !header.is_empty()
        && !payload.is_empty()
        && base64url(header)
        && base64url(payload)
        && base64url(signature)
}

/// `template` with `%u` as the username and `%c` as the client id; `None` when it names a
/// username the client did not send.
fn expand(template: &str, credentials: &Credentials) -> Option<String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('u') {
            out.push_str(credentials.username.as_deref()?);
            rest = tail;
        } else if let Some(tail) = after.strip_prefix('c') {
            out.push_str(&credentials.client_id);
            rest = tail;
        } else {
            out.push('%');
            rest = after;
        }
    }
    out.push_str(rest);
    Some(out)
}

/// Whether a claim holds `expected`: a string as is, a number or boolean by its JSON text.
fn claim_is(claim: Option<&Value>, expected: Option<&str>) -> bool {
    let Some(expected) = expected else {
        return false;
    };
    match claim {
        Some(Value::String(text)) => text == expected,
        Some(Value::Number(number)) => number.to_string() == expected,
        Some(Value::Bool(flag)) => expected == if *flag { "true" } else { "false" },
        _ => false,
    }
}

/// `exp` as a time; `None` for one beyond what the clock can hold (never, in practice).
/// jsonwebtoken has already checked it is a non-negative number.
fn expiry(exp: &Value) -> Option<SystemTime> {
    let seconds = match exp {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && *f >= 0.0)
                .map(|f| f.round() as u64)
        })?,
        _ => return None,
    };
    SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests;
