//! Tests of the store through its public API, on a temporary directory each.

mod damage;
mod lock;
mod reads;
mod round_trip;
mod tickets;

use std::path::Path;
use std::sync::{mpsc, Arc};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use starling_codec::{QoS, RetainHandling, SubscriptionOptions, Utf8String};
use starling_core::{Delivery, Message, MessageProperties, SharedTag, WillSpec};
use starling_topic::{SubscriptionTarget, TopicFilter, TopicName};

use crate::{Fsync, Recovered, SessionRecord, Store, StoreOptions, Ticket};

pub(crate) fn open_mode(dir: &Path, fsync: Fsync) -> (Store, Recovered) {
    let options = StoreOptions {
        fsync,
        ..StoreOptions::new(dir)
    };
    Store::open(&options).expect("open")
}

pub(crate) fn open(dir: &Path) -> (Store, Recovered) {
    open_mode(dir, Fsync::Always)
}

/// Blocks until `ticket` is durable (through `when_durable` and a channel, no sleeping).
pub(crate) fn wait_durable(store: &Store, ticket: Ticket) {
    let (tx, rx) = mpsc::channel();
    store.when_durable(
        ticket,
        Box::new(move || {
            let _ = tx.send(());
        }),
    );
    rx.recv_timeout(Duration::from_secs(30))
        .expect("the ticket becomes durable");
}

pub(crate) fn at(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

pub(crate) fn message(topic: &str, payload: &str) -> Message {
    let topic = TopicName::new(topic).unwrap();
    Message {
        wire_topic: Message::wire_topic_of(&topic),
        topic,
        payload: Bytes::copy_from_slice(payload.as_bytes()),
        qos: QoS::ExactlyOnce,
        retain: true,
        properties: MessageProperties {
            payload_format_indicator: Some(1),
            content_type: Some(Utf8String::from_static("text/plain")),
            response_topic: None,
            correlation_data: Some(Bytes::from_static(b"\x00\x01")),
            user_properties: vec![(Utf8String::from_static("k"), Utf8String::from_static("v"))],
        },
        expires_at: Some(at(1_700_000_000_123)),
        publisher: Arc::from("pub"),
    }
}

pub(crate) fn delivery(payload: &str) -> Delivery {
    Delivery {
        message: Arc::new(message("q/t", payload)),
        qos: QoS::AtLeastOnce,
        retain: false,
        subscription_ids: vec![3, 9].into_boxed_slice(),
        shared: Some(Arc::new(SharedTag {
            group: Arc::from("g"),
            filter: Arc::from("q/#"),
        })),
        stored: 0,
    }
}

pub(crate) fn session_record(with_will: bool) -> SessionRecord {
    SessionRecord {
        expiry_interval: 3600,
        expires_at: Some(at(1_800_000_000_000)),
        will: with_will.then(|| WillSpec {
            message: message("will/t", "bye"),
            expiry_interval: Some(60),
            delay_secs: 5,
        }),
        will_at: with_will.then(|| at(1_800_000_005_000)),
    }
}

pub(crate) fn plain(filter: &str) -> SubscriptionTarget {
    SubscriptionTarget::Plain(TopicFilter::new(filter).unwrap())
}

pub(crate) fn options(qos: QoS) -> SubscriptionOptions {
    SubscriptionOptions {
        qos,
        no_local: true,
        retain_as_published: false,
        retain_handling: RetainHandling::SendIfNew,
    }
}

/// A session for `client` with one subscription, `queued` deliveries and one awaiting id.
pub(crate) fn write_client(store: &Store, client: &str, queued: u64) -> Ticket {
    let mut batch = store.batch();
    batch.put_session(client, &session_record(false));
    batch.put_subscription(client, &plain("a/+"), &options(QoS::AtLeastOnce), Some(7));
    for seq in 1..=queued {
        batch.put_queued(client, seq, &delivery(&format!("{client}-{seq}")));
    }
    batch.put_inflight(client, 1, 10, false);
    batch.put_awaiting_rel(client, 42);
    batch.commit().unwrap()
}
