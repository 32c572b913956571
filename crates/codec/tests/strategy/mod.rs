//! proptest strategies producing every packet type, valid for a given protocol version.
#![allow(dead_code, missing_docs)]

use bytes::Bytes;
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use starling_codec::*;

/// Any MQTT string (a mix of ASCII, multi-byte characters and a BOM).
pub(crate) fn string() -> impl Strategy<Value = Utf8String> {
    "[a-zA-Z0-9 /._\u{e9}\u{4e2d}\u{feff}\u{1f600}-]{0,12}"
        .prop_map(|s| Utf8String::try_from(s).expect("valid"))
}

/// A topic name: non-empty, no wildcards.
pub(crate) fn topic_name() -> impl Strategy<Value = Utf8String> {
    "[a-z0-9/\u{e9}]{1,12}".prop_map(|s| Utf8String::try_from(s).expect("valid"))
}

/// A topic filter (syntax is the topic crate's business; only non-emptiness matters here).
pub(crate) fn topic_filter() -> impl Strategy<Value = Utf8String> {
    "[a-z0-9/+#$]{1,12}".prop_map(|s| Utf8String::try_from(s).expect("valid"))
}

pub(crate) fn binary() -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..24).prop_map(Bytes::from)
}

fn flag() -> impl Strategy<Value = Option<u8>> {
    option::of(0u8..=1)
}

/// Every property with a valid value, then trimmed to those allowed in `ctx`.
pub(crate) fn properties(ctx: PropertyContext) -> impl Strategy<Value = Properties> {
    let a = (
        flag(),
        option::of(any::<u32>()),
        option::of(string()),
        option::of(topic_name()),
        option::of(binary()),
        vec(1u32..=268_435_455, 0..3),
        option::of(any::<u32>()),
        option::of(string()),
        option::of(any::<u16>()),
        option::of(string()),
        option::of(binary()),
    );
    let b = (
        flag(),
        option::of(any::<u32>()),
        flag(),
        option::of(string()),
        option::of(string()),
        option::of(string()),
        option::of(1u16..),
        option::of(any::<u16>()),
        option::of(1u16..),
        flag(),
        flag(),
    );
    let c = (
        vec((string(), string()), 0..3),
        option::of(1u32..),
        flag(),
        flag(),
        flag(),
    );
    (a, b, c).prop_map(move |(a, b, c)| {
        let mut p = Properties {
            payload_format_indicator: a.0,
            message_expiry_interval: a.1,
            content_type: a.2,
            response_topic: a.3,
            correlation_data: a.4,
            subscription_identifiers: a.5,
            session_expiry_interval: a.6,
            assigned_client_identifier: a.7,
            server_keep_alive: a.8,
            authentication_method: a.9,
            authentication_data: a.10,
            request_problem_information: b.0,
            will_delay_interval: b.1,
            request_response_information: b.2,
            response_information: b.3,
            server_reference: b.4,
            reason_string: b.5,
            receive_maximum: b.6,
            topic_alias_maximum: b.7,
            topic_alias: b.8,
            maximum_qos: b.9,
            retain_available: b.10,
            user_properties: c.0,
            maximum_packet_size: c.1,
            wildcard_subscription_available: c.2,
            subscription_identifier_available: c.3,
            shared_subscription_available: c.4,
        };
        trim(&mut p, ctx);
        p
    })
}

/// Removes every property not allowed in `ctx`.
pub(crate) fn trim(p: &mut Properties, ctx: PropertyContext) {
    use PropertyId as P;
    macro_rules! keep {
        ($($field:ident: $id:ident),*) => {
            $(if !P::$id.allowed_in(ctx) { p.$field = Default::default(); })*
        };
    }
    keep!(
        payload_format_indicator: PayloadFormatIndicator,
        message_expiry_interval: MessageExpiryInterval,
        content_type: ContentType,
        response_topic: ResponseTopic,
        correlation_data: CorrelationData,
        subscription_identifiers: SubscriptionIdentifier,
        session_expiry_interval: SessionExpiryInterval,
        assigned_client_identifier: AssignedClientIdentifier,
        server_keep_alive: ServerKeepAlive,
        authentication_method: AuthenticationMethod,
        authentication_data: AuthenticationData,
        request_problem_information: RequestProblemInformation,
        will_delay_interval: WillDelayInterval,
        request_response_information: RequestResponseInformation,
        response_information: ResponseInformation,
        server_reference: ServerReference,
        reason_string: ReasonString,
        receive_maximum: ReceiveMaximum,
        topic_alias_maximum: TopicAliasMaximum,
        topic_alias: TopicAlias,
        maximum_qos: MaximumQoS,
        retain_available: RetainAvailable,
        user_properties: UserProperty,
        maximum_packet_size: MaximumPacketSize,
        wildcard_subscription_available: WildcardSubscriptionAvailable,
        subscription_identifier_available: SubscriptionIdentifierAvailable,
        shared_subscription_available: SharedSubscriptionAvailable
    );
    if ctx != PropertyContext::Publish {
        p.subscription_identifiers.truncate(1);
    }
    if p.authentication_method.is_none() {
        p.authentication_data = None;
    }
}

