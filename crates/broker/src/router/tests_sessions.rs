//! Offline and stored sessions, driven without sockets: wills and expiry on injected wall
//! time, and a stored queue that stays on disk while the session is away and is streamed back
//! against credit when it returns.

use super::command::{RouterCmd, SessionControl};
use super::tests::{
    connect, deliveries, drain, message, offline, paused, router, settings, subscribe,
};
use crate::mailbox::{mailbox, SessionMsg};
use crate::metrics::Metrics;
use starling_codec::QoS;
use starling_core::{Message, MessageProperties, WillSpec};
use starling_topic::TopicName;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::oneshot;

fn will(delay_secs: u32) -> WillSpec {
    let topic = TopicName::new("will/c").expect("topic");
    WillSpec {
        message: Message {
            wire_topic: Message::wire_topic_of(&topic),
            topic,
            payload: bytes::Bytes::from_static(b"bye"),
            qos: QoS::AtLeastOnce,
            retain: false,
            properties: MessageProperties::default(),
            expires_at: None,
            publisher: Arc::from("c"),
        },
        expiry_interval: Some(600),
        delay_secs,
    }
}

/// The will delay and the session expiry are wall-clock deadlines of the router's (what the
/// store keeps): the will goes at its delay, the session ends at its expiry, no task waits.
#[test]
fn an_offline_session_sends_its_delayed_will_then_ends() {
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    let mut r = router(settings());
    let mut listener = connect(&mut r, "w", 1, true, t0);
    subscribe(&mut r, "w", &["will/#"], 10, t0);
    drain(&mut listener);
    let inbox = connect(&mut r, "c", 2, false, t0);
    r.handle(offline("c", 2, inbox, Some(will(30))), t0);
    assert_eq!(r.next_deadline(), Some(t0 + Duration::from_secs(30)));
    r.handle_timers(t0 + Duration::from_secs(29));
    assert!(deliveries(&drain(&mut listener)).is_empty(), "not before");
    r.handle_timers(t0 + Duration::from_secs(30));
    let got = drain(&mut listener);
    let wills = deliveries(&got);
    assert_eq!(wills.len(), 1);
    assert_eq!(wills[0].message.topic.as_str(), "will/c");
    assert!(r.registry.contains_key("c"), "the session lives on");
    assert_eq!(r.next_deadline(), Some(t0 + Duration::from_secs(60)));
    r.handle_timers(t0 + Duration::from_secs(60));
    assert!(!r.registry.contains_key("c"), "ended at its expiry");
    assert!(
        deliveries(&drain(&mut listener)).is_empty(),
        "the will went once"
    );
    assert_eq!(Metrics::get(&r.metrics.sessions), 1);
}

/// A new connection takes an offline session at once (no task to ask), and its delayed will
/// is cancelled.
#[test]
fn a_takeover_of_an_offline_session_cancels_its_delayed_will() {
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    let mut r = router(settings());
    let inbox = connect(&mut r, "c", 1, false, t0);
    r.handle(offline("c", 1, inbox, Some(will(30))), t0);
    let (tx, _rx) = mailbox();
    let (reply, mut connected) = oneshot::channel();
    let cmd = RouterCmd::Connect {
        peer: std::net::SocketAddr::from(([127, 0, 0, 1], 1)),
        client_id: "c".into(),
        conn_id: 2,
        clean_start: false,
        expiry_interval: 60,
        will: None,
        mailbox: tx,
        info: super::tests::info("c"),
        reply,
    };
    r.handle(cmd, t0);
    let mut connected = connected.try_recv().expect("answered at once");
    let previous = connected.previous.as_mut().expect("the offline session");
    assert!(previous.try_recv().is_ok(), "handed over at once");
    assert!(r.offline.is_empty());
    r.handle_timers(t0 + Duration::from_secs(60));
    assert!(r.registry.contains_key("c"), "online now: no expiry");
}

fn stored_router() -> (super::Router, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _) =
        starling_store::Store::open(&starling_store::StoreOptions::new(dir.path())).expect("store");
    (router(settings()).with_store(store), dir)
}

