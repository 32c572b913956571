//! Encoding a 5.0 property list: ascending identifier order, user properties and subscription
//! identifiers in the order given. A property not allowed in the packet is refused rather than
//! written, so the encoder never produces bytes its own decoder rejects.

use super::sink::{Counter, Sink, VARINT_MAX};
use crate::{EncodeError, Properties, PropertyContext, PropertyId as P};

/// Writes the property length then the properties.
pub(crate) fn write<S: Sink>(
    p: &Properties,
    ctx: PropertyContext,
    s: &mut S,
) -> Result<(), EncodeError> {
    let mut c = Counter::default();
    walk(p, ctx, &mut c)?;
    if c.0 > VARINT_MAX {
        return Err(EncodeError::TooLarge(c.0));
    }
    s.varint(c.0);
    walk(p, ctx, s)
}

fn id<S: Sink>(s: &mut S, id: P, ctx: PropertyContext) -> Result<(), EncodeError> {
    if !id.allowed_in(ctx) {
        return Err(EncodeError::InvalidValue(
            "property not allowed in this packet",
        ));
    }
    s.u8(id.as_u8());
    Ok(())
}

fn walk<S: Sink>(p: &Properties, ctx: PropertyContext, s: &mut S) -> Result<(), EncodeError> {
    byte(
        s,
        p.payload_format_indicator,
        P::PayloadFormatIndicator,
        ctx,
    )?;
    four(s, p.message_expiry_interval, P::MessageExpiryInterval, ctx)?;
    string(s, &p.content_type, P::ContentType, ctx)?;
    string(s, &p.response_topic, P::ResponseTopic, ctx)?;
    binary(s, &p.correlation_data, P::CorrelationData, ctx)?;
    for &v in &p.subscription_identifiers {
        let v = usize::try_from(v).unwrap_or(usize::MAX);
        if v == 0 || v > VARINT_MAX {
            return Err(EncodeError::InvalidValue(
                "subscription identifier outside 1..=268435455",
            ));
        }
        id(s, P::SubscriptionIdentifier, ctx)?;
        s.varint(v);
    }
    four(s, p.session_expiry_interval, P::SessionExpiryInterval, ctx)?;
    string(
        s,
        &p.assigned_client_identifier,
        P::AssignedClientIdentifier,
        ctx,
    )?;
    two(s, p.server_keep_alive, P::ServerKeepAlive, ctx)?;
    string(s, &p.authentication_method, P::AuthenticationMethod, ctx)?;
    binary(s, &p.authentication_data, P::AuthenticationData, ctx)?;
    byte(
        s,
        p.request_problem_information,
        P::RequestProblemInformation,
        ctx,
    )?;
    four(s, p.will_delay_interval, P::WillDelayInterval, ctx)?;
    byte(
        s,
        p.request_response_information,
        P::RequestResponseInformation,
        ctx,
    )?;
    string(s, &p.response_information, P::ResponseInformation, ctx)?;
    string(s, &p.server_reference, P::ServerReference, ctx)?;
    string(s, &p.reason_string, P::ReasonString, ctx)?;
    two(s, p.receive_maximum, P::ReceiveMaximum, ctx)?;
    two(s, p.topic_alias_maximum, P::TopicAliasMaximum, ctx)?;
    two(s, p.topic_alias, P::TopicAlias, ctx)?;
    byte(s, p.maximum_qos, P::MaximumQoS, ctx)?;
    byte(s, p.retain_available, P::RetainAvailable, ctx)?;
    for (k, v) in &p.user_properties {
        id(s, P::UserProperty, ctx)?;
        s.string(k)?;
        s.string(v)?;
    }
    four(s, p.maximum_packet_size, P::MaximumPacketSize, ctx)?;
    byte(
        s,
        p.wildcard_subscription_available,
        P::WildcardSubscriptionAvailable,
        ctx,
    )?;
    byte(
        s,
        p.subscription_identifier_available,
        P::SubscriptionIdentifierAvailable,
        ctx,
    )?;
    byte(
        s,
        p.shared_subscription_available,
        P::SharedSubscriptionAvailable,
        ctx,
    )
}

fn four<S: Sink>(
    s: &mut S,
    v: Option<u32>,
    pid: P,
    ctx: PropertyContext,
) -> Result<(), EncodeError> {
    if let Some(v) = v {
        id(s, pid, ctx)?;
        s.u32(v);
    }
    Ok(())
}

fn binary<S: Sink>(
    s: &mut S,
    v: &Option<bytes::Bytes>,
    pid: P,
    ctx: PropertyContext,
) -> Result<(), EncodeError> {
    if let Some(v) = v {
        id(s, pid, ctx)?;
        s.binary(v)?;
    }
    Ok(())
}

fn byte<S: Sink>(
    s: &mut S,
    v: Option<u8>,
    pid: P,
    ctx: PropertyContext,
) -> Result<(), EncodeError> {
    if let Some(v) = v {
        id(s, pid, ctx)?;
        s.u8(v);
    }
    Ok(())
}

fn two<S: Sink>(
    s: &mut S,
    v: Option<u16>,
    pid: P,
    ctx: PropertyContext,
) -> Result<(), EncodeError> {
    if let Some(v) = v {
        id(s, pid, ctx)?;
        s.u16(v);
    }
    Ok(())
}

fn string<S: Sink>(
    s: &mut S,
    v: &Option<crate::Utf8String>,
    pid: P,
    ctx: PropertyContext,
) -> Result<(), EncodeError> {
    if let Some(v) = v {
        id(s, pid, ctx)?;
        s.string(v)?;
    }
    Ok(())
}
