//! The router driven without sockets or a runtime: commands in with an injected time, the
//! sessions' mailboxes read back.

use super::command::{RouterCmd, SessionControl};
use super::{RetainLimits, Router, RouterSettings};
use crate::mailbox::{mailbox, Inbox, SessionMsg};
use crate::metrics::Metrics;
use bytes::Bytes;
use starling_codec::{QoS, ReasonCode, RetainHandling, SubscriptionOptions};
use starling_config::SharedStrategy;
use starling_core::{
    Delivery, Message, MessageProperties, SessionState, SubscribeRequest, WillSpec,
};
use starling_topic::{SubscriptionTarget, TopicLimits, TopicName};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::oneshot;

pub(super) fn settings() -> RouterSettings {
    RouterSettings {
        node: "n".into(),
        strategy: SharedStrategy::RoundRobin,
        switches: Arc::default(),
        rewrite: Arc::default(),
        auto_subscribe: Arc::default(),
        delayed_max: 100,
        delayed_max_bytes: 0,
        retain: RetainLimits {
            max_messages: 0,
            max_bytes: 0,
            max_payload: 1 << 20,
        },
        client_events: false,
        topic_limits: TopicLimits::default(),
        mailbox_capacity: 256,
        max_subscriptions: 0,
        max_offline: 0,
        queue: starling_core::QueueLimits::default(),
        stored: super::StoredLimits {
            max_messages: 1000,
            max_bytes: 1 << 20,
        },
    }
}

pub(super) fn router(settings: RouterSettings) -> Router {
    Router::new(settings, Arc::new(Metrics::default()))
}

pub(super) fn message(topic: &str, payload: &str, qos: QoS, retain: bool) -> Arc<Message> {
    let topic = TopicName::new(topic).expect("topic");
    Arc::new(Message {
        wire_topic: Message::wire_topic_of(&topic),
        topic,
        payload: Bytes::copy_from_slice(payload.as_bytes()),
        qos,
        retain,
        properties: MessageProperties::default(),
        expires_at: None,
        publisher: Arc::from("publisher"),
    })
}

/// Registers `id` and returns its inbox (and the previous session's takeover, if any).
pub(super) fn connect(
    r: &mut Router,
    id: &str,
    conn_id: u64,
    clean: bool,
    now: SystemTime,
) -> Inbox {
    let (tx, rx) = mailbox();
    let (reply, _previous) = oneshot::channel();
    r.handle(
        RouterCmd::Connect {
            peer: std::net::SocketAddr::from(([127, 0, 0, 1], 1)),
            client_id: id.into(),
            conn_id,
            clean_start: clean,
            expiry_interval: if clean { 0 } else { u32::MAX },
            will: None,
            mailbox: tx,
            info: info(id),
            reply,
        },
        now,
    );
    rx
}

/// What a test connection of `id` says about itself.
pub(super) fn info(id: &str) -> Arc<crate::clients::ClientInfo> {
    Arc::new(crate::clients::ClientInfo {
        client_id: id.into(),
        conn_id: 1,
        username: Some(format!("user-{id}").into()),
        ip: std::net::IpAddr::from([127, 0, 0, 1]),
        port: 1,
        protocol: starling_codec::ProtocolVersion::V5,
        keep_alive: 60,
        clean_start: true,
        expiry_interval: 0,
        connected_at_ms: 0,
        counters: crate::clients::ClientCounters::default(),
        trace: crate::trace::TraceCache::default(),
    })
}

/// The connection `conn_id` of `id` closed: its session goes offline with the router.
pub(super) fn offline(id: &str, conn_id: u64, inbox: Inbox, will: Option<WillSpec>) -> RouterCmd {
    RouterCmd::Offline(Box::new(super::Handoff {
        client_id: id.into(),
        conn_id,
        session: SessionState::new(id.into(), 60),
        will,
        inbox,
    }))
}

