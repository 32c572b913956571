//! The body of every packet type, written into any [`Sink`].

use super::properties;
use super::sink::Sink;
use crate::{
    Auth, ConnAck, Connect, Disconnect, EncodeError, Packet, PropertyContext as Ctx,
    ProtocolVersion, PubResp, Publish, QoS, ReasonCode, SubAck, Subscribe, SubscriptionOptions,
    UnsubAck, Unsubscribe,
};

/// Type nibble and flags of the fixed header.
pub(super) fn first_byte(packet: &Packet) -> u8 {
    let kind = packet.packet_type() as u8;
    let flags = match packet {
        Packet::Publish(p) => (u8::from(p.dup) << 3) | (p.qos.as_u8() << 1) | u8::from(p.retain),
        Packet::PubRel(_) | Packet::Subscribe(_) | Packet::Unsubscribe(_) => 0b0010,
        _ => 0,
    };
    (kind << 4) | flags
}

/// Writes the variable header and payload of `packet`.
pub(super) fn body<S: Sink>(
    packet: &Packet,
    version: ProtocolVersion,
    s: &mut S,
) -> Result<(), EncodeError> {
    let v5 = version.is_v5();
    match packet {
        Packet::Connect(c) => connect(c, s),
        Packet::ConnAck(c) => connack(c, v5, s),
        Packet::Publish(p) => publish(p, v5, s),
        Packet::PubAck(r) | Packet::PubRec(r) | Packet::PubRel(r) | Packet::PubComp(r) => {
            pub_resp(r, v5, s)
        }
        Packet::Subscribe(sub) => subscribe(sub, v5, s),
        Packet::SubAck(a) => suback(a, v5, s),
        Packet::Unsubscribe(u) => unsubscribe(u, v5, s),
        Packet::UnsubAck(a) => unsuback(a, v5, s),
        Packet::PingReq | Packet::PingResp => Ok(()),
        Packet::Disconnect(d) => disconnect(d, v5, s),
        Packet::Auth(a) => auth(a, v5, s),
    }
}

fn props<S: Sink>(p: &crate::Properties, ctx: Ctx, v5: bool, s: &mut S) -> Result<(), EncodeError> {
    if v5 {
        properties::write(p, ctx, s)
    } else {
        Ok(())
    }
}

fn connect<S: Sink>(c: &Connect, s: &mut S) -> Result<(), EncodeError> {
    let version = c.protocol;
    let v5 = version.is_v5();
    if c.password.is_some() && c.username.is_none() && !v5 {
        return Err(EncodeError::InvalidValue(
            "a 3.x CONNECT cannot carry a password without a user name",
        ));
    }
    s.binary(version.protocol_name().as_bytes())?;
    s.u8(version.level());
    let mut flags = u8::from(c.clean_start) << 1;
    if let Some(w) = &c.will {
        flags |= 0x04 | (w.qos.as_u8() << 3) | (u8::from(w.retain) << 5);
    }
    flags |= u8::from(c.password.is_some()) << 6;
    flags |= u8::from(c.username.is_some()) << 7;
    s.u8(flags);
    s.u16(c.keep_alive);
    props(&c.properties, Ctx::Connect, v5, s)?;
    s.string(&c.client_id)?;
    if let Some(w) = &c.will {
        props(&w.properties, Ctx::Will, v5, s)?;
        s.string(&w.topic)?;
        s.binary(&w.payload)?;
    }
    if let Some(u) = &c.username {
        s.string(u)?;
    }
    if let Some(p) = &c.password {
        s.binary(p)?;
    }
    Ok(())
}

fn connack<S: Sink>(c: &ConnAck, v5: bool, s: &mut S) -> Result<(), EncodeError> {
    s.u8(u8::from(c.session_present));
    if v5 {
        s.u8(c.reason_code.as_u8());
    } else {
        s.u8(c.reason_code.to_v3_connack());
    }
    props(&c.properties, Ctx::ConnAck, v5, s)
}

