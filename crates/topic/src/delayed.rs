//! [`DelayedPublish`]: the EMQX `$delayed/<seconds>/<topic>` form of a PUBLISH topic.
//!
//! A PUBLISH to `$delayed/15/a/b` is held by the broker for 15 seconds, then published to `a/b`.
//! The delay is decimal seconds in `0..=4294967` (leading zeros allowed, no sign, no spaces); the
//! rest must be a valid topic name, so it has no wildcards.

use crate::error::{check_len, TopicError, TopicLimits};
use crate::name::TopicName;

const PREFIX: &str = "$delayed/";

/// The largest delay accepted, in seconds (EMQX's limit, about 49.7 days).
pub const MAX_DELAY_SECS: u32 = 4_294_967;

/// A PUBLISH topic of the form `$delayed/<seconds>/<topic>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DelayedPublish {
    /// How long to hold the message, in seconds.
    pub delay_secs: u32,
    /// The topic to publish to once the delay has passed.
    pub topic: TopicName,
}

impl DelayedPublish {
    /// Reads `$delayed/<seconds>/<topic>`; `Ok(None)` when `s` has no `$delayed/` prefix.
    pub fn parse(s: &str, limits: &TopicLimits) -> Result<Option<Self>, TopicError> {
        let Some(rest) = s.strip_prefix(PREFIX) else {
            return Ok(None);
        };
        check_len(s, limits)?;
        let (secs, topic) = rest.split_once('/').unwrap_or((rest, ""));
        let delay_secs = parse_delay(secs)?;
        if topic.is_empty() {
            return Err(TopicError::MissingDelayedTopic);
        }
        let topic = TopicName::parse(topic, limits)?;
        Ok(Some(Self { delay_secs, topic }))
    }
}

fn parse_delay(secs: &str) -> Result<u32, TopicError> {
    if secs.is_empty() || !secs.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TopicError::InvalidDelay);
    }
    let mut value: u32 = 0;
    for digit in secs.bytes().map(|b| u32::from(b - b'0')) {
        value = value * 10 + digit;
        if value > MAX_DELAY_SECS {
            return Err(TopicError::InvalidDelay);
        }
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Option<DelayedPublish>, TopicError> {
        DelayedPublish::parse(s, &TopicLimits::default())
    }

    fn delayed(secs: u32, topic: &str) -> Option<DelayedPublish> {
        Some(DelayedPublish {
            delay_secs: secs,
            topic: TopicName::new(topic).unwrap(),
        })
    }

    #[test]
    fn no_prefix_is_none() {
        assert_eq!(parse("a/b"), Ok(None));
        assert_eq!(parse("$delayed"), Ok(None));
        assert_eq!(parse("x/$delayed/1/a"), Ok(None));
    }

    #[test]
    fn bounds_of_the_delay() {
        assert_eq!(parse("$delayed/0/a"), Ok(delayed(0, "a")));
        assert_eq!(parse("$delayed/4294967/a/b"), Ok(delayed(4_294_967, "a/b")));
        assert_eq!(parse("$delayed/4294968/a"), Err(TopicError::InvalidDelay));
        assert_eq!(
            parse("$delayed/99999999999999999999999/a"),
            Err(TopicError::InvalidDelay)
        );
        assert_eq!(parse("$delayed/0004294967/a"), Ok(delayed(4_294_967, "a")));
    }

    #[test]
    fn delay_must_be_decimal_digits() {
        for s in [
            "$delayed//a",
            "$delayed/-1/a",
            "$delayed/+1/a",
            "$delayed/1.5/a",
            "$delayed/ 1/a",
            "$delayed/0x10/a",
            "$delayed/abc/a",
            "$delayed/+/a",
            "$delayed/١/a",
        ] {
            assert_eq!(parse(s), Err(TopicError::InvalidDelay), "{s}");
        }
    }

    #[test]
    fn missing_topic() {
        assert_eq!(parse("$delayed/10"), Err(TopicError::MissingDelayedTopic));
        assert_eq!(parse("$delayed/10/"), Err(TopicError::MissingDelayedTopic));
        assert_eq!(parse("$delayed/"), Err(TopicError::InvalidDelay));
    }

    #[test]
    fn topic_keeps_its_levels() {
        assert_eq!(parse("$delayed/5//a/"), Ok(delayed(5, "/a/")));
        assert_eq!(parse("$delayed/5/$SYS/x"), Ok(delayed(5, "$SYS/x")));
    }

    #[test]
    fn mqtt_3_3_2_2_wildcard_topic_is_rejected() {
        assert_eq!(parse("$delayed/10/a/+"), Err(TopicError::WildcardInName));
        assert_eq!(parse("$delayed/10/#"), Err(TopicError::WildcardInName));
    }

    #[test]
    fn limits_apply() {
        let limits = TopicLimits {
            max_levels: 2,
            max_len: 20,
        };
        assert!(DelayedPublish::parse("$delayed/1/a/b", &limits).is_ok());
        assert!(matches!(
            DelayedPublish::parse("$delayed/1/a/b/c", &limits),
            Err(TopicError::TooManyLevels { .. })
        ));
        assert!(matches!(
            DelayedPublish::parse("$delayed/1/abcdefghijkl", &limits),
            Err(TopicError::TooLong { .. })
        ));
    }
}
