//! Resuming a session that is in the store: its inflight window and its incoming QoS 2 ids
//! are read back from there, where the previous connection committed them (whatever memory
//! the previous holder handed over keeps only what is not stored). Its queue is not read here:
//! the router streams all of it, against the session's credit, and the channel skips the
//! deliveries it already holds in its window (`Channel::skip_stored`). (The stream cannot start
//! after the window: a QoS 1 message's packet id is written only when a connection ends, so
//! after a crash a queued QoS 1 message may come before a QoS 2 message in the window.)

use crate::context::Context;
use crate::metrics::Metrics;
use starling_codec::PacketId;
use starling_core::{Outgoing, SessionState};
use starling_store::Store;
use tracing::{error, warn};

/// Replaces the stored part of `session` with what the store has; the places in the stored
/// queue of the deliveries it put in the inflight window.
pub(crate) fn load(store: &Store, session: &mut SessionState, ctx: &Context) -> Vec<u64> {
    session.forget_stored();
    let client_id = session.client_id.clone();
    let mut loaded = Vec::new();
    // QoS 1 ids saved when the last connection ended: read now, and deleted (while a
    // connection serves the session, a QoS 1 message has no inflight record).
    let mut saved = store.batch();
    match store.read_inflight(&client_id) {
        Ok(records) => {
            for record in records {
                let qos1 = record
                    .delivery
                    .as_ref()
                    .is_some_and(|d| d.qos == starling_codec::QoS::AtLeastOnce);
                if qos1 && !record.released {
                    saved.delete_inflight(&client_id, record.seq);
                }
                let Some(id) = PacketId::new(record.packet_id) else {
                    continue;
                };
                let state = match (record.released, record.delivery) {
                    (true, _) => Outgoing::Released(record.seq),
                    (false, Some(delivery)) => Outgoing::Published(delivery),
                    (false, None) => {
                        // Its message is gone (damage set aside at start): nothing to resend.
                        warn!(
                            client_id = &*client_id,
                            seq = record.seq,
                            "an inflight record without its message"
                        );
                        continue;
                    }
                };
                if session.inflight_position(id).is_some() {
                    continue; // two records with one id: the first (older) one is kept
                }
                session.last_packet_id = session.last_packet_id.max(id.get());
                session.inflight_mut().push_back((id, state));
                loaded.push(record.seq);
            }
        }
        Err(e) => read_failed(ctx, &client_id, &e),
    }
    if !saved.is_empty() {
        if let Err(e) = saved.commit() {
            read_failed(ctx, &client_id, &e);
        }
    }
    match store.read_awaiting_rel(&client_id) {
        Ok(ids) => {
            for id in ids.into_iter().filter_map(PacketId::new) {
                session.awaiting_rel_mut().insert(id);
            }
        }
        Err(e) => read_failed(ctx, &client_id, &e),
    }
    session.compact();
    loaded
}

/// Writes the packet ids of the session's stored QoS 1 messages in flight (a QoS 2 message's
/// is written when it is sent, `starling_core` `start_inflight`), so that the next holder
/// resends them with their ids ([MQTT-4.4.0-1]). Done when a connection ends, before its
/// session is handed on; a crash loses only these ids, and the messages go again with new ones.
pub(crate) fn save_window(ctx: &Context, session: &SessionState) {
    let Some(store) = &ctx.store else {
        return;
    };
    let mut batch = store.batch();
    for (id, state) in session.inflight() {
        if let Outgoing::Published(d) = state {
            if d.stored != 0 && d.qos == starling_codec::QoS::AtLeastOnce {
                batch.put_inflight(&session.client_id, d.stored, id.get(), false);
            }
        }
    }
    if batch.is_empty() {
        return;
    }
    if let Err(e) = batch.commit() {
        error!(client_id = &*session.client_id, error = %e, "saving a session's inflight window");
        Metrics::add(&ctx.metrics.store_errors, 1);
    }
}

fn read_failed(ctx: &Context, client_id: &str, e: &starling_store::StoreError) {
    error!(client_id, error = %e, "reading a session back from the store");
    Metrics::add(&ctx.metrics.store_errors, 1);
}
