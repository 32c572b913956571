//! One test per malformed-packet / protocol-error rule of MQTT 3.1.1 (and a few for 3.1), named
//! by the clause, asserting the clause and reason the decoder reports.

use bytes::BytesMut;
use starling_codec::*;

const V: Option<ProtocolVersion> = Some(ProtocolVersion::V3_1_1);

/// A packet with a one-byte remaining length.
fn packet(first: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![first, u8::try_from(body.len()).expect("short body")];
    v.extend_from_slice(body);
    v
}

/// A 3.1.1 CONNECT with `flags` and `payload`.
fn connect(flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut body = vec![0, 4, b'M', b'Q', b'T', b'T', 4, flags, 0, 60];
    body.extend_from_slice(payload);
    packet(0x10, &body)
}

fn decode_with(
    version: Option<ProtocolVersion>,
    bytes: &[u8],
) -> Result<Option<Packet>, DecodeError> {
    let mut buf = BytesMut::from(bytes);
    decode(&mut buf, &DecodeOptions::new(version))
}

fn err(version: Option<ProtocolVersion>, bytes: &[u8]) -> DecodeError {
    match decode_with(version, bytes) {
        Err(e) => e,
        Ok(p) => panic!("expected an error, decoded {p:?}"),
    }
}

fn assert_rule(bytes: &[u8], clause: &str, reason: ReasonCode) {
    match err(V, bytes) {
        DecodeError::Invalid {
            clause: c,
            reason: r,
            ..
        } => {
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

#[test]
fn mqtt_2_2_2_1_reserved_flags_on_connack_are_malformed() {
    malformed(&packet(0x21, &[0, 0]), "MQTT-2.2.2-1");
}

#[test]
fn mqtt_2_2_2_1_reserved_flags_on_pingreq_are_malformed() {
    malformed(&packet(0xC8, &[]), "MQTT-2.2.2-1");
}

#[test]
fn mqtt_3_6_1_1_pubrel_flags_must_be_0010() {
    malformed(&packet(0x60, &[0, 1]), "MQTT-3.6.1-1");
}

#[test]
fn mqtt_3_8_1_1_subscribe_flags_must_be_0010() {
    malformed(&packet(0x80, &[0, 1, 0, 1, b'a', 0]), "MQTT-3.8.1-1");
}

#[test]
fn mqtt_3_10_1_1_unsubscribe_flags_must_be_0010() {
    malformed(&packet(0xA0, &[0, 1, 0, 1, b'a']), "MQTT-3.10.1-1");
}

#[test]
fn mqtt_3_14_1_1_disconnect_reserved_flags_are_malformed() {
    malformed(&packet(0xE1, &[]), "MQTT-3.14.1-1");
}

#[test]
fn mqtt_2_2_3_remaining_length_of_five_bytes_is_malformed() {
    malformed(&[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F], "MQTT-2.2.3");
}

#[test]
fn mqtt_2_2_3_non_minimal_remaining_length_is_accepted() {
    // 3.1.1 does not require the minimal encoding; 5.0 does ([MQTT-1.5.5-1]).
    assert_eq!(
        decode_with(V, &[0xC0, 0x80, 0x00]),
        Ok(Some(Packet::PingReq))
    );
}

#[test]
fn mqtt_2_2_1_packet_type_0_is_reserved() {
    malformed(&packet(0x00, &[]), "MQTT-2.2.1");
}

#[test]
fn mqtt_2_2_1_auth_does_not_exist_in_3_1_1() {
    malformed(&packet(0xF0, &[]), "MQTT-2.2.1");
}

#[test]
fn mqtt_3_3_1_4_publish_qos_3_is_malformed() {
    malformed(&packet(0x36, &[0, 1, b'a', 0, 1]), "MQTT-3.3.1-4");
}

#[test]
fn mqtt_3_3_1_2_dup_on_qos_0_is_malformed() {
    malformed(&packet(0x38, &[0, 1, b'a']), "MQTT-3.3.1-2");
}

#[test]
fn mqtt_2_3_1_1_publish_packet_id_0_is_rejected() {
    protocol(&packet(0x32, &[0, 1, b'a', 0, 0]), "MQTT-2.3.1-1");
}

#[test]
fn mqtt_2_3_1_1_subscribe_packet_id_0_is_rejected() {
    protocol(&packet(0x82, &[0, 0, 0, 1, b'a', 0]), "MQTT-2.3.1-1");
}

#[test]
fn mqtt_2_3_1_1_puback_packet_id_0_is_rejected() {
    protocol(&packet(0x40, &[0, 0]), "MQTT-2.3.1-1");
}

#[test]
fn mqtt_3_3_2_2_plus_wildcard_in_publish_topic_is_malformed() {
    malformed(&packet(0x30, &[0, 3, b'a', b'/', b'+']), "MQTT-3.3.2-2");
}

#[test]
fn mqtt_3_3_2_2_hash_wildcard_in_publish_topic_is_malformed() {
    malformed(&packet(0x30, &[0, 1, b'#']), "MQTT-3.3.2-2");
}

#[test]
fn mqtt_4_7_3_1_empty_publish_topic_is_malformed() {
    malformed(&packet(0x30, &[0, 0, b'x']), "MQTT-4.7.3-1");
}

#[test]
fn mqtt_4_7_3_1_empty_subscribe_filter_is_malformed() {
    malformed(&packet(0x82, &[0, 1, 0, 0, 0]), "MQTT-4.7.3-1");
}

#[test]
fn mqtt_1_5_3_1_invalid_utf8_in_topic_is_malformed() {
    malformed(&packet(0x30, &[0, 1, 0xFF]), "MQTT-1.5.3-1");
}

#[test]
fn mqtt_1_5_3_1_encoded_surrogate_in_topic_is_malformed() {
    malformed(&packet(0x30, &[0, 3, 0xED, 0xA0, 0x80]), "MQTT-1.5.3-1");
}

#[test]
fn mqtt_1_5_3_1_overlong_encoding_in_client_id_is_malformed() {
    malformed(&connect(0x02, &[0, 2, 0xC0, 0x80]), "MQTT-1.5.3-1");
}

#[test]
fn mqtt_1_5_3_2_null_character_in_topic_is_malformed() {
    malformed(&packet(0x30, &[0, 3, b'a', 0, b'b']), "MQTT-1.5.3-2");
}

#[test]
fn mqtt_1_5_3_2_null_character_in_subscribe_filter_is_malformed() {
    malformed(&packet(0x82, &[0, 1, 0, 1, 0, 0]), "MQTT-1.5.3-2");
}

#[test]
fn mqtt_3_8_3_3_subscribe_without_filters_is_a_protocol_violation() {
    protocol(&packet(0x82, &[0, 1]), "MQTT-3.8.3-3");
}

#[test]
fn mqtt_3_8_3_4_reserved_subscription_bits_are_malformed() {
    malformed(&packet(0x82, &[0, 1, 0, 1, b'a', 0x04]), "MQTT-3-8.3-4");
}

#[test]
fn mqtt_3_8_3_4_subscription_qos_3_is_malformed() {
    malformed(&packet(0x82, &[0, 1, 0, 1, b'a', 0x03]), "MQTT-3-8.3-4");
}

#[test]
fn mqtt_3_10_3_2_unsubscribe_without_filters_is_a_protocol_violation() {
    protocol(&packet(0xA2, &[0, 1]), "MQTT-3.10.3-2");
}

#[test]
fn mqtt_3_9_3_2_reserved_suback_return_code_is_malformed() {
    malformed(&packet(0x90, &[0, 1, 0x03]), "MQTT-3.9.3-2");
}

#[test]
fn mqtt_3_2_2_3_reserved_connack_return_code_is_malformed() {
    malformed(&packet(0x20, &[0, 6]), "MQTT-3.2.2.3");
}

#[test]
fn mqtt_3_2_2_1_reserved_connack_flags_are_malformed() {
    malformed(&packet(0x20, &[0x02, 0]), "MQTT-3.2.2.1");
}

#[test]
fn mqtt_3_2_2_4_session_present_with_failure_is_rejected() {
    protocol(&packet(0x20, &[1, 5]), "MQTT-3.2.2-4");
}

#[test]
fn mqtt_3_1_0_1_first_packet_must_be_connect() {
    match err(None, &[0xC0, 0x00]) {
        DecodeError::Invalid { clause, reason, .. } => {
            assert_eq!(
                (clause, reason),
                ("MQTT-3.1.0-1", ReasonCode::ProtocolError)
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn mqtt_3_1_0_1_is_reported_from_the_first_byte_alone() {
    assert!(decode_with(None, &[0x30]).is_err());
}

#[test]
fn mqtt_3_1_2_2_unsupported_protocol_level() {
    let mut bytes = connect(0x02, &[0, 0]);
    bytes[8] = 6;
    for version in [None, V] {
        match err(version, &bytes) {
            DecodeError::Invalid { clause, reason, .. } => assert_eq!(
                (clause, reason),
                ("MQTT-3.1.2-2", ReasonCode::UnsupportedProtocolVersion)
            ),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn mqtt_3_1_2_2_unknown_protocol_name() {
    let mut bytes = connect(0x02, &[0, 0]);
    bytes[7] = b'X';
    assert_eq!(
        err(None, &bytes).reason_code(),
        ReasonCode::UnsupportedProtocolVersion
    );
}

#[test]
fn mqtt_3_1_2_3_reserved_connect_flag_is_malformed() {
    malformed(&connect(0x03, &[0, 0]), "MQTT-3.1.2-3");
}

#[test]
fn mqtt_3_1_2_13_will_qos_without_will_flag_is_malformed() {
    malformed(&connect(0x08, &[0, 0]), "MQTT-3.1.2-13");
}

#[test]
fn mqtt_3_1_2_14_will_qos_3_is_malformed() {
    malformed(&connect(0x1C, &[0, 0, 0, 1, b't', 0, 0]), "MQTT-3.1.2-14");
}

#[test]
fn mqtt_3_1_2_15_will_retain_without_will_flag_is_malformed() {
    malformed(&connect(0x20, &[0, 0]), "MQTT-3.1.2-15");
}

#[test]
fn mqtt_3_1_2_22_password_without_user_name_is_malformed() {
    malformed(&connect(0x40, &[0, 0, 0, 1, b'p']), "MQTT-3.1.2-22");
}

#[test]
fn mqtt_3_3_2_2_wildcard_in_will_topic_is_malformed() {
    malformed(&connect(0x04, &[0, 0, 0, 1, b'#', 0, 0]), "MQTT-3.3.2-2");
}

#[test]
fn mqtt_2_2_3_trailing_bytes_after_connect_are_malformed() {
    malformed(&connect(0x02, &[0, 0, 0xAA]), "MQTT-2.2.3");
}

#[test]
fn mqtt_2_2_3_string_running_past_the_packet_is_malformed() {
    malformed(&packet(0x30, &[0, 9, b'a']), "MQTT-2.2.3");
}

#[test]
fn mqtt_3_12_pingreq_with_a_body_is_malformed() {
    malformed(&packet(0xC0, &[0]), "MQTT-2.2.3");
}

#[test]
fn mqtt_3_14_disconnect_with_a_body_is_malformed() {
    malformed(&packet(0xE0, &[0]), "MQTT-2.2.3");
}

#[test]
fn mqtt_3_4_puback_with_a_reason_code_is_malformed_in_3_1_1() {
    malformed(&packet(0x40, &[0, 1, 0]), "MQTT-2.2.3");
}

#[test]
fn mqtt_3_11_unsuback_with_a_payload_is_malformed_in_3_1_1() {
    malformed(&packet(0xB0, &[0, 1, 0]), "MQTT-2.2.3");
}

#[test]
fn oversized_packet_is_rejected_before_its_body_arrives() {
    let mut buf = BytesMut::from(&[0x30u8, 0xFF, 0xFF, 0x03][..]);
    let opts = DecodeOptions {
        version: V,
        max_packet_size: 1024,
    };
    assert_eq!(
        decode(&mut buf, &opts),
        Err(DecodeError::PacketTooLarge {
            size: 65_539,
            max: 1024
        })
    );
}

#[test]
fn partial_fixed_header_needs_more_bytes() {
    assert_eq!(decode_with(V, &[0x30, 0xFF]), Ok(None));
    assert_eq!(decode_with(V, &[]), Ok(None));
}

#[test]
fn valid_connect_decodes_before_connect() {
    let bytes = connect(0xC2, &[0, 2, b'i', b'd', 0, 1, b'u', 0, 2, 1, 2]);
    let Ok(Some(Packet::Connect(c))) = decode_with(None, &bytes) else {
        panic!("expected CONNECT");
    };
    assert_eq!(c.protocol, ProtocolVersion::V3_1_1);
    assert_eq!(c.client_id.as_str(), "id");
    assert_eq!(c.username.as_deref(), Some("u"));
    assert_eq!(c.password.as_deref(), Some(&[1u8, 2][..]));
}

/// A 3.1 (`MQIsdp`, level 3) CONNECT.
fn connect_v31(level: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut body = vec![
        0, 6, b'M', b'Q', b'I', b's', b'd', b'p', level, flags, 0, 60,
    ];
    body.extend_from_slice(payload);
    packet(0x10, &body)
}

#[test]
fn v3_1_mqisdp_connect_decodes_as_3_1() {
    let Ok(Some(Packet::Connect(c))) = decode_with(None, &connect_v31(3, 0x02, &[0, 1, b'c']))
    else {
        panic!("expected CONNECT");
    };
    assert_eq!(c.protocol, ProtocolVersion::V3_1);
}

#[test]
fn v3_1_client_id_longer_than_23_bytes_is_left_to_the_broker() {
    let mut payload = vec![0, 30];
    payload.extend_from_slice(&[b'x'; 30]);
    assert!(matches!(
        decode_with(None, &connect_v31(3, 0x02, &payload)),
        Ok(Some(Packet::Connect(_)))
    ));
}

#[test]
fn v3_1_mqisdp_with_level_4_is_unsupported() {
    let e = err(None, &connect_v31(4, 0x02, &[0, 0]));
    assert_eq!(e.reason_code(), ReasonCode::UnsupportedProtocolVersion);
}

#[test]
fn v3_1_mqtt_3_1_2_3_reserved_connect_flag_is_malformed() {
    let e = err(None, &connect_v31(3, 0x01, &[0, 0]));
    assert!(matches!(
        e,
        DecodeError::Invalid {
            clause: "MQTT-3.1.2-3",
            ..
        }
    ));
}
