//! DISCONNECT (spec 3.14) and AUTH (spec 3.15); PINGREQ/PINGRESP have no body at all.

use super::properties;
use super::reader::Reader;
use crate::{Auth, DecodeError, Disconnect, PacketType, PropertyContext};

/// Parses a DISCONNECT body: empty in 3.x; in 5.0 remaining length 0 means Success, 1 a reason
/// code without properties.
pub(super) fn disconnect(r: &mut Reader) -> Result<Disconnect, DecodeError> {
    let mut d = Disconnect::default();
    if !r.version.is_v5() || r.remaining() == 0 {
        return Ok(d);
    }
    d.reason_code = super::reason_code(r, PacketType::Disconnect, "MQTT-3.14.2-1")?;
    if r.remaining() > 0 {
        d.properties = properties::read(r, PropertyContext::Disconnect)?;
    }
    Ok(d)
}

/// Parses an AUTH body (5.0 only): remaining length 0 means Success without properties;
/// otherwise both the reason code and the property length are present (spec 3.15.2.1).
pub(super) fn auth(r: &mut Reader) -> Result<Auth, DecodeError> {
    let mut a = Auth {
        reason_code: Default::default(),
        properties: Default::default(),
    };
    if r.remaining() == 0 {
        return Ok(a);
    }
    a.reason_code = super::reason_code(r, PacketType::Auth, "MQTT-3.15.2-1")?;
    if r.remaining() == 0 {
        return Err(DecodeError::malformed(
            "MQTT-3.15.2.1",
            "AUTH with a reason code but no property length",
        ));
    }
    a.properties = properties::read(r, PropertyContext::Auth)?;
    Ok(a)
}
