//! The primitive fields of the record format: big-endian integers, flags, length-prefixed
//! bytes and strings, options and wall-clock times.
//!
//! [`Writer`] appends to a `Vec<u8>`; [`Reader`] walks a byte slice and returns
//! [`RecordError`] instead of panicking when the bytes run out or a value is out of range.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::RecordError;

/// Appends fields to a buffer.
#[derive(Default)]
pub(crate) struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// A writer whose first byte is the format `version`.
    pub(crate) fn versioned(version: u8) -> Self {
        let mut w = Self::default();
        w.u8(version);
        w
    }

    pub(crate) fn finish(self) -> Vec<u8> {
        self.buf
    }

    pub(crate) fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    pub(crate) fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub(crate) fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub(crate) fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub(crate) fn bool(&mut self, v: bool) {
        self.u8(u8::from(v));
    }

    /// A `u32` count (saturating: no collection the broker holds comes near 2^32).
    pub(crate) fn count(&mut self, n: usize) {
        self.u32(u32::try_from(n).unwrap_or(u32::MAX));
    }

    /// Bytes with a `u32` length prefix.
    pub(crate) fn bytes(&mut self, v: &[u8]) {
        self.count(v.len());
        self.buf.extend_from_slice(v);
    }

    pub(crate) fn str(&mut self, v: &str) {
        self.bytes(v.as_bytes());
    }

    /// A presence flag, then the value when present.
    pub(crate) fn option<T>(&mut self, v: Option<&T>, mut f: impl FnMut(&mut Self, &T))
    where
        T: ?Sized,
    {
        match v {
            None => self.u8(0),
            Some(v) => {
                self.u8(1);
                f(self, v);
            }
        }
    }

    /// Milliseconds since the UNIX epoch (times before it are written as the epoch).
    pub(crate) fn time(&mut self, t: SystemTime) {
        self.u64(millis(t));
    }
}

/// `t` as milliseconds since the UNIX epoch, saturating at both ends.
pub(crate) fn millis(t: SystemTime) -> u64 {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

/// The wall-clock time `ms` milliseconds after the UNIX epoch (saturating).
pub(crate) fn from_millis(ms: u64) -> SystemTime {
    UNIX_EPOCH
        .checked_add(Duration::from_millis(ms))
        .unwrap_or(UNIX_EPOCH)
}

/// Reads fields from a byte slice.
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    /// A reader past the format version byte, which must be `version`.
    pub(crate) fn versioned(bytes: &'a [u8], version: u8) -> Result<Self, RecordError> {
        let mut r = Self::new(bytes);
        let found = r.u8()?;
        if found != version {
            return Err(RecordError::Version(found));
        }
        Ok(r)
    }

    /// Succeeds only when every byte has been read.
    pub(crate) fn end(&self) -> Result<(), RecordError> {
        match self.rest.len() {
            0 => Ok(()),
            n => Err(RecordError::TrailingBytes(n)),
        }
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], RecordError> {
        if n > self.rest.len() {
            return Err(RecordError::Truncated);
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    /// Everything not read yet.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.rest)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], RecordError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, RecordError> {
        Ok(u8::from_be_bytes(self.array()?))
    }

    pub(crate) fn u16(&mut self) -> Result<u16, RecordError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, RecordError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, RecordError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    pub(crate) fn bool(&mut self, what: &'static str) -> Result<bool, RecordError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(RecordError::Invalid(what)),
        }
    }

    /// A `u32` count of items each at least `min_size` bytes long, checked against the bytes
    /// left so that a damaged count cannot make a caller reserve a huge buffer.
    pub(crate) fn count(&mut self, min_size: usize) -> Result<usize, RecordError> {
        let n = usize::try_from(self.u32()?).map_err(|_| RecordError::Truncated)?;
        if n.saturating_mul(min_size.max(1)) > self.rest.len() {
            return Err(RecordError::Truncated);
        }
        Ok(n)
    }

    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], RecordError> {
        let n = usize::try_from(self.u32()?).map_err(|_| RecordError::Truncated)?;
        self.take(n)
    }

    pub(crate) fn str(&mut self, what: &'static str) -> Result<&'a str, RecordError> {
        std::str::from_utf8(self.bytes()?).map_err(|_| RecordError::Utf8(what))
    }

    /// A presence flag, then the value when present.
    pub(crate) fn option<T>(
        &mut self,
        what: &'static str,
        f: impl FnOnce(&mut Self) -> Result<T, RecordError>,
    ) -> Result<Option<T>, RecordError> {
        if self.bool(what)? {
            f(self).map(Some)
        } else {
            Ok(None)
        }
    }

    pub(crate) fn time(&mut self) -> Result<SystemTime, RecordError> {
        self.u64().map(from_millis)
    }
}
