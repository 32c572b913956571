//! PUBLISH (spec 3.3) and the four acknowledgments PUBACK, PUBREC, PUBREL, PUBCOMP (3.4 to 3.7).

use super::connect::check_topic_name;
use super::properties;
use super::reader::Reader;
use crate::{DecodeError, PacketType, PropertyContext, PubResp, Publish, QoS};

/// Parses a PUBLISH body; `flags` is the low nibble of the first byte.
pub(super) fn publish(r: &mut Reader, flags: u8) -> Result<Publish, DecodeError> {
    let v5 = r.version.is_v5();
    let qos = QoS::from_bits((flags >> 1) & 0x03)
        .ok_or_else(|| DecodeError::malformed("MQTT-3.3.1-4", "PUBLISH with QoS 3"))?;
    let dup = flags & 0x08 != 0;
    if dup && qos == QoS::AtMostOnce {
        let what = "DUP flag set on a QoS 0 PUBLISH";
        return Err(if v5 {
            DecodeError::protocol("MQTT-3.3.1-2", what)
        } else {
            DecodeError::malformed("MQTT-3.3.1-2", what)
        });
    }
    let topic = r.string()?;
    let packet_id = if qos == QoS::AtMostOnce {
        None
    } else {
        Some(r.packet_id()?)
    };
    let properties = if v5 {
        properties::read(r, PropertyContext::Publish)?
    } else {
        Default::default()
    };
    if topic.is_empty() && v5 {
        if properties.topic_alias.is_none() {
            return Err(DecodeError::protocol(
                "MQTT-3.3.2.3.4",
                "empty topic name without a topic alias",
            ));
        }
    } else {
        check_topic_name(&topic, r.version)?;
    }
    Ok(Publish {
        dup,
        qos,
        retain: flags & 0x01 != 0,
        topic,
        packet_id,
        properties,
        payload: r.rest(),
    })
}

/// Parses PUBACK, PUBREC, PUBREL or PUBCOMP, including the 5.0 short forms (remaining length
/// 2: Success without properties; 3: a reason code without properties).
pub(super) fn pub_resp(r: &mut Reader, kind: PacketType) -> Result<PubResp, DecodeError> {
    let packet_id = r.packet_id()?;
    let mut resp = PubResp::new(packet_id);
    if !r.version.is_v5() || r.remaining() == 0 {
        return Ok(resp);
    }
    let clause = match kind {
        PacketType::PubAck => "MQTT-3.4.2-1",
        PacketType::PubRec => "MQTT-3.5.2-1",
        PacketType::PubRel => "MQTT-3.6.2-1",
        _ => "MQTT-3.7.2-1",
    };
    resp.reason_code = super::reason_code(r, kind, clause)?;
    if r.remaining() > 0 {
        resp.properties = properties::read(r, PropertyContext::PubResp)?;
    }
    Ok(resp)
}
