//! What connections call: the CONNECT, every packet in and out, and the end of the
//! connection. Each entry point is inlined and asks only [`Tracer::is_on`](super::Tracer)
//! before returning when no trace runs; the work is out of line, in the cold functions.

use std::net::SocketAddr;

use starling_codec::{Connect, Packet};
use starling_core::Channel;

use super::event::{self, Direction, Who};
use crate::clients::ClientInfo;
use crate::context::Context;

/// The CONNECT of `client_id` (the id the broker uses, assigned or not).
#[inline]
pub(crate) fn connect(ctx: &Context, client_id: &str, peer: SocketAddr, packet: &Connect) {
    if ctx.tracer.is_on() {
        connect_slow(ctx, client_id, peer, packet);
    }
}

#[cold]
#[inline(never)]
fn connect_slow(ctx: &Context, client_id: &str, peer: SocketAddr, packet: &Connect) {
    let tracer = &ctx.tracer;
    let active = tracer.active.load();
    let mask = tracer.mask(&active, client_id, peer.ip(), None, None);
    if mask == 0 {
        return;
    }
    let who = who(client_id, peer);
    let mut line = event::head(tracer.now(), &who, Some(Direction::In));
    event::connect(&mut line, packet);
    line.push('\n');
    tracer.emit(&active, mask, |_| line.clone());
}

/// The CONNACK (accepted or refused), before the connection has
/// its `ClientInfo`.
#[inline]
pub(crate) fn connack(ctx: &Context, client_id: &str, peer: SocketAddr, packet: &Packet) {
    if ctx.tracer.is_on() {
        let who = who(client_id, peer);
        packet_slow(ctx, &who, None, None, Direction::Out, packet);
    }
}

/// A packet read from the client (`In`, before the channel handles it) or queued to it
/// (`Out`).
#[inline]
pub(crate) fn packet(
    ctx: &Context,
    info: Option<&ClientInfo>,
    channel: &Channel,
    dir: Direction,
    packet: &Packet,
) {
    if ctx.tracer.is_on() {
        if let Some(info) = info {
            let who = Who {
                client_id: &info.client_id,
                ip: info.ip,
                port: info.port,
            };
            packet_slow(ctx, &who, Some(info), Some(channel), dir, packet);
        }
    }
}

#[cold]
#[inline(never)]
fn packet_slow(
    ctx: &Context,
    who: &Who<'_>,
    info: Option<&ClientInfo>,
    channel: Option<&Channel>,
    dir: Direction,
    packet: &Packet,
) {
    if matches!(packet, Packet::PingReq | Packet::PingResp) {
        return;
    }
    let tracer = &ctx.tracer;
    let active = tracer.active.load();
    let topic = match packet {
        Packet::Publish(p) if p.topic.is_empty() => p
            .properties
            .topic_alias
            .and_then(|a| channel.and_then(|c| c.alias_topic(a, dir == Direction::In))),
        Packet::Publish(p) => Some(p.topic.as_str()),
        _ => None,
    };
    let cache = info.map(|i| &i.trace);
    let mask = tracer.mask(&active, who.client_id, who.ip, cache, topic);
    if mask == 0 {
        return;
    }
    let head = event::head(tracer.now(), who, Some(dir));
    let max = tracer.config.payload_max;
    tracer.emit(&active, mask, |encode| {
        let mut line = head.clone();
        let _ = event::packet(&mut line, packet, topic, encode, max);
        line.push('\n');
        line
    });
}

/// The connection ended (`why`: how), whatever packets were or were not sent.
#[inline]
pub(crate) fn closed(ctx: &Context, info: Option<&ClientInfo>, why: &str) {
    if ctx.tracer.is_on() {
        if let Some(info) = info {
            closed_slow(ctx, info, why);
        }
    }
}

#[cold]
#[inline(never)]
fn closed_slow(ctx: &Context, info: &ClientInfo, why: &str) {
    let tracer = &ctx.tracer;
    let active = tracer.active.load();
    let mask = tracer.mask(&active, &info.client_id, info.ip, Some(&info.trace), None);
    if mask == 0 {
        return;
    }
    let who = Who {
        client_id: &info.client_id,
        ip: info.ip,
        port: info.port,
    };
    let mut line = event::head(tracer.now(), &who, None);
    line.push_str("CLOSED ");
    line.push_str(why);
    line.push('\n');
    tracer.emit(&active, mask, |_| line.clone());
}

fn who(client_id: &str, peer: SocketAddr) -> Who<'_> {
    Who {
        client_id,
        ip: peer.ip(),
        port: peer.port(),
    }
}
