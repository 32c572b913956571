//! CONNECT negotiation (spec 3.1 and 3.2): turns a decoded CONNECT and the server's limits into
//! the parameters of the connection, or the reason code to refuse it with, and builds CONNACK.
//!
//! Client id rules per version: 5.0 with an empty id gets an assigned id that CONNACK reports;
//! 3.1.1 with an empty id is accepted only with Clean Session ([MQTT-3.1.3-7], [MQTT-3.1.3-8]);
//! 3.1 requires 1 to 23 bytes (when `strict_3_1_client_id`).

use crate::limits::ServerLimits;
use crate::message::{Message, MessageProperties};
use crate::publish_rules;
use starling_codec::{
    encoded_len, ConnAck, Connect, Packet, Properties, ProtocolVersion, QoS, ReasonCode, Utf8String,
};
use starling_topic::TopicName;
use std::sync::Arc;

/// A will message as the session holds it until it is published or discarded.
#[derive(Debug, Clone)]
pub struct WillSpec {
    /// The message, expiry counted from when it is published.
    pub message: Message,
    /// Message expiry interval from the will properties, applied when published.
    pub expiry_interval: Option<u32>,
    /// Will delay interval in seconds (5.0; 0 for 3.x).
    pub delay_secs: u32,
}

/// The agreed parameters of an accepted connection.
#[derive(Debug, Clone)]
pub struct Negotiated {
    /// Protocol version from CONNECT.
    pub version: ProtocolVersion,
    /// The client id in force (assigned if the client sent none).
    pub client_id: Arc<str>,
    /// True when the server made the id up.
    pub assigned_id: bool,
    /// Clean Start / Clean Session.
    pub clean_start: bool,
    /// Session expiry interval in seconds after capping; `u32::MAX` never expires.
    pub session_expiry: u32,
    /// Keep alive in force, seconds (0 = none).
    pub keep_alive: u16,
    /// True when the server imposed `keep_alive` (announced in CONNACK).
    pub keep_alive_imposed: bool,
    /// The client's Receive Maximum (how many QoS 1/2 we may have in flight to it).
    pub client_receive_maximum: u16,
    /// The client's Maximum Packet Size.
    pub client_max_packet_size: u32,
    /// The client's Topic Alias Maximum (aliases we may use towards it).
    pub client_topic_alias_maximum: u16,
    /// Request Problem Information (5.0; default true).
    pub request_problem_information: bool,
    /// Request Response Information (5.0; default false).
    pub request_response_information: bool,
    /// The will, if any.
    pub will: Option<Box<WillSpec>>,
    /// User name, for authentication and logs (boxed: most connections keep it unused, and an
    /// idle connection's size matters).
    pub username: Option<Box<Utf8String>>,
    /// True when the session expiry was lowered to the server's cap (announced in CONNACK).
    pub session_expiry_capped: bool,
    /// RETAIN=1 is accepted from this client: what a 5.0 CONNACK announced (the retainer's
    /// switch at connect; a later change cannot reach what was said), always for 3.x, which
    /// cannot be told (its retained messages are routed, and stored only while the retainer
    /// is on).
    pub retain_available: bool,
}

/// Negotiates a CONNECT. `assign_id` makes a fresh client id when one is needed.
pub fn negotiate(
    connect: &Connect,
    limits: &ServerLimits,
    assign_id: impl FnOnce() -> String,
) -> Result<Negotiated, ReasonCode> {
    let version = connect.protocol;
    let (client_id, assigned_id) = client_id(connect, limits, assign_id)?;
    // An Authentication Method (enhanced authentication, 5.0) is the broker's to judge: it
    // runs the exchange, or refuses an unknown method with 0x8C.
    let requested = if version.is_v5() {
        connect.properties.session_expiry_interval.unwrap_or(0)
    } else if connect.clean_start {
        0
    } else {
        u32::MAX
    };
    let cap = limits.max_session_expiry_secs();
    let session_expiry = requested.min(cap);
    let (keep_alive, keep_alive_imposed) = keep_alive(connect, limits)?;
    let props = &connect.properties;
    let client_id: Arc<str> = client_id.into();
    Ok(Negotiated {
        version,
        will: will(connect, limits, &client_id)?.map(Box::new),
        client_id,
        assigned_id,
        clean_start: connect.clean_start,
        session_expiry,
        keep_alive,
        keep_alive_imposed,
        client_receive_maximum: props.receive_maximum.unwrap_or(u16::MAX),
        client_max_packet_size: props.maximum_packet_size.unwrap_or(u32::MAX),
        client_topic_alias_maximum: props.topic_alias_maximum.unwrap_or(0),
        request_problem_information: props.request_problem_information != Some(0),
        request_response_information: props.request_response_information == Some(1),
        username: connect.username.clone().map(Box::new),
        session_expiry_capped: version.is_v5() && requested > cap,
        retain_available: !version.is_v5() || limits.retain_available(),
    })
}

