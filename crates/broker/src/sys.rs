//! Periodic `$SYS/brokers/<node>/...` topics (retained, QoS 0): version, uptime, client and
//! session counts, message and byte counters, subscriptions, retained and delayed counts.

use crate::metrics::Metrics;
use crate::router::command::RouterCmd;
use bytes::Bytes;
use starling_codec::QoS;
use starling_core::{Message, MessageProperties, Switch, Switches};
use starling_topic::TopicName;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Publishes the `$SYS` tree every `interval` until shutdown, while the `$SYS` module is on.
pub(crate) async fn run(
    node: String,
    interval: Duration,
    switches: Arc<Switches>,
    metrics: Arc<Metrics>,
    router: mpsc::Sender<RouterCmd>,
    shutdown: CancellationToken,
) {
    let started = Instant::now();
    let mut ticker = tokio::time::interval(interval);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        if !switches.is_on(Switch::Sys) {
            continue;
        }
        for (topic, value) in snapshot(&metrics, started) {
            let Ok(topic) = TopicName::new(&format!("$SYS/brokers/{node}/{topic}")) else {
                continue;
            };
            let message = Message {
                wire_topic: Message::wire_topic_of(&topic),
                topic,
                payload: Bytes::from(value),
                qos: QoS::AtMostOnce,
                retain: true,
                properties: MessageProperties::default(),
                expires_at: None,
                publisher: Arc::from(""),
            };
            if router
                .send(RouterCmd::Publish(Arc::new(message)))
                .await
                .is_err()
            {
                return;
            }
        }
    }
}

/// Topic suffix and value of every `$SYS` entry.
fn snapshot(m: &Metrics, started: Instant) -> Vec<(&'static str, String)> {
    let get = |c: &AtomicU64| Metrics::get(c).to_string();
    let mut entries = vec![
        ("version", env!("CARGO_PKG_VERSION").to_owned()),
        ("uptime", started.elapsed().as_secs().to_string()),
        ("clients/connected", get(&m.connections)),
        ("clients/total", get(&m.connections_total)),
        ("sessions/count", get(&m.sessions)),
        ("subscriptions/count", get(&m.subscriptions)),
        ("retained/count", get(&m.retained)),
        ("delayed/count", get(&m.delayed)),
        ("messages/received", get(&m.messages_received)),
        ("messages/sent", get(&m.messages_sent)),
        ("messages/dropped", get(&m.messages_dropped)),
        ("bytes/received", get(&m.bytes_received)),
        ("bytes/sent", get(&m.bytes_sent)),
        ("store/errors", get(&m.store_errors)),
        ("store/messages", get(&m.stored_messages)),
        ("store/messages/dropped", get(&m.stored_dropped)),
        ("store/spills", get(&m.stored_spills)),
        ("store/set_aside/records", get(&m.store_records_set_aside)),
        ("store/set_aside/bytes", get(&m.store_bytes_set_aside)),
        ("auth/failures", get(&m.auth_failures)),
        ("banned/refused", get(&m.banned_refused)),
        ("overload/active", get(&m.overload_active)),
        ("overload/alarms", get(&m.overload_alarms)),
        ("overload/refused", get(&m.overload_refused)),
        ("overload/shed", get(&m.overload_shed)),
        ("banned/flapping", get(&m.flapping_bans)),
        ("acl/denied/publish", get(&m.acl_denied_publish)),
        ("acl/denied/subscribe", get(&m.acl_denied_subscribe)),
        ("acl/denied/delivery", get(&m.acl_denied_delivery)),
    ];
    entries.extend(
        m.transport
            .snapshot()
            .into_iter()
            .map(|(topic, n)| (topic, n.to_string())),
    );
    entries
}
