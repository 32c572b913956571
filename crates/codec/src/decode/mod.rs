//! Streaming, zero-copy, bounded decoding of MQTT packets (3.1, 3.1.1 and 5.0).
//!
//! [`decode`] looks at the fixed header first: the packet type (and, before CONNECT, that it is a
//! CONNECT), the flag bits, and the remaining length. The total size is checked against
//! [`DecodeOptions::max_packet_size`] before waiting for the body, so a peer cannot make us
//! buffer more than the limit. Only when the whole packet is in the buffer is it split off
//! (`split_to(n).freeze()`, no copy) and parsed; strings and payloads are slices of that frame.
//!
//! Every rejection names the clause broken: a numbered conformance statement where the spec has
//! one (`MQTT-3.3.1-4`), otherwise the section stating the rule (`MQTT-3.2.2.3`). 3.1 (`MQIsdp`)
//! is read with the 3.1.1 rules and clause numbers.

mod connect;
mod control;
mod properties;
mod publish;
mod reader;
mod subscribe;

use crate::{DecodeError, Packet, PacketType, ProtocolVersion, ReasonCode};
use bytes::{Buf, BytesMut};
use reader::Reader;

/// How to decode: which protocol version is in force, and the largest packet accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeOptions {
    /// The version negotiated by CONNECT; `None` before CONNECT (only CONNECT is then accepted,
    /// and its own protocol level decides how it is read).
    pub version: Option<ProtocolVersion>,
    /// The largest total packet size (fixed header included) accepted.
    pub max_packet_size: u32,
}

impl DecodeOptions {
    /// Options for `version` with the protocol's largest packet size (268,435,460 bytes).
    pub fn new(version: Option<ProtocolVersion>) -> Self {
        Self {
            version,
            max_packet_size: MAX_PACKET_SIZE,
        }
    }
}

impl Default for DecodeOptions {
    /// Before CONNECT, no size limit beyond the protocol's.
    fn default() -> Self {
        Self::new(None)
    }
}

/// The largest packet the wire format can express: 1 + 4 + 268,435,455 bytes.
pub const MAX_PACKET_SIZE: u32 = 268_435_460;

/// The fixed header of a packet: type nibble, flag nibble, sizes.
struct FixedHeader {
    kind: u8,
    flags: u8,
    header_len: usize,
    remaining: usize,
}

/// Reads the fixed header from `buf`; `Ok(None)` when more bytes are needed.
fn fixed_header(buf: &[u8], v5: bool) -> Result<Option<FixedHeader>, DecodeError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    let mut remaining: usize = 0;
    for i in 0..4 {
        let Some(&b) = buf.get(1 + i) else {
            return Ok(None);
        };
        remaining |= usize::from(b & 0x7F) << (7 * i);
        if b & 0x80 == 0 {
            if v5 && i > 0 && b == 0 {
                return Err(DecodeError::malformed(
                    "MQTT-1.5.5-1",
                    "remaining length not in its minimal form",
                ));
            }
            return Ok(Some(FixedHeader {
                kind: first >> 4,
                flags: first & 0x0F,
                header_len: 2 + i,
                remaining,
            }));
        }
    }
    Err(DecodeError::malformed(
        if v5 { "MQTT-1.5.5-1" } else { "MQTT-2.2.3" },
        "remaining length longer than four bytes",
    ))
}

/// Decodes one packet from the front of `buf`.
///
/// `Ok(None)`: the packet is incomplete and `buf` is untouched. `Ok(Some(p))`: exactly one
/// packet was removed from `buf`. `Err`: the bytes break the spec (the connection should be
/// closed, after a DISCONNECT or CONNACK carrying [`DecodeError::reason_code`] in 5.0); the
/// offending packet may have been removed from `buf`. Never panics and never allocates from a
/// declared length.
pub fn decode(buf: &mut BytesMut, opts: &DecodeOptions) -> Result<Option<Packet>, DecodeError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    if opts.version.is_none() && first >> 4 != PacketType::Connect as u8 {
        return Err(DecodeError::protocol(
            "MQTT-3.1.0-1",
            "the first packet must be CONNECT",
        ));
    }
    let v5 = opts.version.is_some_and(ProtocolVersion::is_v5);
    let Some(h) = fixed_header(buf, v5)? else {
        return Ok(None);
    };
    let total = h.header_len.saturating_add(h.remaining);
    if total > usize::try_from(opts.max_packet_size).unwrap_or(usize::MAX) {
        return Err(DecodeError::PacketTooLarge {
            size: total,
            max: opts.max_packet_size,
        });
    }
    if buf.len() < total {
        return Ok(None);
    }
    buf.advance(h.header_len);
    let body = buf.split_to(h.remaining).freeze();
    if h.kind == PacketType::Connect as u8 {
        check_flags(&h, 0, opts.version.unwrap_or(ProtocolVersion::V3_1_1))?;
        return connect::connect(body).map(Some);
    }
    let version = opts.version.unwrap_or(ProtocolVersion::V3_1_1);
    body_of(&h, Reader::new(body, version)).map(Some)
}

