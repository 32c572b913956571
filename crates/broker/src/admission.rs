//! Who gets in before CONNECT: per-listener connection slots, connections per IP address and
//! the accept rate.
//!
//! A listener's slots count live connections only: a connection gives its slot back when its
//! socket closes, not when its session ends (a session held offline keeps nobody out).
//!
//! Per-address counts live in one small table shared by the listeners (a mutex held for one
//! lookup; no other lock is taken under it). A connection names its entry by a [`Slot`], one
//! `u64` that packs the listener index and a 47-bit keyed hash of the peer address, so the
//! connection's task, whose size decides whether it fits a 384-byte allocation, carries no
//! address. Two addresses whose hashes collide share a count; with a random key per process
//! no client can aim for that.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Bits of a [`Slot`] that hold the listener index.
const LISTENER_BITS: u32 = 16;

/// A connection's place: its listener and, when the listener limits connections per address,
/// its address's entry. `Slot::NONE` once given back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Slot(u64);

impl Slot {
    /// No slot (given back already).
    pub(crate) const NONE: Slot = Slot(u64::MAX);

    fn new(listener: usize, address: u64) -> Self {
        Self((address << LISTENER_BITS) | listener as u64)
    }

    fn listener(self) -> usize {
        (self.0 & ((1 << LISTENER_BITS) - 1)) as usize
    }

    /// The address entry, 0 when the listener does not count addresses.
    fn address(self) -> u64 {
        self.0 >> LISTENER_BITS
    }
}

/// Connection slots of every listener and the per-address table.
#[derive(Debug)]
pub(crate) struct Admission {
    open: Box<[AtomicUsize]>,
    addresses: Mutex<HashMap<u64, u32>>,
    hasher: RandomState,
}

/// Why a connection was not let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The listener holds `max_connections`.
    ListenerFull,
    /// This address holds `max_connections_per_address` on the listener.
    AddressFull,
}

impl Admission {
    pub(crate) fn new(listeners: usize) -> Self {
        Self {
            open: (0..listeners).map(|_| AtomicUsize::new(0)).collect(),
            addresses: Mutex::default(),
            hasher: RandomState::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u64, u32>> {
        self.addresses
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes a slot on `listener` for a connection from `ip`, within `max` connections and, if
    /// set, `per_address` from one address.
    pub(crate) fn admit(
        &self,
        listener: usize,
        ip: IpAddr,
        max: usize,
        per_address: Option<u32>,
    ) -> Result<Slot, Refusal> {
        let open = &self.open[listener];
        if open.load(Ordering::Relaxed) >= max {
            return Err(Refusal::ListenerFull);
        }
        let mut address = 0;
        if let Some(limit) = per_address {
            // Never 0 (that means "not counted"), and 47 bits so it fits beside the index.
            address = (self.hasher.hash_one((listener, ip)) >> (LISTENER_BITS + 1)) | 1;
            let mut table = self.lock();
            let count = table.entry(address).or_insert(0);
            if *count >= limit {
                return Err(Refusal::AddressFull);
            }
            *count += 1;
        }
        open.fetch_add(1, Ordering::Relaxed);
        Ok(Slot::new(listener, address))
    }

    /// Gives a slot back.
    pub(crate) fn release(&self, slot: Slot) {
        if slot == Slot::NONE {
            return;
        }
        if let Some(open) = self.open.get(slot.listener()) {
            open.fetch_sub(1, Ordering::Relaxed);
        }
        if slot.address() != 0 {
            let mut table = self.lock();
            if let Some(count) = table.get_mut(&slot.address()) {
                *count -= 1;
                if *count == 0 {
                    table.remove(&slot.address());
                }
            }
        }
    }

    /// Connections open on `listener`.
    #[cfg(test)]
    pub(crate) fn open(&self, listener: usize) -> usize {
        self.open[listener].load(Ordering::Relaxed)
    }
}

/// The accept rate of one listener: a token bucket of `rate` tokens a second holding at most
/// `rate` (so a burst of one second's worth is let through at once).
#[derive(Debug)]
pub(crate) struct AcceptRate {
    rate: f64,
    tokens: f64,
    last: Instant,
}

impl AcceptRate {
    pub(crate) fn new(rate: u32, now: Instant) -> Self {
        Self {
            rate: f64::from(rate),
            tokens: f64::from(rate),
            last: now,
        }
    }

    /// Takes a token at `now`, or says how long until one is there.
    pub(crate) fn take(&mut self, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.rate);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Ok(());
        }
        Err(Duration::from_secs_f64((1.0 - self.tokens) / self.rate))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_count_per_listener_and_per_address() {
        let a = Admission::new(2);
        let ip: IpAddr = "10.0.0.1".parse().expect("ip");
        let other: IpAddr = "10.0.0.2".parse().expect("ip");
        let s1 = a.admit(1, ip, 10, Some(2)).expect("first");
        let s2 = a.admit(1, ip, 10, Some(2)).expect("second");
        assert_eq!(a.admit(1, ip, 10, Some(2)), Err(Refusal::AddressFull));
        let s3 = a.admit(1, other, 10, Some(2)).expect("another address");
        assert_eq!(
            a.admit(0, ip, 10, Some(2)).map(|_| ()),
            Ok(()),
            "per listener"
        );
        assert_eq!(a.open(1), 3);
        a.release(s1);
        let s4 = a.admit(1, ip, 10, Some(2)).expect("room again");
        for s in [s2, s3, s4] {
            a.release(s);
        }
        assert_eq!(a.open(1), 0);
        assert!(a.lock().len() == 1, "only listener 0's entry is left");
        assert_eq!(a.admit(1, ip, 0, None), Err(Refusal::ListenerFull));
    }

    #[test]
    fn the_accept_rate_lets_a_burst_through_then_paces() {
        let start = Instant::now();
        let mut rate = AcceptRate::new(10, start);
        for _ in 0..10 {
            assert!(rate.take(start).is_ok());
        }
        let wait = rate.take(start).expect_err("bucket empty");
        assert!(wait > Duration::ZERO && wait <= Duration::from_millis(100));
        assert!(rate.take(start + Duration::from_millis(100)).is_ok());
        assert!(rate.take(start + Duration::from_millis(100)).is_err());
    }
}
