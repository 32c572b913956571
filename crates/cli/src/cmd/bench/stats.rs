//! Shared counters, the latency histogram and the live line printed every second.
//!
//! Counters are atomics that tasks add to in batches (a publisher after each burst, a
//! subscriber after draining what is ready), so the hot path does not bounce one cache line
//! between cores per message. Latencies go to one of [`SHARDS`] HDR histograms behind a mutex,
//! also in batches, and are merged at the end.

use super::window::Window;
use hdrhistogram::Histogram;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio_util::sync::CancellationToken;

/// Number of latency histograms tasks record into.
const SHARDS: usize = 16;
/// Largest latency recorded, in microseconds (one minute); larger ones are clamped.
const MAX_LATENCY_US: u64 = 60_000_000;

/// Everything the tasks of a run count.
pub(crate) struct Stats {
    origin: Instant,
    pub(crate) connected: AtomicU64,
    pub(crate) connect_failed: AtomicU64,
    pub(crate) published: AtomicU64,
    pub(crate) received: AtomicU64,
    pub(crate) errors: AtomicU64,
    /// Nanoseconds from `origin` to the first and the last receive.
    first_receive_ns: AtomicU64,
    last_receive_ns: AtomicU64,
    latency: Vec<Mutex<Histogram<u64>>>,
    window: OnceLock<Arc<Window>>,
}

impl Stats {
    /// Zeroed counters.
    pub(crate) fn new() -> anyhow::Result<Arc<Self>> {
        let latency = (0..SHARDS)
            .map(|_| {
                Ok(Mutex::new(Histogram::new_with_bounds(
                    1,
                    MAX_LATENCY_US,
                    3,
                )?))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Arc::new(Self {
            origin: Instant::now(),
            connected: AtomicU64::new(0),
            connect_failed: AtomicU64::new(0),
            published: AtomicU64::new(0),
            received: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            first_receive_ns: AtomicU64::new(u64::MAX),
            last_receive_ns: AtomicU64::new(0),
            latency,
            window: OnceLock::new(),
        }))
    }

    /// Adds `n` received messages and records now as the last receive.
    pub(crate) fn add_received(&self, n: u64) {
        self.received.fetch_add(n, Relaxed);
        if let Some(w) = self.window.get() {
            w.received(n);
        }
        let ns = u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.last_receive_ns.fetch_max(ns, Relaxed);
        if self.first_receive_ns.load(Relaxed) == u64::MAX {
            self.first_receive_ns.fetch_min(ns, Relaxed);
        }
    }

    /// From the first to the last receive (zero if nothing was received).
    pub(crate) fn receive_span(&self) -> Duration {
        let first = self.first_receive_ns.load(Relaxed);
        let last = self.last_receive_ns.load(Relaxed);
        Duration::from_nanos(last.saturating_sub(first))
    }

    /// Makes receives count towards `window`.
    pub(crate) fn set_window(&self, window: Arc<Window>) {
        let _ = self.window.set(window);
    }

    /// When the last message was received (or `origin` if none was).
    pub(crate) fn last_receive(&self) -> Instant {
        self.origin + Duration::from_nanos(self.last_receive_ns.load(Relaxed))
    }

    /// Records latencies (microseconds) into shard `shard`, and clears `batch`.
    pub(crate) fn record_latencies(&self, shard: usize, batch: &mut Vec<u64>) {
        if batch.is_empty() {
            return;
        }
        if let Ok(mut h) = self.latency[shard % SHARDS].lock() {
            for &us in batch.iter() {
                h.saturating_record(us.clamp(1, MAX_LATENCY_US));
            }
        }
        batch.clear();
    }

    /// All shards merged.
    pub(crate) fn latency(&self) -> Histogram<u64> {
        let mut all =
            Histogram::new_from(&*self.latency[0].lock().unwrap_or_else(|e| e.into_inner()));
        for shard in &self.latency {
            let h = shard.lock().unwrap_or_else(|e| e.into_inner());
            let _ = all.add(&*h);
        }
        all
    }

    /// Prints a line to stderr every second until `stop`.
    pub(crate) fn spawn_live_line(self: &Arc<Self>, stop: CancellationToken) {
        let stats = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.tick().await;
            let (mut published, mut received) = (0, 0);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop.cancelled() => return,
                }
                let (p, r) = (stats.published.load(Relaxed), stats.received.load(Relaxed));
                eprintln!(
                    "[{:>4}s] connected {} (failed {}) | pub {}/s | recv {}/s | errors {}",
                    stats.origin.elapsed().as_secs(),
                    stats.connected.load(Relaxed),
                    stats.connect_failed.load(Relaxed),
                    p - published,
                    r - received,
                    stats.errors.load(Relaxed),
                );
                (published, received) = (p, r);
            }
        });
    }
}

/// Nanoseconds since the Unix epoch: the timestamp publishers write and subscribers compare,
/// from the system clock so that separate processes agree.
pub(crate) fn epoch_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
