//! What the broker tells operators about its clients: who each connection is
//! ([`ClientInfo`], made once at CONNECT and shared by the connection and the router), its
//! traffic ([`ClientCounters`], atomics the connection bumps beside the broker-wide ones), and
//! the shapes of the management queries (pages of clients, subscriptions and retained
//! messages) that the router answers with bounded work per call.
//!
//! Pages are cursor-based: the router keeps its sessions in a `BTreeMap` by client id (beside
//! its hash registry) and its retained messages in topic order, so a page is a range walk
//! from the cursor, and a filtered page stops after [`SCAN_LIMIT`] entries even when it found
//! fewer than asked for. A list of 100,000 clients is then many short router turns, never one
//! long one.

use starling_codec::{ProtocolVersion, QoS};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

/// The most entries one query looks at, matching or not (the router's work per call).
pub const SCAN_LIMIT: usize = 10_000;

/// The most entries one page returns.
pub const MAX_PAGE: usize = 1_000;

/// A connection's traffic, counted by its task.
#[derive(Debug, Default)]
pub struct ClientCounters {
    /// Bytes read from the client.
    pub bytes_in: AtomicU64,
    /// Bytes written to the client.
    pub bytes_out: AtomicU64,
    /// PUBLISH packets from the client.
    pub messages_in: AtomicU64,
    /// PUBLISH packets to the client.
    pub messages_out: AtomicU64,
}

impl ClientCounters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Reads one counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// Who a connection is, fixed at CONNECT.
#[derive(Debug)]
pub struct ClientInfo {
    /// The client id.
    pub client_id: Arc<str>,
    /// This connection's number in this run (a replaced connection's messages are told
    /// apart by it).
    pub conn_id: u64,
    /// The username it gave, if any.
    pub username: Option<Arc<str>>,
    /// Its IP address (the PROXY header's when there is one). Kept apart from the port: a
    /// `SocketAddr` is 32 bytes, and every connection holds one of these.
    pub ip: IpAddr,
    /// Its port.
    pub port: u16,
    /// The protocol version it connected with.
    pub protocol: ProtocolVersion,
    /// The keep alive it negotiated, in seconds (0: none).
    pub keep_alive: u16,
    /// Clean Start (3.1.1: Clean Session).
    pub clean_start: bool,
    /// The session expiry interval it negotiated, in seconds.
    pub expiry_interval: u32,
    /// When it connected, in milliseconds since the Unix epoch (8 bytes, not a 16-byte
    /// `SystemTime`).
    pub connected_at_ms: u64,
    /// Its traffic.
    pub counters: ClientCounters,
    /// Which running traces cover it (`crate::trace`), decided once per set of traces.
    pub trace: crate::trace::TraceCache,
}

/// Which clients a page holds. Empty fields match everything.
#[derive(Debug, Clone, Default)]
pub struct ClientFilter {
    /// A substring of the client id.
    pub client_id: Option<String>,
    /// A substring of the username.
    pub username: Option<String>,
    /// The peer's IP address, exactly.
    pub ip: Option<std::net::IpAddr>,
    /// The protocol version.
    pub protocol: Option<ProtocolVersion>,
    /// Connected (`Some(true)`) or offline (`Some(false)`) sessions only.
    pub connected: Option<bool>,
}

impl ClientInfo {
    /// When it connected.
    pub fn connected_at(&self) -> SystemTime {
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(self.connected_at_ms)
    }
}

impl ClientFilter {
    /// True when every field set matches.
    pub fn matches(&self, client_id: &str, info: Option<&ClientInfo>, online: bool) -> bool {
        let sub = |needle: &Option<String>, hay: Option<&str>| {
            needle
                .as_deref()
                .is_none_or(|n| hay.is_some_and(|h| h.contains(n)))
        };
        sub(&self.client_id, Some(client_id))
            && sub(&self.username, info.and_then(|i| i.username.as_deref()))
            && self.ip.is_none_or(|ip| info.is_some_and(|i| i.ip == ip))
            && self
                .protocol
                .is_none_or(|p| info.is_some_and(|i| i.protocol == p))
            && self.connected.is_none_or(|c| c == online)
    }
}

