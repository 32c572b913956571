//! What a client may publish: the checks a PUBLISH and a will share, so that a message refused
//! on one path cannot come in through the other (a will to `$SYS/...` would be a broker-looking
//! message on a topic subscribers trust).
//!
//! - The broker's own topics, `$SYS` and `$SYS/...`, are not writable by clients, directly or
//!   through delayed publish (`$delayed/<s>/$SYS/...` would be published to `$SYS/...` later).
//!   `$SYSTEM/x` is an ordinary topic.
//! - With delayed publish enabled, a `$delayed/...` topic must be well formed (a delay of
//!   0..=4294967 seconds and an inner topic name): the router could not route it anywhere, so it
//!   is refused up front instead of being acknowledged and silently dropped. With delayed
//!   publish disabled, `$delayed/...` is an ordinary topic.
//! - User properties are capped in count and bytes: each is copied into the stored message and
//!   cloned into every outgoing PUBLISH.

use crate::limits::ServerLimits;
use starling_codec::{ReasonCode, Utf8String};
use starling_topic::{DelayedPublish, TopicName};

/// Why a client may not publish to `topic`, if it may not: Not authorized (0x87) for `$SYS`,
/// Topic Name invalid (0x90) for a malformed `$delayed/...` topic while delayed publish is on.
pub fn topic_refusal(topic: &TopicName, limits: &ServerLimits) -> Option<ReasonCode> {
    if !limits.delayed_enabled() {
        return topic.is_sys().then_some(ReasonCode::NotAuthorized);
    }
    match DelayedPublish::parse(topic.as_str(), &limits.topic) {
        Ok(Some(delayed)) => delayed.topic.is_sys().then_some(ReasonCode::NotAuthorized),
        Ok(None) => topic.is_sys().then_some(ReasonCode::NotAuthorized),
        // Spec 3.3.2.1 / table 2-6: 0x90, "the Topic Name is not malformed, but is not
        // accepted by this Client or Server".
        Err(_) => Some(ReasonCode::TopicNameInvalid),
    }
}

/// Where a message published to `topic` goes: for `$delayed/<s>/<t>` (while delayed publish
/// is on), `<t>`; else `topic`. ACLs judge this, not the wrapper.
pub fn target_topic(topic: &TopicName, limits: &ServerLimits) -> TopicName {
    if limits.delayed_enabled() {
        if let Ok(Some(delayed)) = DelayedPublish::parse(topic.as_str(), &limits.topic) {
            return delayed.topic;
        }
    }
    topic.clone()
}

/// Quota exceeded (0x97) when `user_properties` are more than `max_user_properties` or their
/// keys and values add up to more than `max_user_property_bytes`.
pub fn user_properties_refusal(
    user_properties: &[(Utf8String, Utf8String)],
    limits: &ServerLimits,
) -> Option<ReasonCode> {
    if user_properties.len() > limits.max_user_properties {
        return Some(ReasonCode::QuotaExceeded);
    }
    let bytes: usize = user_properties
        .iter()
        .map(|(k, v)| k.as_str().len() + v.as_str().len())
        .sum();
    (bytes > limits.max_user_property_bytes).then_some(ReasonCode::QuotaExceeded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(topic: &str, delayed_enabled: bool) -> Option<ReasonCode> {
        let limits = ServerLimits::default();
        limits
            .switches
            .set(crate::switches::Switch::Delayed, delayed_enabled);
        topic_refusal(&TopicName::new(topic).expect("topic"), &limits)
    }

    #[test]
    fn sys_is_refused_directly_and_delayed() {
        for on in [true, false] {
            assert_eq!(refusal("$SYS", on), Some(ReasonCode::NotAuthorized));
            assert_eq!(refusal("$SYS/x", on), Some(ReasonCode::NotAuthorized));
            assert_eq!(refusal("$SYSTEM/x", on), None, "an ordinary topic");
            assert_eq!(refusal("a/$SYS", on), None);
        }
        assert_eq!(
            refusal("$delayed/5/$SYS/x", true),
            Some(ReasonCode::NotAuthorized)
        );
        assert_eq!(refusal("$delayed/5/$SYSTEM/x", true), None);
        // Disabled: `$delayed/...` is published as it is, not to `$SYS`.
        assert_eq!(refusal("$delayed/5/$SYS/x", false), None);
    }

    #[test]
    fn malformed_delayed_topics_are_refused_only_while_delayed_publish_is_on() {
        for topic in [
            "$delayed/x/a",
            "$delayed/4294968/a",
            "$delayed/10",
            "$delayed/10/",
        ] {
            assert_eq!(
                refusal(topic, true),
                Some(ReasonCode::TopicNameInvalid),
                "{topic}"
            );
            assert_eq!(refusal(topic, false), None, "{topic}");
        }
        assert_eq!(refusal("$delayed/4294967/a", true), None);
    }

    #[test]
    fn user_properties_are_capped_in_count_and_bytes() {
        let limits = ServerLimits {
            max_user_properties: 2,
            max_user_property_bytes: 6,
            ..ServerLimits::default()
        };
        let pair = |k: &'static str, v: &'static str| {
            (Utf8String::from_static(k), Utf8String::from_static(v))
        };
        let ok = [pair("a", "b"), pair("cd", "ef")];
        assert_eq!(user_properties_refusal(&ok, &limits), None);
        let many = [pair("", ""), pair("", ""), pair("", "")];
        let quota = Some(ReasonCode::QuotaExceeded);
        assert_eq!(user_properties_refusal(&many, &limits), quota);
        let big = [pair("abcd", "efg")];
        assert_eq!(user_properties_refusal(&big, &limits), quota);
    }
}
