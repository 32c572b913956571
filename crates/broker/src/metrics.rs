//! Broker-wide counters: plain atomics shared by every task (no lock). `$SYS` topics and the
//! management API read them through one table, [`entries`] (`metrics/table.rs`).

mod table;

pub use table::{entries, MetricEntry, MetricKind};

use starling_net::NetCounters;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Counters and gauges for the whole broker.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Connections currently open (CONNECT accepted, socket open).
    pub connections: AtomicU64,
    /// Connections accepted since start.
    pub connections_total: AtomicU64,
    /// Sessions alive (connected or offline).
    pub sessions: AtomicU64,
    /// PUBLISH packets received from clients.
    pub messages_received: AtomicU64,
    /// PUBLISH packets sent to clients.
    pub messages_sent: AtomicU64,
    /// PUBLISH packets received, by QoS (0, 1, 2).
    pub messages_received_qos: [AtomicU64; 3],
    /// PUBLISH packets sent, by QoS (0, 1, 2).
    pub messages_sent_qos: [AtomicU64; 3],
    /// Messages dropped: queue full, expired, too large for the client, mailbox full.
    pub messages_dropped: AtomicU64,
    /// Bytes read from clients.
    pub bytes_received: AtomicU64,
    /// Bytes written to clients.
    pub bytes_sent: AtomicU64,
    /// Subscriptions currently held.
    pub subscriptions: AtomicU64,
    /// Distinct topic filters subscribed to now (the routes `GET /api/v5/topics` lists).
    pub topics: AtomicU64,
    /// Retained messages currently stored.
    pub retained: AtomicU64,
    /// Delayed messages waiting.
    pub delayed: AtomicU64,
    /// Bytes held by retained messages.
    pub retained_bytes: AtomicU64,
    /// Sessions held offline now.
    pub sessions_offline: AtomicU64,
    /// Sessions ended at disconnect because `session.max_offline` were held already.
    pub sessions_refused: AtomicU64,
    /// Connections closed because their writes made no progress for `mqtt.send_timeout`.
    pub send_timeouts: AtomicU64,
    /// Connections refused before CONNECT: listener full, too many from one address.
    pub connections_refused: AtomicU64,
    /// Writes the store refused (disk full, I/O error); what they held is not on disk.
    pub store_errors: AtomicU64,
    /// Records found damaged at start and set aside (removed, or moved aside with their files).
    pub store_records_set_aside: AtomicU64,
    /// Bytes of store files moved aside at start because the engine could not read them.
    pub store_bytes_set_aside: AtomicU64,
    /// QoS 1/2 deliveries to persistent sessions held in the store now (queued or inflight).
    pub stored_messages: AtomicU64,
    /// Deliveries to persistent sessions dropped because the session's stored queue was at
    /// `session.max_stored_messages` or `session.max_stored_bytes`.
    pub stored_dropped: AtomicU64,
    /// Times a persistent session's queue spilled to the store (its memory queue was full, or
    /// its mailbox): the rest was streamed from the store, nothing dropped.
    pub stored_spills: AtomicU64,
    /// 1 while the broker is overloaded (`overload`), else 0.
    pub overload_active: AtomicU64,
    /// Times the overload alarm was raised.
    pub overload_alarms: AtomicU64,
    /// CONNECTs refused with Server busy while overloaded.
    pub overload_refused: AtomicU64,
    /// QoS 0 deliveries shed to slow subscribers while overloaded.
    pub overload_shed: AtomicU64,
    /// CONNECTs refused because the client id, username or address is banned.
    pub banned_refused: AtomicU64,
    /// Client ids banned for connecting too often.
    pub flapping_bans: AtomicU64,
    /// CONNECTs refused by authentication (bad credentials, anonymous not allowed).
    pub auth_failures: AtomicU64,
    /// PUBLISHes (and wills) an ACL denied.
    pub acl_denied_publish: AtomicU64,
    /// Subscriptions an ACL denied.
    pub acl_denied_subscribe: AtomicU64,
    /// Deliveries an ACL denied (the subscriber may not read the topic).
    pub acl_denied_delivery: AtomicU64,
    /// What the transports refused (TLS, WebSocket, PROXY header, handshake timeouts), shared
    /// with the connections that count into it.
    pub transport: Arc<NetCounters>,
}

impl Metrics {
    /// Adds `n` to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Subtracts `n` from a gauge.
    pub fn sub(counter: &AtomicU64, n: u64) {
        counter.fetch_sub(n, Ordering::Relaxed);
    }

    /// Sets a gauge.
    pub fn set(counter: &AtomicU64, n: u64) {
        counter.store(n, Ordering::Relaxed);
    }

    /// Reads a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}
