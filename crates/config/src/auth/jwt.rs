//! `kind = "jwt"`: a JSON Web Token sent as the MQTT password, checked against a secret, a
//! public key or a JWKS file.

use std::fmt;
use std::path::PathBuf;

use base64::Engine as _;

use super::RawAuthn;
use crate::error::ConfigError;

/// The keys `kind = "jwt"` reads.
pub(super) const KEYS: &[&str] = &[
    "algorithm",
    "secret",
    "secret_base64",
    "public_key",
    "jwks",
    "verify_claims",
];

/// The signature algorithm a token must be signed with (its header's `alg`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtAlgorithm {
    /// HMAC with SHA-256.
    Hs256,
    /// HMAC with SHA-384.
    Hs384,
    /// HMAC with SHA-512.
    Hs512,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    Rs384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    Rs512,
    /// ECDSA on P-256 with SHA-256.
    Es256,
    /// ECDSA on P-384 with SHA-384.
    Es384,
}

impl JwtAlgorithm {
    const ALL: [JwtAlgorithm; 8] = [
        Self::Hs256,
        Self::Hs384,
        Self::Hs512,
        Self::Rs256,
        Self::Rs384,
        Self::Rs512,
        Self::Es256,
        Self::Es384,
    ];

    /// The name a token's header uses, e.g. `"HS256"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hs256 => "HS256",
            Self::Hs384 => "HS384",
            Self::Hs512 => "HS512",
            Self::Rs256 => "RS256",
            Self::Rs384 => "RS384",
            Self::Rs512 => "RS512",
            Self::Es256 => "ES256",
            Self::Es384 => "ES384",
        }
    }

    /// True for the HMAC ones, verified with a shared secret.
    pub fn is_hmac(self) -> bool {
        matches!(self, Self::Hs256 | Self::Hs384 | Self::Hs512)
    }

    fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == name)
    }
}

/// An HMAC secret's bytes; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct JwtSecret(Vec<u8>);

impl JwtSecret {
    /// The key's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for JwtSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JwtSecret(<{} bytes>)", self.0.len())
    }
}

/// Where a token's signature is checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwtKey {
    /// `secret` (decoded if `secret_base64`).
    Secret(JwtSecret),
    /// `public_key`: a PEM file.
    PublicKey(PathBuf),
    /// `jwks`: a JWKS JSON file.
    Jwks(PathBuf),
}

/// `kind = "jwt"`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtConfig {
    /// The algorithm tokens must be signed with.
    pub algorithm: JwtAlgorithm,
    /// What signatures are checked against.
    pub key: JwtKey,
    /// Claims a token must carry, name to value, in name order; `%u` in a value is the
    /// username, `%c` the client id.
    pub verify_claims: Vec<(String, String)>,
}

/// Checks a `kind = "jwt"` entry; `key` names its fields.
pub(super) fn validate(
    entry: &RawAuthn,
    key: &dyn Fn(&str) -> String,
) -> Result<JwtConfig, ConfigError> {
    let algorithm = match entry.algorithm.as_str() {
        "" => {
            return Err(ConfigError::invalid(
                key("algorithm"),
                "kind \"jwt\" needs an algorithm (HS256, HS384, HS512, RS256, RS384, RS512, \
                 ES256 or ES384)",
            ))
        }
        name => JwtAlgorithm::parse(name).ok_or_else(|| {
            ConfigError::invalid(
                key("algorithm"),
                format!(
                    "must be HS256, HS384, HS512, RS256, RS384, RS512, ES256 or ES384, got \
                     {name:?}"
                ),
            )
        })?,
    };
    let jwt_key = key_source(entry, key, algorithm)?;
    let mut verify_claims = Vec::with_capacity(entry.verify_claims.len());
    for (name, value) in &entry.verify_claims {
        if name.is_empty() {
            return Err(ConfigError::invalid(
                key("verify_claims"),
                "a claim name must not be empty",
            ));
        }
        verify_claims.push((name.clone(), value.clone()));
    }
    Ok(JwtConfig {
        algorithm,
        key: jwt_key,
        verify_claims,
    })
}

/// Exactly one of `secret`, `public_key` and `jwks`, fitting the algorithm.
fn key_source(
    entry: &RawAuthn,
    key: &dyn Fn(&str) -> String,
    algorithm: JwtAlgorithm,
) -> Result<JwtKey, ConfigError> {
    let set: Vec<&str> = [
        ("secret", !entry.secret.is_empty()),
        ("public_key", !entry.public_key.is_empty()),
        ("jwks", !entry.jwks.is_empty()),
    ]
    .into_iter()
    .filter_map(|(name, set)| set.then_some(name))
    .collect();
    let source = match set.as_slice() {
        [] if entry.secret_base64 => {
            return Err(ConfigError::invalid(
                key("secret"),
                "secret_base64 is set but secret is empty",
            ))
        }
        [] => {
            return Err(ConfigError::invalid(
                key("secret"),
                "kind \"jwt\" needs exactly one of secret, public_key or jwks",
            ))
        }
        [one] => *one,
        [first, second, ..] => {
            return Err(ConfigError::invalid(
                key(second),
                format!("only one of secret, public_key and jwks may be set; {first} is too"),
            ))
        }
    };
    if entry.secret_base64 && source != "secret" {
        return Err(ConfigError::invalid(
            key("secret_base64"),
            format!("applies to secret only, not to {source}"),
        ));
    }
    let name = algorithm.as_str();
    match source {
        "secret" if !algorithm.is_hmac() => Err(ConfigError::invalid(
            key("secret"),
            format!("algorithm {name} verifies with a public_key or jwks, not a secret"),
        )),
        "public_key" if algorithm.is_hmac() => Err(ConfigError::invalid(
            key("public_key"),
            format!("algorithm {name} verifies with a secret (or jwks), not a public key"),
        )),
        "secret" => secret(entry, key).map(JwtKey::Secret),
        "public_key" => Ok(JwtKey::PublicKey(entry.public_key.clone().into())),
        _ => Ok(JwtKey::Jwks(entry.jwks.clone().into())),
    }
}

fn secret(entry: &RawAuthn, key: &dyn Fn(&str) -> String) -> Result<JwtSecret, ConfigError> {
    if !entry.secret_base64 {
        return Ok(JwtSecret(entry.secret.as_bytes().to_vec()));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(entry.secret.trim())
        .map_err(|_| {
            // Not even base64's message: it would quote a byte of the secret.
            ConfigError::invalid(
                key("secret"),
                "is not valid base64 (standard alphabet, padded), and secret_base64 is set",
            )
        })?;
    if bytes.is_empty() {
        return Err(ConfigError::invalid(key("secret"), "decodes to no bytes"));
    }
    Ok(JwtSecret(bytes))
}