pub(super) fn request(filter: &str, qos: QoS) -> Result<SubscribeRequest, ReasonCode> {
    Ok(SubscribeRequest {
        target: SubscriptionTarget::parse(filter, &TopicLimits::default()).expect("filter"),
        options: SubscriptionOptions {
            qos,
            no_local: false,
            retain_as_published: false,
            retain_handling: RetainHandling::SendAtSubscribe,
        },
        subscription_id: None,
    })
}

pub(super) fn subscribe(
    r: &mut Router,
    id: &str,
    filters: &[&str],
    credit: usize,
    now: SystemTime,
) {
    r.handle(
        RouterCmd::Subscribe {
            client_id: id.into(),
            packet_id: starling_codec::PacketId::new(1).expect("id"),
            requests: filters
                .iter()
                .map(|f| request(f, QoS::AtLeastOnce))
                .collect(),
            credit,
        },
        now,
    );
}

/// Everything waiting in an inbox.
pub(super) fn drain(inbox: &mut Inbox) -> Vec<SessionMsg> {
    std::iter::from_fn(|| inbox.try_recv()).collect()
}

pub(super) fn deliveries(msgs: &[SessionMsg]) -> Vec<&Delivery> {
    msgs.iter()
        .filter_map(|m| match m {
            SessionMsg::Deliver(d) => Some(d),
            SessionMsg::Control(_) => None,
        })
        .collect()
}

fn suback_codes(msgs: &[SessionMsg]) -> Vec<ReasonCode> {
    msgs.iter()
        .find_map(|m| match m {
            SessionMsg::Control(SessionControl::SubAck { reason_codes, .. }) => {
                Some(reason_codes.clone())
            }
            _ => None,
        })
        .expect("a SUBACK")
}

pub(super) fn paused(msgs: &[SessionMsg]) -> bool {
    msgs.iter()
        .any(|m| matches!(m, SessionMsg::Control(SessionControl::Owed)))
}

#[test]
fn retained_messages_stream_against_credit_until_every_one_is_delivered() {
    let now = SystemTime::now();
    let mut r = router(settings());
    for i in 0..1000 {
        r.handle(
            RouterCmd::Publish(message(&format!("s/{i:04}"), "x", QoS::AtLeastOnce, true)),
            now,
        );
    }
    let mut inbox = connect(&mut r, "c", 1, true, now);
    drain(&mut inbox);
    subscribe(&mut r, "c", &["s/#"], 10, now);
    let first = drain(&mut inbox);
    assert!(matches!(
        first[0],
        SessionMsg::Control(SessionControl::SubAck { .. })
    ));
    assert_eq!(deliveries(&first).len(), 10, "no more than the credit");
    assert!(paused(&first), "told to ask for more");
    let mut topics: Vec<String> = deliveries(&first)
        .iter()
        .map(|d| d.message.topic.to_string())
        .collect();
    for _ in 0..100 {
        r.handle(
            RouterCmd::Resume {
                client_id: "c".into(),
                conn_id: 1,
                credit: 1000, // more than a batch: the router caps it
                from: None,
            },
            now,
        );
        let more = drain(&mut inbox);
        let got = deliveries(&more);
        assert!(got.len() <= super::RETAINED_BATCH);
        assert!(got.iter().all(|d| d.retain && d.qos == QoS::AtLeastOnce));
        topics.extend(got.iter().map(|d| d.message.topic.to_string()));
        if !paused(&more) {
            break;
        }
    }
    let want: Vec<String> = (0..1000).map(|i| format!("s/{i:04}")).collect();
    assert_eq!(topics, want, "every message once, in topic order");
    assert!(r.cursors.is_empty(), "the cursor is gone once done");
}

