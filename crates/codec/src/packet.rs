//! The packet model: one type per MQTT control packet, shared by 3.1, 3.1.1 and 5.0.
//!
//! Data only 5.0 can carry lives in `properties` and in reason codes; for 3.x those are
//! `Properties::default()` and `ReasonCode::Success` (CONNACK carries the mapped return code).

use crate::{PacketId, Properties, ProtocolVersion, QoS, ReasonCode, Utf8String};
use bytes::Bytes;
use std::fmt;

/// The control packet type in the high nibble of the first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PacketType {
    /// Client request to connect.
    Connect = 1,
    /// Connect acknowledgment.
    ConnAck = 2,
    /// Publish message.
    Publish = 3,
    /// Publish acknowledgment (QoS 1).
    PubAck = 4,
    /// Publish received (QoS 2, part 1).
    PubRec = 5,
    /// Publish release (QoS 2, part 2).
    PubRel = 6,
    /// Publish complete (QoS 2, part 3).
    PubComp = 7,
    /// Subscribe request.
    Subscribe = 8,
    /// Subscribe acknowledgment.
    SubAck = 9,
    /// Unsubscribe request.
    Unsubscribe = 10,
    /// Unsubscribe acknowledgment.
    UnsubAck = 11,
    /// Ping request.
    PingReq = 12,
    /// Ping response.
    PingResp = 13,
    /// Disconnect notification.
    Disconnect = 14,
    /// Authentication exchange (5.0 only).
    Auth = 15,
}

/// Any MQTT control packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// CONNECT (boxed: it is large and rare).
    Connect(Box<Connect>),
    /// CONNACK.
    ConnAck(ConnAck),
    /// PUBLISH.
    Publish(Publish),
    /// PUBACK.
    PubAck(PubResp),
    /// PUBREC.
    PubRec(PubResp),
    /// PUBREL.
    PubRel(PubResp),
    /// PUBCOMP.
    PubComp(PubResp),
    /// SUBSCRIBE.
    Subscribe(Subscribe),
    /// SUBACK.
    SubAck(SubAck),
    /// UNSUBSCRIBE.
    Unsubscribe(Unsubscribe),
    /// UNSUBACK.
    UnsubAck(UnsubAck),
    /// PINGREQ.
    PingReq,
    /// PINGRESP.
    PingResp,
    /// DISCONNECT.
    Disconnect(Disconnect),
    /// AUTH.
    Auth(Auth),
}

impl Packet {
    /// The packet's type.
    pub fn packet_type(&self) -> PacketType {
        match self {
            Self::Connect(_) => PacketType::Connect,
            Self::ConnAck(_) => PacketType::ConnAck,
            Self::Publish(_) => PacketType::Publish,
            Self::PubAck(_) => PacketType::PubAck,
            Self::PubRec(_) => PacketType::PubRec,
            Self::PubRel(_) => PacketType::PubRel,
            Self::PubComp(_) => PacketType::PubComp,
            Self::Subscribe(_) => PacketType::Subscribe,
            Self::SubAck(_) => PacketType::SubAck,
            Self::Unsubscribe(_) => PacketType::Unsubscribe,
            Self::UnsubAck(_) => PacketType::UnsubAck,
            Self::PingReq => PacketType::PingReq,
            Self::PingResp => PacketType::PingResp,
            Self::Disconnect(_) => PacketType::Disconnect,
            Self::Auth(_) => PacketType::Auth,
        }
    }
}

/// CONNECT (spec 3.1). Its `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Connect {
    /// Protocol name and level.
    pub protocol: ProtocolVersion,
    /// Clean Session (3.x) / Clean Start (5.0).
    pub clean_start: bool,
    /// Keep alive in seconds; 0 disables it.
    pub keep_alive: u16,
    /// Client identifier; may be empty.
    pub client_id: Utf8String,
    /// The will message, if the will flag is set.
    pub will: Option<Will>,
    /// User name, if the flag is set.
    pub username: Option<Utf8String>,
    /// Password, if the flag is set.
    pub password: Option<Bytes>,
    /// CONNECT properties (5.0).
    pub properties: Properties,
}

impl fmt::Debug for Connect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connect")
            .field("protocol", &self.protocol)
            .field("clean_start", &self.clean_start)
            .field("keep_alive", &self.keep_alive)
            .field("client_id", &self.client_id)
            .field("will", &self.will)
            .field("username", &self.username)
            .field(
                "password",
                &self
                    .password
                    .as_ref()
                    .map(|p| format!("<{} bytes>", p.len())),
            )
            .field("properties", &self.properties)
            .finish()
    }
}

/// The will message inside CONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Will {
    /// Will QoS.
    pub qos: QoS,
    /// Will retain.
    pub retain: bool,
    /// Will topic (a topic name, no wildcards).
    pub topic: Utf8String,
    /// Will payload.
    pub payload: Bytes,
    /// Will properties (5.0).
    pub properties: Properties,
}