/// One row of the client list.
#[derive(Debug, Clone)]
pub struct ClientRow {
    /// The client id.
    pub client_id: Arc<str>,
    /// Whether it is connected now.
    pub connected: bool,
    /// What it said at its last CONNECT in this run (`None`: a session restored from the
    /// store that has not connected since the broker started).
    pub info: Option<Arc<ClientInfo>>,
    /// How many subscriptions it holds.
    pub subscriptions: usize,
    /// Whether its session is in the store (persistent).
    pub persistent: bool,
    /// QoS 1/2 messages for it in the store, kept until acknowledged: an offline session's
    /// queue; for a connected persistent one, what is in flight, queued and spilled.
    pub stored_messages: u64,
    /// The bytes of those.
    pub stored_bytes: u64,
    /// What its connection holds now (one client's detail only; `None` in lists, offline, or
    /// when the connection did not answer in time).
    pub session: Option<SessionReport>,
}

/// What a connected client's session holds, as its connection reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionReport {
    /// Outgoing QoS 1/2 messages sent and not yet acknowledged.
    pub inflight: usize,
    /// Messages waiting in memory for a free inflight slot.
    pub queued: usize,
    /// Incoming QoS 2 packet ids waiting for PUBREL.
    pub awaiting_rel: usize,
}

/// A page of something in key order, and where the next one starts.
#[derive(Debug, Clone)]
pub struct Page<T, C> {
    /// The entries.
    pub items: Vec<T>,
    /// Pass this back to get the next page; `None`: this was the last one.
    pub next: Option<C>,
}

/// One subscription as listed.
#[derive(Debug, Clone)]
pub struct SubscriptionRow {
    /// Who holds it.
    pub client_id: Arc<str>,
    /// The filter as the client wrote it (`$share/g/t`, `$queue/t`, `$exclusive/t`, `t`).
    pub topic: String,
    /// The filter inside a share or `$exclusive/`.
    pub filter: String,
    /// The share group, if it is shared.
    pub group: Option<String>,
    /// Its granted QoS.
    pub qos: QoS,
    /// No Local.
    pub no_local: bool,
    /// Retain As Published.
    pub retain_as_published: bool,
    /// Retain Handling (0, 1 or 2).
    pub retain_handling: u8,
    /// Its subscription identifier.
    pub subscription_id: Option<u32>,
}

/// Which subscriptions a page holds.
#[derive(Debug, Clone, Default)]
pub struct SubscriptionFilter {
    /// This client's only.
    pub client_id: Option<String>,
    /// Filters equal to this one (as written, `$share/...` included).
    pub topic: Option<String>,
    /// Filters matching this topic name (wildcards in the filter apply).
    pub match_topic: Option<String>,
    /// This QoS only.
    pub qos: Option<QoS>,
    /// This share group only.
    pub share_group: Option<String>,
}

/// Which routes (distinct subscribed filters) a page of topics holds.
#[derive(Debug, Clone, Default)]
pub struct TopicFilterQuery {
    /// This filter only (as the router holds it: `$share/g/t` is `t`).
    pub topic: Option<String>,
    /// Filters matching this topic name (wildcards in the filter apply).
    pub match_topic: Option<String>,
}

/// One route: a filter someone subscribes to, and how many trie entries it has (clients,
/// exclusive holders and share groups, each once).
#[derive(Debug, Clone)]
pub struct TopicRow {
    /// The filter.
    pub topic: String,
    /// Entries on it.
    pub subscribers: u32,
}

/// One retained message as listed.
#[derive(Debug, Clone)]
pub struct RetainedRow {
    /// The message (payload shared, not copied).
    pub message: Arc<starling_core::Message>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_info_fits_mimallocs_128_byte_class() {
        // Every connection holds one (in an `Arc`: 16 bytes of counts before it). 112 bytes
        // keeps the allocation at 128; a `SocketAddr` and a `SystemTime` would make it 160.
        let size = std::mem::size_of::<ClientInfo>();
        assert!(size <= 112, "ClientInfo is {size} bytes");
    }
}
