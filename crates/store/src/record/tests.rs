//! Property tests of the record format: every record decodes to what was encoded, and no
//! bytes make a decoder panic.

use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use proptest::prelude::*;
use starling_codec::{QoS, RetainHandling, SubscriptionOptions, Utf8String};
use starling_core::{Delivery, Message, MessageProperties, SharedTag, WillSpec};
use starling_topic::{SubscriptionTarget, TopicFilter, TopicName};

use super::field::from_millis;
use super::message::{decode_delivery, decode_message, encode_delivery, encode_message};
use super::session::{
    decode_inflight, decode_session, decode_subscription, encode_inflight, encode_session,
    encode_subscription, read_target, write_target,
};
use super::SessionRecord;
use crate::key::{split_cid, split_delayed};

fn utf8() -> impl Strategy<Value = Utf8String> {
    "[a-zA-Z0-9 é/]{0,8}".prop_map(|s| Utf8String::try_from(s.as_str()).unwrap())
}

fn time() -> impl Strategy<Value = SystemTime> {
    (0u64..4_000_000_000_000).prop_map(from_millis)
}

fn qos() -> impl Strategy<Value = QoS> {
    (0u8..3).prop_map(|b| QoS::from_bits(b).unwrap())
}

fn topic() -> impl Strategy<Value = TopicName> {
    "[a-z$]{1,4}(/[a-z0-9]{0,4}){0,3}".prop_map(|s| TopicName::new(&s).unwrap())
}

fn filter() -> impl Strategy<Value = TopicFilter> {
    prop_oneof![
        "([a-z]{1,3}|\\+)(/([a-z]{0,3}|\\+)){0,3}(/#)?",
        Just("#".to_owned())
    ]
    .prop_map(|s| TopicFilter::new(&s).unwrap())
}

pub(crate) fn message() -> impl Strategy<Value = Message> {
    (
        topic(),
        proptest::collection::vec(any::<u8>(), 0..64),
        qos(),
        any::<bool>(),
        (
            proptest::option::of(any::<u8>()),
            proptest::option::of(utf8()),
            proptest::option::of(utf8()),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..16)),
            proptest::collection::vec((utf8(), utf8()), 0..3),
        ),
        proptest::option::of(time()),
        "[a-z0-9]{0,6}",
    )
        .prop_map(
            |(topic, payload, qos, retain, props, expires_at, publisher)| {
                let (pfi, content_type, response_topic, correlation, user) = props;
                Message {
                    wire_topic: Message::wire_topic_of(&topic),
                    topic,
                    payload: Bytes::from(payload),
                    qos,
                    retain,
                    properties: MessageProperties {
                        payload_format_indicator: pfi,
                        content_type,
                        response_topic,
                        correlation_data: correlation.map(Bytes::from),
                        user_properties: user,
                    },
                    expires_at,
                    publisher: Arc::from(publisher.as_str()),
                }
            },
        )
}

pub(crate) fn delivery() -> impl Strategy<Value = Delivery> {
    (
        message(),
        qos(),
        any::<bool>(),
        proptest::collection::vec(any::<u32>(), 0..4),
        proptest::option::of(("[a-z]{1,4}", "[a-z/+#]{1,6}")),
    )
        .prop_map(|(message, qos, retain, ids, shared)| Delivery {
            message: Arc::new(message),
            qos,
            retain,
            subscription_ids: ids.into_boxed_slice(),
            shared: shared.map(|(g, f)| {
                Arc::new(SharedTag {
                    group: Arc::from(g.as_str()),
                    filter: Arc::from(f.as_str()),
                })
            }),
            stored: 0,
        })
}

fn will() -> impl Strategy<Value = WillSpec> {
    (message(), proptest::option::of(any::<u32>()), any::<u32>()).prop_map(
        |(message, expiry_interval, delay_secs)| WillSpec {
            message,
            expiry_interval,
            delay_secs,
        },
    )
}

pub(crate) fn session() -> impl Strategy<Value = SessionRecord> {
    (
        any::<u32>(),
        proptest::option::of(time()),
        proptest::option::of(will()),
        proptest::option::of(time()),
    )
        .prop_map(
            |(expiry_interval, expires_at, will, will_at)| SessionRecord {
                expiry_interval,
                expires_at,
                will,
                will_at,
            },
        )
}