/// Rejects reserved flag bits that differ from `expected` ([MQTT-2.2.2-1] / 5.0 [MQTT-2.1.3-1];
/// PUBREL, SUBSCRIBE and UNSUBSCRIBE have their own clauses).
fn check_flags(h: &FixedHeader, expected: u8, version: ProtocolVersion) -> Result<(), DecodeError> {
    if h.flags == expected {
        return Ok(());
    }
    let clause = match h.kind {
        6 => "MQTT-3.6.1-1",
        8 => "MQTT-3.8.1-1",
        10 => "MQTT-3.10.1-1",
        14 if !version.is_v5() => "MQTT-3.14.1-1",
        _ if version.is_v5() => "MQTT-2.1.3-1",
        _ => "MQTT-2.2.2-1",
    };
    Err(DecodeError::malformed(
        clause,
        "reserved fixed header flag bits are wrong",
    ))
}

/// Parses the body of every packet type but CONNECT.
fn body_of(h: &FixedHeader, mut r: Reader) -> Result<Packet, DecodeError> {
    let version = r.version;
    let expected = match h.kind {
        3 => h.flags,
        6 | 8 | 10 => 0b0010,
        _ => 0,
    };
    if (1..=14).contains(&h.kind) || (h.kind == 15 && version.is_v5()) {
        check_flags(h, expected, version)?;
    }
    let packet = match h.kind {
        2 => connect::connack(&mut r)?,
        3 => Packet::Publish(publish::publish(&mut r, h.flags)?),
        4 => Packet::PubAck(publish::pub_resp(&mut r, PacketType::PubAck)?),
        5 => Packet::PubRec(publish::pub_resp(&mut r, PacketType::PubRec)?),
        6 => Packet::PubRel(publish::pub_resp(&mut r, PacketType::PubRel)?),
        7 => Packet::PubComp(publish::pub_resp(&mut r, PacketType::PubComp)?),
        8 => Packet::Subscribe(subscribe::subscribe(&mut r)?),
        9 => Packet::SubAck(subscribe::suback(&mut r)?),
        10 => Packet::Unsubscribe(subscribe::unsubscribe(&mut r)?),
        11 => Packet::UnsubAck(subscribe::unsuback(&mut r)?),
        12 => Packet::PingReq,
        13 => Packet::PingResp,
        14 => Packet::Disconnect(control::disconnect(&mut r)?),
        15 if version.is_v5() => Packet::Auth(control::auth(&mut r)?),
        _ if version.is_v5() => {
            return Err(DecodeError::malformed("MQTT-2.1.2", "reserved packet type"))
        }
        _ => return Err(DecodeError::malformed("MQTT-2.2.1", "reserved packet type")),
    };
    r.finish()?;
    Ok(packet)
}

/// A reason code byte that must be one the packet type allows in 5.0.
pub(super) fn reason_code(
    r: &mut Reader,
    packet: PacketType,
    clause: &'static str,
) -> Result<ReasonCode, DecodeError> {
    let raw = r.u8()?;
    ReasonCode::from_u8(raw)
        .filter(|c| c.allowed_in(packet))
        .ok_or_else(|| DecodeError::malformed(clause, "reason code not valid for this packet"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{PacketId, Publish, QoS};

    fn opts(v: ProtocolVersion) -> DecodeOptions {
        DecodeOptions::new(Some(v))
    }

    #[test]
    fn payload_and_topic_are_slices_of_the_read_buffer() {
        let mut buf = BytesMut::from(&[0x32, 8, 0, 2, b'a', b'b', 0, 9, b'x', b'y'][..]);
        let start = buf.as_ptr() as usize;
        let Ok(Some(Packet::Publish(p))) = decode(&mut buf, &opts(ProtocolVersion::V3_1_1)) else {
            panic!("expected PUBLISH");
        };
        assert_eq!(p.topic.as_bytes().as_ptr() as usize, start + 4);
        assert_eq!(p.payload.as_ptr() as usize, start + 8);
        assert_eq!(p.packet_id, PacketId::new(9));
        assert!(buf.is_empty());
    }

    #[test]
    fn incomplete_packet_leaves_the_buffer_untouched() {
        let mut buf = BytesMut::from(&[0x30, 5, 0, 1][..]);
        assert_eq!(decode(&mut buf, &opts(ProtocolVersion::V5)), Ok(None));
        assert_eq!(&buf[..], &[0x30, 5, 0, 1]);
    }

    #[test]
    fn size_limit_counts_the_fixed_header() {
        // PINGREQ is 2 bytes: allowed at 2, refused at 1.
        let limit = |max| DecodeOptions {
            version: Some(ProtocolVersion::V3_1_1),
            max_packet_size: max,
        };
        assert_eq!(
            decode(&mut BytesMut::from(&[0xC0, 0][..]), &limit(2)),
            Ok(Some(Packet::PingReq))
        );
        assert_eq!(
            decode(&mut BytesMut::from(&[0xC0, 0][..]), &limit(1)),
            Err(DecodeError::PacketTooLarge { size: 2, max: 1 })
        );
    }

    #[test]
    fn second_packet_stays_in_the_buffer() {
        let mut buf = BytesMut::from(&[0x30, 3, 0, 1, b't', 0xC0, 0][..]);
        let first = decode(&mut buf, &opts(ProtocolVersion::V3_1_1));
        let expected = Publish {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: false,
            topic: crate::Utf8String::from_static("t"),
            packet_id: None,
            properties: Default::default(),
            payload: Default::default(),
        };
        assert_eq!(first, Ok(Some(Packet::Publish(expected))));
        assert_eq!(&buf[..], &[0xC0, 0]);
    }
}
