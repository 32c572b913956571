//! Failed logins per client address: each refusal is answered later than the one before, so
//! guessing passwords from one address is slow, and the count is kept for `$SYS`.
//!
//! Bounded: at most [`MAX_ADDRESSES`] addresses are remembered; past that the table is
//! cleared (an attacker spraying addresses gets the base delay, which still holds its
//! connection slot for that long). An entry is forgotten once `window` passed without a
//! failure. The table sits behind a mutex taken for a few hash operations per refused
//! CONNECT, never across an await.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Addresses remembered at most.
pub(crate) const MAX_ADDRESSES: usize = 10_000;

/// Failures are forgotten after this long without another.
const WINDOW: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    last: Instant,
}

/// The per-address failure table.
#[derive(Debug)]
pub struct Failures {
    base: Duration,
    max: Duration,
    table: Mutex<HashMap<IpAddr, Entry>>,
    total: AtomicU64,
}

impl Failures {
    /// Delays start at `base` and double per failure up to `max`.
    pub fn new(base: Duration, max: Duration) -> Self {
        Self {
            base,
            max,
            table: Mutex::new(HashMap::new()),
            total: AtomicU64::new(0),
        }
    }

    /// Records a failure from `peer` at `now` and returns how long to wait before answering.
    pub fn failed(&self, peer: Option<IpAddr>, now: Instant) -> Duration {
        self.total.fetch_add(1, Ordering::Relaxed);
        let Some(peer) = peer else {
            return self.base;
        };
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        if table.len() >= MAX_ADDRESSES && !table.contains_key(&peer) {
            table.retain(|_, e| now.duration_since(e.last) < WINDOW);
            if table.len() >= MAX_ADDRESSES {
                table.clear();
            }
        }
        let entry = table.entry(peer).or_insert(Entry {
            failures: 0,
            last: now,
        });
        if now.duration_since(entry.last) >= WINDOW {
            entry.failures = 0;
        }
        entry.failures = entry.failures.saturating_add(1);
        entry.last = now;
        let doublings = entry.failures.saturating_sub(1).min(16);
        self.base.saturating_mul(1 << doublings).min(self.max)
    }

    /// A successful login from `peer`: its failures are forgotten.
    pub fn succeeded(&self, peer: Option<IpAddr>) {
        if let Some(peer) = peer {
            let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
            table.remove(&peer);
        }
    }

    /// Failed logins since start.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// Addresses with recent failures.
    pub fn addresses(&self) -> usize {
        self.table
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_per_address_up_to_the_cap_and_reset_on_success() {
        let f = Failures::new(Duration::from_millis(100), Duration::from_millis(500));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let now = Instant::now();
        let ms = |d: Duration| d.as_millis();
        assert_eq!(ms(f.failed(Some(a), now)), 100);
        assert_eq!(ms(f.failed(Some(a), now)), 200);
        assert_eq!(ms(f.failed(Some(a), now)), 400);
        assert_eq!(ms(f.failed(Some(a), now)), 500);
        assert_eq!(
            ms(f.failed(Some(b), now)),
            100,
            "another address starts afresh"
        );
        f.succeeded(Some(a));
        assert_eq!(ms(f.failed(Some(a), now)), 100);
        assert_eq!(
            ms(f.failed(Some(a), now + WINDOW)),
            100,
            "forgotten after the window"
        );
        assert_eq!(f.total(), 7);
    }

    #[test]
    fn the_table_is_bounded() {
        let f = Failures::new(Duration::from_millis(1), Duration::from_millis(1));
        let now = Instant::now();
        for i in 0..(MAX_ADDRESSES as u32 + 500) {
            f.failed(Some(IpAddr::from(i.to_be_bytes())), now);
        }
        assert!(f.addresses() <= MAX_ADDRESSES);
    }
}