/// Properties for `ctx` in 5.0, none in 3.x.
pub(crate) fn props(v: ProtocolVersion, ctx: PropertyContext) -> BoxedStrategy<Properties> {
    if v.is_v5() {
        properties(ctx).boxed()
    } else {
        Just(Properties::default()).boxed()
    }
}

pub(crate) fn qos() -> impl Strategy<Value = QoS> {
    prop_oneof![
        Just(QoS::AtMostOnce),
        Just(QoS::AtLeastOnce),
        Just(QoS::ExactlyOnce)
    ]
}

pub(crate) fn packet_id() -> impl Strategy<Value = PacketId> {
    (1u16..).prop_map(|n| PacketId::new(n).expect("non-zero"))
}

/// A reason code valid in `kind` for 5.0.
pub(crate) fn reason(kind: PacketType) -> impl Strategy<Value = ReasonCode> {
    let codes: Vec<ReasonCode> = ReasonCode::ALL
        .iter()
        .copied()
        .filter(|c| c.allowed_in(kind))
        .collect();
    proptest::sample::select(codes)
}

fn will(v: ProtocolVersion) -> impl Strategy<Value = Will> {
    (
        qos(),
        any::<bool>(),
        topic_name(),
        binary(),
        props(v, PropertyContext::Will),
    )
        .prop_map(|(qos, retain, topic, payload, properties)| Will {
            qos,
            retain,
            topic,
            payload,
            properties,
        })
}

pub(crate) fn connect(v: ProtocolVersion) -> impl Strategy<Value = Packet> {
    (
        any::<bool>(),
        any::<u16>(),
        string(),
        option::of(will(v)),
        option::of(string()),
        option::of(binary()),
        props(v, PropertyContext::Connect),
    )
        .prop_map(
            move |(clean_start, keep_alive, client_id, will, username, password, properties)| {
                let password = if v.is_v5() || username.is_some() {
                    password
                } else {
                    None
                };
                Packet::Connect(Box::new(Connect {
                    protocol: v,
                    clean_start,
                    keep_alive,
                    client_id,
                    will,
                    username,
                    password,
                    properties,
                }))
            },
        )
}

fn connack(v: ProtocolVersion) -> BoxedStrategy<Packet> {
    let code = if v.is_v5() {
        reason(PacketType::ConnAck).boxed()
    } else {
        (0u8..=5)
            .prop_map(|c| ReasonCode::from_v3_connack(c).expect("0..=5"))
            .boxed()
    };
    (any::<bool>(), code, props(v, PropertyContext::ConnAck))
        .prop_map(|(sp, reason_code, properties)| {
            Packet::ConnAck(ConnAck {
                session_present: sp && reason_code == ReasonCode::Success,
                reason_code,
                properties,
            })
        })
        .boxed()
}

pub(crate) fn publish(v: ProtocolVersion) -> impl Strategy<Value = Packet> {
    (
        qos(),
        any::<bool>(),
        any::<bool>(),
        topic_name(),
        packet_id(),
        props(v, PropertyContext::Publish),
        vec(any::<u8>(), 0..100),
        any::<bool>(),
    )
        .prop_map(
            move |(qos, dup, retain, topic, id, properties, payload, empty)| {
                // 5.0: a topic alias may stand for the topic.
                let topic = if empty && properties.topic_alias.is_some() {
                    Utf8String::default()
                } else {
                    topic
                };
                Packet::Publish(Publish {
                    dup: dup && qos != QoS::AtMostOnce,
                    qos,
                    retain,
                    topic,
                    packet_id: (qos != QoS::AtMostOnce).then_some(id),
                    properties,
                    payload: Bytes::from(payload),
                })
            },
        )
}

fn pub_resp(v: ProtocolVersion, kind: PacketType) -> BoxedStrategy<Packet> {
    let code = if v.is_v5() {
        reason(kind).boxed()
    } else {
        Just(ReasonCode::Success).boxed()
    };
    (packet_id(), code, props(v, PropertyContext::PubResp))
        .prop_map(move |(packet_id, reason_code, properties)| {
            let r = PubResp {
                packet_id,
                reason_code,
                properties,
            };
            match kind {
                PacketType::PubAck => Packet::PubAck(r),
                PacketType::PubRec => Packet::PubRec(r),
                PacketType::PubRel => Packet::PubRel(r),
                _ => Packet::PubComp(r),
            }
        })
        .boxed()
}

