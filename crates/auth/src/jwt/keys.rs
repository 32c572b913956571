//! A `jwt` authenticator's verification keys, from a file: one PEM public key, or the keys of
//! a JWKS file, by `kid`.
//!
//! A PEM file holds an SPKI `PUBLIC KEY` (what `openssl pkey -pubout` writes), or for RSA a
//! PKCS#1 `RSA PUBLIC KEY`; a file holding a private key is refused rather than used.
//!
//! A JWKS file is `{"keys": [...]}` as an identity provider publishes it. Only keys that can
//! verify the configured algorithm are kept: with a `kid`, of the right type (`RSA` for
//! `RS*`, `EC` on the matching curve for `ES*`, `oct` for `HS*`), whose `alg`, if given, is the
//! configured one and whose `use`, if given, is `sig`. Others (encryption keys, other
//! algorithms, kinds jsonwebtoken does not read) are skipped, so a provider's whole set can be
//! used as is; a file left with no key at all is an error. When a `kid` appears twice, the
//! first usable key wins.

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;
use starling_config::JwtAlgorithm;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Key files larger than this are refused: a JWKS of a few keys is a few KiB.
pub(crate) const MAX_FILE_BYTES: u64 = 1 << 20;

/// Why a JWT key file was not loaded; on reload, the previous keys stay in use.
#[derive(Debug, thiserror::Error)]
pub enum JwtKeyError {
    /// The file could not be read.
    #[error("cannot read JWT key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The file is larger than [`MAX_FILE_BYTES`].
    #[error("JWT key file {path} is larger than {MAX_FILE_BYTES} bytes")]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
    /// A `public_key` file holds no usable public key.
    #[error("JWT public key {path}: {reason}")]
    PublicKey {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A `jwks` file is not a JWKS, or has no key usable with the algorithm.
    #[error("JWKS file {path}: {reason}")]
    Jwks {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// The keys of one file.
pub(crate) enum Keys {
    /// A PEM public key: every token is checked with it, whatever its `kid`.
    One(DecodingKey),
    /// A JWKS: a token's `kid` picks the key.
    ByKid(HashMap<String, DecodingKey>),
}

/// jsonwebtoken's name for the algorithm.
pub(crate) fn algorithm(algorithm: JwtAlgorithm) -> Algorithm {
    match algorithm {
        JwtAlgorithm::Hs256 => Algorithm::HS256,
        JwtAlgorithm::Hs384 => Algorithm::HS384,
        JwtAlgorithm::Hs512 => Algorithm::HS512,
        JwtAlgorithm::Rs256 => Algorithm::RS256,
        JwtAlgorithm::Rs384 => Algorithm::RS384,
        JwtAlgorithm::Rs512 => Algorithm::RS512,
        JwtAlgorithm::Es256 => Algorithm::ES256,
        JwtAlgorithm::Es384 => Algorithm::ES384,
    }
}

impl Keys {
    /// Reads `path`: a JWKS file if `jwks`, else a PEM public key.
    pub(crate) fn load(
        path: &Path,
        algorithm: JwtAlgorithm,
        jwks: bool,
    ) -> Result<Keys, JwtKeyError> {
        let bytes = read_bounded(path)?;
        if jwks {
            Self::jwks(&bytes, path, algorithm)
        } else {
            Self::public_key(&bytes, path, algorithm)
        }
    }

    fn public_key(pem: &[u8], path: &Path, algorithm: JwtAlgorithm) -> Result<Keys, JwtKeyError> {
        let error = |reason: String| JwtKeyError::PublicKey {
            path: path.to_owned(),
            reason,
        };
        let text = String::from_utf8_lossy(pem);
        let begin = text.lines().find(|line| line.starts_with("-----BEGIN "));
        match begin {
            None => return Err(error("no PEM block (-----BEGIN ...)".to_owned())),
            Some(line) if line.contains("PRIVATE KEY") => {
                return Err(error(
                    "holds a private key; give the public one (openssl pkey -pubout)".to_owned(),
                ))
            }
            Some(_) => {}
        }
        let key = match algorithm {
            JwtAlgorithm::Rs256 | JwtAlgorithm::Rs384 | JwtAlgorithm::Rs512 => {
                DecodingKey::from_rsa_pem(pem)
            }
            JwtAlgorithm::Es256 | JwtAlgorithm::Es384 => DecodingKey::from_ec_pem(pem),
            // Refused by the configuration: an HMAC algorithm takes a secret.
            JwtAlgorithm::Hs256 | JwtAlgorithm::Hs384 | JwtAlgorithm::Hs512 => {
                return Err(error(format!("{} takes a secret", algorithm.as_str())))
            }
        };
        key.map(Keys::One)
            .map_err(|e| error(format!("not an {} public key ({e})", family(algorithm))))
    }

    fn jwks(json: &[u8], path: &Path, algorithm: JwtAlgorithm) -> Result<Keys, JwtKeyError> {
        let error = |reason: String| JwtKeyError::Jwks {
            path: path.to_owned(),
            reason,
        };
        let set: Value =
            serde_json::from_slice(json).map_err(|e| error(format!("not JSON ({e})")))?;
        let Some(Value::Array(entries)) = set.get("keys") else {
            return Err(error("has no \"keys\" array".to_owned()));
        };
        let mut keys = HashMap::new();
        for entry in entries {
            let Ok(jwk) = serde_json::from_value::<Jwk>(entry.clone()) else {
                continue;
            };
            let Some(kid) = jwk.common.key_id.clone().filter(|kid| !kid.is_empty()) else {
                continue;
            };
            if !fits(&jwk, algorithm) || keys.contains_key(&kid) {
                continue;
            }
            if let Ok(key) = DecodingKey::from_jwk(&jwk) {
                keys.insert(kid, key);
            }
        }
        if keys.is_empty() {
            return Err(error(format!(
                "no key usable with {} (one with a kid, of type {}, and alg and use, if \
                 given, {} and \"sig\")",
                algorithm.as_str(),
                family(algorithm),
                algorithm.as_str()
            )));
        }
        Ok(Keys::ByKid(keys))
    }

    /// How many keys the file gave.
    pub(crate) fn len(&self) -> usize {
        match self {
            Keys::One(_) => 1,
            Keys::ByKid(keys) => keys.len(),
        }
    }

    /// The key for a token whose header has `kid`; `Err` says why there is none.
    pub(crate) fn pick(&self, kid: Option<&str>) -> Result<&DecodingKey, String> {
        match (self, kid) {
            (Keys::One(key), _) => Ok(key),
            (Keys::ByKid(keys), Some(kid)) => keys
                .get(kid)
                .ok_or_else(|| format!("no key with kid {kid:?} in the JWKS")),
            (Keys::ByKid(_), None) => Err("no kid in the header, and keys come from a JWKS".into()),
        }
    }
}

/// The JWK type the algorithm verifies with.
fn family(algorithm: JwtAlgorithm) -> &'static str {
    match algorithm {
        JwtAlgorithm::Hs256 | JwtAlgorithm::Hs384 | JwtAlgorithm::Hs512 => "oct",
        JwtAlgorithm::Rs256 | JwtAlgorithm::Rs384 | JwtAlgorithm::Rs512 => "RSA",
        JwtAlgorithm::Es256 => "EC P-256",
        JwtAlgorithm::Es384 => "EC P-384",
    }
}

/// Whether a JWKS key can verify `algorithm` (see the module's doc).
fn fits(jwk: &Jwk, algorithm: JwtAlgorithm) -> bool {
    if jwk
        .common
        .key_algorithm
        .is_some_and(|alg| alg.to_string() != algorithm.as_str())
    {
        return false;
    }
    if matches!(
        jwk.common.public_key_use,
        Some(PublicKeyUse::Encryption | PublicKeyUse::Other(_))
    ) {
        return false;
    }
    match (&jwk.algorithm, algorithm) {
        (
            AlgorithmParameters::OctetKey(_),
            JwtAlgorithm::Hs256 | JwtAlgorithm::Hs384 | JwtAlgorithm::Hs512,
        ) => true,
        (
            AlgorithmParameters::RSA(_),
            JwtAlgorithm::Rs256 | JwtAlgorithm::Rs384 | JwtAlgorithm::Rs512,
        ) => true,
        (AlgorithmParameters::EllipticCurve(ec), JwtAlgorithm::Es256) => {
            ec.curve == EllipticCurve::P256
        }
        (AlgorithmParameters::EllipticCurve(ec), JwtAlgorithm::Es384) => {
            ec.curve == EllipticCurve::P384
        }
        _ => false,
    }
}

/// Reads `path`, refusing more than [`MAX_FILE_BYTES`].
fn read_bounded(path: &Path) -> Result<Vec<u8>, JwtKeyError> {
    crate::bounded::read(path, MAX_FILE_BYTES)
        .map_err(|source| JwtKeyError::Io {
            path: path.to_owned(),
            source,
        })?
        .ok_or_else(|| JwtKeyError::TooLarge {
            path: path.to_owned(),
        })
}
