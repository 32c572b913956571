//! One test per malformed-packet / protocol-error rule of MQTT 5.0, named by the clause,
//! asserting the clause and reason code the decoder reports; plus the 5.0 short forms.

use bytes::BytesMut;
use starling_codec::*;

const V: Option<ProtocolVersion> = Some(ProtocolVersion::V5);

/// A packet with a one-byte remaining length.
fn packet(first: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![first, u8::try_from(body.len()).expect("short body")];
    v.extend_from_slice(body);
    v
}

/// A QoS 0 PUBLISH to `a` with raw property bytes `props` (length prefix added).
fn publish_with(props: &[u8]) -> Vec<u8> {
    let mut body = vec![0, 1, b'a', u8::try_from(props.len()).expect("short")];
    body.extend_from_slice(props);
    packet(0x30, &body)
}

/// A 5.0 CONNECT with `flags`, raw property bytes `props` and `payload`.
fn connect(flags: u8, props: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut body = vec![0, 4, b'M', b'Q', b'T', b'T', 5, flags, 0, 60];
    body.push(u8::try_from(props.len()).expect("short"));
    body.extend_from_slice(props);
    body.extend_from_slice(payload);
    packet(0x10, &body)
}

/// A CONNACK (Success) with raw property bytes.
fn connack_with(props: &[u8]) -> Vec<u8> {
    let mut body = vec![0, 0, u8::try_from(props.len()).expect("short")];
    body.extend_from_slice(props);
    packet(0x20, &body)
}

fn decode_v5(bytes: &[u8]) -> Result<Option<Packet>, DecodeError> {
    let mut buf = BytesMut::from(bytes);
    decode(&mut buf, &DecodeOptions::new(V))
}

fn assert_rule(bytes: &[u8], clause: &str, reason: ReasonCode) {
    match decode_v5(bytes) {
        Err(DecodeError::Invalid {
            clause: c,
            reason: r,
            ..
        }) => {
            assert_eq!((c, r), (clause, reason), "bytes {bytes:02X?}");
        }
        other => panic!("expected {clause}, got {other:?}"),
    }
}

fn malformed(bytes: &[u8], clause: &str) {
    assert_rule(bytes, clause, ReasonCode::MalformedPacket);
}

fn protocol(bytes: &[u8], clause: &str) {
    assert_rule(bytes, clause, ReasonCode::ProtocolError);
}

fn decoded(bytes: &[u8]) -> Packet {
    match decode_v5(bytes) {
        Ok(Some(p)) => p,
        other => panic!("expected a packet, got {other:?}"),
    }
}

#[test]
fn mqtt_2_1_3_1_reserved_flags_on_puback_are_malformed() {
    malformed(&packet(0x41, &[0, 1]), "MQTT-2.1.3-1");
}

#[test]
fn mqtt_2_1_3_1_reserved_flags_on_auth_are_malformed() {
    malformed(&packet(0xF1, &[]), "MQTT-2.1.3-1");
}

#[test]
fn mqtt_3_6_1_1_pubrel_flags_must_be_0010() {
    malformed(&packet(0x60, &[0, 1]), "MQTT-3.6.1-1");
}

#[test]
fn mqtt_3_8_1_1_subscribe_flags_must_be_0010() {
    malformed(&packet(0x83, &[0, 1, 0, 0, 1, b'a', 0]), "MQTT-3.8.1-1");
}

#[test]
fn mqtt_3_10_1_1_unsubscribe_flags_must_be_0010() {
    malformed(&packet(0xA0, &[0, 1, 0, 0, 1, b'a']), "MQTT-3.10.1-1");
}

#[test]
fn mqtt_2_1_2_packet_type_0_is_malformed() {
    malformed(&packet(0x00, &[]), "MQTT-2.1.2");
}

#[test]
fn mqtt_1_5_5_1_non_minimal_remaining_length_is_malformed() {
    malformed(&[0xC0, 0x80, 0x00], "MQTT-1.5.5-1");
}

#[test]
fn mqtt_1_5_5_1_remaining_length_of_five_bytes_is_malformed() {
    malformed(&[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F], "MQTT-1.5.5-1");
}

