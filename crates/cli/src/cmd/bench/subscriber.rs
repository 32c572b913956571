//! One subscriber: subscribe, then count messages and their latency until the run stops.
//!
//! Latency is the receive time minus the send time in the first 8 bytes of the payload (see
//! `publisher`), in microseconds. Messages already queued are drained together, and counts and
//! latencies are handed to the shared stats once per drained batch.

use super::fleet::{expand, Ctx, Session};
use super::stats::epoch_nanos;
use starling_client::{Publish, QoS};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

/// Most messages handled between two updates of the shared counters.
const DRAIN: u64 = 1024;
/// Latencies kept locally before they go to the shared histogram.
const LATENCY_BATCH: usize = 2048;

/// The subscribers of a run: the filters that were granted, and how many have settled.
#[derive(Default)]
pub(crate) struct Roster {
    /// Filters subscribed successfully.
    pub(crate) filters: Mutex<Vec<String>>,
    /// Subscribers whose SUBSCRIBE succeeded or failed.
    pub(crate) settled: AtomicU64,
}

/// Runs subscriber `s` on `pattern` at `qos` until the run's stop; returns messages received.
pub(crate) async fn run(
    ctx: Arc<Ctx>,
    mut s: Session,
    pattern: String,
    qos: QoS,
    roster: Arc<Roster>,
) -> u64 {
    let filter = expand(&pattern, s.index, &s.client_id);
    let granted = match s.client.subscribe(&filter, qos).await {
        Ok(ack) if ack.reason_codes.iter().all(|c| c.as_u8() < 0x80) => true,
        Ok(ack) => {
            ctx.error(
                &s.client_id,
                format!("subscription refused: {:?}", ack.reason_codes),
            );
            false
        }
        Err(e) => {
            ctx.error(&s.client_id, e);
            false
        }
    };
    if granted {
        if let Ok(mut filters) = roster.filters.lock() {
            filters.push(filter);
        }
    }
    roster.settled.fetch_add(1, Relaxed);
    let received = receive(&ctx, &mut s).await;
    let _ = s.client.disconnect().await;
    if let Err(e) = s.incoming.finish().await {
        ctx.error(&s.client_id, e);
    }
    received
}

async fn receive(ctx: &Ctx, s: &mut Session) -> u64 {
    let mut latencies = Vec::with_capacity(LATENCY_BATCH + DRAIN as usize);
    let mut total = 0;
    loop {
        let first = tokio::select! {
            biased;
            p = s.incoming.recv() => p,
            _ = ctx.stop.cancelled() => break,
        };
        let Some(first) = first else {
            break; // the connection ended; `finish` reports why
        };
        note(&first, &mut latencies);
        let mut n = 1;
        while n < DRAIN {
            let Some(p) = s.incoming.try_recv() else {
                break;
            };
            note(&p, &mut latencies);
            n += 1;
        }
        ctx.stats.add_received(n);
        total += n;
        if latencies.len() >= LATENCY_BATCH {
            ctx.stats.record_latencies(s.index, &mut latencies);
        }
    }
    ctx.stats.record_latencies(s.index, &mut latencies);
    total
}

/// Adds the latency of `p` if its payload carries a timestamp.
fn note(p: &Publish, latencies: &mut Vec<u64>) {
    if let Some(stamp) = p.payload.get(..8) {
        let mut b = [0; 8];
        b.copy_from_slice(stamp);
        let sent = u64::from_be_bytes(b);
        latencies.push(epoch_nanos().saturating_sub(sent) / 1000);
    }
}