/// CONNACK (spec 3.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnAck {
    /// Session present flag.
    pub session_present: bool,
    /// Reason code; for 3.x the return code mapped by [`ReasonCode::from_v3_connack`].
    pub reason_code: ReasonCode,
    /// CONNACK properties (5.0).
    pub properties: Properties,
}

/// PUBLISH (spec 3.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    /// DUP flag (always false at QoS 0 [MQTT-3.3.1-2]).
    pub dup: bool,
    /// QoS.
    pub qos: QoS,
    /// RETAIN flag.
    pub retain: bool,
    /// Topic name; empty only in 5.0 when a topic alias stands for it.
    pub topic: Utf8String,
    /// Packet id, present exactly when QoS > 0.
    pub packet_id: Option<PacketId>,
    /// PUBLISH properties (5.0).
    pub properties: Properties,
    /// Application payload, a slice of the read buffer.
    pub payload: Bytes,
}

/// PUBACK, PUBREC, PUBREL and PUBCOMP (spec 3.4 to 3.7): the same shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PubResp {
    /// The acknowledged packet id.
    pub packet_id: PacketId,
    /// Reason code (5.0); `Success` for 3.x.
    pub reason_code: ReasonCode,
    /// Properties (5.0).
    pub properties: Properties,
}

impl PubResp {
    /// A success acknowledgment with no properties.
    pub fn new(packet_id: PacketId) -> Self {
        Self {
            packet_id,
            reason_code: ReasonCode::Success,
            properties: Properties::default(),
        }
    }
}

/// Retain handling subscription option (5.0, spec 3.8.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum RetainHandling {
    /// Send retained messages at subscribe time.
    #[default]
    SendAtSubscribe = 0,
    /// Send retained messages only if the subscription did not exist.
    SendIfNew = 1,
    /// Do not send retained messages.
    DoNotSend = 2,
}

/// Subscription options byte (spec 3.8.3.1); 3.x carries only `qos`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SubscriptionOptions {
    /// Maximum QoS.
    pub qos: QoS,
    /// No Local (5.0).
    pub no_local: bool,
    /// Retain As Published (5.0).
    pub retain_as_published: bool,
    /// Retain Handling (5.0).
    pub retain_handling: RetainHandling,
}

/// One topic filter with its options in SUBSCRIBE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// The topic filter, as sent (validated by the topic crate, not here, except emptiness).
    pub filter: Utf8String,
    /// Its options.
    pub options: SubscriptionOptions,
}

/// SUBSCRIBE (spec 3.8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribe {
    /// Packet id.
    pub packet_id: PacketId,
    /// At least one subscription [MQTT-3.8.3-3].
    pub subscriptions: Vec<Subscription>,
    /// Properties (5.0).
    pub properties: Properties,
}

/// SUBACK (spec 3.9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubAck {
    /// Packet id.
    pub packet_id: PacketId,
    /// One per subscription: Success/GrantedQoS1/GrantedQoS2 or a failure (3.x: only 0x80).
    pub reason_codes: Vec<ReasonCode>,
    /// Properties (5.0).
    pub properties: Properties,
}

/// UNSUBSCRIBE (spec 3.10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscribe {
    /// Packet id.
    pub packet_id: PacketId,
    /// At least one filter [MQTT-3.10.3-2].
    pub filters: Vec<Utf8String>,
    /// Properties (5.0).
    pub properties: Properties,
}

/// UNSUBACK (spec 3.11).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsubAck {
    /// Packet id.
    pub packet_id: PacketId,
    /// One per filter in 5.0; empty for 3.x.
    pub reason_codes: Vec<ReasonCode>,
    /// Properties (5.0).
    pub properties: Properties,
}

/// DISCONNECT (spec 3.14); 3.x has neither reason code nor properties.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Disconnect {
    /// Reason code (5.0).
    pub reason_code: ReasonCode,
    /// Properties (5.0).
    pub properties: Properties,
}

/// AUTH (spec 3.15, 5.0 only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth {
    /// Success, ContinueAuthentication or ReAuthenticate.
    pub reason_code: ReasonCode,
    /// Properties (authentication method and data, reason string, user properties).
    pub properties: Properties,
}

#[cfg(test)]
mod debug_tests {
    use super::*;

    #[test]
    fn a_connect_never_shows_its_password_in_debug() {
        let connect = Connect {
            protocol: ProtocolVersion::V5,
            clean_start: true,
            keep_alive: 0,
            client_id: Utf8String::from_static("c"),
            will: None,
            username: Some(Utf8String::from_static("alice")),
            password: Some(Bytes::from_static(b"wonderland")),
            properties: Properties::default(),
        };
        let shown = format!("{connect:?}");
        assert!(
            !shown.contains("wonderland") && !shown.contains("119, 111"),
            "{shown}"
        );
        assert!(
            shown.contains("alice") && shown.contains("<10 bytes>"),
            "{shown}"
        );
    }
}
