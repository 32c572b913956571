//! Every MQTT 5.0 reason code (spec 2.4), and the 3.1/3.1.1 CONNACK return codes they map to.
//!
//! One value can have several names in the spec (0x00 is Success, Normal disconnection and
//! Granted QoS 0); the enum has one variant per value and the doc comment lists the aliases.
//! Which codes a given packet may carry is checked by the decoder (`ReasonCode::allowed_in`).

use crate::PacketType;
use std::fmt;

macro_rules! reason_codes {
    ($($(#[doc = $doc:literal])* $name:ident = $value:literal, $text:literal;)*) => {
        /// An MQTT 5.0 reason code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum ReasonCode {
            $($(#[doc = $doc])* $name = $value,)*
        }

        impl ReasonCode {
            /// Every reason code, in numeric order.
            pub const ALL: &'static [ReasonCode] = &[$(ReasonCode::$name,)*];

            /// The code for a byte, or `None` if the spec defines no such code.
            pub fn from_u8(value: u8) -> Option<Self> {
                match value {
                    $($value => Some(Self::$name),)*
                    _ => None,
                }
            }

            /// The spec's words for this code (the first of its names).
            pub fn description(self) -> &'static str {
                match self {
                    $(Self::$name => $text,)*
                }
            }
        }
    };
}

reason_codes! {
    /// Success; also Normal disconnection and Granted QoS 0.
    Success = 0x00, "success";
    /// Granted QoS 1.
    GrantedQoS1 = 0x01, "granted QoS 1";
    /// Granted QoS 2.
    GrantedQoS2 = 0x02, "granted QoS 2";
    /// Disconnect with Will Message.
    DisconnectWithWillMessage = 0x04, "disconnect with will message";
    /// No matching subscribers.
    NoMatchingSubscribers = 0x10, "no matching subscribers";
    /// No subscription existed.
    NoSubscriptionExisted = 0x11, "no subscription existed";
    /// Continue authentication.
    ContinueAuthentication = 0x18, "continue authentication";
    /// Re-authenticate.
    ReAuthenticate = 0x19, "re-authenticate";
    /// Unspecified error.
    UnspecifiedError = 0x80, "unspecified error";
    /// Malformed Packet.
    MalformedPacket = 0x81, "malformed packet";
    /// Protocol Error.
    ProtocolError = 0x82, "protocol error";
    /// Implementation specific error.
    ImplementationSpecificError = 0x83, "implementation specific error";
    /// Unsupported Protocol Version.
    UnsupportedProtocolVersion = 0x84, "unsupported protocol version";
    /// Client Identifier not valid.
    ClientIdentifierNotValid = 0x85, "client identifier not valid";
    /// Bad User Name or Password.
    BadUserNameOrPassword = 0x86, "bad user name or password";
    /// Not authorized.
    NotAuthorized = 0x87, "not authorized";
    /// Server unavailable.
    ServerUnavailable = 0x88, "server unavailable";
    /// Server busy.
    ServerBusy = 0x89, "server busy";
    /// Banned.
    Banned = 0x8A, "banned";
    /// Server shutting down.
    ServerShuttingDown = 0x8B, "server shutting down";
    /// Bad authentication method.
    BadAuthenticationMethod = 0x8C, "bad authentication method";
    /// Keep Alive timeout.
    KeepAliveTimeout = 0x8D, "keep alive timeout";
    /// Session taken over.
    SessionTakenOver = 0x8E, "session taken over";
    /// Topic Filter invalid.
    TopicFilterInvalid = 0x8F, "topic filter invalid";
    /// Topic Name invalid.
    TopicNameInvalid = 0x90, "topic name invalid";
    /// Packet Identifier in use.
    PacketIdentifierInUse = 0x91, "packet identifier in use";
    /// Packet Identifier not found.
    PacketIdentifierNotFound = 0x92, "packet identifier not found";
    /// Receive Maximum exceeded.
    ReceiveMaximumExceeded = 0x93, "receive maximum exceeded";
    /// Topic Alias invalid.
    TopicAliasInvalid = 0x94, "topic alias invalid";
    /// Packet too large.
    PacketTooLarge = 0x95, "packet too large";
    /// Message rate too high.
    MessageRateTooHigh = 0x96, "message rate too high";
    /// Quota exceeded.
    QuotaExceeded = 0x97, "quota exceeded";
    /// Administrative action.
    AdministrativeAction = 0x98, "administrative action";
    /// Payload format invalid.
    PayloadFormatInvalid = 0x99, "payload format invalid";
    /// Retain not supported.
    RetainNotSupported = 0x9A, "retain not supported";
    /// QoS not supported.
    QoSNotSupported = 0x9B, "QoS not supported";
    /// Use another server.
    UseAnotherServer = 0x9C, "use another server";
    /// Server moved.
    ServerMoved = 0x9D, "server moved";
    /// Shared Subscriptions not supported.
    SharedSubscriptionsNotSupported = 0x9E, "shared subscriptions not supported";
    /// Connection rate exceeded.
    ConnectionRateExceeded = 0x9F, "connection rate exceeded";
    /// Maximum connect time.
    MaximumConnectTime = 0xA0, "maximum connect time";
    /// Subscription Identifiers not supported.
    SubscriptionIdentifiersNotSupported = 0xA1, "subscription identifiers not supported";
    /// Wildcard Subscriptions not supported.
    WildcardSubscriptionsNotSupported = 0xA2, "wildcard subscriptions not supported";
}

impl ReasonCode {
    /// The byte on the wire.
    pub fn as_u8(self) -> u8 {
        self as u8
    }

    /// True for codes below 0x80 (success of some kind).
    pub fn is_success(self) -> bool {
        self.as_u8() < 0x80
    }

    /// Whether a 5.0 packet of type `packet` may carry this code (the reason code tables of
    /// spec 3.2.2.2, 3.4.2.1, 3.5.2.1, 3.6.2.1, 3.7.2.1, 3.9.3, 3.11.3, 3.14.2.1 and 3.15.2.1).
    /// Packets without reason codes allow none.
    pub fn allowed_in(self, packet: PacketType) -> bool {
        let v = self.as_u8();
        match packet {
            PacketType::ConnAck => matches!(
                v,
                0x00 | 0x80..=0x8A | 0x8C | 0x90 | 0x95 | 0x97 | 0x99..=0x9D | 0x9F
            ),
            PacketType::PubAck | PacketType::PubRec => {
                matches!(
                    v,
                    0x00 | 0x10 | 0x80 | 0x83 | 0x87 | 0x90 | 0x91 | 0x97 | 0x99
                )
            }
            PacketType::PubRel | PacketType::PubComp => matches!(v, 0x00 | 0x92),
            PacketType::SubAck => matches!(
                v,
                0x00..=0x02 | 0x80 | 0x83 | 0x87 | 0x8F | 0x91 | 0x97 | 0x9E | 0xA1 | 0xA2
            ),
            PacketType::UnsubAck => matches!(v, 0x00 | 0x11 | 0x80 | 0x83 | 0x87 | 0x8F | 0x91),
            PacketType::Disconnect => matches!(
                v,
                0x00 | 0x04 | 0x80..=0x83 | 0x87 | 0x89 | 0x8B | 0x8D..=0x90 | 0x93..=0xA2
            ),
            PacketType::Auth => matches!(v, 0x00 | 0x18 | 0x19),
            _ => false,
        }
    }

    /// The reason code a 3.1/3.1.1 CONNACK return code stands for (spec 3.1.1 table 3.1).
    pub fn from_v3_connack(code: u8) -> Option<Self> {
        Some(match code {
            0 => Self::Success,
            1 => Self::UnsupportedProtocolVersion,
            2 => Self::ClientIdentifierNotValid,
            3 => Self::ServerUnavailable,
            4 => Self::BadUserNameOrPassword,
            5 => Self::NotAuthorized,
            _ => return None,
        })
    }

    /// The nearest 3.1/3.1.1 CONNACK return code for this reason code.
    pub fn to_v3_connack(self) -> u8 {
        match self {
            Self::Success => 0,
            Self::UnsupportedProtocolVersion => 1,
            Self::ClientIdentifierNotValid => 2,
            Self::BadUserNameOrPassword | Self::BadAuthenticationMethod => 4,
            Self::NotAuthorized | Self::Banned => 5,
            _ => 3,
        }
    }
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (0x{:02X})", self.description(), self.as_u8())
    }
}

/// `Success` (0x00), which is also Normal disconnection and Granted QoS 0.
#[allow(clippy::derivable_impls)] // the variants come from a macro, so `#[default]` cannot go on one
impl Default for ReasonCode {
    fn default() -> Self {
        ReasonCode::Success
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_in_matches_the_spec_tables() {
        let count = |t| ReasonCode::ALL.iter().filter(|c| c.allowed_in(t)).count();
        assert_eq!(count(PacketType::ConnAck), 22);
        assert_eq!(count(PacketType::PubAck), 9);
        assert_eq!(count(PacketType::PubRel), 2);
        assert_eq!(count(PacketType::SubAck), 12);
        assert_eq!(count(PacketType::UnsubAck), 7);
        assert_eq!(count(PacketType::Disconnect), 29);
        assert_eq!(count(PacketType::Auth), 3);
        assert_eq!(count(PacketType::Publish), 0);
    }

    #[test]
    fn v3_connack_codes_round_trip() {
        for code in 0..=5 {
            let rc = ReasonCode::from_v3_connack(code).expect("defined");
            assert_eq!(rc.to_v3_connack(), code);
        }
        assert_eq!(ReasonCode::from_v3_connack(6), None);
    }
}
