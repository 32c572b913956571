//! The online loop: decode what the client sent, feed the channel, carry out its effects, write
//! everything the turn produced in one go, then wait for the next event (the router's answers
//! and orders — shutdown among them —, deliveries, bytes from the client, or the keep-alive
//! deadline).

use super::transport::{Stream, Transport};
use super::Ended;
use crate::clock;
use crate::context::Context;
use crate::mailbox::{Inbox, SessionMsg};
use crate::metrics::Metrics;
use crate::router::command::{RouterCmd, SessionControl, SubAckReply};
use starling_codec::{Packet, ReasonCode};
use starling_core::{Channel, CloseReason, Effect};
use std::future::{poll_fn, Future};
use std::task::Poll;
use tokio::sync::mpsc::error::TrySendError;
use tracing::debug;

/// Deliveries taken from the inbox in one turn before writing (bounds latency under load).
const DELIVERY_BATCH: usize = 256;

/// What woke the loop.
enum Wake {
    Inbox(Option<SessionMsg>),
    Read(std::io::Result<usize>),
    KeepAlive,
}

/// Runs the connection until it ends.
///
/// Memory: this future is what an idle connection holds, so its waiting point is a single
/// `poll_fn` over state kept for the whole loop (the inbox, the socket and one keep-alive timer)
/// rather than a `select!` over futures made anew each turn; shutdown arrives through the inbox. The timer is not re-armed on every
/// packet: when it fires, the channel says whether the deadline really passed, and if packets
/// moved it the timer is set to the new deadline.
pub(crate) async fn run<S>(
    transport: &mut Transport<S>,
    channel: &mut Channel,
    inbox: &mut Inbox,
    ctx: &Context,
) -> Ended
where
    S: Stream,
{
    // CONNACK and any resent messages of a resumed session.
    if let Some(ended) = carry_out(channel, transport, ctx).await {
        return ended;
    }
    let deadline = channel.keepalive_deadline();
    let keepalive = tokio::time::sleep_until(deadline.unwrap_or_else(clock::now).into());
    tokio::pin!(keepalive);
    let mut armed = deadline.is_some();
    loop {
        loop {
            match feed_one(transport, channel, ctx) {
                Ok(true) => {
                    if let Some(ended) = carry_out(channel, transport, ctx).await {
                        return ended;
                    }
                }
                Ok(false) => break,
                Err(reason) => {
                    channel.handle_server_close(reason);
                    let _ = carry_out(channel, transport, ctx).await;
                    return Ended::Lost;
                }
            }
        }
        if transport.flush().await.is_err() {
            return Ended::Lost;
        }
        let wake = poll_fn(|cx| {
            if let Poll::Ready(msg) = inbox.poll_recv(cx) {
                return Poll::Ready(Wake::Inbox(msg));
            }
            if let Poll::Ready(read) = transport.poll_read_more(cx) {
                return Poll::Ready(Wake::Read(read));
            }
            if armed && keepalive.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Wake::KeepAlive);
            }
            Poll::Pending
        })
        .await;
        match wake {
            // The router only lets go of an online session's mailbox when it stops.
            Wake::Inbox(None) => {
                channel.handle_server_close(ReasonCode::ServerShuttingDown);
                let _ = carry_out(channel, transport, ctx).await;
                return Ended::Shutdown;
            }
            Wake::Inbox(Some(msg)) => {
                if let Some(ended) = handle_batch(msg, inbox, channel) {
                    let _ = carry_out(channel, transport, ctx).await;
                    return ended;
                }
            }
            Wake::Read(Ok(n)) if n > 0 => {}
            Wake::Read(_) => return Ended::Lost,
            Wake::KeepAlive => {
                channel.handle_tick(clock::now());
                match channel.keepalive_deadline() {
                    Some(at) => keepalive.as_mut().reset(at.into()),
                    None => armed = false,
                }
            }
        }
        if let Some(ended) = carry_out(channel, transport, ctx).await {
            return ended;
        }
    }
}

/// Decodes the next buffered packet, if any, and hands it to the channel; the reason code to
/// close with when the bytes are malformed. (Not inline in the loop: a decoded `Packet` is
/// large, and a local held across an `.await` would size the connection's future.)
fn feed_one<S>(
    transport: &mut Transport<S>,
    channel: &mut Channel,
    ctx: &Context,
) -> Result<bool, ReasonCode>
where
    S: Stream,
{
    match transport.next_packet() {
        Ok(Some(packet)) => {
            if matches!(packet, Packet::Publish(_)) {
                Metrics::add(&ctx.metrics.messages_received, 1);
            }
            channel.handle_packet(packet, clock::now());
            Ok(true)
        }
        Ok(None) => Ok(false),
        Err(error) => {
            debug!(%error, "malformed packet; disconnecting");
            Err(error.reason_code())
        }
    }
}

