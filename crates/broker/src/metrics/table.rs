//! The one list of every statistic and metric the broker reports, with its name, kind and help.
//!
//! `$SYS` publishing (`crate::sys`), the management API's `/stats`, `/metrics` and Prometheus
//! route all read [`entries`], so a counter added here appears everywhere at once, and one
//! added anywhere else appears nowhere: there is no second list to forget.
//!
//! Names are EMQX's where EMQX has one (`connections.count`, `messages.qos1.received`,
//! `client.auth.failure`), so Grafana dashboards written for EMQX need few changes. The `$SYS`
//! topic is the name with `/` for `.`, except where a `$SYS` name was published before this
//! table existed (`clients/connected`, `store/messages`, ...): those keep it, because
//! subscribers rely on it.

use super::Metrics;
use std::borrow::Cow;
use std::sync::atomic::AtomicU64;

/// A gauge (a level now) or a counter (a total since start).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// Goes up and down.
    Gauge,
    /// Only goes up.
    Counter,
}

/// One statistic or metric, read now.
#[derive(Debug, Clone)]
pub struct MetricEntry {
    /// Its name in the API and, with `starling_` and `_` for `.`, in Prometheus.
    pub name: Cow<'static, str>,
    /// Its topic under `$SYS/brokers/<node>/`.
    pub sys_topic: Cow<'static, str>,
    /// Gauge or counter.
    pub kind: MetricKind,
    /// One line on what it counts.
    pub help: &'static str,
    /// Its value now.
    pub value: u64,
}

/// (name, `$SYS` topic when it differs from the name's, kind, help, the atomic).
type Row<'a> = (
    &'static str,
    Option<&'static str>,
    MetricKind,
    &'static str,
    &'a AtomicU64,
);

fn rows(m: &Metrics) -> Vec<Row<'_>> {
    use MetricKind::{Counter as C, Gauge as G};
    vec![
        (
            "connections.count",
            Some("clients/connected"),
            G,
            "connections open now",
            &m.connections,
        ),
        (
            "live_connections.count",
            None,
            G,
            "connections open now (EMQX's second name)",
            &m.connections,
        ),
        (
            "sessions.count",
            None,
            G,
            "sessions, connected or not",
            &m.sessions,
        ),
        (
            "sessions.offline.count",
            None,
            G,
            "sessions without a connection",
            &m.sessions_offline,
        ),
        (
            "subscriptions.count",
            None,
            G,
            "subscriptions held",
            &m.subscriptions,
        ),
        (
            "topics.count",
            None,
            G,
            "distinct topic filters subscribed to (routes)",
            &m.topics,
        ),
        ("retained.count", None, G, "retained messages", &m.retained),
        (
            "retained.bytes",
            None,
            G,
            "bytes of retained messages",
            &m.retained_bytes,
        ),
        (
            "delayed.count",
            None,
            G,
            "delayed messages waiting",
            &m.delayed,
        ),
        (
            "queued.count",
            Some("store/messages"),
            G,
            "deliveries queued in the store for persistent sessions",
            &m.stored_messages,
        ),
        (
            "overload.active",
            None,
            G,
            "1 while the broker is overloaded",
            &m.overload_active,
        ),
        (
            "client.connected",
            Some("clients/total"),
            C,
            "connections accepted since start",
            &m.connections_total,
        ),
        (
            "client.connack.refused",
            None,
            C,
            "connections refused before CONNECT (listener full, too many from one address)",
            &m.connections_refused,
        ),
        (
            "client.auth.failure",
            Some("auth/failures"),
            C,
            "failed logins",
            &m.auth_failures,
        ),
        (
            "client.banned",
            Some("banned/refused"),
            C,
            "connections refused as banned",
            &m.banned_refused,
        ),
        (
            "client.flapping.banned",
            Some("banned/flapping"),
            C,
            "client ids banned for flapping",
            &m.flapping_bans,
        ),
        (
            "sessions.refused",
            None,
            C,
            "sessions ended at disconnect because session.max_offline were held",
            &m.sessions_refused,
        ),
        (
            "messages.received",
            None,
            C,
            "PUBLISH packets from clients",
            &m.messages_received,
        ),
        (
            "messages.sent",
            None,
            C,
            "PUBLISH packets to clients",
            &m.messages_sent,
        ),
        (
            "messages.qos0.received",
            None,
            C,
            "QoS 0 PUBLISH packets from clients",
            &m.messages_received_qos[0],
        ),
        (
            "messages.qos1.received",
            None,
            C,
            "QoS 1 PUBLISH packets from clients",
            &m.messages_received_qos[1],
        ),
        (
            "messages.qos2.received",
            None,
            C,
            "QoS 2 PUBLISH packets from clients",
            &m.messages_received_qos[2],
        ),
        (
            "messages.qos0.sent",
            None,
            C,
            "QoS 0 PUBLISH packets to clients",
            &m.messages_sent_qos[0],
        ),
        (
            "messages.qos1.sent",
            None,
            C,
            "QoS 1 PUBLISH packets to clients",
            &m.messages_sent_qos[1],
        ),
        (
            "messages.qos2.sent",
            None,
            C,
            "QoS 2 PUBLISH packets to clients",
            &m.messages_sent_qos[2],
        ),
        (
            "messages.dropped",
            None,
            C,
            "messages dropped, every reason",
            &m.messages_dropped,
        ),
        (
            "messages.dropped.store_full",
            Some("store/messages/dropped"),
            C,
            "deliveries dropped at a stored session's cap",
            &m.stored_dropped,
        ),
        (
            "messages.dropped.overload",
            Some("overload/shed"),
            C,
            "QoS 0 deliveries shed while overloaded",
            &m.overload_shed,
        ),
        (
            "messages.dropped.acl_denied",
            Some("acl/denied/delivery"),
            C,
            "deliveries an ACL refused",
            &m.acl_denied_delivery,
        ),
        (
            "messages.spilled",
            Some("store/spills"),
            C,
            "deliveries spilled to the store from a full queue",
            &m.stored_spills,
        ),
        (
            "authorization.deny.publish",
            Some("acl/denied/publish"),
            C,
            "PUBLISHes an ACL refused",
            &m.acl_denied_publish,
        ),
        (
            "authorization.deny.subscribe",
            Some("acl/denied/subscribe"),
            C,
            "subscriptions an ACL refused",
            &m.acl_denied_subscribe,
        ),
        (
            "bytes.received",
            None,
            C,
            "bytes read from clients",
            &m.bytes_received,
        ),
        (
            "bytes.sent",
            None,
            C,
            "bytes written to clients",
            &m.bytes_sent,
        ),
        (
            "delivery.send_timeout",
            None,
            C,
            "connections closed because writes made no progress",
            &m.send_timeouts,
        ),
        (
            "store.errors",
            None,
            C,
            "store writes that failed",
            &m.store_errors,
        ),
        (
            "store.set_aside.records",
            None,
            C,
            "damaged store records set aside at start",
            &m.store_records_set_aside,
        ),
        (
            "store.set_aside.bytes",
            None,
            C,
            "bytes of store files moved aside at start",
            &m.store_bytes_set_aside,
        ),
        (
            "overload.alarms",
            None,
            C,
            "times the broker became overloaded",
            &m.overload_alarms,
        ),
        (
            "overload.refused",
            None,
            C,
            "connections refused while overloaded",
            &m.overload_refused,
        ),
    ]
}

