//! Carrying out a channel's effects: the session's store writes first, then packets into the
//! write buffer and commands to the router while it has room (the rest wait, in order, in a
//! boxed future).
//!
//! Store writes that something waits for (a QoS 2 id, an outgoing QoS 2 message's packet id or
//! "released" state) are committed in the turn, before any command of the turn reaches the
//! router, so the router's ticket covers them. The deletions of finished deliveries gate
//! nothing, so they gather in [`PendingWrites`] and go with the next such commit, or once
//! [`PENDING_MAX`] of them wait, or when the connection ends: a commit per subscriber turn
//! was most of the cost of a persistent subscriber. A crash before they are committed makes
//! those messages come again (QoS 1: a duplicate, which QoS 1 allows; QoS 2: its "released"
//! state was committed, so the client gets PUBREL again, not the message).

use super::{retained_credit, Ended};
use crate::connection::transport::{Stream, Transport};
use crate::context::Context;
use crate::metrics::Metrics;
use crate::router::command::RouterCmd;
use crate::trace::Direction;
use starling_auth::scram::ServerFirstSent;
use starling_core::{Channel, CloseReason, Effect, SessionWrite};
use std::sync::Arc;
use tokio::sync::mpsc::error::TrySendError;
use tracing::debug;

/// Sends commands to the router in order, waiting for room; false when the router is gone.
pub(super) async fn send_all(ctx: Arc<Context>, commands: Vec<RouterCmd>) -> bool {
    for cmd in commands {
        if ctx.router.send(cmd).await.is_err() {
            return false;
        }
    }
    true
}