/// The keep alive in force and whether the server imposed it (announced as Server Keep Alive).
///
/// 5.0: `server_keep_alive` if set, else the client's; then, past `max_keepalive` or 0 (none),
/// the cap. 3.x cannot be told another keep alive, so a client asking for none or more than
/// the cap is refused with return code 2, identifier rejected, as Mosquitto does: a connection
/// without keep alive is never found dead, and its session would be held forever.
fn keep_alive(connect: &Connect, limits: &ServerLimits) -> Result<(u16, bool), ReasonCode> {
    let cap = limits.max_keepalive;
    let beyond_cap = |secs: u16| cap > 0 && (secs == 0 || secs > cap);
    if !connect.protocol.is_v5() {
        if beyond_cap(connect.keep_alive) {
            return Err(ReasonCode::ClientIdentifierNotValid);
        }
        return Ok((connect.keep_alive, false));
    }
    let mut secs = if limits.server_keep_alive > 0 {
        limits.server_keep_alive
    } else {
        connect.keep_alive
    };
    if beyond_cap(secs) {
        secs = cap;
    }
    Ok((secs, secs != connect.keep_alive))
}

fn client_id(
    connect: &Connect,
    limits: &ServerLimits,
    assign_id: impl FnOnce() -> String,
) -> Result<(String, bool), ReasonCode> {
    let id = connect.client_id.as_str();
    if id.is_empty() {
        return match connect.protocol {
            ProtocolVersion::V5 => Ok((assign_id(), true)),
            ProtocolVersion::V3_1_1 if connect.clean_start => Ok((assign_id(), true)),
            // [MQTT-3.1.3-8]: empty id without Clean Session is refused with return code 2.
            _ => Err(ReasonCode::ClientIdentifierNotValid),
        };
    }
    let too_long_for_3_1 =
        connect.protocol == ProtocolVersion::V3_1 && limits.strict_3_1_client_id && id.len() > 23;
    if too_long_for_3_1 || id.len() > limits.max_client_id_len {
        return Err(ReasonCode::ClientIdentifierNotValid);
    }
    Ok((id.to_owned(), false))
}

/// The will of `connect`, published as `client_id`: the id in force, the assigned one when the
/// client sent none (No Local compares it with the subscriber's id).
fn will(
    connect: &Connect,
    limits: &ServerLimits,
    client_id: &Arc<str>,
) -> Result<Option<WillSpec>, ReasonCode> {
    let Some(will) = &connect.will else {
        return Ok(None);
    };
    let topic =
        TopicName::parse(&will.topic, &limits.topic).map_err(|_| ReasonCode::TopicNameInvalid)?;
    // The same rules as a PUBLISH: no will to `$SYS` (3.x: return code 5), no malformed
    // `$delayed` topic, user properties within their cap.
    if let Some(reason) = publish_rules::topic_refusal(&topic, limits) {
        return Err(reason);
    }
    if let Some(reason) =
        publish_rules::user_properties_refusal(&will.properties.user_properties, limits)
    {
        return Err(reason);
    }
    if will.qos > limits.max_qos {
        return Err(ReasonCode::QoSNotSupported); // [MQTT-3.2.2-12]
    }
    if will.retain && connect.protocol.is_v5() && !limits.retain_available() {
        return Err(ReasonCode::RetainNotSupported); // [MQTT-3.2.2-13]
    }
    let props = &will.properties;
    if props.payload_format_indicator == Some(1) && std::str::from_utf8(&will.payload).is_err() {
        return Err(ReasonCode::PayloadFormatInvalid);
    }
    Ok(Some(WillSpec {
        message: Message {
            wire_topic: Message::wire_topic_of(&topic),
            topic,
            payload: crate::message::detach(&will.payload),
            qos: will.qos,
            retain: will.retain,
            properties: MessageProperties::from_publish(props),
            expires_at: None,
            publisher: client_id.clone(),
        },
        expiry_interval: props.message_expiry_interval,
        delay_secs: props.will_delay_interval.unwrap_or(0),
    }))
}

