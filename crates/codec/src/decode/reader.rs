//! `Reader`: a bounds-checked cursor over one packet's bytes, and the spec's clause names for
//! the version being read (3.1.1 and 5.0 number the same rule differently).

use crate::{DecodeError, PacketId, ProtocolVersion, Utf8String, Utf8StringError};
use bytes::Bytes;

/// A cursor over the remaining-length part of one packet. Every read checks bounds; running past
/// the end is a malformed packet (the declared lengths disagree with the remaining length).
pub(crate) struct Reader {
    buf: Bytes,
    pos: usize,
    pub(crate) version: ProtocolVersion,
}

impl Reader {
    pub(crate) fn new(buf: Bytes, version: ProtocolVersion) -> Self {
        Self {
            buf,
            pos: 0,
            version,
        }
    }

    /// Bytes not yet read.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    fn short(&self) -> DecodeError {
        DecodeError::malformed(
            self.clause_remaining_length(),
            "a field runs past the end of the packet",
        )
    }

    /// Clause for "remaining length disagrees with the content".
    pub(crate) fn clause_remaining_length(&self) -> &'static str {
        if self.version.is_v5() {
            "MQTT-2.1.4"
        } else {
            "MQTT-2.2.3"
        }
    }

    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        let b = *self.buf.get(self.pos).ok_or_else(|| self.short())?;
        self.pos += 1;
        Ok(b)
    }

    pub(crate) fn u16(&mut self) -> Result<u16, DecodeError> {
        let s = self.take(2)?;
        Ok(u16::from_be_bytes([s[0], s[1]]))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, DecodeError> {
        let s = self.take(4)?;
        Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }

    /// A slice of exactly `n` bytes, shared with the packet buffer.
    pub(crate) fn take(&mut self, n: usize) -> Result<Bytes, DecodeError> {
        if n > self.remaining() {
            return Err(self.short());
        }
        let out = self.buf.slice(self.pos..self.pos + n);
        self.pos += n;
        Ok(out)
    }

    /// Everything left (a PUBLISH payload).
    pub(crate) fn rest(&mut self) -> Bytes {
        let out = self.buf.slice(self.pos.min(self.buf.len())..);
        self.pos = self.buf.len();
        out
    }

    /// A Variable Byte Integer (spec 1.5.5): at most four bytes; 5.0 requires the minimal form.
    pub(crate) fn varint(&mut self) -> Result<u32, DecodeError> {
        let mut value: u32 = 0;
        for i in 0..4 {
            let b = self.u8()?;
            value |= u32::from(b & 0x7F) << (7 * i);
            if b & 0x80 == 0 {
                if i > 0 && b == 0 && self.version.is_v5() {
                    return Err(DecodeError::malformed(
                        "MQTT-1.5.5-1",
                        "variable byte integer not in its minimal form",
                    ));
                }
                return Ok(value);
            }
        }
        Err(DecodeError::malformed(
            "MQTT-1.5.5-1",
            "variable byte integer longer than four bytes",
        ))
    }

    /// Binary data: two-byte length then bytes (spec 1.5.6).
    pub(crate) fn binary(&mut self) -> Result<Bytes, DecodeError> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }

    /// A UTF-8 encoded string (spec 1.5.4 / 3.1.1 1.5.3), validated without copying.
    pub(crate) fn string(&mut self) -> Result<Utf8String, DecodeError> {
        let raw = self.binary()?;
        Utf8String::from_bytes(raw).map_err(|e| self.utf8_error(e))
    }

    fn utf8_error(&self, e: Utf8StringError) -> DecodeError {
        let v5 = self.version.is_v5();
        match e {
            Utf8StringError::NullCharacter => DecodeError::malformed(
                if v5 { "MQTT-1.5.4-2" } else { "MQTT-1.5.3-2" },
                "U+0000 in a UTF-8 string",
            ),
            _ => DecodeError::malformed(
                if v5 { "MQTT-1.5.4-1" } else { "MQTT-1.5.3-1" },
                "ill-formed UTF-8 in a string",
            ),
        }
    }

    /// A non-zero packet identifier ([MQTT-2.2.1-3] in 5.0, [MQTT-2.3.1-1] in 3.1.1).
    pub(crate) fn packet_id(&mut self) -> Result<PacketId, DecodeError> {
        let raw = self.u16()?;
        PacketId::new(raw).ok_or_else(|| {
            let clause = if self.version.is_v5() {
                "MQTT-2.2.1-3"
            } else {
                "MQTT-2.3.1-1"
            };
            DecodeError::protocol(clause, "packet identifier 0")
        })
    }

    /// Fails unless every byte was consumed.
    pub(crate) fn finish(&self) -> Result<(), DecodeError> {
        if self.remaining() == 0 {
            Ok(())
        } else {
            Err(DecodeError::malformed(
                self.clause_remaining_length(),
                "trailing bytes after the packet's content",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(bytes: &'static [u8], version: ProtocolVersion) -> Reader {
        Reader::new(Bytes::from_static(bytes), version)
    }

    #[test]
    fn varint_reads_up_to_four_bytes() {
        let mut r = reader(&[0xFF, 0xFF, 0xFF, 0x7F], ProtocolVersion::V5);
        assert_eq!(r.varint(), Ok(268_435_455));
        let mut r = reader(&[0xFF, 0xFF, 0xFF, 0xFF, 0x01], ProtocolVersion::V5);
        assert!(r.varint().is_err());
    }

    #[test]
    fn non_minimal_varint_is_refused_only_in_5_0() {
        assert!(reader(&[0x81, 0x00], ProtocolVersion::V5).varint().is_err());
        assert_eq!(
            reader(&[0x81, 0x00], ProtocolVersion::V3_1_1).varint(),
            Ok(1)
        );
    }

    #[test]
    fn reads_past_the_end_are_errors_not_panics() {
        let mut r = reader(&[0x01], ProtocolVersion::V3_1_1);
        assert!(r.u16().is_err());
        assert!(r.u32().is_err());
        assert!(r.take(2).is_err());
        assert_eq!(r.u8(), Ok(1));
        assert!(r.u8().is_err());
        assert!(r.finish().is_ok());
    }

    #[test]
    fn strings_are_slices_of_the_packet() {
        let buf = Bytes::from_static(&[0, 2, b'h', b'i']);
        let mut r = Reader::new(buf.clone(), ProtocolVersion::V5);
        let s = r.string().expect("valid");
        assert_eq!(s.as_str(), "hi");
        assert_eq!(s.as_bytes().as_ptr(), buf[2..].as_ptr());
    }
}