#[test]
fn mqtt_1_5_5_1_non_minimal_property_length_is_malformed() {
    malformed(&packet(0x30, &[0, 1, b'a', 0x80, 0x00]), "MQTT-1.5.5-1");
}

#[test]
fn mqtt_3_3_1_4_publish_qos_3_is_malformed() {
    malformed(&packet(0x36, &[0, 1, b'a', 0, 1, 0]), "MQTT-3.3.1-4");
}

#[test]
fn mqtt_3_3_1_2_dup_on_qos_0_is_a_protocol_error() {
    protocol(&packet(0x38, &[0, 1, b'a', 0]), "MQTT-3.3.1-2");
}

#[test]
fn mqtt_2_2_1_3_publish_packet_id_0_is_a_protocol_error() {
    protocol(&packet(0x32, &[0, 1, b'a', 0, 0, 0]), "MQTT-2.2.1-3");
}

#[test]
fn mqtt_2_2_1_3_unsubscribe_packet_id_0_is_a_protocol_error() {
    protocol(&packet(0xA2, &[0, 0, 0, 0, 1, b'a']), "MQTT-2.2.1-3");
}

#[test]
fn mqtt_3_3_2_2_wildcard_in_publish_topic_is_topic_name_invalid() {
    assert_rule(
        &packet(0x30, &[0, 1, b'+', 0]),
        "MQTT-3.3.2-2",
        ReasonCode::TopicNameInvalid,
    );
}

#[test]
fn mqtt_3_3_2_2_wildcard_in_will_topic_is_topic_name_invalid() {
    let bytes = connect(0x06, &[], &[0, 0, 0, 0, 2, b'a', b'#', 0, 0]);
    assert_rule(&bytes, "MQTT-3.3.2-2", ReasonCode::TopicNameInvalid);
}

#[test]
fn mqtt_3_3_2_3_4_empty_topic_without_alias_is_a_protocol_error() {
    protocol(&packet(0x30, &[0, 0, 0]), "MQTT-3.3.2.3.4");
}

#[test]
fn empty_topic_with_a_topic_alias_is_accepted() {
    let Packet::Publish(p) = decoded(&packet(0x30, &[0, 0, 3, 0x23, 0, 7])) else {
        panic!("expected PUBLISH");
    };
    assert!(p.topic.is_empty());
    assert_eq!(p.properties.topic_alias, Some(7));
}

#[test]
fn mqtt_3_3_2_8_topic_alias_0_is_topic_alias_invalid() {
    assert_rule(
        &publish_with(&[0x23, 0, 0]),
        "MQTT-3.3.2-8",
        ReasonCode::TopicAliasInvalid,
    );
}

#[test]
fn mqtt_3_3_2_3_property_given_twice_is_a_protocol_error() {
    protocol(&publish_with(&[0x01, 0, 0x01, 1]), "MQTT-3.3.2.3");
}

#[test]
fn mqtt_3_3_2_3_payload_format_indicator_2_is_a_protocol_error() {
    protocol(&publish_with(&[0x01, 2]), "MQTT-3.3.2.3");
}

#[test]
fn mqtt_3_3_2_3_subscription_identifier_0_is_a_protocol_error() {
    protocol(&publish_with(&[0x0B, 0]), "MQTT-3.3.2.3");
}

#[test]
fn mqtt_3_3_2_3_several_subscription_identifiers_are_allowed_in_publish() {
    let Packet::Publish(p) = decoded(&publish_with(&[0x0B, 1, 0x0B, 0x80, 0x01])) else {
        panic!("expected PUBLISH");
    };
    assert_eq!(p.properties.subscription_identifiers, vec![1, 128]);
}

#[test]
fn user_property_may_repeat() {
    let Packet::Publish(p) = decoded(&publish_with(&[
        0x26, 0, 1, b'k', 0, 0, 0x26, 0, 1, b'k', 0, 0,
    ])) else {
        panic!("expected PUBLISH");
    };
    assert_eq!(p.properties.user_properties.len(), 2);
}

#[test]
fn mqtt_3_3_2_14_response_topic_with_wildcard_is_a_protocol_error() {
    protocol(&publish_with(&[0x08, 0, 1, b'#']), "MQTT-3.3.2-14");
}