/// Handles `first` and then what is already waiting, up to `DELIVERY_BATCH` messages, so one
/// write carries them all; `Some` when the connection must end.
fn handle_batch(first: SessionMsg, inbox: &mut Inbox, channel: &mut Channel) -> Option<Ended> {
    let now = clock::now();
    let mut next = Some(first);
    let mut handled = 0;
    while let Some(msg) = next {
        match msg {
            SessionMsg::Deliver(delivery) => channel.handle_delivery(delivery, now),
            SessionMsg::Control(control) => {
                if let Some(ended) = handle_control(control, channel) {
                    return Some(ended);
                }
            }
        }
        handled += 1;
        if handled == DELIVERY_BATCH {
            break; // the rest waits for the next turn, after this turn's write
        }
        next = inbox.try_recv();
    }
    None
}

/// Applies an order or answer from the router; `Some` when the connection must end.
fn handle_control(control: SessionControl, channel: &mut Channel) -> Option<Ended> {
    match control {
        SessionControl::SubAck(reply) => {
            let SubAckReply {
                packet_id,
                reason_codes,
                retained,
            } = *reply;
            channel.handle_suback(packet_id, reason_codes);
            let now = clock::now();
            for delivery in retained {
                channel.handle_delivery(delivery, now);
            }
            None
        }
        SessionControl::UnsubAck {
            packet_id,
            reason_codes,
        } => {
            channel.handle_unsuback(packet_id, reason_codes);
            None
        }
        SessionControl::Takeover { reply } => {
            channel.handle_server_close(ReasonCode::SessionTakenOver);
            Some(Ended::Takeover(reply))
        }
        SessionControl::Shutdown => {
            channel.handle_server_close(ReasonCode::ServerShuttingDown);
            Some(Ended::Shutdown)
        }
    }
}

/// Carries out the channel's effects in order; `Some` when one of them ends the connection.
///
/// Synchronous in the common case: packets go to the write buffer and commands to the router
/// with `try_send`. Only when the router's inbox is full are the remaining commands sent by a
/// boxed future that waits for room (back-pressure on this publisher), so the rare waiting
/// state does not size every connection's future.
pub(super) async fn carry_out<S>(
    channel: &mut Channel,
    transport: &mut Transport<S>,
    ctx: &Context,
) -> Option<Ended>
where
    S: Stream,
{
    let mut waiting = Vec::new();
    let ended = apply_effects(channel, transport, ctx, &mut waiting);
    if !waiting.is_empty() {
        let send = Box::pin(send_all(ctx, waiting));
        if send.await.is_err() {
            return Some(Ended::Shutdown);
        }
    }
    if ended.is_some() {
        let _ = transport.flush().await;
    }
    ended
}

/// Sends commands to the router in order, waiting for room.
async fn send_all(ctx: &Context, commands: Vec<RouterCmd>) -> Result<(), ()> {
    for cmd in commands {
        ctx.router.send(cmd).await.map_err(drop)?;
    }
    Ok(())
}

/// Applies the effects: packets into the write buffer, commands to the router while it has
/// room (the rest into `waiting`, in order).
fn apply_effects<S>(
    channel: &mut Channel,
    transport: &mut Transport<S>,
    ctx: &Context,
    waiting: &mut Vec<RouterCmd>,
) -> Option<Ended>
where
    S: Stream,
{
    // Taken, not drained into a kept buffer: a busy turn makes hundreds of (large) effects, and a
    // reused Vec would keep that much memory in every connection that was ever busy.
    let effects = channel.take_effects();
    let stats = channel.take_stats();
    let dropped = stats.dropped_queue_full + stats.dropped_expired + stats.dropped_too_large;
    if dropped > 0 {
        Metrics::add(&ctx.metrics.messages_dropped, dropped);
    }
    let version = channel.version();
    let client_id = &channel.session().client_id;
    let mut ended = None;
    for effect in effects {
        let cmd = match effect {
            Effect::Send(packet) => {
                transport.queue(&packet, version);
                continue;
            }
            Effect::Close(CloseReason::ClientDisconnect { .. }) => {
                ended = Some(Ended::ClientDisconnect);
                continue;
            }
            Effect::Close(CloseReason::Server(reason)) => {
                debug!(%reason, "server closes the connection");
                ended = Some(Ended::Lost);
                continue;
            }
            Effect::Publish(message) => RouterCmd::Publish(message),
            Effect::Subscribe {
                packet_id,
                requests,
            } => RouterCmd::Subscribe {
                client_id: client_id.clone(),
                packet_id,
                requests,
            },
            Effect::Unsubscribe { packet_id, filters } => RouterCmd::Unsubscribe {
                client_id: client_id.clone(),
                packet_id,
                filters,
            },
        };
        if !waiting.is_empty() {
            waiting.push(cmd); // keep the order behind what already waits
            continue;
        }
        match ctx.router.try_send(cmd) {
            Ok(()) => {}
            Err(TrySendError::Closed(_)) => return Some(Ended::Shutdown),
            Err(TrySendError::Full(cmd)) => waiting.push(cmd),
        }
    }
    ended
}