fn publish<S: Sink>(p: &Publish, v5: bool, s: &mut S) -> Result<(), EncodeError> {
    s.string(&p.topic)?;
    match (p.qos, p.packet_id) {
        (QoS::AtMostOnce, None) => {}
        (QoS::AtMostOnce, Some(_)) => {
            return Err(EncodeError::InvalidValue("packet id on a QoS 0 PUBLISH"))
        }
        (_, Some(id)) => s.u16(id.get()),
        (_, None) => {
            return Err(EncodeError::InvalidValue(
                "QoS > 0 PUBLISH without packet id",
            ))
        }
    }
    props(&p.properties, Ctx::Publish, v5, s)?;
    s.raw(&p.payload);
    Ok(())
}

fn pub_resp<S: Sink>(r: &PubResp, v5: bool, s: &mut S) -> Result<(), EncodeError> {
    s.u16(r.packet_id.get());
    if !v5 {
        return Ok(());
    }
    let no_props = r.properties.is_empty();
    if r.reason_code == ReasonCode::Success && no_props {
        return Ok(());
    }
    s.u8(r.reason_code.as_u8());
    if no_props {
        return Ok(());
    }
    properties::write(&r.properties, Ctx::PubResp, s)
}

fn options(o: &SubscriptionOptions, v5: bool) -> u8 {
    let mut b = o.qos.as_u8();
    if v5 {
        b |= u8::from(o.no_local) << 2;
        b |= u8::from(o.retain_as_published) << 3;
        b |= (o.retain_handling as u8) << 4;
    }
    b
}

fn subscribe<S: Sink>(sub: &Subscribe, v5: bool, s: &mut S) -> Result<(), EncodeError> {
    s.u16(sub.packet_id.get());
    props(&sub.properties, Ctx::Subscribe, v5, s)?;
    for entry in &sub.subscriptions {
        s.string(&entry.filter)?;
        s.u8(options(&entry.options, v5));
    }
    Ok(())
}

fn suback<S: Sink>(a: &SubAck, v5: bool, s: &mut S) -> Result<(), EncodeError> {
    s.u16(a.packet_id.get());
    props(&a.properties, Ctx::SubAck, v5, s)?;
    for code in &a.reason_codes {
        let byte = match code {
            _ if v5 => code.as_u8(),
            ReasonCode::Success | ReasonCode::GrantedQoS1 | ReasonCode::GrantedQoS2 => code.as_u8(),
            _ => 0x80,
        };
        s.u8(byte);
    }
    Ok(())
}

fn unsubscribe<S: Sink>(u: &Unsubscribe, v5: bool, s: &mut S) -> Result<(), EncodeError> {
    s.u16(u.packet_id.get());
    props(&u.properties, Ctx::Unsubscribe, v5, s)?;
    for f in &u.filters {
        s.string(f)?;
    }
    Ok(())
}

fn unsuback<S: Sink>(a: &UnsubAck, v5: bool, s: &mut S) -> Result<(), EncodeError> {
    s.u16(a.packet_id.get());
    if v5 {
        properties::write(&a.properties, Ctx::UnsubAck, s)?;
        for code in &a.reason_codes {
            s.u8(code.as_u8());
        }
    }
    Ok(())
}

fn disconnect<S: Sink>(d: &Disconnect, v5: bool, s: &mut S) -> Result<(), EncodeError> {
    if !v5 {
        return Ok(());
    }
    let no_props = d.properties.is_empty();
    if d.reason_code == ReasonCode::Success && no_props {
        return Ok(());
    }
    s.u8(d.reason_code.as_u8());
    if no_props {
        return Ok(());
    }
    properties::write(&d.properties, Ctx::Disconnect, s)
}

fn auth<S: Sink>(a: &Auth, v5: bool, s: &mut S) -> Result<(), EncodeError> {
    if !v5 {
        return Err(EncodeError::InvalidValue("AUTH exists only in MQTT 5.0"));
    }
    if a.reason_code == ReasonCode::Success && a.properties.is_empty() {
        return Ok(());
    }
    s.u8(a.reason_code.as_u8());
    properties::write(&a.properties, Ctx::Auth, s)
}
