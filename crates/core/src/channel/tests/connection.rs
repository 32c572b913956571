//! Keep alive, wills, DISCONNECT and CONNACK: the connection as a whole.

use super::*;

#[test]
fn mqtt_3_1_2_24_keepalive_closes_after_one_and_a_half_times_keep_alive() {
    let t0 = Instant::now();
    let mut ch = channel(ProtocolVersion::V5, t0);
    assert_eq!(ch.keepalive_deadline(), Some(t0 + Duration::from_secs(15)));
    ch.handle_tick(t0 + Duration::from_secs(14));
    assert!(!ch.is_closed());
    ch.handle_packet(Packet::PingReq, t0 + Duration::from_secs(14));
    assert!(matches!(
        ch.take_effects()[..],
        [Effect::Send(Packet::PingResp)]
    ));
    ch.handle_tick(t0 + Duration::from_secs(28));
    assert!(!ch.is_closed(), "the PINGREQ moved the deadline");
    ch.handle_tick(t0 + Duration::from_secs(29));
    assert!(ch.is_closed());
    let effects = ch.take_effects();
    assert!(matches!(
        &effects[..],
        [
            Effect::Send(Packet::Disconnect(d)),
            Effect::Close(CloseReason::Server(ReasonCode::KeepAliveTimeout))
        ] if d.reason_code == ReasonCode::KeepAliveTimeout
    ));
}

#[test]
fn keepalive_timeout_on_3_1_1_closes_without_disconnect_packet() {
    let t0 = Instant::now();
    let mut ch = channel(ProtocolVersion::V3_1_1, t0);
    ch.handle_tick(t0 + Duration::from_secs(16));
    let effects = ch.take_effects();
    assert!(matches!(
        &effects[..],
        [Effect::Close(CloseReason::Server(
            ReasonCode::KeepAliveTimeout
        ))]
    ));
}

#[test]
fn mqtt_3_14_2_2_disconnect_cannot_set_expiry_when_connect_had_zero() {
    let now = Instant::now();
    let mut conn = connect(ProtocolVersion::V5, None);
    conn.properties.session_expiry_interval = None;
    let mut ch = channel_with(&conn, ServerLimits::default(), now);
    let mut disconnect = Disconnect::default();
    disconnect.properties.session_expiry_interval = Some(30);
    ch.handle_packet(Packet::Disconnect(disconnect), now);
    assert!(matches!(
        ch.take_effects().last(),
        Some(Effect::Close(CloseReason::Server(
            ReasonCode::ProtocolError
        )))
    ));
}

#[test]
fn normal_disconnect_discards_the_will_and_0x04_keeps_it() {
    let now = Instant::now();
    for (reason, keeps) in [
        (ReasonCode::Success, false),
        (ReasonCode::DisconnectWithWillMessage, true),
    ] {
        let mut conn = connect(ProtocolVersion::V5, None);
        conn.will = Some(starling_codec::Will {
            qos: QoS::AtLeastOnce,
            retain: false,
            topic: Utf8String::from_static("will/t"),
            payload: Bytes::from_static(b"bye"),
            properties: Properties::default(),
        });
        let mut ch = channel_with(&conn, ServerLimits::default(), now);
        let disconnect = Disconnect {
            reason_code: reason,
            ..Disconnect::default()
        };
        ch.handle_packet(Packet::Disconnect(disconnect), now);
        let (_, will, _) = ch.into_parts();
        assert_eq!(will.is_some(), keeps, "{reason}");
    }
}

#[test]
fn a_will_to_sys_or_over_the_user_property_caps_refuses_the_connect() {
    let limits = ServerLimits {
        max_user_properties: 1,
        ..ServerLimits::default()
    };
    let with_will = |topic: &'static str, user_properties: usize| {
        let mut conn = connect(ProtocolVersion::V5, None);
        let properties = Properties {
            user_properties: vec![
                (Utf8String::from_static("k"), Utf8String::default());
                user_properties
            ],
            ..Properties::default()
        };
        conn.will = Some(starling_codec::Will {
            qos: QoS::AtMostOnce,
            retain: false,
            topic: Utf8String::from_static(topic),
            payload: Bytes::from_static(b"bye"),
            properties,
        });
        negotiate(&conn, &limits, || "x".into()).map(|_| ())
    };
    assert_eq!(with_will("$SYS/x", 0), Err(ReasonCode::NotAuthorized));
    assert_eq!(
        with_will("$delayed/1/$SYS/x", 0),
        Err(ReasonCode::NotAuthorized)
    );
    assert_eq!(
        with_will("$delayed/x/a", 0),
        Err(ReasonCode::TopicNameInvalid)
    );
    assert_eq!(with_will("will/t", 2), Err(ReasonCode::QuotaExceeded));
    assert_eq!(with_will("$SYSTEM/x", 1), Ok(()));
    assert_eq!(with_will("$delayed/1/a", 0), Ok(()));
}

#[test]
fn keepalive_deadline_never_panics_whatever_the_multiplier() {
    let t0 = Instant::now();
    for multiplier in [1e300, f64::INFINITY, f64::NAN, -1.0, 100.0] {
        let limits = ServerLimits {
            keepalive_multiplier: multiplier,
            ..ServerLimits::default()
        };
        let mut conn = connect(ProtocolVersion::V5, None);
        conn.keep_alive = u16::MAX;
        let mut ch = channel_with(&conn, limits, t0);
        let deadline = ch.keepalive_deadline().expect("keep alive is on");
        assert!(deadline >= t0, "{multiplier}");
        ch.handle_tick(t0 + Duration::from_secs(1));
    }
}

