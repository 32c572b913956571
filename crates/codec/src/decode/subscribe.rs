//! SUBSCRIBE, SUBACK, UNSUBSCRIBE and UNSUBACK (spec 3.8 to 3.11).

use super::properties;
use super::reader::Reader;
use crate::{
    DecodeError, PacketType, PropertyContext, QoS, ReasonCode, RetainHandling, SubAck, Subscribe,
    Subscription, SubscriptionOptions, UnsubAck, Unsubscribe, Utf8String,
};

/// A topic filter: a non-empty string ([MQTT-4.7.3-1]); its syntax is the topic crate's job.
fn filter(r: &mut Reader) -> Result<Utf8String, DecodeError> {
    let f = r.string()?;
    if f.is_empty() {
        return Err(DecodeError::malformed("MQTT-4.7.3-1", "empty topic filter"));
    }
    Ok(f)
}

/// The subscription options byte (spec 3.8.3.1; in 3.x only the QoS bits exist).
fn options(byte: u8, v5: bool) -> Result<SubscriptionOptions, DecodeError> {
    if !v5 {
        let qos = QoS::from_bits(byte & 0x03);
        return match qos {
            Some(qos) if byte & 0xFC == 0 => Ok(SubscriptionOptions {
                qos,
                ..Default::default()
            }),
            _ => Err(DecodeError::malformed(
                "MQTT-3-8.3-4",
                "reserved subscription bits set or QoS 3",
            )),
        };
    }
    if byte & 0xC0 != 0 {
        return Err(DecodeError::malformed(
            "MQTT-3.8.3-5",
            "reserved subscription option bits are set",
        ));
    }
    let qos = QoS::from_bits(byte & 0x03)
        .ok_or_else(|| DecodeError::protocol("MQTT-3.8.3.1", "subscription maximum QoS 3"))?;
    let retain_handling = match (byte >> 4) & 0x03 {
        0 => RetainHandling::SendAtSubscribe,
        1 => RetainHandling::SendIfNew,
        2 => RetainHandling::DoNotSend,
        _ => return Err(DecodeError::protocol("MQTT-3.8.3.1", "retain handling 3")),
    };
    Ok(SubscriptionOptions {
        qos,
        no_local: byte & 0x04 != 0,
        retain_as_published: byte & 0x08 != 0,
        retain_handling,
    })
}

/// Parses a SUBSCRIBE body.
pub(super) fn subscribe(r: &mut Reader) -> Result<Subscribe, DecodeError> {
    let v5 = r.version.is_v5();
    let packet_id = r.packet_id()?;
    let properties = if v5 {
        properties::read(r, PropertyContext::Subscribe)?
    } else {
        Default::default()
    };
    let mut subscriptions = Vec::new();
    while r.remaining() > 0 {
        let filter = filter(r)?;
        let options = options(r.u8()?, v5)?;
        subscriptions.push(Subscription { filter, options });
    }
    if subscriptions.is_empty() {
        return Err(DecodeError::protocol(
            "MQTT-3.8.3-3",
            "SUBSCRIBE without any topic filter",
        ));
    }
    Ok(Subscribe {
        packet_id,
        subscriptions,
        properties,
    })
}

/// Parses a SUBACK body.
pub(super) fn suback(r: &mut Reader) -> Result<SubAck, DecodeError> {
    let v5 = r.version.is_v5();
    let packet_id = r.packet_id()?;
    let properties = if v5 {
        properties::read(r, PropertyContext::SubAck)?
    } else {
        Default::default()
    };
    let mut reason_codes = Vec::new();
    while r.remaining() > 0 {
        let code = if v5 {
            super::reason_code(r, PacketType::SubAck, "MQTT-3.9.3-1")?
        } else {
            match r.u8()? {
                0 => ReasonCode::Success,
                1 => ReasonCode::GrantedQoS1,
                2 => ReasonCode::GrantedQoS2,
                0x80 => ReasonCode::UnspecifiedError,
                _ => {
                    return Err(DecodeError::malformed(
                        "MQTT-3.9.3-2",
                        "reserved SUBACK return code",
                    ))
                }
            }
        };
        reason_codes.push(code);
    }
    Ok(SubAck {
        packet_id,
        reason_codes,
        properties,
    })
}

/// Parses an UNSUBSCRIBE body.
pub(super) fn unsubscribe(r: &mut Reader) -> Result<Unsubscribe, DecodeError> {
    let packet_id = r.packet_id()?;
    let properties = if r.version.is_v5() {
        properties::read(r, PropertyContext::Unsubscribe)?
    } else {
        Default::default()
    };
    let mut filters = Vec::new();
    while r.remaining() > 0 {
        filters.push(filter(r)?);
    }
    if filters.is_empty() {
        return Err(DecodeError::protocol(
            "MQTT-3.10.3-2",
            "UNSUBSCRIBE without any topic filter",
        ));
    }
    Ok(Unsubscribe {
        packet_id,
        filters,
        properties,
    })
}

/// Parses an UNSUBACK body (3.x: the packet id only).
pub(super) fn unsuback(r: &mut Reader) -> Result<UnsubAck, DecodeError> {
    let packet_id = r.packet_id()?;
    let mut ack = UnsubAck {
        packet_id,
        reason_codes: Vec::new(),
        properties: Default::default(),
    };
    if !r.version.is_v5() {
        return Ok(ack);
    }
    ack.properties = properties::read(r, PropertyContext::UnsubAck)?;
    while r.remaining() > 0 {
        let code = super::reason_code(r, PacketType::UnsubAck, "MQTT-3.11.3-1")?;
        ack.reason_codes.push(code);
    }
    Ok(ack)
}