#[test]
fn a_stale_connection_cannot_resume_and_unsubscribe_drops_the_cursor() {
    let now = SystemTime::now();
    let mut r = router(settings());
    for i in 0..10 {
        r.handle(
            RouterCmd::Publish(message(&format!("t/{i}"), "x", QoS::AtMostOnce, true)),
            now,
        );
    }
    let mut inbox = connect(&mut r, "c", 1, true, now);
    subscribe(&mut r, "c", &["t/+"], 1, now);
    assert_eq!(deliveries(&drain(&mut inbox)).len(), 1);
    let resume = |conn_id| RouterCmd::Resume {
        client_id: "c".into(),
        conn_id,
        credit: 5,
        from: None,
    };
    r.handle(resume(99), now);
    assert!(
        deliveries(&drain(&mut inbox)).is_empty(),
        "not from another connection"
    );
    r.handle(
        RouterCmd::Unsubscribe {
            client_id: "c".into(),
            packet_id: starling_codec::PacketId::new(2).expect("id"),
            filters: vec![Ok(SubscriptionTarget::parse(
                "t/+",
                &TopicLimits::default(),
            )
            .expect("filter"))],
        },
        now,
    );
    r.handle(resume(1), now);
    assert!(
        deliveries(&drain(&mut inbox)).is_empty(),
        "unsubscribed: nothing owed"
    );
}

#[test]
fn an_exact_filter_is_one_lookup_and_expired_messages_are_swept() {
    let now = SystemTime::now();
    let mut r = router(settings());
    let mut expiring = (*message("a/b", "old", QoS::AtMostOnce, true)).clone();
    expiring.expires_at = Some(now + Duration::from_secs(5));
    r.handle(RouterCmd::Publish(Arc::new(expiring)), now);
    r.handle(
        RouterCmd::Publish(message("a/c", "kept", QoS::AtMostOnce, true)),
        now,
    );
    assert_eq!(r.next_deadline(), Some(now + Duration::from_secs(5)));
    let mut inbox = connect(&mut r, "c", 1, true, now);
    subscribe(&mut r, "c", &["a/b"], 10, now);
    let got = drain(&mut inbox);
    assert_eq!(deliveries(&got).len(), 1);
    r.handle_timers(now + Duration::from_secs(5));
    assert_eq!(r.retained.len(), 1, "swept at its time");
    assert_eq!(r.next_deadline(), None);
    subscribe(&mut r, "c", &["a/b"], 10, now + Duration::from_secs(6));
    assert!(deliveries(&drain(&mut inbox)).is_empty());
}

#[test]
fn retained_bytes_and_count_are_capped() {
    let now = SystemTime::now();
    let mut s = settings();
    let one = message("k/0", "0123456789", QoS::AtMostOnce, true).footprint();
    s.retain.max_bytes = 3 * one;
    let mut r = router(s);
    for i in 0..5 {
        r.handle(
            RouterCmd::Publish(message(
                &format!("k/{i}"),
                "0123456789",
                QoS::AtMostOnce,
                true,
            )),
            now,
        );
    }
    assert_eq!(r.retained.len(), 3);
    assert!(r.retained.bytes() <= 3 * one);
    // Replacing one in place fits; clearing one makes room.
    r.handle(
        RouterCmd::Publish(message("k/0", "9876543210", QoS::AtMostOnce, true)),
        now,
    );
    r.handle(
        RouterCmd::Publish(message("k/1", "", QoS::AtMostOnce, true)),
        now,
    );
    r.handle(
        RouterCmd::Publish(message("k/4", "0123456789", QoS::AtMostOnce, true)),
        now,
    );
    assert_eq!(r.retained.len(), 3);
    assert_eq!(r.retained.bytes(), 3 * one);
}

#[test]
fn subscriptions_per_client_are_capped() {
    let now = SystemTime::now();
    let mut s = settings();
    s.max_subscriptions = 2;
    let mut r = router(s);
    let mut inbox = connect(&mut r, "c", 1, true, now);
    subscribe(&mut r, "c", &["a", "b", "c", "a"], 0, now);
    let codes = suback_codes(&drain(&mut inbox));
    use ReasonCode::*;
    assert_eq!(
        codes,
        [GrantedQoS1, GrantedQoS1, QuotaExceeded, GrantedQoS1]
    );
    assert_eq!(r.subs.of_client("c"), 2);
}

