//! MQTT 5.0 properties (spec 2.2.2): one struct for every property, `None`/empty when absent.
//!
//! A flat struct rather than a list keeps "given twice" checks trivial and lets the broker read a
//! property without searching. The decoder checks each identifier against the packet it appears
//! in ([`PropertyId::allowed_in`]); 3.1/3.1.1 packets always carry `Properties::default()`.

use crate::Utf8String;
use bytes::Bytes;

/// A property identifier byte (spec 2.2.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PropertyId {
    /// Byte; PUBLISH, Will Properties.
    PayloadFormatIndicator = 0x01,
    /// Four Byte Integer; PUBLISH, Will Properties.
    MessageExpiryInterval = 0x02,
    /// UTF-8 string; PUBLISH, Will Properties.
    ContentType = 0x03,
    /// UTF-8 string; PUBLISH, Will Properties.
    ResponseTopic = 0x08,
    /// Binary Data; PUBLISH, Will Properties.
    CorrelationData = 0x09,
    /// Variable Byte Integer; PUBLISH, SUBSCRIBE.
    SubscriptionIdentifier = 0x0B,
    /// Four Byte Integer; CONNECT, CONNACK, DISCONNECT.
    SessionExpiryInterval = 0x11,
    /// UTF-8 string; CONNACK.
    AssignedClientIdentifier = 0x12,
    /// Two Byte Integer; CONNACK.
    ServerKeepAlive = 0x13,
    /// UTF-8 string; CONNECT, CONNACK, AUTH.
    AuthenticationMethod = 0x15,
    /// Binary Data; CONNECT, CONNACK, AUTH.
    AuthenticationData = 0x16,
    /// Byte; CONNECT.
    RequestProblemInformation = 0x17,
    /// Four Byte Integer; Will Properties.
    WillDelayInterval = 0x18,
    /// Byte; CONNECT.
    RequestResponseInformation = 0x19,
    /// UTF-8 string; CONNACK.
    ResponseInformation = 0x1A,
    /// UTF-8 string; CONNACK, DISCONNECT.
    ServerReference = 0x1C,
    /// UTF-8 string; CONNACK, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK, DISCONNECT, AUTH.
    ReasonString = 0x1F,
    /// Two Byte Integer; CONNECT, CONNACK.
    ReceiveMaximum = 0x21,
    /// Two Byte Integer; CONNECT, CONNACK.
    TopicAliasMaximum = 0x22,
    /// Two Byte Integer; PUBLISH.
    TopicAlias = 0x23,
    /// Byte; CONNACK.
    MaximumQoS = 0x24,
    /// Byte; CONNACK.
    RetainAvailable = 0x25,
    /// UTF-8 String Pair; every packet that has properties.
    UserProperty = 0x26,
    /// Four Byte Integer; CONNECT, CONNACK.
    MaximumPacketSize = 0x27,
    /// Byte; CONNACK.
    WildcardSubscriptionAvailable = 0x28,
    /// Byte; CONNACK.
    SubscriptionIdentifierAvailable = 0x29,
    /// Byte; CONNACK.
    SharedSubscriptionAvailable = 0x2A,
}

/// Where a property list sits, for the "allowed in" check of spec 2.2.2.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PropertyContext {
    /// CONNECT properties.
    Connect,
    /// Will properties inside CONNECT.
    Will,
    /// CONNACK properties.
    ConnAck,
    /// PUBLISH properties.
    Publish,
    /// PUBACK, PUBREC, PUBREL or PUBCOMP properties.
    PubResp,
    /// SUBSCRIBE properties.
    Subscribe,
    /// SUBACK properties.
    SubAck,
    /// UNSUBSCRIBE properties.
    Unsubscribe,
    /// UNSUBACK properties.
    UnsubAck,
    /// DISCONNECT properties.
    Disconnect,
    /// AUTH properties.
    Auth,
}

/// Every MQTT 5.0 property. Absent properties are `None` (or empty for the repeatable ones).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Properties {
    /// 0x01: 0 = unspecified bytes, 1 = UTF-8 payload.
    pub payload_format_indicator: Option<u8>,
    /// 0x02: seconds until the message expires.
    pub message_expiry_interval: Option<u32>,
    /// 0x03: MIME type of the payload.
    pub content_type: Option<Utf8String>,
    /// 0x08: topic for a response (request/response).
    pub response_topic: Option<Utf8String>,
    /// 0x09: correlation data for request/response.
    pub correlation_data: Option<Bytes>,
    /// 0x0B: subscription identifiers (1..=268,435,455); several only in a server's PUBLISH.
    pub subscription_identifiers: Vec<u32>,
    /// 0x11: session expiry interval in seconds.
    pub session_expiry_interval: Option<u32>,
    /// 0x12: client identifier the server assigned.
    pub assigned_client_identifier: Option<Utf8String>,
    /// 0x13: keep alive the server imposes.
    pub server_keep_alive: Option<u16>,
    /// 0x15: enhanced authentication method.
    pub authentication_method: Option<Utf8String>,
    /// 0x16: enhanced authentication data.
    pub authentication_data: Option<Bytes>,
    /// 0x17: 0 or 1.
    pub request_problem_information: Option<u8>,
    /// 0x18: seconds to delay the will.
    pub will_delay_interval: Option<u32>,
    /// 0x19: 0 or 1.
    pub request_response_information: Option<u8>,
    /// 0x1A: basis for response topics.
    pub response_information: Option<Utf8String>,
    /// 0x1C: another server to use.
    pub server_reference: Option<Utf8String>,
    /// 0x1F: human-readable reason.
    pub reason_string: Option<Utf8String>,
    /// 0x21: receive maximum (non-zero).
    pub receive_maximum: Option<u16>,
    /// 0x22: topic alias maximum.
    pub topic_alias_maximum: Option<u16>,
    /// 0x23: topic alias (non-zero).
    pub topic_alias: Option<u16>,
    /// 0x24: 0 or 1.
    pub maximum_qos: Option<u8>,
    /// 0x25: 0 or 1.
    pub retain_available: Option<u8>,
    /// 0x26: user properties, order kept, repeats allowed.
    pub user_properties: Vec<(Utf8String, Utf8String)>,
    /// 0x27: maximum packet size (non-zero).
    pub maximum_packet_size: Option<u32>,
    /// 0x28: 0 or 1.
    pub wildcard_subscription_available: Option<u8>,
    /// 0x29: 0 or 1.
    pub subscription_identifier_available: Option<u8>,
    /// 0x2A: 0 or 1.
    pub shared_subscription_available: Option<u8>,
}