fn sub_options(v: ProtocolVersion) -> BoxedStrategy<SubscriptionOptions> {
    if !v.is_v5() {
        return qos()
            .prop_map(|qos| SubscriptionOptions {
                qos,
                ..Default::default()
            })
            .boxed();
    }
    let rh = prop_oneof![
        Just(RetainHandling::SendAtSubscribe),
        Just(RetainHandling::SendIfNew),
        Just(RetainHandling::DoNotSend)
    ];
    (qos(), any::<bool>(), any::<bool>(), rh)
        .prop_map(
            |(qos, no_local, retain_as_published, retain_handling)| SubscriptionOptions {
                qos,
                no_local,
                retain_as_published,
                retain_handling,
            },
        )
        .boxed()
}

fn subscribe(v: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let sub = (topic_filter(), sub_options(v))
        .prop_map(|(filter, options)| Subscription { filter, options });
    (
        packet_id(),
        vec(sub, 1..4),
        props(v, PropertyContext::Subscribe),
    )
        .prop_map(|(packet_id, subscriptions, properties)| {
            Packet::Subscribe(Subscribe {
                packet_id,
                subscriptions,
                properties,
            })
        })
}

fn suback(v: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let code = if v.is_v5() {
        reason(PacketType::SubAck).boxed()
    } else {
        proptest::sample::select(vec![
            ReasonCode::Success,
            ReasonCode::GrantedQoS1,
            ReasonCode::GrantedQoS2,
            ReasonCode::UnspecifiedError,
        ])
        .boxed()
    };
    (
        packet_id(),
        vec(code, 0..4),
        props(v, PropertyContext::SubAck),
    )
        .prop_map(|(packet_id, reason_codes, properties)| {
            Packet::SubAck(SubAck {
                packet_id,
                reason_codes,
                properties,
            })
        })
}

fn unsubscribe(v: ProtocolVersion) -> impl Strategy<Value = Packet> {
    (
        packet_id(),
        vec(topic_filter(), 1..4),
        props(v, PropertyContext::Unsubscribe),
    )
        .prop_map(|(packet_id, filters, properties)| {
            Packet::Unsubscribe(Unsubscribe {
                packet_id,
                filters,
                properties,
            })
        })
}

fn unsuback(v: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let codes = if v.is_v5() {
        vec(reason(PacketType::UnsubAck), 0..4).boxed()
    } else {
        Just(Vec::new()).boxed()
    };
    (packet_id(), codes, props(v, PropertyContext::UnsubAck)).prop_map(
        |(packet_id, reason_codes, properties)| {
            Packet::UnsubAck(UnsubAck {
                packet_id,
                reason_codes,
                properties,
            })
        },
    )
}

fn disconnect(v: ProtocolVersion) -> BoxedStrategy<Packet> {
    if !v.is_v5() {
        return Just(Packet::Disconnect(Disconnect::default())).boxed();
    }
    (
        reason(PacketType::Disconnect),
        properties(PropertyContext::Disconnect),
    )
        .prop_map(|(reason_code, properties)| {
            Packet::Disconnect(Disconnect {
                reason_code,
                properties,
            })
        })
        .boxed()
}

fn auth() -> impl Strategy<Value = Packet> {
    (reason(PacketType::Auth), properties(PropertyContext::Auth)).prop_map(
        |(reason_code, properties)| {
            Packet::Auth(Auth {
                reason_code,
                properties,
            })
        },
    )
}

/// Any packet valid in `v`.
pub(crate) fn packet(v: ProtocolVersion) -> BoxedStrategy<Packet> {
    let common = prop_oneof![
        connect(v),
        connack(v),
        publish(v),
        pub_resp(v, PacketType::PubAck),
        pub_resp(v, PacketType::PubRec),
        pub_resp(v, PacketType::PubRel),
        pub_resp(v, PacketType::PubComp),
        subscribe(v),
        suback(v),
        unsubscribe(v),
        unsuback(v),
        Just(Packet::PingReq),
        Just(Packet::PingResp),
        disconnect(v),
    ];
    if v.is_v5() {
        prop_oneof![13 => common, 1 => auth()].boxed()
    } else {
        common.boxed()
    }
}

pub(crate) const VERSIONS: [ProtocolVersion; 3] = [
    ProtocolVersion::V3_1,
    ProtocolVersion::V3_1_1,
    ProtocolVersion::V5,
];

/// Options for decoding `v` with the protocol's size limit.
pub(crate) fn opts(v: ProtocolVersion) -> DecodeOptions {
    DecodeOptions::new(Some(v))
}