#[test]
fn plain_and_exclusive_on_one_filter_are_two_subscriptions() {
    let now = SystemTime::now();
    let mut r = router(settings());
    let mut c1 = connect(&mut r, "c1", 1, true, now);
    let mut c2 = connect(&mut r, "c2", 2, true, now);
    subscribe(&mut r, "c1", &["$exclusive/t", "t"], 0, now);
    r.handle(
        RouterCmd::Unsubscribe {
            client_id: "c1".into(),
            packet_id: starling_codec::PacketId::new(2).expect("id"),
            filters: vec![Ok(
                SubscriptionTarget::parse("t", &TopicLimits::default()).expect("filter")
            )],
        },
        now,
    );
    assert_eq!(r.subs.exclusive_holder("t").map(|h| &**h), Some("c1"));
    subscribe(&mut r, "c2", &["$exclusive/t"], 0, now);
    assert_eq!(suback_codes(&drain(&mut c2)), [ReasonCode::QuotaExceeded]);
    drain(&mut c1);
    r.handle(
        RouterCmd::Publish(message("t", "x", QoS::AtMostOnce, false)),
        now,
    );
    assert_eq!(
        deliveries(&drain(&mut c1)).len(),
        1,
        "the exclusive one still delivers"
    );
    r.handle(
        RouterCmd::SessionEnded {
            client_id: "c1".into(),
            conn_id: 1,
            redispatch: Vec::new(),
        },
        now,
    );
    assert!(
        r.subs.exclusive_holder("t").is_none(),
        "released with the session"
    );
}

#[test]
fn shared_groups_take_turns_and_skip_offline_members() {
    let now = SystemTime::now();
    let mut r = router(settings());
    let mut inboxes: Vec<Inbox> = (0..3)
        .map(|i| connect(&mut r, &format!("m{i}"), i, true, now))
        .collect();
    for i in 0..3 {
        subscribe(&mut r, &format!("m{i}"), &["$share/g/jobs"], 0, now);
    }
    let m2 = inboxes.pop().expect("m2");
    r.handle(offline("m2", 2, m2, None), now);
    for _ in 0..10 {
        r.handle(
            RouterCmd::Publish(message("jobs", "j", QoS::AtLeastOnce, false)),
            now,
        );
    }
    let counts: Vec<usize> = inboxes
        .iter_mut()
        .map(|inbox| deliveries(&drain(inbox)).len())
        .collect();
    assert_eq!(counts, [5, 5], "round robin over the online members");
}

#[test]
fn delayed_messages_fire_at_their_time() {
    let now = SystemTime::now();
    let mut r = router(settings());
    let mut inbox = connect(&mut r, "c", 1, true, now);
    subscribe(&mut r, "c", &["later"], 0, now);
    drain(&mut inbox);
    r.handle(
        RouterCmd::Publish(message("$delayed/10/later", "x", QoS::AtMostOnce, false)),
        now,
    );
    assert_eq!(r.next_deadline(), Some(now + Duration::from_secs(10)));
    r.handle_timers(now + Duration::from_secs(9));
    assert!(deliveries(&drain(&mut inbox)).is_empty());
    r.handle_timers(now + Duration::from_secs(10));
    let got = drain(&mut inbox);
    assert_eq!(deliveries(&got)[0].message.topic.as_str(), "later");
}

#[test]
fn a_takeover_tells_the_old_session_whether_the_new_one_starts_clean() {
    let now = SystemTime::now();
    let mut r = router(settings());
    for (clean, conn) in [(false, 2), (true, 3)] {
        let mut old = connect(&mut r, "c", conn - 1, false, now);
        drain(&mut old);
        let _new = connect(&mut r, "c", conn, clean, now);
        let msgs = drain(&mut old);
        assert!(
            msgs.iter().any(|m| matches!(
                m,
                SessionMsg::Control(SessionControl::Takeover { clean_start, .. })
                    if *clean_start == clean
            )),
            "clean start {clean}"
        );
    }
}
