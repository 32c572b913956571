//! Modules as the router sees them: each switch read per message, the rewrite rules and the
//! auto-subscribe topics it is handed, clearing what it holds.

use super::command::{ModuleOrder, RouterCmd};
use super::tests::{connect, deliveries, drain, message, router, settings, subscribe};
use crate::modules::auto_subscribe::AutoSubscribe;
use crate::modules::rewrite::Rewriter;
use starling_codec::QoS;
use starling_config::{AutoSubscribeTopic, RewriteAction, RewriteRule};
use starling_core::Switch;
use starling_topic::{SubscriptionTarget, TopicLimits};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::oneshot;

fn topics(msgs: &[crate::mailbox::SessionMsg]) -> Vec<String> {
    deliveries(msgs)
        .iter()
        .map(|d| d.message.topic.as_str().to_owned())
        .collect()
}

#[test]
fn delayed_off_routes_delayed_topics_as_they_are_and_keeps_what_it_holds() {
    let now = SystemTime::now();
    let s = settings();
    let switches = Arc::clone(&s.switches);
    let mut r = router(s);
    let mut inbox = connect(&mut r, "c", 1, true, now);
    subscribe(&mut r, "c", &["later", "$delayed/#"], 0, now);
    drain(&mut inbox);
    let publish = |t: &str| RouterCmd::Publish(message(t, "x", QoS::AtMostOnce, false));
    r.handle(publish("$delayed/10/later"), now);
    switches.set(Switch::Delayed, false);
    r.handle(publish("$delayed/10/later"), now);
    assert_eq!(topics(&drain(&mut inbox)), ["$delayed/10/later"]);
    r.handle_timers(now + Duration::from_secs(10));
    assert_eq!(
        topics(&drain(&mut inbox)),
        ["later"],
        "the held one still fires"
    );
}

#[test]
fn retainer_off_stores_nothing_new_and_clear_drops_what_is_held() {
    let now = SystemTime::now();
    let s = settings();
    let switches = Arc::clone(&s.switches);
    let mut r = router(s);
    r.handle(
        RouterCmd::Publish(message("old", "1", QoS::AtMostOnce, true)),
        now,
    );
    switches.set(Switch::Retainer, false);
    r.handle(
        RouterCmd::Publish(message("new", "2", QoS::AtMostOnce, true)),
        now,
    );
    assert_eq!(r.retained.len(), 1);
    let (tx, mut rx) = oneshot::channel();
    r.handle(RouterCmd::Modules(ModuleOrder::ClearRetained(tx)), now);
    assert_eq!(rx.try_recv(), Ok(false));
    assert_eq!(r.retained.len(), 0);
}

#[test]
fn clear_delayed_drops_every_held_message() {
    let now = SystemTime::now();
    let mut r = router(settings());
    for _ in 0..3 {
        let m = message("$delayed/5/t", "x", QoS::AtMostOnce, false);
        r.handle(RouterCmd::Publish(m), now);
    }
    let (tx, mut rx) = oneshot::channel();
    r.handle(RouterCmd::Modules(ModuleOrder::ClearDelayed(tx)), now);
    assert_eq!(rx.try_recv(), Ok(false));
    assert_eq!(r.next_deadline(), None);
}

#[test]
fn sys_off_stops_client_events() {
    let now = SystemTime::now();
    let mut s = settings();
    s.client_events = true;
    let switches = Arc::clone(&s.switches);
    let mut r = router(s);
    let mut watcher = connect(&mut r, "w", 1, true, now);
    subscribe(&mut r, "w", &["$SYS/#"], 0, now);
    drain(&mut watcher);
    connect(&mut r, "a", 2, true, now);
    assert_eq!(topics(&drain(&mut watcher)).len(), 1);
    switches.set(Switch::Sys, false);
    connect(&mut r, "b", 3, true, now);
    assert!(topics(&drain(&mut watcher)).is_empty());
}

#[test]
fn rewrite_applies_to_publish_subscribe_and_unsubscribe() {
    let now = SystemTime::now();
    let mut r = router(settings());
    let rule = RewriteRule {
        action: RewriteAction::All,
        source_topic: "x/#".into(),
        re: "^x/(.+)$".into(),
        dest_topic: "y/$1".into(),
    };
    let rules = Rewriter::compile(&[rule], "config").expect("valid");
    r.handle(
        RouterCmd::Modules(ModuleOrder::Rewrite(Arc::new(rules))),
        now,
    );
    let mut inbox = connect(&mut r, "c", 1, true, now);
    subscribe(&mut r, "c", &["x/#"], 0, now);
    drain(&mut inbox);
    assert_eq!(r.subs.of_client("c"), 1);
    let held: Vec<String> = r
        .subs
        .of("c")
        .iter()
        .map(|t| t.filter().to_string())
        .collect();
    assert_eq!(held, ["y/#"]);
    r.handle(
        RouterCmd::Publish(message("x/a", "1", QoS::AtMostOnce, false)),
        now,
    );
    r.handle(
        RouterCmd::Publish(message("y/b", "2", QoS::AtMostOnce, false)),
        now,
    );
    assert_eq!(topics(&drain(&mut inbox)), ["y/a", "y/b"]);
    let filter = SubscriptionTarget::parse("x/#", &TopicLimits::default()).expect("filter");
    r.handle(
        RouterCmd::Unsubscribe {
            client_id: "c".into(),
            packet_id: starling_codec::PacketId::new(2).expect("id"),
            filters: vec![Ok(filter)],
        },
        now,
    );
    assert_eq!(r.subs.of_client("c"), 0, "unsubscribing x/# removed y/#");
}

#[test]
fn auto_subscribe_subscribes_each_client_at_connect() {
    let now = SystemTime::now();
    let mut r = router(settings());
    let topic = AutoSubscribeTopic {
        topic: "dev/${clientid}/${username}".into(),
        qos: 1,
        nl: false,
        rap: false,
        rh: 0,
    };
    let auto = AutoSubscribe::compile(&[topic], "config", &TopicLimits::default()).expect("valid");
    r.handle(
        RouterCmd::Modules(ModuleOrder::AutoSubscribe(Arc::new(auto))),
        now,
    );
    let mut inbox = connect(&mut r, "c", 1, true, now);
    drain(&mut inbox);
    r.handle(
        RouterCmd::Publish(message("dev/c/user-c", "x", QoS::AtLeastOnce, false)),
        now,
    );
    let got = drain(&mut inbox);
    assert_eq!(topics(&got), ["dev/c/user-c"]);
    assert_eq!(deliveries(&got)[0].qos, QoS::AtLeastOnce);
}