#[test]
fn mqtt_2_2_2_2_property_not_valid_in_the_packet_is_malformed() {
    malformed(&publish_with(&[0x11, 0, 0, 0, 1]), "MQTT-2.2.2.2");
}

#[test]
fn mqtt_2_2_2_2_unknown_property_identifier_is_malformed() {
    malformed(&publish_with(&[0x05, 0]), "MQTT-2.2.2.2");
}

#[test]
fn mqtt_2_2_2_1_property_length_past_the_end_is_malformed() {
    malformed(&packet(0x30, &[0, 1, b'a', 9, 0x01]), "MQTT-2.2.2.1");
}

#[test]
fn mqtt_1_5_4_1_invalid_utf8_in_user_property_is_malformed() {
    malformed(&publish_with(&[0x26, 0, 1, 0xFF, 0, 0]), "MQTT-1.5.4-1");
}

#[test]
fn mqtt_1_5_4_1_encoded_surrogate_in_topic_is_malformed() {
    malformed(&packet(0x30, &[0, 3, 0xED, 0xBF, 0xBF, 0]), "MQTT-1.5.4-1");
}

#[test]
fn mqtt_1_5_4_2_null_character_in_topic_is_malformed() {
    malformed(&packet(0x30, &[0, 1, 0, 0]), "MQTT-1.5.4-2");
}

#[test]
fn mqtt_3_1_2_3_reserved_connect_flag_is_malformed() {
    malformed(&connect(0x01, &[], &[0, 0]), "MQTT-3.1.2-3");
}

#[test]
fn mqtt_3_1_2_11_will_qos_without_will_flag_is_malformed() {
    malformed(&connect(0x10, &[], &[0, 0]), "MQTT-3.1.2-11");
}

#[test]
fn mqtt_3_1_2_12_will_qos_3_is_malformed() {
    malformed(
        &connect(0x1C, &[], &[0, 0, 0, 0, 1, b't', 0, 0]),
        "MQTT-3.1.2-12",
    );
}

#[test]
fn mqtt_3_1_2_13_will_retain_without_will_flag_is_malformed() {
    malformed(&connect(0x20, &[], &[0, 0]), "MQTT-3.1.2-13");
}

#[test]
fn password_without_user_name_is_allowed_in_5_0() {
    let Packet::Connect(c) = decoded(&connect(0x40, &[], &[0, 0, 0, 1, b'p'])) else {
        panic!("expected CONNECT");
    };
    assert!(c.username.is_none());
    assert_eq!(c.password.as_deref(), Some(&b"p"[..]));
}

#[test]
fn mqtt_3_1_2_11_receive_maximum_0_is_a_protocol_error() {
    protocol(&connect(0x02, &[0x21, 0, 0], &[0, 0]), "MQTT-3.1.2.11");
}

#[test]
fn mqtt_3_1_2_11_maximum_packet_size_0_is_a_protocol_error() {
    protocol(
        &connect(0x02, &[0x27, 0, 0, 0, 0], &[0, 0]),
        "MQTT-3.1.2.11",
    );
}

#[test]
fn mqtt_3_1_2_11_request_problem_information_2_is_a_protocol_error() {
    protocol(&connect(0x02, &[0x17, 2], &[0, 0]), "MQTT-3.1.2.11");
}

#[test]
fn mqtt_3_1_2_11_request_response_information_2_is_a_protocol_error() {
    protocol(&connect(0x02, &[0x19, 2], &[0, 0]), "MQTT-3.1.2.11");
}

#[test]
fn mqtt_3_1_2_11_session_expiry_given_twice_is_a_protocol_error() {
    protocol(
        &connect(0x02, &[0x11, 0, 0, 0, 1, 0x11, 0, 0, 0, 1], &[0, 0]),
        "MQTT-3.1.2.11",
    );
}

#[test]
fn mqtt_3_1_2_11_authentication_data_without_method_is_a_protocol_error() {
    protocol(
        &connect(0x02, &[0x16, 0, 1, 0xAB], &[0, 0]),
        "MQTT-3.1.2.11",
    );
}