/// Applies the effects: packets into the write buffer, commands to the router while it has
/// room (the rest into `waiting`, in order).
pub(super) fn apply_effects<S>(
    channel: &mut Channel,
    transport: &mut Transport<S>,
    ctx: &Context,
    conn_id: u64,
    waiting: &mut Vec<RouterCmd>,
    (pending, reauth): (
        &mut Option<PendingWrites>,
        &mut Option<Box<ServerFirstSent>>,
    ),
) -> Option<Ended>
where
    S: Stream,
{
    // Taken, not drained into a kept buffer: a busy turn makes hundreds of (large) effects, and a
    // reused Vec would keep that much memory in every connection that was ever busy.
    let effects = channel.take_effects();
    let stats = channel.take_stats();
    let dropped = stats.dropped();
    if dropped > 0 {
        Metrics::add(&ctx.metrics.messages_dropped, dropped);
        crate::access::count_denials(&ctx.metrics, &stats);
    } else if stats.denied_subscribe > 0 {
        crate::access::count_denials(&ctx.metrics, &stats);
    }
    let version = channel.version();
    let client_id = channel.session().client_id.clone();
    let (written, done) = commit_writes(&effects, &client_id, ctx, pending);
    let mut ended = None;
    for effect in effects {
        let cmd = match effect {
            Effect::Send(packet) => {
                crate::trace::packet(ctx, transport.client(), channel, Direction::Out, &packet);
                transport.queue(&packet, version, &ctx.metrics);
                continue;
            }
            Effect::Close(CloseReason::ClientDisconnect { .. }) => {
                ended = Some(Ended::ClientDisconnect);
                continue;
            }
            Effect::Authenticate {
                method,
                reason,
                data,
            } => {
                let answer =
                    super::reauth::step(ctx, transport.client(), reauth, (&method, reason, &data));
                channel.handle_auth_answer(answer);
                // The answer's packets (AUTH, or DISCONNECT and the close) go out now.
                for effect in channel.take_effects() {
                    match effect {
                        Effect::Send(packet) => {
                            crate::trace::packet(
                                ctx,
                                transport.client(),
                                channel,
                                Direction::Out,
                                &packet,
                            );
                            transport.queue(&packet, version, &ctx.metrics);
                        }
                        Effect::Close(_) => ended = ended.or(Some(Ended::Lost)),
                        _ => {}
                    }
                }
                continue;
            }
            Effect::Close(CloseReason::Server(reason)) => {
                debug!(client_id = &*client_id, %reason, "server closes the connection");
                ended = Some(Ended::Lost);
                continue;
            }
            Effect::Publish(message) => RouterCmd::Publish(message),
            Effect::PublishAnswered(message) => RouterCmd::PublishAnswered { message, conn_id },
            Effect::Store(_) => continue, // committed above
            Effect::Spilled { seq } => RouterCmd::Spilled {
                client_id: client_id.clone(),
                conn_id,
                seq,
            },
            Effect::Subscribe {
                packet_id,
                requests,
            } => RouterCmd::Subscribe {
                client_id: client_id.clone(),
                packet_id,
                requests,
                credit: retained_credit(channel, &ctx.limits.load()),
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
    if let Some(ticket) = written {
        channel.handle_written(ticket);
    }
    {
        // Counted when finished, not when the deletion is committed: the session's cap in
        // the router must see it at once.
        if done > 0 {
            let cmd = RouterCmd::StoredDone {
                client_id: client_id.clone(),
                count: done,
            };
            if waiting.is_empty() {
                match ctx.router.try_send(cmd) {
                    Ok(()) | Err(TrySendError::Closed(_)) => {}
                    Err(TrySendError::Full(cmd)) => waiting.push(cmd),
                }
            } else {
                waiting.push(cmd);
            }
        }
    }
    release_held(channel, transport, ctx);
    ended
}

/// Finished deliveries waiting to be deleted from the store at the next commit.
pub(crate) struct PendingWrites {
    batch: starling_store::Batch,
}

/// Deletions gathered at most before they are committed anyway.
pub(crate) const PENDING_MAX: usize = 1024;

/// Adds the turn's writes to the session's pending batch and commits it when a write of this
/// turn is waited for, or when it is full. Returns the ticket that covers the commit, if one was
/// made (0 when the store refused it: counted, and the session goes on from memory), and how
/// many stored deliveries this turn finished.
fn commit_writes(
    effects: &[Effect],
    client_id: &str,
    ctx: &Context,
    pending: &mut Option<PendingWrites>,
) -> (Option<u64>, u32) {
    let Some(store) = ctx.store.as_ref() else {
        return (None, 0);
    };
    let mut waited_for = false;
    let mut done = 0;
    for effect in effects {
        let Effect::Store(write) = effect else {
            continue;
        };
        let p = pending.get_or_insert_with(|| PendingWrites {
            batch: store.batch(),
        });
        match *write {
            SessionWrite::Inflight {
                seq,
                packet_id,
                released,
            } => p
                .batch
                .put_inflight(client_id, seq, packet_id.get(), released),
            SessionWrite::Done { seq, record } => {
                if record {
                    p.batch.delete_queued(client_id, seq);
                } else {
                    p.batch.delete_queued_only(client_id, seq);
                }
                done += 1;
                continue;
            }
            SessionWrite::AwaitingRel(id) => p.batch.put_awaiting_rel(client_id, id.get()),
            SessionWrite::Released(id) => p.batch.delete_awaiting_rel(client_id, id.get()),
        }
        waited_for = true;
    }
    let full = pending
        .as_ref()
        .is_some_and(|p| p.batch.len() >= PENDING_MAX);
    let ticket = if waited_for || full {
        commit_pending(pending, client_id, ctx)
    } else {
        None
    };
    (ticket, done)
}

/// Commits the session's pending writes, if any: their ticket.
pub(crate) fn commit_pending(
    pending: &mut Option<PendingWrites>,
    client_id: &str,
    ctx: &Context,
) -> Option<u64> {
    let PendingWrites { batch } = pending.take()?;
    let ticket = match batch.commit() {
        Ok(ticket) => ticket,
        Err(e) => {
            tracing::error!(client_id, error = %e, "the store refused a session's writes");
            Metrics::add(&ctx.metrics.store_errors, 1);
            0
        }
    };
    Some(ticket)
}

/// Writes what the channel's gate holds that the store now has on disk (`core::channel::gate`).
pub(super) fn release_held<S: Stream>(
    channel: &mut Channel,
    transport: &mut Transport<S>,
    ctx: &Context,
) {
    if channel.held() == 0 {
        return;
    }
    let durable = ctx.store.as_ref().map_or(u64::MAX, |store| store.durable());
    channel.handle_durable(durable);
    let version = channel.version();
    for effect in channel.take_effects() {
        if let Effect::Send(packet) = effect {
            crate::trace::packet(ctx, transport.client(), channel, Direction::Out, &packet);
            transport.queue(&packet, version, &ctx.metrics);
        }
    }
}
