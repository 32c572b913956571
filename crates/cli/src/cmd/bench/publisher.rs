//! One publisher: paced or flat-out publishing of timestamped payloads.
//!
//! Pacing is by deadline, not by sleeping a fixed interval: at each wake the publisher sends
//! every message that is due by now (`elapsed * rate`, at most [`BURST`] at once), then sleeps
//! until the next one is due. Timer resolution (1 ms) thus turns into small bursts, never into
//! a lower rate. Unpaced, it publishes in bursts of [`BURST`] and the client's bounded command
//! channel and inflight window hold it back to what the connection can carry.
//!
//! A payload of 8 bytes or more starts with the send time (big-endian nanoseconds since the
//! Unix epoch, [`epoch_nanos`]), written just before the message is queued. Payloads are cut
//! from a shared 64 KB buffer ([`POOL`]), so there is one allocation per ~1,000 messages.

use super::args::PublishOpts;
use super::fleet::{expand, Ctx, Session};
use super::stats::epoch_nanos;
use super::window::{Fanout, Window};
use bytes::{BufMut, Bytes, BytesMut};
use starling_client::Message;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Most messages sent between two looks at the clock and the stop conditions.
const BURST: u64 = 64;
/// Size of the buffer payloads are cut from.
const POOL: usize = 64 * 1024;
/// Grace after the deadline for a publisher blocked by back-pressure.
const GRACE: Duration = Duration::from_secs(5);

/// What every publisher of a run does.
pub(crate) struct Plan {
    /// Topic, payload, QoS and limits.
    pub(crate) opts: PublishOpts,
    /// Messages per second per publisher; `None`: as fast as possible.
    pub(crate) rate: Option<f64>,
    /// Number of publishers (to share `--count`).
    pub(crate) publishers: usize,
    /// When publishing stops.
    pub(crate) deadline: Instant,
    /// Closed-loop flow control (`pubsub` only).
    pub(crate) flow: Option<Flow>,
}

/// What a publisher of `pubsub` needs to hold to a delivery window.
pub(crate) struct Flow {
    /// Deliveries per publish, by topic.
    pub(crate) fanout: Arc<Fanout>,
    /// The window; `None` for an open loop.
    pub(crate) window: Option<Arc<Window>>,
}

impl Plan {
    /// The share of `--count` of publisher `index` (from 1).
    fn limit(&self, index: usize) -> u64 {
        let Some(total) = self.opts.count else {
            return u64::MAX;
        };
        let n = self.publishers.max(1) as u64;
        total / n + u64::from((index as u64 - 1) < total % n)
    }
}

/// What one publisher did.
pub(crate) struct Sent {
    /// The topic it published to.
    pub(crate) topic: String,
    /// Messages queued.
    pub(crate) count: u64,
}

/// Runs publisher `s` until the deadline, its share of `--count`, or the run's stop.
pub(crate) async fn run(ctx: Arc<Ctx>, s: Session, plan: Arc<Plan>) -> Sent {
    let topic = expand(&plan.opts.topic, s.index, &s.client_id);
    let mut sent = 0;
    match Message::new(&topic, Bytes::new(), plan.opts.qos) {
        Ok(mut template) => {
            template.retain = plan.opts.retain;
            let work = publish_loop(&ctx, &s, &plan, template, &mut sent);
            let _ = tokio::time::timeout_at(plan.deadline + GRACE, work).await;
        }
        Err(e) => ctx.error(&s.client_id, e),
    }
    let _ = s.client.disconnect().await;
    if let Err(e) = s.incoming.finish().await {
        ctx.error(&s.client_id, e);
    }
    Sent { topic, count: sent }
}

async fn publish_loop(ctx: &Ctx, s: &Session, plan: &Plan, template: Message, sent: &mut u64) {
    let limit = plan.limit(s.index);
    let size = plan.opts.size;
    let window = plan.flow.as_ref().and_then(|f| {
        let fanout = f.fanout.of(template.topic.as_str());
        f.window.as_ref().map(|w| {
            w.add_routes(fanout);
            (w, fanout)
        })
    });
    let mut pool = BytesMut::new();
    let start = Instant::now();
    loop {
        let now = Instant::now();
        if now >= plan.deadline || *sent >= limit || ctx.stop.is_cancelled() {
            return;
        }
        let burst = match plan.rate {
            None => BURST,
            Some(rate) => {
                let due = (now.duration_since(start).as_secs_f64() * rate) as u64 + 1;
                if due <= *sent {
                    let next = start + Duration::from_secs_f64(*sent as f64 / rate);
                    tokio::time::sleep_until(next.min(plan.deadline)).await;
                    continue;
                }
                (due - *sent).min(BURST)
            }
        };
        let burst = burst.min(limit - *sent);
        if let Some((w, fanout)) = window {
            w.admit(burst * fanout).await;
        }
        for _ in 0..burst {
            let mut message = template.clone();
            message.payload = payload(&mut pool, size);
            if let Err(e) = s.client.publish(message).await {
                ctx.error(&s.client_id, e);
                return;
            }
            *sent += 1;
        }
        ctx.stats.published.fetch_add(burst, Relaxed);
    }
}

/// A payload of `size` bytes, stamped with the send time if it has room for it.
fn payload(pool: &mut BytesMut, size: usize) -> Bytes {
    if pool.capacity() < size {
        *pool = BytesMut::with_capacity(POOL.max(size));
    }
    if size >= 8 {
        pool.put_u64(epoch_nanos());
        pool.put_bytes(b'x', size - 8);
    } else {
        pool.put_bytes(b'x', size);
    }
    pool.split().freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_is_shared_with_the_remainder_first() {
        let opts = PublishOpts {
            topic: "t".into(),
            size: 8,
            qos: Default::default(),
            interval_ms: None,
            rate: None,
            count: Some(10),
            inflight: 1,
            retain: false,
        };
        let plan = Plan {
            opts,
            rate: None,
            publishers: 3,
            deadline: Instant::now(),
            flow: None,
        };
        assert_eq!((plan.limit(1), plan.limit(2), plan.limit(3)), (4, 3, 3));
    }

    #[test]
    fn payload_carries_a_recent_timestamp() {
        let mut pool = BytesMut::new();
        let before = epoch_nanos();
        let p = payload(&mut pool, 64);
        assert_eq!(p.len(), 64);
        let mut stamp = [0; 8];
        stamp.copy_from_slice(&p[..8]);
        assert!(u64::from_be_bytes(stamp) >= before);
        assert_eq!(payload(&mut pool, 3).as_ref(), b"xxx");
    }
}