/// Every statistic and metric, read now: the broker's own, then the transports'.
pub fn entries(m: &Metrics) -> Vec<MetricEntry> {
    let mut out: Vec<MetricEntry> = rows(m)
        .into_iter()
        .map(|(name, sys, kind, help, value)| MetricEntry {
            name: Cow::Borrowed(name),
            sys_topic: sys.map_or_else(|| Cow::Owned(name.replace('.', "/")), Cow::Borrowed),
            kind,
            help,
            value: Metrics::get(value),
        })
        .collect();
    out.extend(
        m.transport
            .snapshot()
            .into_iter()
            .map(|(topic, value)| MetricEntry {
                name: Cow::Owned(topic.replace('/', ".")),
                sys_topic: Cow::Borrowed(topic),
                kind: MetricKind::Counter,
                help: "refused by a transport (TLS, WebSocket, PROXY header, handshake)",
                value,
            }),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_and_topics_are_unique_and_well_formed() {
        let all = entries(&Metrics::default());
        let names: HashSet<_> = all.iter().map(|e| e.name.clone()).collect();
        let topics: HashSet<_> = all.iter().map(|e| e.sys_topic.clone()).collect();
        assert_eq!(names.len(), all.len(), "a name appears twice");
        assert_eq!(topics.len(), all.len(), "a $SYS topic appears twice");
        for e in &all {
            assert!(
                e.name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._".contains(c)),
                "{} is not a Prometheus-safe name once `.` becomes `_`",
                e.name
            );
            assert!(!e.sys_topic.contains(['+', '#']), "{}", e.sys_topic);
        }
    }

    #[test]
    fn a_value_is_read_from_its_atomic() {
        let m = Metrics::default();
        Metrics::add(&m.messages_received_qos[1], 7);
        let e = entries(&m);
        let got = e
            .iter()
            .find(|e| e.name == "messages.qos1.received")
            .map(|e| e.value);
        assert_eq!(got, Some(7));
    }
}
