//! Byte-exact, canonical encoding of MQTT packets (3.1, 3.1.1 and 5.0).
//!
//! Canonical means: minimal Variable Byte Integers, properties in ascending identifier order,
//! and the 5.0 short forms whenever they are legal (PUBACK family with Success and no
//! properties: remaining length 2; DISCONNECT and AUTH with Success and no properties: 0), so
//! that `encode(decode(encode(p))) == encode(p)`. For 3.x, properties and 5.0-only fields are
//! left out; CONNACK maps its reason code with [`ReasonCode::to_v3_connack`], SUBACK maps
//! failures to 0x80, and UNSUBACK carries no payload.
//!
//! One walk over the packet (`packets::body`) drives both a byte counter and the real write,
//! so [`encoded_len`] is exactly the number of bytes [`encode`] writes.
//!
//! [`ReasonCode::to_v3_connack`]: crate::ReasonCode::to_v3_connack

mod packets;
mod properties;
mod sink;

use crate::{EncodeError, Packet, ProtocolVersion};
use bytes::BytesMut;
use sink::{varint_len, Counter, Sink, VARINT_MAX};

/// Remaining length of `packet`, checked against the Variable Byte Integer maximum.
fn remaining_len(packet: &Packet, version: ProtocolVersion) -> Result<usize, EncodeError> {
    let mut c = Counter::default();
    packets::body(packet, version, &mut c)?;
    if c.0 > VARINT_MAX {
        return Err(EncodeError::TooLarge(c.0));
    }
    Ok(c.0)
}

/// The number of bytes [`encode`] writes for `packet` in `version`. Does not allocate.
pub fn encoded_len(packet: &Packet, version: ProtocolVersion) -> Result<usize, EncodeError> {
    let n = remaining_len(packet, version)?;
    Ok(1 + varint_len(n) + n)
}

/// Appends `packet`, encoded for `version`, to `buf` (reserving the exact size once).
///
/// A CONNECT is written for its own `protocol` field. Fails without writing anything when the
/// packet cannot be expressed (see [`EncodeError`]), e.g. AUTH for 3.x or a PUBLISH whose
/// packet id presence disagrees with its QoS.
pub fn encode(
    packet: &Packet,
    version: ProtocolVersion,
    buf: &mut BytesMut,
) -> Result<(), EncodeError> {
    let n = remaining_len(packet, version)?;
    buf.reserve(1 + varint_len(n) + n);
    buf.u8(packets::first_byte(packet));
    buf.varint(n);
    packets::body(packet, version, buf)
}
