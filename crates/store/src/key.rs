//! Keys: how each keyspace orders its records.
//!
//! Per-client keyspaces start with [`cid`]: the client id's length as a `u16` big-endian, then
//! its bytes, so a client's records are one unambiguous prefix ("a" never matches "ab").
//! Sequences and packet ids follow big-endian, so that key order is numeric order.

use std::time::SystemTime;

use crate::record::field::{from_millis, millis, Reader};

/// The longest key the engine accepts.
pub(crate) const MAX_KEY: usize = 65_536;

/// The key prefix of every record of `client_id`. Client ids are MQTT strings (at most 65,535
/// bytes); a longer one is cut at 65,535 bytes.
pub(crate) fn cid(client_id: &str) -> Vec<u8> {
    let bytes = client_id.as_bytes();
    let len = u16::try_from(bytes.len()).unwrap_or(u16::MAX);
    let bytes = bytes.get(..usize::from(len)).unwrap_or(bytes);
    let mut key = Vec::with_capacity(2 + bytes.len() + 8);
    key.extend_from_slice(&len.to_be_bytes());
    key.extend_from_slice(bytes);
    key
}

/// `cid(client_id)` followed by `seq` (queue and inflight keys).
pub(crate) fn seq_key(client_id: &str, seq: u64) -> Vec<u8> {
    let mut key = cid(client_id);
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

/// `cid(client_id)` followed by `packet_id` (awaiting-PUBREL keys).
pub(crate) fn packet_key(client_id: &str, packet_id: u16) -> Vec<u8> {
    let mut key = cid(client_id);
    key.extend_from_slice(&packet_id.to_be_bytes());
    key
}

/// A delayed message's key: when it fires, then its id.
pub(crate) fn delayed_key(at: SystemTime, id: u64) -> [u8; 16] {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&millis(at).to_be_bytes());
    key[8..].copy_from_slice(&id.to_be_bytes());
    key
}

/// Splits a per-client key into the client id's prefix (as written by [`cid`]), the client id
/// and the rest; `None` when the key is damaged.
pub(crate) fn split_cid(key: &[u8]) -> Option<(&[u8], &str, &[u8])> {
    let mut r = Reader::new(key);
    let len = usize::from(r.u16().ok()?);
    let id = std::str::from_utf8(r.take(len).ok()?).ok()?;
    let rest = r.rest();
    let prefix = key.get(..2 + len)?;
    Some((prefix, id, rest))
}

/// The sequence number in the tail of a queue or inflight key.
pub(crate) fn seq_of(tail: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(tail.try_into().ok()?))
}

/// The packet id in the tail of an awaiting-PUBREL key.
pub(crate) fn packet_id_of(tail: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes(tail.try_into().ok()?))
}

/// The fire-at time and id in a delayed message's key.
pub(crate) fn split_delayed(key: &[u8]) -> Option<(SystemTime, u64)> {
    let at = u64::from_be_bytes(key.get(..8)?.try_into().ok()?);
    let id = u64::from_be_bytes(key.get(8..)?.try_into().ok()?);
    Some((from_millis(at), id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_prefix_is_unambiguous() {
        let a = cid("a");
        let ab = seq_key("ab", 1);
        assert!(!ab.starts_with(&a));
        let (prefix, id, rest) = split_cid(&ab).unwrap();
        assert_eq!((prefix, id), (&cid("ab")[..], "ab"));
        assert_eq!(seq_of(rest), Some(1));
        assert_eq!(split_cid(&[0, 5, b'a']), None);
        assert_eq!(seq_of(&[1, 2]), None);
    }

    #[test]
    fn delayed_keys_order_by_time_then_id() {
        let t = from_millis(1_000);
        let k = delayed_key(t, 7);
        assert_eq!(split_delayed(&k), Some((t, 7)));
        assert!(delayed_key(t, 9) < delayed_key(from_millis(1_001), 0));
        assert_eq!(split_delayed(&k[..15]), None);
    }
}
