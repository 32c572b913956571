//! Carrying out a channel's effects: the session's store writes first (committed as one batch,
//! before any command of the turn reaches the router, so the router's ticket covers them),
//! then packets into the write buffer and commands to the router while it has room (the rest
//! wait, in order, in a boxed future).

use super::{retained_credit, Ended};
use crate::connection::transport::{Stream, Transport};
use crate::context::Context;
use crate::metrics::Metrics;
use crate::router::command::RouterCmd;
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
    }
    let version = channel.version();
    let client_id = channel.session().client_id.clone();
    let written = commit_writes(&effects, &client_id, ctx);
    let mut ended = None;
    for effect in effects {
        let cmd = match effect {
            Effect::Send(packet) => {
                transport.queue(&packet, version, &ctx.metrics);
                continue;
            }
            Effect::Close(CloseReason::ClientDisconnect { .. }) => {
                ended = Some(Ended::ClientDisconnect);
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
                credit: retained_credit(channel, &ctx.limits),
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
    if let Some((ticket, done)) = written {
        channel.handle_written(ticket);
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

/// Commits the turn's writes to the session's records as one batch: the ticket that covers
/// them (0 when the store refused them: counted, and the session goes on from memory) and how
/// many stored deliveries were finished with. `None` when the turn wrote nothing.
fn commit_writes(effects: &[Effect], client_id: &str, ctx: &Context) -> Option<(u64, u32)> {
    let store = ctx.store.as_ref()?;
    let mut batch: Option<starling_store::Batch> = None;
    let mut done = 0u32;
    for effect in effects {
        let Effect::Store(write) = effect else {
            continue;
        };
        let batch = batch.get_or_insert_with(|| store.batch());
        match *write {
            SessionWrite::Inflight {
                seq,
                packet_id,
                released,
            } => batch.put_inflight(client_id, seq, packet_id.get(), released),
            SessionWrite::Done { seq } => {
                batch.delete_queued(client_id, seq);
                done += 1;
            }
            SessionWrite::AwaitingRel(id) => batch.put_awaiting_rel(client_id, id.get()),
            SessionWrite::Released(id) => batch.delete_awaiting_rel(client_id, id.get()),
        }
    }
    let ticket = match batch?.commit() {
        Ok(ticket) => ticket,
        Err(e) => {
            tracing::error!(client_id, error = %e, "the store refused a session's writes");
            Metrics::add(&ctx.metrics.store_errors, 1);
            0
        }
    };
    Some((ticket, done))
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
            transport.queue(&packet, version, &ctx.metrics);
        }
    }
}