#[test]
fn the_will_of_a_client_with_an_assigned_id_is_published_under_that_id() {
    let mut conn = connect(ProtocolVersion::V5, None);
    conn.client_id = Utf8String::default();
    conn.will = Some(starling_codec::Will {
        qos: QoS::AtMostOnce,
        retain: false,
        topic: Utf8String::from_static("will/t"),
        payload: Bytes::from_static(b"bye"),
        properties: Properties::default(),
    });
    let neg = negotiate(&conn, &ServerLimits::default(), || "assigned".into()).expect("ok");
    assert_eq!(&*neg.client_id, "assigned");
    let will = neg.will.expect("a will");
    assert_eq!(&*will.message.publisher, "assigned");
}

#[test]
fn max_keepalive_is_imposed_on_5_0_and_refuses_3_x_beyond_it() {
    let negotiated = |version, keep_alive: u16, server_keep_alive: u16, max_keepalive: u16| {
        let limits = ServerLimits {
            server_keep_alive,
            max_keepalive,
            ..ServerLimits::default()
        };
        let conn = Connect {
            keep_alive,
            ..connect(version, None)
        };
        negotiate(&conn, &limits, || "x".into()).map(|n| (n.keep_alive, n.keep_alive_imposed))
    };
    let v5 = ProtocolVersion::V5;
    // (client, server_keep_alive, max_keepalive) -> (in force, announced)
    for (client, server, cap, want) in [
        (30, 0, 60, (30, false)),
        (60, 0, 60, (60, false)),
        (61, 0, 60, (60, true)),
        (0, 0, 60, (60, true)),
        (0, 0, 0, (0, false)),
        (u16::MAX, 0, 0, (u16::MAX, false)),
        (30, 120, 60, (60, true)),
        (30, 45, 60, (45, true)),
        (45, 45, 60, (45, false)),
        (0, 45, 60, (45, true)),
    ] {
        assert_eq!(
            negotiated(v5, client, server, cap),
            Ok(want),
            "{client} {server} {cap}"
        );
    }
    for v in [ProtocolVersion::V3_1, ProtocolVersion::V3_1_1] {
        assert_eq!(negotiated(v, 60, 0, 60), Ok((60, false)));
        assert_eq!(negotiated(v, 0, 0, 0), Ok((0, false)), "no cap");
        // server_keep_alive is 5.0 only.
        assert_eq!(negotiated(v, 30, 45, 60), Ok((30, false)));
        for refused in [0, 61] {
            assert_eq!(
                negotiated(v, refused, 0, 60),
                Err(ReasonCode::ClientIdentifierNotValid),
                "{v} {refused}"
            );
        }
    }
}

#[test]
fn mqtt_3_1_2_24_connack_drops_what_it_may_to_fit_the_client_and_else_is_not_sent() {
    use crate::connect::{connack, connack_fitting};
    let limits = ServerLimits {
        response_information: Some("reply/to/me".into()),
        ..ServerLimits::default()
    };
    let mut conn = connect(ProtocolVersion::V5, None);
    conn.client_id = Utf8String::default();
    conn.properties.request_response_information = Some(1);
    let len = |ack: &starling_codec::ConnAck| {
        starling_codec::encoded_len(&Packet::ConnAck(ack.clone()), ProtocolVersion::V5)
            .expect("encodable")
    };
    let neg_with = |max: usize| {
        let mut conn = conn.clone();
        conn.properties.maximum_packet_size = Some(u32::try_from(max).expect("small"));
        negotiate(&conn, &limits, || "assigned-id".into()).expect("accepted")
    };
    let full = connack(&neg_with(1000), &limits, false);
    let full_len = len(&full);
    // It fits: unchanged.
    let ack = connack_fitting(&neg_with(full_len), &limits, false).expect("fits");
    assert_eq!(ack, full);
    // One byte less: the properties that say what their absence says go.
    let ack = connack_fitting(&neg_with(full_len - 1), &limits, false).expect("fits");
    let p = &ack.properties;
    assert_eq!(
        (
            p.retain_available,
            p.wildcard_subscription_available,
            p.subscription_identifier_available,
            p.shared_subscription_available
        ),
        (None, None, None, None)
    );
    assert_eq!(p.response_information, full.properties.response_information);
    assert_eq!(p.receive_maximum, Some(32), "not the default: kept");
    assert_eq!(
        p.assigned_client_identifier
            .as_ref()
            .map(Utf8String::as_str),
        Some("assigned-id")
    );
    // Then the Response Information.
    let without_defaults = len(&ack);
    let ack = connack_fitting(&neg_with(without_defaults - 1), &limits, false).expect("fits");
    assert_eq!(ack.properties.response_information, None);
    assert!(ack.properties.assigned_client_identifier.is_some());
    // Smaller than what must be said: no CONNACK.
    assert!(connack_fitting(&neg_with(len(&ack) - 1), &limits, false).is_none());
    // 3.x: the 4-byte CONNACK always fits.
    let v3 = connect(ProtocolVersion::V3_1_1, None);
    let neg = negotiate(&v3, &limits, || "x".into()).expect("accepted");
    assert_eq!(
        connack_fitting(&neg, &limits, true),
        Some(connack(&neg, &limits, true))
    );
}
