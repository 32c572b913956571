//! The one error type of this crate.

/// Why a configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The text is not TOML, or a key is unknown or of the wrong type; `message` names the key.
    #[error("{origin}: {message}")]
    Syntax {
        /// Where the text came from, usually a file name.
        origin: String,
        /// toml's message, which names the key and, for text, the line.
        message: String,
    },
    /// A value is well typed but not acceptable.
    #[error("{key}: {problem}")]
    Invalid {
        /// The key's path, e.g. `mqtt.max_packet_size` or `listener[1].bind`.
        key: String,
        /// What is wrong with the value, including the value itself.
        problem: String,
    },
}

impl ConfigError {
    /// An [`ConfigError::Invalid`] for `key`.
    pub(crate) fn invalid(key: impl Into<String>, problem: impl Into<String>) -> Self {
        Self::Invalid {
            key: key.into(),
            problem: problem.into(),
        }
    }
}
