//! Decoding a 5.0 property list (spec 2.2.2): length, then identifier/value pairs, each checked
//! against the packet it sits in, for repeats, and for its value range.
//!
//! Clauses: an identifier unknown or not valid for the packet is a Malformed Packet (2.2.2.2);
//! giving a property twice or an out-of-range value is a Protocol Error, stated in each packet's
//! property section, which is the clause cited (e.g. `MQTT-3.1.2.11` for CONNECT).

use super::reader::Reader;
use crate::{DecodeError, Properties, PropertyContext, PropertyId};

/// The spec section holding the property rules of `ctx`.
fn section(ctx: PropertyContext) -> &'static str {
    match ctx {
        PropertyContext::Connect => "MQTT-3.1.2.11",
        PropertyContext::Will => "MQTT-3.1.3.2",
        PropertyContext::ConnAck => "MQTT-3.2.2.3",
        PropertyContext::Publish => "MQTT-3.3.2.3",
        PropertyContext::PubResp => "MQTT-3.4.2.2",
        PropertyContext::Subscribe => "MQTT-3.8.2.1",
        PropertyContext::SubAck => "MQTT-3.9.2.1",
        PropertyContext::Unsubscribe => "MQTT-3.10.2.1",
        PropertyContext::UnsubAck => "MQTT-3.11.2.1",
        PropertyContext::Disconnect => "MQTT-3.14.2.2",
        PropertyContext::Auth => "MQTT-3.15.2.2",
    }
}

/// Reads a property length and the properties it covers.
pub(crate) fn read(r: &mut Reader, ctx: PropertyContext) -> Result<Properties, DecodeError> {
    let len = r.varint()?;
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    if len > r.remaining() {
        return Err(DecodeError::malformed(
            "MQTT-2.2.2.1",
            "property length runs past the end of the packet",
        ));
    }
    let mut props = Properties::default();
    if len == 0 {
        return Ok(props);
    }
    let mut inner = Reader::new(r.take(len)?, r.version);
    while inner.remaining() > 0 {
        read_one(&mut inner, ctx, &mut props)?;
    }
    if props.authentication_data.is_some() && props.authentication_method.is_none() {
        return Err(DecodeError::protocol(
            section(ctx),
            "authentication data without an authentication method",
        ));
    }
    Ok(props)
}

fn set_once<T>(slot: &mut Option<T>, value: T, ctx: PropertyContext) -> Result<(), DecodeError> {
    if slot.is_some() {
        return Err(DecodeError::protocol(
            section(ctx),
            "property included more than once",
        ));
    }
    *slot = Some(value);
    Ok(())
}

/// A byte that must be 0 or 1.
fn flag(r: &mut Reader, ctx: PropertyContext) -> Result<u8, DecodeError> {
    let v = r.u8()?;
    if v > 1 {
        return Err(DecodeError::protocol(
            section(ctx),
            "property value must be 0 or 1",
        ));
    }
    Ok(v)
}

/// A two- or four-byte value that must not be 0.
fn non_zero<T: PartialEq + Default>(
    v: T,
    ctx: PropertyContext,
    what: &'static str,
) -> Result<T, DecodeError> {
    if v == T::default() {
        return Err(DecodeError::protocol(section(ctx), what));
    }
    Ok(v)
}

