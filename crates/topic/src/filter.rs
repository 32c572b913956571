//! [`TopicFilter`]: the validated filter of a SUBSCRIBE, and the naive reference matcher.

use std::fmt;
use std::sync::Arc;

use crate::error::{check_common, TopicError, TopicLimits};
use crate::name::TopicName;

/// A topic filter: non-empty, `#` only as the whole last level, `+` only as a whole level.
///
/// Cheap to clone: the string lives behind an `Arc<str>`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicFilter(Arc<str>);

impl TopicFilter {
    /// Validates `s` as a topic filter under `limits`.
    pub fn parse(s: &str, limits: &TopicLimits) -> Result<Self, TopicError> {
        check_common(s, limits)?;
        let mut levels = s.split('/').peekable();
        while let Some(level) = levels.next() {
            if level.contains('#') && (level != "#" || levels.peek().is_some()) {
                return Err(TopicError::MultiLevelWildcard);
            }
            if level.contains('+') && level != "+" {
                return Err(TopicError::SingleLevelWildcard);
            }
        }
        Ok(Self(Arc::from(s)))
    }

    /// Validates `s` as a topic filter under the default limits.
    pub fn new(s: &str) -> Result<Self, TopicError> {
        Self::parse(s, &TopicLimits::DEFAULT)
    }

    /// The filter as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True when the filter contains `+` or `#`.
    pub fn has_wildcards(&self) -> bool {
        self.0.bytes().any(|b| b == b'+' || b == b'#')
    }

    /// The levels of the filter, in order; empty levels are real levels.
    pub fn levels(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }

    /// Naive reference matcher: does this filter match `topic`?
    ///
    /// `+` matches exactly one level (possibly empty), `#` matches the parent level and any number
    /// of child levels, and a filter whose first level is a wildcard does not match a topic that
    /// starts with `$` ([MQTT-4.7.2-1]). The trie is tested against this function.
    pub fn matches(&self, topic: &TopicName) -> bool {
        let mut filter = self.levels();
        let mut name = topic.levels();
        if topic.is_system() && (self.0.starts_with('+') || self.0.starts_with('#')) {
            return false;
        }
        loop {
            match (filter.next(), name.next()) {
                (Some("#"), _) => return true,
                (Some("+"), Some(_)) => {}
                (Some(f), Some(n)) if f == n => {}
                (None, None) => return true,
                _ => return false,
            }
        }
    }
}

impl fmt::Debug for TopicFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TopicFilter").field(&&*self.0).finish()
    }
}

impl fmt::Display for TopicFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for TopicFilter {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl TryFrom<&str> for TopicFilter {
    type Error = TopicError;

    fn try_from(s: &str) -> Result<Self, TopicError> {
        Self::new(s)
    }
}

impl std::str::FromStr for TopicFilter {
    type Err = TopicError;

    fn from_str(s: &str) -> Result<Self, TopicError> {
        Self::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(filter: &str, topic: &str) -> bool {
        TopicFilter::new(filter)
            .unwrap()
            .matches(&TopicName::new(topic).unwrap())
    }

    #[test]
    fn mqtt_4_7_3_1_empty_filter_is_rejected() {
        assert_eq!(TopicFilter::new(""), Err(TopicError::Empty));
    }

    #[test]
    fn mqtt_4_7_3_2_null_character_is_rejected() {
        assert_eq!(TopicFilter::new("a/\0"), Err(TopicError::NullCharacter));
    }

    #[test]
    fn mqtt_4_7_3_3_length_limit() {
        assert!(matches!(
            TopicFilter::new(&"a".repeat(65_536)),
            Err(TopicError::TooLong { .. })
        ));
    }

    #[test]
    fn mqtt_4_7_1_1_multi_level_wildcard_placement() {
        for ok in ["#", "a/#", "/#", "+/#", "a//#"] {
            assert!(TopicFilter::new(ok).is_ok(), "{ok}");
        }
        for bad in ["a#", "a/#/b", "#/", "##", "a/b#", "#/a", "a/#/#"] {
            assert_eq!(
                TopicFilter::new(bad),
                Err(TopicError::MultiLevelWildcard),
                "{bad}"
            );
        }
    }

    #[test]
    fn mqtt_4_7_1_2_single_level_wildcard_placement() {
        for ok in ["+", "+/tennis/#", "sport/+/player1", "/+", "+/+", "+//+"] {
            assert!(TopicFilter::new(ok).is_ok(), "{ok}");
        }
        for bad in ["sport+", "a/b+/c", "++", "+a"] {
            assert_eq!(
                TopicFilter::new(bad),
                Err(TopicError::SingleLevelWildcard),
                "{bad}"
            );
        }
    }

    #[test]
    fn has_wildcards() {
        assert!(!TopicFilter::new("a/b").unwrap().has_wildcards());
        assert!(TopicFilter::new("a/+").unwrap().has_wildcards());
        assert!(TopicFilter::new("#").unwrap().has_wildcards());
    }

    #[test]
    fn mqtt_4_7_1_multi_level_wildcard_matches_parent_and_children() {
        assert!(m("sport/tennis/player1/#", "sport/tennis/player1"));
        assert!(m("sport/tennis/player1/#", "sport/tennis/player1/ranking"));
        assert!(m(
            "sport/tennis/player1/#",
            "sport/tennis/player1/score/wimbledon"
        ));
        assert!(m("sport/#", "sport"));
        assert!(m("#", "a/b/c"));
        assert!(!m("sport/#", "sports"));
    }

    #[test]
    fn mqtt_4_7_1_single_level_wildcard_matches_one_level() {
        assert!(m("sport/tennis/+", "sport/tennis/player1"));
        assert!(!m("sport/tennis/+", "sport/tennis/player1/ranking"));
        assert!(!m("sport/+", "sport"));
        assert!(m("sport/+", "sport/"));
        assert!(m("+/+", "/finance"));
        assert!(m("/+", "/finance"));
        assert!(!m("+", "/finance"));
        assert!(m("+/+", "/"));
        assert!(m("a/+/b", "a//b"));
    }

    #[test]
    fn mqtt_4_7_2_1_wildcards_do_not_match_dollar_topics() {
        assert!(!m("#", "$SYS/monitor/Clients"));
        assert!(!m("+/monitor/Clients", "$SYS/monitor/Clients"));
        assert!(m("$SYS/#", "$SYS/monitor/Clients"));
        assert!(m("$SYS/monitor/+", "$SYS/monitor/Clients"));
        assert!(m("$SYS/#", "$SYS"));
        assert!(m("a/+", "a/$b"));
    }

    #[test]
    fn exact_levels_are_case_sensitive() {
        assert!(m("ACCOUNTS", "ACCOUNTS"));
        assert!(!m("ACCOUNTS", "Accounts"));
        assert!(!m("a/b", "a/b/"));
        assert!(m("a//b", "a//b"));
    }
}
