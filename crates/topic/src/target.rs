//! [`SubscriptionTarget`]: what a SUBSCRIBE filter string means once special prefixes are read.
//!
//! - `$share/<group>/<filter>`: MQTT 5 shared subscription (also accepted from 3.1.1 clients, as
//!   EMQX does); the group name is non-empty and has no `/`, `+` or `#` ([MQTT-4.8.2-1, -2]).
//! - `$queue/<filter>`: the EMQX shorthand for the share group named `$queue`.
//! - `$exclusive/<filter>`: the EMQX exclusive subscription; at most one subscriber holds it.
//! - anything else is a plain filter (including `$share` or `$queue` without a trailing `/`).

use crate::error::{check_len, TopicError, TopicLimits};
use crate::filter::TopicFilter;

const SHARE: &str = "$share/";
const QUEUE: &str = "$queue/";
const EXCLUSIVE: &str = "$exclusive/";

/// What a SUBSCRIBE filter string means once special prefixes are read.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SubscriptionTarget {
    /// An ordinary filter.
    Plain(TopicFilter),
    /// `$share/<group>/<filter>`; `$queue/<filter>` is the group named `"$queue"`.
    Shared {
        /// The share group name.
        group: String,
        /// The filter the group subscribes to.
        filter: TopicFilter,
    },
    /// `$exclusive/<filter>`.
    Exclusive(TopicFilter),
}

impl SubscriptionTarget {
    /// Reads special prefixes off `s` and validates the remaining filter under `limits`.
    ///
    /// The whole string is held to `limits.max_len`; the level limit applies to the filter
    /// that remains once the prefix is removed.
    pub fn parse(s: &str, limits: &TopicLimits) -> Result<Self, TopicError> {
        check_len(s, limits)?;
        if s.as_bytes().contains(&0) {
            return Err(TopicError::NullCharacter);
        }
        if let Some(rest) = s.strip_prefix(SHARE) {
            let (group, filter) = rest.split_once('/').unwrap_or((rest, ""));
            if group.is_empty() {
                return Err(TopicError::EmptyShareName);
            }
            if group.contains(['+', '#']) {
                return Err(TopicError::InvalidShareName);
            }
            return Ok(Self::Shared {
                group: group.to_owned(),
                filter: shared_filter(filter, limits)?,
            });
        }
        if let Some(filter) = s.strip_prefix(QUEUE) {
            return Ok(Self::Shared {
                group: "$queue".to_owned(),
                filter: shared_filter(filter, limits)?,
            });
        }
        if let Some(filter) = s.strip_prefix(EXCLUSIVE) {
            if filter.is_empty() {
                return Err(TopicError::MissingExclusiveFilter);
            }
            return Ok(Self::Exclusive(TopicFilter::parse(filter, limits)?));
        }
        Ok(Self::Plain(TopicFilter::parse(s, limits)?))
    }

    /// The filter that topics are matched against, without any prefix.
    pub fn filter(&self) -> &TopicFilter {
        match self {
            Self::Plain(filter) | Self::Exclusive(filter) => filter,
            Self::Shared { filter, .. } => filter,
        }
    }
}

fn shared_filter(filter: &str, limits: &TopicLimits) -> Result<TopicFilter, TopicError> {
    if filter.is_empty() {
        return Err(TopicError::MissingSharedFilter);
    }
    TopicFilter::parse(filter, limits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<SubscriptionTarget, TopicError> {
        SubscriptionTarget::parse(s, &TopicLimits::default())
    }

    fn shared(group: &str, filter: &str) -> SubscriptionTarget {
        SubscriptionTarget::Shared {
            group: group.to_owned(),
            filter: TopicFilter::new(filter).unwrap(),
        }
    }

    #[test]
    fn plain_filters() {
        let t = parse("sport/+/#").unwrap();
        assert_eq!(
            t,
            SubscriptionTarget::Plain(TopicFilter::new("sport/+/#").unwrap())
        );
        assert_eq!(t.filter().as_str(), "sport/+/#");
        // Without the trailing '/', the prefixes are ordinary levels.
        assert!(matches!(
            parse("$share").unwrap(),
            SubscriptionTarget::Plain(_)
        ));
        assert!(matches!(
            parse("$queue").unwrap(),
            SubscriptionTarget::Plain(_)
        ));
        assert!(matches!(
            parse("$exclusive").unwrap(),
            SubscriptionTarget::Plain(_)
        ));
        assert_eq!(parse(""), Err(TopicError::Empty));
        assert_eq!(parse("a/#/b"), Err(TopicError::MultiLevelWildcard));
    }

    #[test]
    fn mqtt_4_8_2_shared_subscriptions() {
        assert_eq!(parse("$share/g1/sport/#").unwrap(), shared("g1", "sport/#"));
        assert_eq!(parse("$share/g/$SYS/+").unwrap(), shared("g", "$SYS/+"));
        assert_eq!(parse("$share/g//").unwrap(), shared("g", "/"));
        assert_eq!(parse("$share/g/a").unwrap().filter().as_str(), "a");
    }

    #[test]
    fn mqtt_4_8_2_1_share_name_must_not_be_empty() {
        assert_eq!(parse("$share/"), Err(TopicError::EmptyShareName));
        assert_eq!(parse("$share//a"), Err(TopicError::EmptyShareName));
    }

    #[test]
    fn mqtt_4_8_2_2_share_name_characters() {
        assert_eq!(parse("$share/g+/a"), Err(TopicError::InvalidShareName));
        assert_eq!(parse("$share/+/a"), Err(TopicError::InvalidShareName));
        assert_eq!(parse("$share/#/a"), Err(TopicError::InvalidShareName));
    }

    #[test]
    fn mqtt_4_8_2_2_share_name_must_be_followed_by_a_filter() {
        assert_eq!(parse("$share/group"), Err(TopicError::MissingSharedFilter));
        assert_eq!(parse("$share/group/"), Err(TopicError::MissingSharedFilter));
        assert_eq!(parse("$share/g/a/#/b"), Err(TopicError::MultiLevelWildcard));
    }

    #[test]
    fn queue_is_the_share_group_named_queue() {
        assert_eq!(parse("$queue/a/+").unwrap(), shared("$queue", "a/+"));
        assert_eq!(parse("$queue/"), Err(TopicError::MissingSharedFilter));
        assert_eq!(parse("$queue/a+"), Err(TopicError::SingleLevelWildcard));
    }

    #[test]
    fn exclusive_subscriptions() {
        assert_eq!(
            parse("$exclusive/t/1").unwrap(),
            SubscriptionTarget::Exclusive(TopicFilter::new("t/1").unwrap())
        );
        assert_eq!(parse("$exclusive/t/#").unwrap().filter().as_str(), "t/#");
        assert_eq!(
            parse("$exclusive/"),
            Err(TopicError::MissingExclusiveFilter)
        );
        assert_eq!(parse("$exclusive/#/a"), Err(TopicError::MultiLevelWildcard));
    }

    #[test]
    fn limits_apply_to_the_whole_string_and_the_filter() {
        let limits = TopicLimits {
            max_levels: 2,
            max_len: 16,
        };
        assert!(SubscriptionTarget::parse("$share/g/a/b", &limits).is_ok());
        assert!(matches!(
            SubscriptionTarget::parse("$share/g/a/b/c", &limits),
            Err(TopicError::TooManyLevels { .. })
        ));
        assert!(matches!(
            SubscriptionTarget::parse("$share/group/abcdef", &limits),
            Err(TopicError::TooLong { .. })
        ));
        assert_eq!(parse("$share/g\0/a"), Err(TopicError::NullCharacter));
    }
}
