//! The ACL as the channel asks it: PUBLISH (and the target of a delayed one), SUBSCRIBE (the
//! real filter of shared and exclusive ones), every delivery, and `deny_disconnects`.

use super::*;
use crate::Access;
use starling_topic::TopicFilter;

/// Denies whatever has a level `secret`.
#[derive(Debug)]
struct NoSecrets;

fn secret(topic: &str) -> bool {
    topic.split('/').any(|level| level == "secret")
}

impl Access for NoSecrets {
    fn may_publish(&mut self, topic: &TopicName) -> bool {
        !secret(topic.as_str())
    }
    fn may_subscribe(&mut self, filter: &TopicFilter) -> bool {
        !secret(filter.as_str())
    }
    fn may_read(&mut self, topic: &TopicName) -> bool {
        !secret(topic.as_str())
    }
}

fn guarded(version: ProtocolVersion, limits: ServerLimits, now: Instant) -> Channel {
    let mut ch = channel_with(&connect(version, Some(10)), limits, now);
    ch.set_access(Box::new(NoSecrets));
    ch
}

#[test]
fn a_denied_publish_is_answered_not_authorized_and_not_routed() {
    let now = Instant::now();
    let mut ch = guarded(ProtocolVersion::V5, ServerLimits::default(), now);
    let outcome = publish_outcome(&mut ch, publish_in("a/secret", QoS::AtLeastOnce, 1), now);
    assert_eq!(outcome, (false, Some(ReasonCode::NotAuthorized)));
    let outcome = publish_outcome(
        &mut ch,
        publish_in("$delayed/5/a/secret", QoS::ExactlyOnce, 2),
        now,
    );
    assert_eq!(
        outcome,
        (false, Some(ReasonCode::NotAuthorized)),
        "judged on where it goes"
    );
    assert_eq!(
        publish_outcome(&mut ch, publish_in("a/secret", QoS::AtMostOnce, 0), now),
        (false, None)
    );
    let outcome = publish_outcome(&mut ch, publish_in("a/open", QoS::AtLeastOnce, 3), now);
    assert_eq!(outcome, (true, Some(ReasonCode::Success)));
    let stats = ch.take_stats();
    assert_eq!((stats.denied_publish, stats.refused_not_authorized), (3, 3));
    assert!(!ch.is_closed());
}

#[test]
fn with_deny_disconnects_a_denied_publish_closes_the_connection() {
    let now = Instant::now();
    for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        let limits = ServerLimits {
            deny_disconnects: true,
            ..ServerLimits::default()
        };
        let mut ch = guarded(version, limits, now);
        ch.handle_packet(publish_in("secret", QoS::AtLeastOnce, 1), now);
        let effects = ch.take_effects();
        assert!(ch.is_closed(), "{version}");
        assert!(
            !effects
                .iter()
                .any(|e| matches!(e, Effect::Publish(_) | Effect::Send(Packet::PubAck(_)))),
            "{version}: {effects:?}"
        );
    }
}

#[test]
fn denied_subscriptions_are_refused_on_their_real_filter() {
    let now = Instant::now();
    let mut ch = guarded(ProtocolVersion::V5, ServerLimits::default(), now);
    let filters = [
        "a/#",
        "secret/#",
        "$share/g/secret/x",
        "$exclusive/a/secret",
        "$share/g/a/b",
    ];
    ch.handle_packet(
        Packet::Subscribe(Subscribe {
            packet_id: id(1),
            subscriptions: filters
                .iter()
                .map(|f| Subscription {
                    filter: Utf8String::try_from(*f).expect("filter"),
                    options: SubscriptionOptions::default(),
                })
                .collect(),
            properties: Properties::default(),
        }),
        now,
    );
    let effects = ch.take_effects();
    let [Effect::Subscribe { requests, .. }] = &effects[..] else {
        panic!("{effects:?}");
    };
    let refused: Vec<bool> = requests
        .iter()
        .map(|r| matches!(r, Err(ReasonCode::NotAuthorized)))
        .collect();
    assert_eq!(refused, [false, true, true, true, false]);
    assert_eq!(ch.take_stats().denied_subscribe, 3);
}

#[test]
fn deliveries_the_client_may_not_read_are_dropped_whatever_their_path() {
    let now = Instant::now();
    let mut ch = guarded(ProtocolVersion::V5, ServerLimits::default(), now);
    ch.handle_delivery(delivery("a/secret/x", QoS::AtLeastOnce), now);
    ch.handle_delivery(delivery("a/open", QoS::AtLeastOnce), now);
    let effects = ch.take_effects();
    let topics: Vec<&str> = sent_publishes(&effects)
        .iter()
        .map(|p| p.topic.as_str())
        .collect();
    assert_eq!(topics, ["a/open"]);
    assert_eq!(ch.take_stats().denied_delivery, 1);
}