/// The CONNACK for an accepted connection; for 5.0 it announces the server's limits.
pub fn connack(neg: &Negotiated, limits: &ServerLimits, session_present: bool) -> ConnAck {
    let mut properties = Properties::default();
    if neg.version.is_v5() {
        let p = &mut properties;
        if neg.assigned_id {
            p.assigned_client_identifier = Utf8String::try_from(&*neg.client_id).ok();
        }
        if neg.session_expiry_capped {
            p.session_expiry_interval = Some(neg.session_expiry);
        }
        if neg.request_response_information {
            // [MQTT-3.1.2-28]: only when asked; the server may still send none.
            p.response_information = limits
                .response_information
                .as_deref()
                .and_then(|info| Utf8String::try_from(info).ok());
        }
        if neg.keep_alive_imposed {
            p.server_keep_alive = Some(neg.keep_alive);
        }
        p.receive_maximum = Some(limits.receive_maximum);
        p.maximum_packet_size = Some(limits.max_packet_size);
        p.topic_alias_maximum = Some(limits.topic_alias_maximum);
        if limits.max_qos < QoS::ExactlyOnce {
            p.maximum_qos = Some(limits.max_qos.as_u8());
        }
        p.retain_available = Some(u8::from(neg.retain_available));
        p.wildcard_subscription_available = Some(u8::from(limits.wildcard_subscription_available));
        p.subscription_identifier_available =
            Some(u8::from(limits.subscription_identifier_available));
        p.shared_subscription_available = Some(u8::from(limits.shared_subscription_available()));
    }
    ConnAck {
        session_present,
        reason_code: ReasonCode::Success,
        properties,
    }
}

/// The CONNACK for an accepted connection as it may be sent to this client, or `None` when even
/// the smallest form is larger than the client's Maximum Packet Size: then no CONNACK may be
/// sent ([MQTT-3.1.2-24]) and the connection is closed.
///
/// What the spec lets us leave out goes first: the reason string and user properties
/// ([MQTT-3.2.2-19], [MQTT-3.2.2-20]); then the properties whose value is what their absence
/// means (Retain, Wildcard Subscription, Subscription Identifier and Shared Subscription
/// Available 1, Receive Maximum 65535, Topic Alias Maximum 0); then Response Information, which
/// a server may always withhold. What the client must be told (an assigned client id, the
/// Server Keep Alive, a capped session expiry, the server's limits below their defaults) stays.
pub fn connack_fitting(
    neg: &Negotiated,
    limits: &ServerLimits,
    session_present: bool,
) -> Option<ConnAck> {
    let mut packet = Packet::ConnAck(connack(neg, limits, session_present));
    let fits = |packet: &Packet| {
        encoded_len(packet, neg.version)
            .is_ok_and(|len| len as u64 <= u64::from(neg.client_max_packet_size))
    };
    let steps: [fn(&mut Properties); 3] = [
        |p| {
            p.reason_string = None;
            p.user_properties.clear();
        },
        |p| {
            let drop_if = |value: &mut Option<u8>, default: u8| {
                if *value == Some(default) {
                    *value = None;
                }
            };
            drop_if(&mut p.retain_available, 1);
            drop_if(&mut p.wildcard_subscription_available, 1);
            drop_if(&mut p.subscription_identifier_available, 1);
            drop_if(&mut p.shared_subscription_available, 1);
            if p.receive_maximum == Some(u16::MAX) {
                p.receive_maximum = None;
            }
            if p.topic_alias_maximum == Some(0) {
                p.topic_alias_maximum = None;
            }
        },
        |p| p.response_information = None,
    ];
    for step in steps {
        if fits(&packet) {
            break;
        }
        if let Packet::ConnAck(ack) = &mut packet {
            step(&mut ack.properties);
        }
    }
    if !fits(&packet) {
        return None;
    }
    match packet {
        Packet::ConnAck(ack) => Some(ack),
        _ => None,
    }
}

/// A CONNACK refusing the connection with `reason` (mapped to a 3.x return code on encode).
pub fn connack_refused(reason: ReasonCode) -> ConnAck {
    ConnAck {
        session_present: false,
        reason_code: reason,
        properties: Properties::default(),
    }
}