fn read_one(r: &mut Reader, ctx: PropertyContext, p: &mut Properties) -> Result<(), DecodeError> {
    use PropertyId as P;
    let raw = r.varint()?;
    let id = u8::try_from(raw)
        .ok()
        .and_then(PropertyId::from_u8)
        .ok_or_else(|| DecodeError::malformed("MQTT-2.2.2.2", "unknown property identifier"))?;
    if !id.allowed_in(ctx) {
        return Err(DecodeError::malformed(
            "MQTT-2.2.2.2",
            "property not valid in this packet",
        ));
    }
    match id {
        P::PayloadFormatIndicator => set_once(&mut p.payload_format_indicator, flag(r, ctx)?, ctx),
        P::MessageExpiryInterval => set_once(&mut p.message_expiry_interval, r.u32()?, ctx),
        P::ContentType => set_once(&mut p.content_type, r.string()?, ctx),
        P::ResponseTopic => {
            let topic = r.string()?;
            if topic.is_empty() || topic.contains(['+', '#']) {
                return Err(DecodeError::protocol(
                    "MQTT-3.3.2-14",
                    "response topic must be a topic name without wildcards",
                ));
            }
            set_once(&mut p.response_topic, topic, ctx)
        }
        P::CorrelationData => set_once(&mut p.correlation_data, r.binary()?, ctx),
        P::SubscriptionIdentifier => {
            let v = non_zero(r.varint()?, ctx, "subscription identifier 0")?;
            if ctx != PropertyContext::Publish && !p.subscription_identifiers.is_empty() {
                return Err(DecodeError::protocol(
                    section(ctx),
                    "property included more than once",
                ));
            }
            p.subscription_identifiers.push(v);
            Ok(())
        }
        P::SessionExpiryInterval => set_once(&mut p.session_expiry_interval, r.u32()?, ctx),
        P::AssignedClientIdentifier => {
            set_once(&mut p.assigned_client_identifier, r.string()?, ctx)
        }
        P::ServerKeepAlive => set_once(&mut p.server_keep_alive, r.u16()?, ctx),
        P::AuthenticationMethod => set_once(&mut p.authentication_method, r.string()?, ctx),
        P::AuthenticationData => set_once(&mut p.authentication_data, r.binary()?, ctx),
        P::RequestProblemInformation => {
            set_once(&mut p.request_problem_information, flag(r, ctx)?, ctx)
        }
        P::WillDelayInterval => set_once(&mut p.will_delay_interval, r.u32()?, ctx),
        P::RequestResponseInformation => {
            set_once(&mut p.request_response_information, flag(r, ctx)?, ctx)
        }
        P::ResponseInformation => set_once(&mut p.response_information, r.string()?, ctx),
        P::ServerReference => set_once(&mut p.server_reference, r.string()?, ctx),
        P::ReasonString => set_once(&mut p.reason_string, r.string()?, ctx),
        P::ReceiveMaximum => {
            let v = non_zero(r.u16()?, ctx, "receive maximum 0")?;
            set_once(&mut p.receive_maximum, v, ctx)
        }
        P::TopicAliasMaximum => set_once(&mut p.topic_alias_maximum, r.u16()?, ctx),
        P::TopicAlias => {
            let v = r.u16()?;
            if v == 0 {
                // A protocol error whose 5.0 reason code is Topic Alias invalid (0x94).
                return Err(DecodeError::Invalid {
                    reason: crate::ReasonCode::TopicAliasInvalid,
                    clause: "MQTT-3.3.2-8",
                    what: "topic alias 0",
                });
            }
            set_once(&mut p.topic_alias, v, ctx)
        }
        P::MaximumQoS => set_once(&mut p.maximum_qos, flag(r, ctx)?, ctx),
        P::RetainAvailable => set_once(&mut p.retain_available, flag(r, ctx)?, ctx),
        P::UserProperty => {
            let k = r.string()?;
            let v = r.string()?;
            p.user_properties.push((k, v));
            Ok(())
        }
        P::MaximumPacketSize => {
            let v = non_zero(r.u32()?, ctx, "maximum packet size 0")?;
            set_once(&mut p.maximum_packet_size, v, ctx)
        }
        P::WildcardSubscriptionAvailable => {
            set_once(&mut p.wildcard_subscription_available, flag(r, ctx)?, ctx)
        }
        P::SubscriptionIdentifierAvailable => {
            set_once(&mut p.subscription_identifier_available, flag(r, ctx)?, ctx)
        }
        P::SharedSubscriptionAvailable => {
            set_once(&mut p.shared_subscription_available, flag(r, ctx)?, ctx)
        }
    }
}