/// A stored session's QoS 1 messages stay in the store while it is away (none in memory), and
/// come back in order, against credit, behind a `Stream` marker, when it returns; then it
/// takes new ones live again.
#[test]
fn a_stored_queue_stays_on_disk_and_streams_back_against_credit() {
    let now = SystemTime::now();
    let (mut r, _dir) = stored_router();
    let inbox = connect(&mut r, "s", 1, false, now);
    subscribe(&mut r, "s", &["t"], 10, now);
    r.handle(offline("s", 1, inbox, None), now);
    r.flush();
    for i in 0..300 {
        let m = message("t", &format!("{i}"), QoS::AtLeastOnce, false);
        r.handle(RouterCmd::Publish(m), now);
        if i % 50 == 0 {
            r.flush();
        }
    }
    r.flush();
    assert_eq!(Metrics::get(&r.metrics.stored_messages), 300);
    assert!(
        r.offline
            .get("s")
            .is_some_and(|o| o.session.queue().is_empty()),
        "nothing in memory"
    );

    let (tx, mut inbox) = mailbox();
    let (reply, mut connected) = oneshot::channel();
    let cmd = RouterCmd::Connect {
        peer: std::net::SocketAddr::from(([127, 0, 0, 1], 1)),
        client_id: "s".into(),
        conn_id: 2,
        clean_start: false,
        expiry_interval: u32::MAX,
        will: None,
        mailbox: tx,
        info: super::tests::info("c"),
        reply,
    };
    r.handle(cmd, now);
    assert!(connected.try_recv().expect("answer").from_store);
    assert!(paused(&drain(&mut inbox)), "told its queue is owed");
    let resume = |credit, from| RouterCmd::Resume {
        client_id: "s".into(),
        conn_id: 2,
        credit,
        from,
    };
    r.handle(resume(100, Some(0)), now);
    let first = drain(&mut inbox);
    assert!(matches!(
        first[0],
        SessionMsg::Control(SessionControl::Stream)
    ));
    let got = deliveries(&first);
    assert_eq!(got.len(), 100, "no more than the credit");
    assert!(paused(&first), "more is owed");
    let mut payloads: Vec<String> = got
        .iter()
        .map(|d| String::from_utf8_lossy(&d.message.payload).into_owned())
        .collect();
    let seqs: Vec<u64> = got.iter().map(|d| d.stored).collect();
    assert_eq!(seqs, (1..=100).collect::<Vec<_>>());
    r.handle(resume(1000, None), now);
    let rest = drain(&mut inbox);
    assert!(!paused(&rest), "caught up");
    payloads.extend(
        deliveries(&rest)
            .iter()
            .map(|d| String::from_utf8_lossy(&d.message.payload).into_owned()),
    );
    let want: Vec<String> = (0..300).map(|i| i.to_string()).collect();
    assert_eq!(payloads, want, "every message once, in order");

    // Live again: a new message comes once its batch is committed.
    r.handle(
        RouterCmd::Publish(message("t", "live", QoS::AtLeastOnce, false)),
        now,
    );
    assert!(
        deliveries(&drain(&mut inbox)).is_empty(),
        "not before the commit"
    );
    r.flush();
    let live = drain(&mut inbox);
    assert_eq!(deliveries(&live).len(), 1);
    assert_eq!(deliveries(&live)[0].stored, 301);
}

/// A spill (the session's memory queue was full) makes the router stream from that place:
/// nothing is dropped, and the session's count of stored messages goes down as it reports.
#[test]
fn a_spill_streams_the_rest_from_the_store() {
    let now = SystemTime::now();
    let (mut r, _dir) = stored_router();
    let mut inbox = connect(&mut r, "s", 1, false, now);
    subscribe(&mut r, "s", &["t"], 10, now);
    r.flush();
    drain(&mut inbox);
    for i in 0..20 {
        let m = message("t", &format!("{i}"), QoS::AtLeastOnce, false);
        r.handle(RouterCmd::Publish(m), now);
    }
    r.flush();
    assert_eq!(deliveries(&drain(&mut inbox)).len(), 20, "live");
    // The session kept 1..=9 and spilled from 10.
    r.handle(
        RouterCmd::Spilled {
            client_id: "s".into(),
            conn_id: 1,
            seq: 10,
        },
        now,
    );
    r.handle(
        RouterCmd::Publish(message("t", "20", QoS::AtLeastOnce, false)),
        now,
    );
    r.flush();
    let after = drain(&mut inbox);
    assert!(deliveries(&after).is_empty(), "not live while spilled");
    assert!(paused(&after));
    r.handle(
        RouterCmd::Resume {
            client_id: "s".into(),
            conn_id: 1,
            credit: 100,
            from: None,
        },
        now,
    );
    let streamed = drain(&mut inbox);
    let seqs: Vec<u64> = deliveries(&streamed).iter().map(|d| d.stored).collect();
    assert_eq!(seqs, (10..=21).collect::<Vec<_>>());
    r.handle(
        RouterCmd::StoredDone {
            client_id: "s".into(),
            count: 21,
        },
        now,
    );
    assert_eq!(Metrics::get(&r.metrics.stored_messages), 0);
}
