//! Decode and encode errors. A decode error names the spec clause the bytes broke and the reason
//! code a 5.0 server answers with, so the caller can disconnect the offender correctly.

use crate::ReasonCode;

/// Why bytes from the peer are not an acceptable packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The packet breaks a rule of the spec; `reason` is what a 5.0 receiver sends back
    /// (usually MalformedPacket or ProtocolError; UnsupportedProtocolVersion for CONNECT).
    #[error("{what} [{clause}]")]
    Invalid {
        /// The reason code to answer with.
        reason: ReasonCode,
        /// The clause broken, e.g. `MQTT-1.5.4-2`.
        clause: &'static str,
        /// What was wrong, in words.
        what: &'static str,
    },
    /// The fixed header announces a packet larger than allowed; nothing was allocated for it.
    #[error("packet of {size} bytes exceeds the maximum packet size of {max} bytes")]
    PacketTooLarge {
        /// The announced total packet size.
        size: usize,
        /// The limit in force.
        max: u32,
    },
}

impl DecodeError {
    /// A malformed-packet error for `clause`.
    pub fn malformed(clause: &'static str, what: &'static str) -> Self {
        Self::Invalid {
            reason: ReasonCode::MalformedPacket,
            clause,
            what,
        }
    }

    /// A protocol error for `clause`.
    pub fn protocol(clause: &'static str, what: &'static str) -> Self {
        Self::Invalid {
            reason: ReasonCode::ProtocolError,
            clause,
            what,
        }
    }

    /// The reason code a 5.0 receiver sends with the DISCONNECT (or CONNACK) it answers with.
    pub fn reason_code(&self) -> ReasonCode {
        match self {
            Self::Invalid { reason, .. } => *reason,
            Self::PacketTooLarge { .. } => ReasonCode::PacketTooLarge,
        }
    }
}

/// Why a packet cannot be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// Remaining length would exceed 268,435,455 bytes.
    #[error("packet too large to encode: remaining length {0} exceeds 268435455")]
    TooLarge(usize),
    /// A binary field (password, correlation or authentication data, will payload in 3.x) is
    /// longer than its two-byte length prefix allows.
    #[error("binary field of {0} bytes exceeds 65535")]
    BinaryTooLong(usize),
    /// A value outside what the packet can carry (e.g. subscription identifier 0).
    #[error("invalid value: {0}")]
    InvalidValue(&'static str),
}