impl PropertyId {
    /// Every property identifier, in ascending numeric order (the order the encoder writes).
    pub const ALL: &'static [PropertyId] = &[
        Self::PayloadFormatIndicator,
        Self::MessageExpiryInterval,
        Self::ContentType,
        Self::ResponseTopic,
        Self::CorrelationData,
        Self::SubscriptionIdentifier,
        Self::SessionExpiryInterval,
        Self::AssignedClientIdentifier,
        Self::ServerKeepAlive,
        Self::AuthenticationMethod,
        Self::AuthenticationData,
        Self::RequestProblemInformation,
        Self::WillDelayInterval,
        Self::RequestResponseInformation,
        Self::ResponseInformation,
        Self::ServerReference,
        Self::ReasonString,
        Self::ReceiveMaximum,
        Self::TopicAliasMaximum,
        Self::TopicAlias,
        Self::MaximumQoS,
        Self::RetainAvailable,
        Self::UserProperty,
        Self::MaximumPacketSize,
        Self::WildcardSubscriptionAvailable,
        Self::SubscriptionIdentifierAvailable,
        Self::SharedSubscriptionAvailable,
    ];

    /// The identifier for a byte, or `None` if the spec defines no such property.
    pub fn from_u8(value: u8) -> Option<Self> {
        Self::ALL.iter().copied().find(|id| id.as_u8() == value)
    }

    /// The identifier byte on the wire.
    pub fn as_u8(self) -> u8 {
        self as u8
    }

    /// Whether this property may appear in `context` (spec 2.2.2.2, table 2-4).
    pub fn allowed_in(self, context: PropertyContext) -> bool {
        use PropertyContext as C;
        match self {
            Self::PayloadFormatIndicator
            | Self::MessageExpiryInterval
            | Self::ContentType
            | Self::ResponseTopic
            | Self::CorrelationData => matches!(context, C::Publish | C::Will),
            Self::SubscriptionIdentifier => matches!(context, C::Publish | C::Subscribe),
            Self::SessionExpiryInterval => {
                matches!(context, C::Connect | C::ConnAck | C::Disconnect)
            }
            Self::AssignedClientIdentifier
            | Self::ServerKeepAlive
            | Self::ResponseInformation
            | Self::MaximumQoS
            | Self::RetainAvailable
            | Self::WildcardSubscriptionAvailable
            | Self::SubscriptionIdentifierAvailable
            | Self::SharedSubscriptionAvailable => context == C::ConnAck,
            Self::AuthenticationMethod | Self::AuthenticationData => {
                matches!(context, C::Connect | C::ConnAck | C::Auth)
            }
            Self::RequestProblemInformation | Self::RequestResponseInformation => {
                context == C::Connect
            }
            Self::WillDelayInterval => context == C::Will,
            Self::ServerReference => matches!(context, C::ConnAck | C::Disconnect),
            Self::ReasonString => !matches!(
                context,
                C::Connect | C::Will | C::Publish | C::Subscribe | C::Unsubscribe
            ),
            Self::ReceiveMaximum | Self::TopicAliasMaximum | Self::MaximumPacketSize => {
                matches!(context, C::Connect | C::ConnAck)
            }
            Self::TopicAlias => context == C::Publish,
            Self::UserProperty => true,
        }
    }
}

impl Properties {
    /// True when no property is present.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_u8_inverts_as_u8_and_rejects_unknown_ids() {
        for id in PropertyId::ALL {
            assert_eq!(PropertyId::from_u8(id.as_u8()), Some(*id));
        }
        for unknown in [0x00, 0x04, 0x0A, 0x10, 0x14, 0x1B, 0x20, 0x2B, 0xFF] {
            assert_eq!(PropertyId::from_u8(unknown), None);
        }
        assert!(PropertyId::ALL
            .windows(2)
            .all(|w| w[0].as_u8() < w[1].as_u8()));
    }

    #[test]
    fn allowed_in_follows_the_spec_table() {
        use PropertyContext as C;
        assert!(PropertyId::UserProperty.allowed_in(C::Auth));
        assert!(PropertyId::TopicAlias.allowed_in(C::Publish));
        assert!(!PropertyId::TopicAlias.allowed_in(C::Will));
        assert!(PropertyId::WillDelayInterval.allowed_in(C::Will));
        assert!(!PropertyId::ReasonString.allowed_in(C::Publish));
        assert!(PropertyId::ReasonString.allowed_in(C::PubResp));
        assert!(PropertyId::SessionExpiryInterval.allowed_in(C::Disconnect));
        assert!(!PropertyId::SubscriptionIdentifier.allowed_in(C::SubAck));
    }
}