pub(crate) fn target() -> impl Strategy<Value = SubscriptionTarget> {
    prop_oneof![
        filter().prop_map(SubscriptionTarget::Plain),
        ("[a-z$]{1,5}", filter())
            .prop_map(|(group, filter)| SubscriptionTarget::Shared { group, filter }),
        filter().prop_map(SubscriptionTarget::Exclusive),
    ]
}

pub(crate) fn options() -> impl Strategy<Value = SubscriptionOptions> {
    (qos(), any::<bool>(), any::<bool>(), 0u8..3).prop_map(|(qos, no_local, rap, rh)| {
        SubscriptionOptions {
            qos,
            no_local,
            retain_as_published: rap,
            retain_handling: match rh {
                0 => RetainHandling::SendAtSubscribe,
                1 => RetainHandling::SendIfNew,
                _ => RetainHandling::DoNotSend,
            },
        }
    })
}

/// Every decoder on `bytes`; none may panic.
fn decode_all(bytes: &[u8]) {
    let _ = decode_message(bytes);
    let _ = decode_delivery(bytes, 1);
    let _ = decode_session(bytes);
    let _ = decode_subscription(bytes);
    let _ = decode_inflight(bytes);
    let _ = read_target(bytes);
    let _ = split_cid(bytes);
    let _ = split_delayed(bytes);
}

/// `bytes` cut short at `cut` and with byte `at` replaced by `with`.
fn damage(mut bytes: Vec<u8>, cut: usize, at: usize, with: u8) -> Vec<u8> {
    if !bytes.is_empty() {
        let at = at % bytes.len();
        bytes[at] = with;
        bytes.truncate(cut % (bytes.len() + 1));
    }
    bytes
}

proptest! {
    #[test]
    fn message_round_trips(m in message()) {
        prop_assert_eq!(decode_message(&encode_message(&m)).unwrap(), m);
    }

    #[test]
    fn delivery_round_trips(d in delivery(), seq in any::<u64>()) {
        let decoded = decode_delivery(&encode_delivery(&d), seq).unwrap();
        prop_assert_eq!(decoded, Delivery { stored: seq, ..d });
    }

    #[test]
    fn session_and_will_round_trip(s in session()) {
        prop_assert_eq!(decode_session(&encode_session(&s)).unwrap(), s);
    }

    #[test]
    fn subscriptions_round_trip(t in target(), o in options(), id in proptest::option::of(any::<u32>())) {
        let mut key = Vec::new();
        write_target(&mut key, &t);
        prop_assert_eq!(read_target(&key).unwrap(), t);
        prop_assert_eq!(decode_subscription(&encode_subscription(&o, id)).unwrap(), (o, id));
    }

    #[test]
    fn inflight_round_trips(packet_id in any::<u16>(), released in any::<bool>()) {
        prop_assert_eq!(decode_inflight(&encode_inflight(packet_id, released)).unwrap(), (packet_id, released));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        decode_all(&bytes);
        let mut versioned = vec![super::FORMAT];
        versioned.extend_from_slice(&bytes);
        decode_all(&versioned);
    }

    #[test]
    fn damaged_records_never_panic(
        d in delivery(),
        s in session(),
        cut in any::<usize>(),
        at in any::<usize>(),
        with in any::<u8>(),
    ) {
        decode_all(&damage(encode_delivery(&d), cut, at, with));
        decode_all(&damage(encode_session(&s), cut, at, with));
        decode_all(&damage(encode_message(&d.message), cut, at, with));
    }
}

#[test]
fn damaged_records_are_errors() {
    let m = Message {
        wire_topic: Message::wire_topic_of(&TopicName::new("a/b").unwrap()),
        topic: TopicName::new("a/b").unwrap(),
        payload: Bytes::from_static(b"hi"),
        qos: QoS::AtLeastOnce,
        retain: false,
        properties: MessageProperties::default(),
        expires_at: None,
        publisher: Arc::from("p"),
    };
    let bytes = encode_message(&m);
    assert!(decode_message(&bytes[..bytes.len() - 1]).is_err());
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(decode_message(&longer).is_err());
    let mut version = bytes.clone();
    version[0] = 99;
    assert!(decode_message(&version).is_err());
    assert!(decode_message(&[]).is_err());
    // A wildcard in a stored topic name is damage, not a message.
    let mut key = Vec::new();
    write_target(
        &mut key,
        &SubscriptionTarget::Plain(TopicFilter::new("a/+").unwrap()),
    );
    assert!(read_target(&key).is_ok());
    assert!(read_target(&[0, b'a', b'#', b'b']).is_err());
    assert!(read_target(&[1, 0, 0, b'a']).is_err());
}
