//! The `http` authenticator's memory of recent answers.
//!
//! A key is a SHA-256 over a per-process random salt, the client id, the username, the
//! password and the client's address (each length-prefixed): no password, nor a hash of one
//! that could be looked up in a table, is kept. The address is in the key because the
//! service is told it and may decide by it.
//!
//! Entries live `ttl` from when they were stored. At most `capacity` are kept: storing one
//! into a full cache first drops the expired ones and then the oldest, which is the same
//! order since every entry lives as long. The order is a queue beside the map, so a store is
//! O(1) amortized whatever the size.
//!
//! One `Mutex` guards it all: it is held for a map lookup or insert only, never across a
//! request, and logins are far rarer than messages, so a sharded or lock-free map would buy
//! nothing measurable.

use super::Answer;
use crate::authn::Credentials;
use sha2::{Digest as _, Sha256};
use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// What identifies a login (see the module's doc).
pub(super) type CacheKey = [u8; 32];

struct Entry {
    stored: Instant,
    answer: Answer,
}

#[derive(Default)]
struct Entries {
    map: HashMap<CacheKey, Entry>,
    /// Keys in the order they were stored, with when; an item whose time differs from the
    /// map's is stale (the key was stored again) and is skipped.
    order: VecDeque<(CacheKey, Instant)>,
}

/// Recent allows and denies.
pub(super) struct Cache {
    ttl: Duration,
    capacity: usize,
    salt: [u8; 16],
    entries: Mutex<Entries>,
}

impl Cache {
    /// A cache keeping `capacity` answers for `ttl`; either zero: nothing is kept.
    pub(super) fn new(ttl: Duration, capacity: usize) -> Cache {
        Cache {
            ttl,
            capacity,
            salt: rand::random(),
            entries: Mutex::default(),
        }
    }

    fn enabled(&self) -> bool {
        !self.ttl.is_zero() && self.capacity > 0
    }

    /// The key of a login.
    pub(super) fn key(&self, credentials: &Credentials) -> CacheKey {
        let mut hash = Sha256::new();
        hash.update(self.salt);
        let peer = credentials.peer.map(|ip| ip.to_string());
        for value in [
            Some(credentials.client_id.as_bytes()),
            credentials.username.as_deref().map(str::as_bytes),
            credentials.password.as_deref(),
            peer.as_deref().map(str::as_bytes),
        ] {
            // Length-prefixed, so that fields can't run into each other; a missing one is a
            // length no field has, so that it differs from an empty one.
            match value {
                Some(bytes) => {
                    hash.update((bytes.len() as u64).to_be_bytes());
                    hash.update(bytes);
                }
                None => hash.update(u64::MAX.to_be_bytes()),
            }
        }
        hash.finalize().into()
    }

    /// The answer stored for `key`, if still fresh (an allow, with what came with it, or a deny).
    pub(super) fn get(&self, key: &CacheKey) -> Option<Answer> {
        if !self.enabled() {
            return None;
        }
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .map
            .get(key)
            .filter(|entry| entry.stored.elapsed() < self.ttl)
            .map(|entry| entry.answer.clone())
    }

    /// Stores an answer.
    pub(super) fn put(&self, key: CacheKey, answer: Answer) {
        if !self.enabled() {
            return;
        }
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let Entries { map, order } = &mut *entries;
        while let Some(&(oldest, stored)) = order.front() {
            let live = map.get(&oldest).is_some_and(|entry| entry.stored == stored);
            // Storing a key again takes no more room.
            let room = map.len() < self.capacity || map.contains_key(&key);
            if live && now.duration_since(stored) < self.ttl && room {
                break;
            }
            order.pop_front();
            if live {
                map.remove(&oldest);
            }
        }
        map.insert(
            key,
            Entry {
                stored: now,
                answer,
            },
        );
        order.push_back((key, now));
    }

    /// Entries held, fresh or not (for tests).
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .map
            .len()
    }
}
