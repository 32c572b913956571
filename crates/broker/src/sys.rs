//! Periodic `$SYS/brokers/<node>/...` topics (retained, QoS 0): version, uptime, client and
//! session counts, message and byte counters, subscriptions, retained and delayed counts.

use crate::metrics::Metrics;
use crate::router::command::RouterCmd;
use bytes::Bytes;
use starling_codec::QoS;
use starling_core::{Message, MessageProperties, Switch, Switches};
use starling_topic::TopicName;
use std::borrow::Cow;
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

/// Topic suffix and value of every `$SYS` entry: version, uptime, then the metrics table.
fn snapshot(m: &Metrics, started: Instant) -> Vec<(Cow<'static, str>, String)> {
    let mut out = vec![
        (
            Cow::Borrowed("version"),
            env!("CARGO_PKG_VERSION").to_owned(),
        ),
        (
            Cow::Borrowed("uptime"),
            started.elapsed().as_secs().to_string(),
        ),
    ];
    out.extend(
        crate::metrics::entries(m)
            .into_iter()
            .map(|e| (e.sys_topic, e.value.to_string())),
    );
    out
}
