//! `Utf8String`: an MQTT UTF-8 Encoded String held as a validated slice of the packet buffer.

use bytes::Bytes;
use std::fmt;
use std::ops::Deref;

/// A validated MQTT UTF-8 string ([MQTT-1.5.4-1], [MQTT-1.5.4-2]): well-formed UTF-8 (so no
/// surrogates), no U+0000, at most 65,535 bytes. Decoding slices it out of the read buffer
/// without copying.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Utf8String(Bytes);

/// Why bytes are not an MQTT UTF-8 string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Utf8StringError {
    /// Ill-formed UTF-8, including encoded surrogates.
    #[error("invalid UTF-8 [MQTT-1.5.4-1]")]
    InvalidUtf8,
    /// The null character U+0000.
    #[error("U+0000 in a UTF-8 string [MQTT-1.5.4-2]")]
    NullCharacter,
    /// Longer than a two-byte length prefix can say.
    #[error("string longer than 65535 bytes")]
    TooLong,
}

impl Utf8String {
    /// Validates `bytes` as an MQTT UTF-8 string without copying.
    pub fn from_bytes(bytes: Bytes) -> Result<Self, Utf8StringError> {
        if bytes.len() > usize::from(u16::MAX) {
            return Err(Utf8StringError::TooLong);
        }
        let s = std::str::from_utf8(&bytes).map_err(|_| Utf8StringError::InvalidUtf8)?;
        if s.contains('\0') {
            return Err(Utf8StringError::NullCharacter);
        }
        Ok(Self(bytes))
    }

    /// Builds from a static string; panics only on invalid constants, which is a programming error.
    pub fn from_static(s: &'static str) -> Self {
        match Self::from_bytes(Bytes::from_static(s.as_bytes())) {
            Ok(v) => v,
            Err(e) => panic!("invalid static MQTT string {s:?}: {e}"),
        }
    }

    /// A copy that owns its bytes: a value kept long after decoding should not keep the whole
    /// read buffer it was sliced from alive.
    pub fn detached(&self) -> Self {
        Self(Bytes::copy_from_slice(&self.0))
    }

    /// The string.
    pub fn as_str(&self) -> &str {
        // Validated at construction; the fallback is unreachable but keeps this panic-free.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The underlying bytes (shared, not copied).
    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True for the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl TryFrom<&str> for Utf8String {
    type Error = Utf8StringError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::from_bytes(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl TryFrom<String> for Utf8String {
    type Error = Utf8StringError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::from_bytes(Bytes::from(s))
    }
}

impl Deref for Utf8String {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Utf8String {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for Utf8String {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Utf8String {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
