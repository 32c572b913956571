//! CONNECT (spec 3.1) and CONNACK (spec 3.2).

use super::properties;
use super::reader::Reader;
use crate::{
    ConnAck, Connect, DecodeError, Packet, PacketType, PropertyContext, ProtocolVersion, QoS,
    ReasonCode, Utf8String, Will,
};
use bytes::Bytes;

/// The version a CONNECT's protocol name and level stand for.
fn protocol(name: &[u8], level: u8) -> Result<ProtocolVersion, DecodeError> {
    match (name, level) {
        (b"MQIsdp", 3) => Ok(ProtocolVersion::V3_1),
        (b"MQTT", 4) => Ok(ProtocolVersion::V3_1_1),
        (b"MQTT", 5) => Ok(ProtocolVersion::V5),
        _ => Err(DecodeError::Invalid {
            reason: ReasonCode::UnsupportedProtocolVersion,
            clause: "MQTT-3.1.2-2",
            what: "unsupported protocol name or level",
        }),
    }
}

/// The connect flags byte (spec 3.1.2.3), checked.
struct Flags {
    clean_start: bool,
    will: Option<(QoS, bool)>,
    username: bool,
    password: bool,
}

fn flags(byte: u8, version: ProtocolVersion) -> Result<Flags, DecodeError> {
    let v5 = version.is_v5();
    if byte & 0x01 != 0 {
        return Err(DecodeError::malformed(
            "MQTT-3.1.2-3",
            "reserved connect flag is set",
        ));
    }
    let will_flag = byte & 0x04 != 0;
    let qos_bits = (byte >> 3) & 0x03;
    let will_retain = byte & 0x20 != 0;
    let will = if will_flag {
        let qos = QoS::from_bits(qos_bits).ok_or_else(|| {
            DecodeError::malformed(
                if v5 { "MQTT-3.1.2-12" } else { "MQTT-3.1.2-14" },
                "will QoS 3",
            )
        })?;
        Some((qos, will_retain))
    } else if qos_bits != 0 {
        return Err(DecodeError::malformed(
            if v5 { "MQTT-3.1.2-11" } else { "MQTT-3.1.2-13" },
            "will QoS set without the will flag",
        ));
    } else if will_retain {
        return Err(DecodeError::malformed(
            if v5 { "MQTT-3.1.2-13" } else { "MQTT-3.1.2-15" },
            "will retain set without the will flag",
        ));
    } else {
        None
    };
    let username = byte & 0x80 != 0;
    let password = byte & 0x40 != 0;
    if password && !username && !v5 {
        return Err(DecodeError::malformed(
            "MQTT-3.1.2-22",
            "password flag set without the user name flag",
        ));
    }
    Ok(Flags {
        clean_start: byte & 0x02 != 0,
        will,
        username,
        password,
    })
}

/// A topic name as carried in PUBLISH or a will: non-empty and without wildcards.
pub(super) fn check_topic_name(
    topic: &Utf8String,
    version: ProtocolVersion,
) -> Result<(), DecodeError> {
    if topic.contains(['+', '#']) {
        return Err(topic_error(
            version,
            "MQTT-3.3.2-2",
            "wildcard in a topic name",
        ));
    }
    if topic.is_empty() {
        return Err(topic_error(version, "MQTT-4.7.3-1", "empty topic name"));
    }
    Ok(())
}

fn topic_error(version: ProtocolVersion, clause: &'static str, what: &'static str) -> DecodeError {
    if version.is_v5() {
        DecodeError::Invalid {
            reason: ReasonCode::TopicNameInvalid,
            clause,
            what,
        }
    } else {
        DecodeError::malformed(clause, what)
    }
}

/// Parses a CONNECT body; the protocol level inside decides the version.
pub(super) fn connect(body: Bytes) -> Result<Packet, DecodeError> {
    let mut r = Reader::new(body, ProtocolVersion::V3_1_1);
    let name = r.binary()?;
    let level = r.u8()?;
    let version = protocol(&name, level)?;
    r.version = version;
    let f = flags(r.u8()?, version)?;
    let keep_alive = r.u16()?;
    let properties = if version.is_v5() {
        properties::read(&mut r, PropertyContext::Connect)?
    } else {
        Default::default()
    };
    let client_id = r.string()?;
    let will = match f.will {
        Some((qos, retain)) => {
            let properties = if version.is_v5() {
                properties::read(&mut r, PropertyContext::Will)?
            } else {
                Default::default()
            };
            let topic = r.string()?;
            check_topic_name(&topic, version)?;
            let payload = r.binary()?;
            Some(Will {
                qos,
                retain,
                topic,
                payload,
                properties,
            })
        }
        None => None,
    };
    let username = if f.username { Some(r.string()?) } else { None };
    let password = if f.password { Some(r.binary()?) } else { None };
    r.finish()?;
    Ok(Packet::Connect(Box::new(Connect {
        protocol: version,
        clean_start: f.clean_start,
        keep_alive,
        client_id,
        will,
        username,
        password,
        properties,
    })))
}

/// Parses a CONNACK body.
pub(super) fn connack(r: &mut Reader) -> Result<Packet, DecodeError> {
    let v5 = r.version.is_v5();
    let ack_flags = r.u8()?;
    if ack_flags & 0xFE != 0 {
        return Err(DecodeError::malformed(
            "MQTT-3.2.2.1",
            "reserved connect acknowledge flags are set",
        ));
    }
    let reason_code = if v5 {
        super::reason_code(r, PacketType::ConnAck, "MQTT-3.2.2-8")?
    } else {
        let raw = r.u8()?;
        ReasonCode::from_v3_connack(raw)
            .ok_or_else(|| DecodeError::malformed("MQTT-3.2.2.3", "reserved CONNACK return code"))?
    };
    let session_present = ack_flags & 0x01 != 0;
    if session_present && reason_code != ReasonCode::Success {
        return Err(DecodeError::protocol(
            if v5 { "MQTT-3.2.2-6" } else { "MQTT-3.2.2-4" },
            "session present with a failure return code",
        ));
    }
    let properties = if v5 {
        properties::read(r, PropertyContext::ConnAck)?
    } else {
        Default::default()
    };
    Ok(Packet::ConnAck(ConnAck {
        session_present,
        reason_code,
        properties,
    }))
}
