//! The subscriptions held by one trie node: a vector while small, a hash map once large.
//!
//! Almost every filter has one or a few subscribers, where a vector is both smaller and faster;
//! a few filters (`broadcast/#`) have thousands, where a linear scan per insert would be
//! quadratic. The node switches representation at [`PROMOTE_AT`] and back at [`DEMOTE_AT`].

use std::collections::HashMap;
use std::hash::{Hash, RandomState};

/// A vector grows into a map when an insert would make it longer than this.
const PROMOTE_AT: usize = 16;
/// A map shrinks back into a vector when a removal leaves this many entries.
const DEMOTE_AT: usize = 4;

/// The (key, value) pairs of one filter.
pub(crate) enum Entries<K, V> {
    /// Few entries, scanned linearly.
    Few(Vec<(K, V)>),
    /// Many entries, hashed. Boxed so the common `Few` case keeps the node small.
    #[allow(
        clippy::box_collection,
        reason = "keeps Entries at 24 bytes on every node"
    )]
    Many(Box<HashMap<K, V, RandomState>>),
}

impl<K, V> Default for Entries<K, V> {
    fn default() -> Self {
        Self::Few(Vec::new())
    }
}

impl<K: Eq + Hash, V> Entries<K, V> {
    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        match self {
            Self::Few(v) => v.len(),
            Self::Many(m) => m.len(),
        }
    }

    /// True when there are no entries.
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value for `key`, if any.
    pub(crate) fn get(&self, key: &K) -> Option<&V> {
        match self {
            Self::Few(v) => v.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            Self::Many(m) => m.get(key),
        }
    }

    /// Inserts or replaces; returns the previous value.
    pub(crate) fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self {
            Self::Few(v) => {
                if let Some(slot) = v.iter_mut().find(|(k, _)| *k == key) {
                    return Some(std::mem::replace(&mut slot.1, value));
                }
                if v.len() < PROMOTE_AT {
                    if v.capacity() == 0 {
                        v.reserve_exact(1);
                    }
                    v.push((key, value));
                    return None;
                }
                let mut map = HashMap::with_capacity_and_hasher(v.len() * 2, RandomState::new());
                map.extend(v.drain(..));
                map.insert(key, value);
                *self = Self::Many(Box::new(map));
                None
            }
            Self::Many(m) => m.insert(key, value),
        }
    }

    /// Removes the entry for `key`; returns its value.
    pub(crate) fn remove(&mut self, key: &K) -> Option<V> {
        match self {
            Self::Few(v) => {
                let at = v.iter().position(|(k, _)| k == key)?;
                let (_, value) = v.swap_remove(at);
                if v.is_empty() {
                    *v = Vec::new();
                }
                Some(value)
            }
            Self::Many(m) => {
                let value = m.remove(key)?;
                if m.len() <= DEMOTE_AT {
                    *self = Self::Few(m.drain().collect());
                }
                Some(value)
            }
        }
    }

    /// Calls `visit` for every entry.
    #[inline]
    pub(crate) fn for_each(&self, visit: &mut impl FnMut(&K, &V)) {
        match self {
            Self::Few(v) => v.iter().for_each(|(k, v)| visit(k, v)),
            Self::Many(m) => m.iter().for_each(|(k, v)| visit(k, v)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promotes_and_demotes() {
        let mut e = Entries::default();
        for i in 0..100u32 {
            assert_eq!(e.insert(i, i * 2), None);
        }
        assert!(matches!(e, Entries::Many(_)));
        assert_eq!(e.insert(7, 0), Some(14));
        assert_eq!(e.get(&7), Some(&0));
        for i in 0..97u32 {
            assert!(e.remove(&i).is_some());
        }
        assert!(matches!(e, Entries::Few(_)));
        assert_eq!(e.len(), 3);
        let mut seen = Vec::new();
        e.for_each(&mut |k, _| seen.push(*k));
        seen.sort_unstable();
        assert_eq!(seen, [97, 98, 99]);
        assert_eq!(e.remove(&1000), None);
    }
}
