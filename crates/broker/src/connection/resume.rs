//! Resuming a session that is in the store: its inflight window and its incoming QoS 2 ids
//! are read back from there, where the previous connection committed them (whatever memory
//! the previous holder handed over keeps only what is not stored). Its queue is not read here:
//! the router streams it from where the inflight window ends, against the session's credit.

use crate::context::Context;
use crate::metrics::Metrics;
use starling_codec::PacketId;
use starling_core::{Outgoing, SessionState};
use starling_store::Store;
use tracing::{error, warn};

/// Replaces the stored part of `session` with what the store has; the place in the stored
/// queue where the stream continues (0: from its start).
pub(crate) fn load(store: &Store, session: &mut SessionState, ctx: &Context) -> u64 {
    session.forget_stored();
    let client_id = session.client_id.clone();
    let mut from = 0;
    match store.read_inflight(&client_id) {
        Ok(records) => {
            for record in records {
                from = from.max(record.seq + 1);
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
            }
        }
        Err(e) => read_failed(ctx, &client_id, &e),
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
    from
}

fn read_failed(ctx: &Context, client_id: &str, e: &starling_store::StoreError) {
    error!(client_id, error = %e, "reading a session back from the store");
    Metrics::add(&ctx.metrics.store_errors, 1);
}
