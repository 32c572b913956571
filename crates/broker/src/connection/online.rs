//! The online loop: decode what the client sent, feed the channel, carry out its effects, write
//! everything the turn produced in one go, then wait for the next event (shutdown, the router's
//! answers, deliveries, bytes from the client, or the keep-alive deadline).

use super::transport::{Stream, Transport};
use super::Ended;
use crate::clock;
use crate::context::Context;
use crate::mailbox::{Inbox, SessionMsg};
use crate::metrics::Metrics;
use crate::router::command::{RouterCmd, SessionControl, SubAckReply};
use starling_codec::{Packet, ReasonCode};
use starling_core::{Channel, CloseReason, Effect};
use tracing::debug;

/// Deliveries taken from the inbox in one turn before writing (bounds latency under load).
const DELIVERY_BATCH: usize = 256;

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
    loop {
        loop {
            match transport.next_packet() {
                Ok(Some(packet)) => {
                    if matches!(packet, Packet::Publish(_)) {
                        Metrics::add(&ctx.metrics.messages_received, 1);
                    }
                    channel.handle_packet(packet, clock::now());
                    if let Some(ended) = carry_out(channel, transport, ctx).await {
                        return ended;
                    }
                }
                Ok(None) => break,
                Err(error) => {
                    debug!(%error, "malformed packet; disconnecting");
                    channel.handle_server_close(error.reason_code());
                    let _ = carry_out(channel, transport, ctx).await;
                    return Ended::Lost;
                }
            }
        }
        if transport.flush().await.is_err() {
            return Ended::Lost;
        }
        let deadline = channel.keepalive_deadline();
        let keepalive = async move {
            match deadline {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            () = ctx.shutdown.cancelled() => {
                channel.handle_server_close(ReasonCode::ServerShuttingDown);
                let _ = carry_out(channel, transport, ctx).await;
                return Ended::Shutdown;
            }
            Some(msg) = inbox.recv() => {
                if let Some(ended) = handle_batch(msg, inbox, channel) {
                    let _ = carry_out(channel, transport, ctx).await;
                    return ended;
                }
            }
            read = transport.read_more() => {
                if !matches!(read, Ok(n) if n > 0) {
                    return Ended::Lost;
                }
            }
            () = keepalive => channel.handle_tick(clock::now()),
        }
        if let Some(ended) = carry_out(channel, transport, ctx).await {
            return ended;
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
    }
}

/// Carries out the channel's effects in order; `Some` when one of them ends the connection.
async fn carry_out<S>(
    channel: &mut Channel,
    transport: &mut Transport<S>,
    ctx: &Context,
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
        if ctx.router.send(cmd).await.is_err() {
            return Some(Ended::Shutdown);
        }
    }
    if ended.is_some() {
        let _ = transport.flush().await;
    }
    ended
}
