//! `Sink`: where the encoder's walk over a packet goes. The same walk runs twice, once into a
//! [`Counter`] (for `encoded_len` and the length prefixes) and once into a `BytesMut`, so the
//! length computed is by construction the number of bytes written.

use crate::{EncodeError, Utf8String};
use bytes::{BufMut, BytesMut};

/// The largest value a Variable Byte Integer holds (spec 1.5.5).
pub(crate) const VARINT_MAX: usize = 268_435_455;

/// A destination for encoded fields.
pub(crate) trait Sink {
    fn u8(&mut self, v: u8);
    fn u16(&mut self, v: u16);
    fn u32(&mut self, v: u32);
    fn raw(&mut self, v: &[u8]);

    /// A Variable Byte Integer in its minimal form; the caller checked `v <= VARINT_MAX`.
    fn varint(&mut self, v: usize);

    /// Binary data with its two-byte length (spec 1.5.6).
    fn binary(&mut self, v: &[u8]) -> Result<(), EncodeError> {
        let n = u16::try_from(v.len()).map_err(|_| EncodeError::BinaryTooLong(v.len()))?;
        self.u16(n);
        self.raw(v);
        Ok(())
    }

    /// A UTF-8 string with its two-byte length; `Utf8String` guarantees at most 65,535 bytes.
    fn string(&mut self, v: &Utf8String) -> Result<(), EncodeError> {
        self.binary(v.as_bytes())
    }
}

/// Number of bytes a Variable Byte Integer takes.
pub(crate) fn varint_len(v: usize) -> usize {
    match v {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

/// Counts bytes instead of writing them.
#[derive(Default)]
pub(crate) struct Counter(pub(crate) usize);

impl Sink for Counter {
    fn u8(&mut self, _: u8) {
        self.0 += 1;
    }
    fn u16(&mut self, _: u16) {
        self.0 += 2;
    }
    fn u32(&mut self, _: u32) {
        self.0 += 4;
    }
    fn raw(&mut self, v: &[u8]) {
        self.0 += v.len();
    }
    fn varint(&mut self, v: usize) {
        self.0 += varint_len(v);
    }
}

impl Sink for BytesMut {
    fn u8(&mut self, v: u8) {
        self.put_u8(v);
    }
    fn u16(&mut self, v: u16) {
        self.put_u16(v);
    }
    fn u32(&mut self, v: u32) {
        self.put_u32(v);
    }
    fn raw(&mut self, v: &[u8]) {
        self.put_slice(v);
    }
    fn varint(&mut self, mut v: usize) {
        loop {
            // Truncation is intended: the low seven bits.
            let mut b = (v & 0x7F) as u8;
            v >>= 7;
            if v > 0 {
                b |= 0x80;
            }
            self.put_u8(b);
            if v == 0 {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_boundaries_are_minimal_and_counted_exactly() {
        for (v, bytes) in [
            (0usize, &[0x00][..]),
            (127, &[0x7F]),
            (128, &[0x80, 0x01]),
            (16_383, &[0xFF, 0x7F]),
            (16_384, &[0x80, 0x80, 0x01]),
            (2_097_151, &[0xFF, 0xFF, 0x7F]),
            (2_097_152, &[0x80, 0x80, 0x80, 0x01]),
            (VARINT_MAX, &[0xFF, 0xFF, 0xFF, 0x7F]),
        ] {
            let mut buf = BytesMut::new();
            buf.varint(v);
            assert_eq!(&buf[..], bytes, "{v}");
            assert_eq!(varint_len(v), bytes.len(), "{v}");
        }
    }

    #[test]
    fn binary_longer_than_65535_is_refused() {
        let mut c = Counter::default();
        assert_eq!(
            c.binary(&[0; 65_536]),
            Err(EncodeError::BinaryTooLong(65_536))
        );
        assert_eq!(c.binary(&[0; 65_535]), Ok(()));
        assert_eq!(c.0, 65_537);
    }
}
