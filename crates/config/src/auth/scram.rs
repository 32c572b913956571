//! `kind = "scram"`: MQTT 5.0 enhanced authentication with SCRAM (RFC 5802, RFC 7677) over
//! AUTH packets, against the `builtin` users' SCRAM credentials.

use super::RawAuthn;
use crate::error::ConfigError;
use crate::validate::int;

/// The keys `kind = "scram"` reads.
pub(super) const KEYS: &[&str] = &["algorithms", "iterations"];

/// The lowest iteration count taken (RFC 7677 asks for at least 4096).
const MIN_ITERATIONS: i64 = 4096;
/// The highest (a derivation then takes about a second).
const MAX_ITERATIONS: i64 = 1_000_000;

/// One SCRAM mechanism, by its SASL name (the MQTT Authentication Method).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScramAlgorithm {
    /// `SCRAM-SHA-256` (RFC 7677).
    Sha256,
    /// `SCRAM-SHA-512`.
    Sha512,
}

impl ScramAlgorithm {
    /// Both, in the order they are offered by default.
    pub const ALL: [ScramAlgorithm; 2] = [ScramAlgorithm::Sha256, ScramAlgorithm::Sha512];

    /// The mechanism's name, as an Authentication Method.
    pub fn name(self) -> &'static str {
        match self {
            ScramAlgorithm::Sha256 => "SCRAM-SHA-256",
            ScramAlgorithm::Sha512 => "SCRAM-SHA-512",
        }
    }

    /// The mechanism of that name (exact, as SASL names are compared).
    pub fn from_name(name: &str) -> Option<ScramAlgorithm> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }
}

/// `kind = "scram"`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScramConfig {
    /// The mechanisms a CONNECT may name, without duplicates, never empty.
    pub algorithms: Vec<ScramAlgorithm>,
    /// The PBKDF2 iteration count used when credentials are derived (a user created or its
    /// password changed); stored credentials keep their own.
    pub iterations: u32,
}

impl Default for ScramConfig {
    fn default() -> Self {
        Self {
            algorithms: ScramAlgorithm::ALL.to_vec(),
            iterations: MIN_ITERATIONS as u32,
        }
    }
}

/// Checks a `kind = "scram"` entry; `key` names its fields.
pub(super) fn validate(
    entry: &RawAuthn,
    key: &dyn Fn(&str) -> String,
) -> Result<ScramConfig, ConfigError> {
    let mut config = ScramConfig::default();
    if let Some(names) = &entry.algorithms {
        let key = key("algorithms");
        if names.is_empty() {
            return Err(ConfigError::invalid(
                key,
                "must name at least one of \"SCRAM-SHA-256\", \"SCRAM-SHA-512\"",
            ));
        }
        config.algorithms.clear();
        for name in names {
            let Some(algorithm) = ScramAlgorithm::from_name(name) else {
                return Err(ConfigError::invalid(
                    key,
                    format!("must be \"SCRAM-SHA-256\" or \"SCRAM-SHA-512\", got {name:?}"),
                ));
            };
            if config.algorithms.contains(&algorithm) {
                return Err(ConfigError::invalid(
                    key,
                    format!("{name:?} is listed twice"),
                ));
            }
            config.algorithms.push(algorithm);
        }
    }
    if let Some(iterations) = entry.iterations {
        config.iterations = int(
            &key("iterations"),
            iterations,
            MIN_ITERATIONS,
            MAX_ITERATIONS,
        )?;
    }
    Ok(config)
}