#[test]
fn mqtt_3_1_3_2_will_property_not_allowed_is_malformed() {
    let bytes = connect(0x06, &[], &[0, 0, 2, 0x23, 0, 0, 1, b't', 0, 0]);
    malformed(&bytes, "MQTT-2.2.2.2");
}

#[test]
fn mqtt_3_1_2_2_unsupported_protocol_level() {
    let mut bytes = connect(0x02, &[], &[0, 0]);
    bytes[8] = 6;
    let mut buf = BytesMut::from(&bytes[..]);
    match decode(&mut buf, &DecodeOptions::new(None)) {
        Err(DecodeError::Invalid { clause, reason, .. }) => assert_eq!(
            (clause, reason),
            ("MQTT-3.1.2-2", ReasonCode::UnsupportedProtocolVersion)
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn mqtt_3_2_2_3_maximum_qos_2_is_a_protocol_error() {
    protocol(&connack_with(&[0x24, 2]), "MQTT-3.2.2.3");
}

#[test]
fn mqtt_3_2_2_3_retain_available_2_is_a_protocol_error() {
    protocol(&connack_with(&[0x25, 2]), "MQTT-3.2.2.3");
}

#[test]
fn mqtt_3_2_2_3_wildcard_subscription_available_2_is_a_protocol_error() {
    protocol(&connack_with(&[0x28, 2]), "MQTT-3.2.2.3");
}

#[test]
fn mqtt_3_2_2_8_connack_reason_code_not_for_connack_is_malformed() {
    malformed(&packet(0x20, &[0, 0x04, 0]), "MQTT-3.2.2-8");
}

#[test]
fn mqtt_3_2_2_6_session_present_with_failure_is_a_protocol_error() {
    protocol(&packet(0x20, &[1, 0x80, 0]), "MQTT-3.2.2-6");
}

#[test]
fn mqtt_3_4_2_1_puback_reason_code_not_for_puback_is_malformed() {
    malformed(&packet(0x40, &[0, 1, 0x92]), "MQTT-3.4.2-1");
}

#[test]
fn mqtt_3_5_2_1_pubrec_reason_code_not_for_pubrec_is_malformed() {
    malformed(&packet(0x50, &[0, 1, 0x04]), "MQTT-3.5.2-1");
}

#[test]
fn mqtt_3_6_2_1_pubrel_reason_code_not_for_pubrel_is_malformed() {
    malformed(&packet(0x62, &[0, 1, 0x10]), "MQTT-3.6.2-1");
}

#[test]
fn mqtt_3_7_2_1_pubcomp_reason_code_not_for_pubcomp_is_malformed() {
    malformed(&packet(0x70, &[0, 1, 0x80]), "MQTT-3.7.2-1");
}

#[test]
fn mqtt_3_9_3_1_suback_reason_code_not_for_suback_is_malformed() {
    malformed(&packet(0x90, &[0, 1, 0, 0x03]), "MQTT-3.9.3-1");
}

#[test]
fn mqtt_3_11_3_1_unsuback_reason_code_not_for_unsuback_is_malformed() {
    malformed(&packet(0xB0, &[0, 1, 0, 0x02]), "MQTT-3.11.3-1");
}

#[test]
fn mqtt_3_14_2_1_disconnect_reason_code_not_for_disconnect_is_malformed() {
    malformed(&packet(0xE0, &[0x05]), "MQTT-3.14.2-1");
}

#[test]
fn mqtt_3_15_2_1_auth_reason_code_not_for_auth_is_malformed() {
    malformed(&packet(0xF0, &[0x80, 0]), "MQTT-3.15.2-1");
}

#[test]
fn mqtt_3_15_2_1_auth_with_reason_but_no_property_length_is_malformed() {
    malformed(&packet(0xF0, &[0x18]), "MQTT-3.15.2.1");
}

#[test]
fn mqtt_3_8_3_3_subscribe_without_filters_is_a_protocol_error() {
    protocol(&packet(0x82, &[0, 1, 0]), "MQTT-3.8.3-3");
}

#[test]
fn mqtt_3_8_3_5_reserved_subscription_option_bits_are_malformed() {
    malformed(&packet(0x82, &[0, 1, 0, 0, 1, b'a', 0x40]), "MQTT-3.8.3-5");
}

#[test]
fn mqtt_3_8_3_1_retain_handling_3_is_a_protocol_error() {
    protocol(&packet(0x82, &[0, 1, 0, 0, 1, b'a', 0x30]), "MQTT-3.8.3.1");
}

#[test]
fn mqtt_3_8_3_1_subscription_qos_3_is_a_protocol_error() {
    protocol(&packet(0x82, &[0, 1, 0, 0, 1, b'a', 0x03]), "MQTT-3.8.3.1");
}

#[test]
fn mqtt_3_8_2_1_subscription_identifier_twice_in_subscribe_is_a_protocol_error() {
    protocol(
        &packet(0x82, &[0, 1, 4, 0x0B, 1, 0x0B, 2, 0, 1, b'a', 0]),
        "MQTT-3.8.2.1",
    );
}

#[test]
fn mqtt_3_8_2_1_subscription_identifier_0_is_a_protocol_error() {
    protocol(
        &packet(0x82, &[0, 1, 2, 0x0B, 0, 0, 1, b'a', 0]),
        "MQTT-3.8.2.1",
    );
}

#[test]
fn mqtt_3_10_3_2_unsubscribe_without_filters_is_a_protocol_error() {
    protocol(&packet(0xA2, &[0, 1, 0]), "MQTT-3.10.3-2");
}

#[test]
fn mqtt_2_1_4_trailing_bytes_in_pingresp_are_malformed() {
    malformed(&packet(0xD0, &[0]), "MQTT-2.1.4");
}

#[test]
fn oversized_packet_reports_packet_too_large() {
    let mut buf = BytesMut::from(&[0x30u8, 0x80, 0x01][..]);
    let e = decode(
        &mut buf,
        &DecodeOptions {
            version: V,
            max_packet_size: 100,
        },
    );
    assert_eq!(
        e,
        Err(DecodeError::PacketTooLarge {
            size: 131,
            max: 100
        })
    );
    assert_eq!(e.unwrap_err().reason_code(), ReasonCode::PacketTooLarge);
}

#[test]
fn short_form_puback_of_length_2_is_success_without_properties() {
    let id = PacketId::new(1).expect("non-zero");
    assert_eq!(
        decoded(&packet(0x40, &[0, 1])),
        Packet::PubAck(PubResp::new(id))
    );
}

#[test]
fn short_form_puback_of_length_3_carries_a_reason_code() {
    let Packet::PubAck(r) = decoded(&packet(0x40, &[0, 1, 0x10])) else {
        panic!("expected PUBACK");
    };
    assert_eq!(r.reason_code, ReasonCode::NoMatchingSubscribers);
    assert!(r.properties.is_empty());
}

#[test]
fn short_form_disconnect_of_length_0_and_1() {
    assert_eq!(
        decoded(&packet(0xE0, &[])),
        Packet::Disconnect(Disconnect::default())
    );
    let Packet::Disconnect(d) = decoded(&packet(0xE0, &[0x04])) else {
        panic!("expected DISCONNECT");
    };
    assert_eq!(d.reason_code, ReasonCode::DisconnectWithWillMessage);
}

#[test]
fn short_form_auth_of_length_0_is_success() {
    let Packet::Auth(a) = decoded(&packet(0xF0, &[])) else {
        panic!("expected AUTH");
    };
    assert_eq!(a.reason_code, ReasonCode::Success);
}

#[test]
fn encoder_uses_the_short_forms() {
    let v = ProtocolVersion::V5;
    let mut buf = BytesMut::new();
    let id = PacketId::new(7).expect("non-zero");
    encode(&Packet::PubAck(PubResp::new(id)), v, &mut buf).expect("encodes");
    assert_eq!(&buf[..], &[0x40, 2, 0, 7]);
    buf.clear();
    encode(&Packet::Disconnect(Disconnect::default()), v, &mut buf).expect("encodes");
    assert_eq!(&buf[..], &[0xE0, 0]);
    buf.clear();
    let auth = Auth {
        reason_code: ReasonCode::Success,
        properties: Properties::default(),
    };
    encode(&Packet::Auth(auth), v, &mut buf).expect("encodes");
    assert_eq!(&buf[..], &[0xF0, 0]);
}
