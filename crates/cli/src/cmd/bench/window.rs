//! Closed-loop flow control for `pubsub`: publishers pause while too many deliveries are
//! outstanding (expected by the subscribers but not yet received).
//!
//! An open-loop generator publishing flat out measures mostly the queues: socket buffers and
//! broker queues fill, latency grows to seconds and "loss" becomes whatever was still queued when
//! the run ended. With a window, publishers go exactly as fast as deliveries come out, so the
//! delivered rate is the broker's sustainable throughput and latency stays bounded. The
//! window is `--window` deliveries per route (a publisher and one subscriber its topic
//! matches): each publisher adds `window * fanout` when it starts. Fan-in 100 -> 1 thus gets
//! 100 routes, 1,000 pairs 1,000 routes, and no subscriber is sent much more than its share,
//! which keeps brokers' per-session queues (1,000 messages in Mosquitto and Starling) from
//! overflowing. A
//! delivery the broker dropped would hold the window forever, so when no delivery arrives for
//! [`STALL`] the outstanding ones are written off as lost and the window opens again.
//!
//! [`Fanout`] says how many deliveries one publish on a topic is worth.

use starling_topic::{TopicFilter, TopicName};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;
use tokio::sync::Notify;

/// How long a publisher waits without any delivery before it ignores the window.
const STALL: Duration = Duration::from_millis(200);

/// The shared window.
pub(crate) struct Window {
    per_route: u64,
    limit: AtomicU64,
    expected: AtomicU64,
    received: AtomicU64,
    waiting: AtomicU64,
    progress: Notify,
}

impl Window {
    /// An empty window allowing `per_route` outstanding deliveries on each route added.
    pub(crate) fn new(per_route: u64) -> Self {
        Self {
            per_route,
            limit: AtomicU64::new(0),
            expected: AtomicU64::new(0),
            received: AtomicU64::new(0),
            waiting: AtomicU64::new(0),
            progress: Notify::new(),
        }
    }

    /// Adds the routes of a publisher whose messages reach `fanout` subscribers.
    pub(crate) fn add_routes(&self, fanout: u64) {
        self.limit.fetch_add(self.per_route * fanout, Relaxed);
    }

    /// Counts `n` deliveries received, waking waiting publishers.
    pub(crate) fn received(&self, n: u64) {
        self.received.fetch_add(n, Relaxed);
        if self.waiting.load(Relaxed) > 0 {
            self.progress.notify_waiters();
        }
    }

    /// Waits until `n` more deliveries fit in the window (or deliveries stall), and counts them
    /// as sent. The check and the count are one atomic step, so concurrent publishers never take
    /// the window past its limit (a burst larger than the window goes when nothing is outstanding).
    pub(crate) async fn admit(&self, n: u64) {
        loop {
            let notified = self.progress.notified();
            let expected = self.expected.load(Relaxed);
            let outstanding = expected.saturating_sub(self.received.load(Relaxed));
            if outstanding == 0 || outstanding + n <= self.limit.load(Relaxed) {
                let reserved =
                    self.expected
                        .compare_exchange(expected, expected + n, Relaxed, Relaxed);
                if reserved.is_ok() {
                    return;
                }
                continue;
            }
            self.waiting.fetch_add(1, Relaxed);
            let woke = tokio::time::timeout(STALL, notified).await;
            self.waiting.fetch_sub(1, Relaxed);
            if woke.is_err() {
                self.received.fetch_add(outstanding, Relaxed);
                return;
            }
        }
    }
}

/// How many subscriptions a topic matches: exact filters by lookup, wildcards one by one.
pub(crate) struct Fanout {
    exact: HashMap<String, u64>,
    wildcards: Vec<TopicFilter>,
}

impl Fanout {
    /// The fan-out of the subscriptions `filters`.
    pub(crate) fn new(filters: &[String]) -> Self {
        let mut exact = HashMap::new();
        let mut wildcards = Vec::new();
        for f in filters {
            match TopicFilter::new(f) {
                Ok(filter) if filter.has_wildcards() => wildcards.push(filter),
                _ => *exact.entry(f.clone()).or_insert(0) += 1,
            }
        }
        Self { exact, wildcards }
    }

    /// Deliveries one publish on `topic` makes.
    pub(crate) fn of(&self, topic: &str) -> u64 {
        let exact = self.exact.get(topic).copied().unwrap_or(0);
        let Ok(name) = TopicName::new(topic) else {
            return exact;
        };
        exact + self.wildcards.iter().filter(|w| w.matches(&name)).count() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fanout_counts_exact_and_wildcard_matches() {
        let filters = ["a/1", "a/1", "a/+", "b/#", "a/2"].map(String::from);
        let f = Fanout::new(&filters);
        assert_eq!(
            (f.of("a/1"), f.of("a/2"), f.of("b/x/y"), f.of("c")),
            (3, 2, 1, 0)
        );
    }

    #[tokio::test]
    async fn admit_waits_for_deliveries_and_gives_up_on_a_stall() {
        let w = Window::new(5);
        w.add_routes(2);
        w.admit(10).await; // up to the limit: room
        let start = tokio::time::Instant::now();
        w.admit(5).await; // past the limit, nothing arrives: waits STALL, writes them off
        assert!(start.elapsed() >= STALL);
        let start = tokio::time::Instant::now();
        w.admit(5).await; // the window is open again
        assert!(start.elapsed() < STALL);
    }
}
