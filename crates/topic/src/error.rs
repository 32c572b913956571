//! The one error type of the crate and the limits that validation applies.

/// Limits applied to topic names and topic filters.
///
/// The spec caps a topic at 65,535 bytes ([MQTT-4.7.3-3]); the level cap is a server limit that
/// bounds the work a single topic can cause in the trie.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TopicLimits {
    /// Maximum number of levels (`/`-separated parts) in a name or filter.
    pub max_levels: usize,
    /// Maximum length in bytes of the whole string as received.
    pub max_len: usize,
}

impl TopicLimits {
    /// The default limits: 128 levels, 65,535 bytes.
    pub const DEFAULT: Self = Self {
        max_levels: 128,
        max_len: 65_535,
    };
}

impl Default for TopicLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Why a topic name, topic filter or special-prefix form was rejected.
///
/// Each message cites the spec clause (or, for broker extensions, the rule) it enforces.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    /// The string is empty.
    #[error("topic names and filters must be at least one character long [MQTT-4.7.3-1]")]
    Empty,
    /// The string is longer than allowed.
    #[error("topic is {len} bytes, more than the limit of {max} bytes [MQTT-4.7.3-3]")]
    TooLong {
        /// Length received, in bytes.
        len: usize,
        /// Limit in force.
        max: usize,
    },
    /// The string has more levels than the server allows.
    #[error("topic has {levels} levels, more than the server limit of {max} (server limit, reason code 0x8F/0x90)")]
    TooManyLevels {
        /// Levels received.
        levels: usize,
        /// Limit in force.
        max: usize,
    },
    /// The string contains U+0000.
    #[error("topic must not contain the null character U+0000 [MQTT-4.7.3-2]")]
    NullCharacter,
    /// A topic name contains `+` or `#`.
    #[error("a topic name must not contain the wildcard characters '+' or '#' [MQTT-3.3.2-2]")]
    WildcardInName,
    /// `#` is not alone in its level or not in the last level.
    #[error("'#' must occupy a whole level and be the last level of the filter [MQTT-4.7.1-1]")]
    MultiLevelWildcard,
    /// `+` is not alone in its level.
    #[error("'+' must occupy a whole level of the filter [MQTT-4.7.1-2]")]
    SingleLevelWildcard,
    /// `$share/` is followed by an empty share name.
    #[error(
        "a shared subscription must name a share group of at least one character [MQTT-4.8.2-1]"
    )]
    EmptyShareName,
    /// The share name contains `+` or `#`.
    #[error("a share name must not contain '/', '+' or '#' [MQTT-4.8.2-2]")]
    InvalidShareName,
    /// `$share/<group>` or `$queue/` is not followed by `/` and a topic filter.
    #[error("a share name must be followed by '/' and a topic filter [MQTT-4.8.2-2]")]
    MissingSharedFilter,
    /// `$exclusive/` is not followed by a topic filter.
    #[error("`$exclusive/` must be followed by a topic filter (EMQX exclusive subscription) [MQTT-4.7.3-1]")]
    MissingExclusiveFilter,
    /// The interval of `$delayed/<seconds>/<topic>` is not decimal seconds in `0..=4294967`.
    #[error("the delay of `$delayed/<seconds>/<topic>` must be decimal seconds in 0..=4294967 (EMQX delayed publish)")]
    InvalidDelay,
    /// `$delayed/<seconds>` is not followed by `/` and a topic name.
    #[error("`$delayed/<seconds>/` must be followed by a topic name (EMQX delayed publish) [MQTT-4.7.3-1]")]
    MissingDelayedTopic,
}

/// Checks the rules shared by names and filters; returns nothing, the caller walks levels itself.
pub(crate) fn check_common(s: &str, limits: &TopicLimits) -> Result<(), TopicError> {
    if s.is_empty() {
        return Err(TopicError::Empty);
    }
    if s.len() > limits.max_len {
        return Err(TopicError::TooLong {
            len: s.len(),
            max: limits.max_len,
        });
    }
    if s.as_bytes().contains(&0) {
        return Err(TopicError::NullCharacter);
    }
    let levels = s.bytes().filter(|&b| b == b'/').count() + 1;
    if levels > limits.max_levels {
        return Err(TopicError::TooManyLevels {
            levels,
            max: limits.max_levels,
        });
    }
    Ok(())
}

/// Rejects a string longer than the limit before any prefix is stripped from it.
pub(crate) fn check_len(s: &str, limits: &TopicLimits) -> Result<(), TopicError> {
    if s.len() > limits.max_len {
        return Err(TopicError::TooLong {
            len: s.len(),
            max: limits.max_len,
        });
    }
    Ok(())
}
