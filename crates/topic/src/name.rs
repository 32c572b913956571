//! [`TopicName`]: the validated topic of a PUBLISH.

use std::fmt;
use std::sync::Arc;

use crate::error::{check_common, TopicError, TopicLimits};

/// A topic name: non-empty, no `+` or `#`, no U+0000, within [`TopicLimits`].
///
/// Cheap to clone: the string lives behind an `Arc<str>`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicName(Arc<str>);

impl TopicName {
    /// Validates `s` as a topic name under `limits`.
    pub fn parse(s: &str, limits: &TopicLimits) -> Result<Self, TopicError> {
        check_common(s, limits)?;
        if s.bytes().any(|b| b == b'+' || b == b'#') {
            return Err(TopicError::WildcardInName);
        }
        Ok(Self(Arc::from(s)))
    }

    /// Validates `s` as a topic name under the default limits.
    pub fn new(s: &str) -> Result<Self, TopicError> {
        Self::parse(s, &TopicLimits::DEFAULT)
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True when the name starts with `$` (e.g. `$SYS/...`): wildcards at the first level of a
    /// filter do not match it ([MQTT-4.7.2-1]).
    pub fn is_system(&self) -> bool {
        self.0.starts_with('$')
    }

    /// True for `$SYS` and `$SYS/...`, the broker's own topics, which clients may not publish
    /// to; `$SYSTEM/x` or `$SYS2` are not (a plain prefix test would refuse them too).
    pub fn is_sys(&self) -> bool {
        self.0
            .strip_prefix("$SYS")
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }

    /// The levels of the name, in order; empty levels are real levels (`"a//b"` has three).
    pub fn levels(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }
}

impl fmt::Debug for TopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TopicName").field(&&*self.0).finish()
    }
}

impl fmt::Display for TopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for TopicName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl TryFrom<&str> for TopicName {
    type Error = TopicError;

    fn try_from(s: &str) -> Result<Self, TopicError> {
        Self::new(s)
    }
}

impl std::str::FromStr for TopicName {
    type Err = TopicError;

    fn from_str(s: &str) -> Result<Self, TopicError> {
        Self::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mqtt_4_7_3_1_empty_name_is_rejected() {
        assert_eq!(TopicName::new(""), Err(TopicError::Empty));
    }

    #[test]
    fn mqtt_4_7_3_2_null_character_is_rejected() {
        assert_eq!(TopicName::new("a\0b"), Err(TopicError::NullCharacter));
    }

    #[test]
    fn mqtt_4_7_3_3_length_limit() {
        let max = "a".repeat(65_535);
        assert!(TopicName::new(&max).is_ok());
        let over = "a".repeat(65_536);
        assert_eq!(
            TopicName::new(&over),
            Err(TopicError::TooLong {
                len: 65_536,
                max: 65_535
            })
        );
    }

    #[test]
    fn level_limit_is_applied() {
        let limits = TopicLimits {
            max_levels: 3,
            max_len: 100,
        };
        assert!(TopicName::parse("a/b/c", &limits).is_ok());
        assert_eq!(
            TopicName::parse("a/b/c/d", &limits),
            Err(TopicError::TooManyLevels { levels: 4, max: 3 })
        );
        // 127 separators make 128 levels: the default limit exactly.
        assert!(TopicName::new(&"a/".repeat(127)).is_ok());
        assert!(matches!(
            TopicName::new(&"a/".repeat(128)),
            Err(TopicError::TooManyLevels { levels: 129, .. })
        ));
    }

    #[test]
    fn mqtt_3_3_2_2_wildcards_are_rejected_in_names() {
        for s in ["+", "#", "a/+", "a/#", "a+b", "sport/tennis#"] {
            assert_eq!(TopicName::new(s), Err(TopicError::WildcardInName), "{s}");
        }
    }

    #[test]
    fn levels_keep_empty_levels() {
        let t = TopicName::new("/a//b/").unwrap();
        assert_eq!(t.levels().collect::<Vec<_>>(), ["", "a", "", "b", ""]);
        assert_eq!(TopicName::new("/").unwrap().levels().count(), 2);
    }

    #[test]
    fn system_topics_start_with_dollar() {
        assert!(TopicName::new("$SYS/broker").unwrap().is_system());
        assert!(!TopicName::new("a/$SYS").unwrap().is_system());
    }

    #[test]
    fn sys_is_the_sys_level_only() {
        for s in ["$SYS", "$SYS/", "$SYS/broker/x"] {
            assert!(TopicName::new(s).unwrap().is_sys(), "{s}");
        }
        for s in [
            "$SYSTEM/x",
            "$SYS2",
            "$sys/x",
            "a/$SYS",
            "SYS/x",
            "$delayed/1/$SYS/x",
        ] {
            assert!(!TopicName::new(s).unwrap().is_sys(), "{s}");
        }
    }

    #[test]
    fn spaces_and_unicode_are_allowed() {
        assert!(TopicName::new("sport / tennis").is_ok());
        assert!(TopicName::new("température/°C").is_ok());
    }
}
