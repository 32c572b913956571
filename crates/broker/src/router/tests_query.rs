//! The management queries against the router state machine: pages, cursors, filters, the
//! bound on work per call, retained reads and deletes, discarding a session.

use super::command::{RouterCmd, SessionControl};
use super::query::Query;
use super::tests::{connect, drain, message, offline, router, settings, subscribe};
use crate::clients::{ClientFilter, Page, SubscriptionFilter, TopicFilterQuery, SCAN_LIMIT};
use crate::mailbox::SessionMsg;
use starling_codec::QoS;
use starling_topic::{SubscriptionTarget, TopicFilter};
use std::sync::Arc;
use std::time::SystemTime;
use tokio::sync::oneshot;

fn ask<T>(
    r: &mut super::Router,
    now: SystemTime,
    q: impl FnOnce(oneshot::Sender<T>) -> Query,
) -> T {
    let (tx, mut rx) = oneshot::channel();
    r.handle(RouterCmd::Query(Box::new(q(tx))), now);
    rx.try_recv().expect("answered in the same turn")
}

fn clients(
    r: &mut super::Router,
    after: Option<&str>,
    limit: usize,
    filter: ClientFilter,
) -> Page<crate::clients::ClientRow, Arc<str>> {
    ask(r, SystemTime::UNIX_EPOCH, |reply| Query::Clients {
        after: after.map(Arc::from),
        limit,
        filter,
        reply,
    })
}

#[test]
fn clients_come_in_pages_in_id_order_until_the_last() {
    let now = SystemTime::UNIX_EPOCH;
    let mut r = router(settings());
    let _inboxes: Vec<_> = ["c", "a", "e", "b", "d"]
        .iter()
        .enumerate()
        .map(|(i, id)| connect(&mut r, id, i as u64 + 1, true, now))
        .collect();
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = clients(&mut r, after.as_deref(), 2, ClientFilter::default());
        assert!(page.items.len() <= 2);
        seen.extend(page.items.iter().map(|row| row.client_id.to_string()));
        match page.next {
            Some(next) => after = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, ["a", "b", "c", "d", "e"]);
    let row = &clients(&mut r, None, 1, ClientFilter::default()).items[0];
    assert!(row.connected);
    assert_eq!(
        row.info.as_ref().and_then(|i| i.username.as_deref()),
        Some("user-a")
    );
}

#[test]
fn a_filtered_page_stops_after_the_scan_limit_and_says_where_to_go_on() {
    let now = SystemTime::UNIX_EPOCH;
    let mut r = router(settings());
    let total = SCAN_LIMIT + 10;
    let mut inboxes = Vec::with_capacity(total);
    for i in 0..total {
        inboxes.push(connect(
            &mut r,
            &format!("c{i:06}"),
            i as u64 + 1,
            true,
            now,
        ));
    }
    // Only the very last client matches: the first call looks at SCAN_LIMIT and stops.
    let filter = ClientFilter {
        client_id: Some(format!("c{:06}", total - 1)),
        ..ClientFilter::default()
    };
    let first = clients(&mut r, None, 10, filter.clone());
    assert!(first.items.is_empty());
    let next = first.next.expect("more to scan");
    let second = clients(&mut r, Some(&next), 10, filter);
    assert_eq!(second.items.len(), 1);
    assert!(second.next.is_none());
}

#[test]
fn offline_sessions_are_listed_as_disconnected_and_discarding_ends_them() {
    let now = SystemTime::UNIX_EPOCH;
    let mut r = router(settings());
    let inbox = connect(&mut r, "p", 1, false, now);
    r.handle(offline("p", 1, inbox, None), now);
    let _online = connect(&mut r, "q", 2, true, now);
    let offline_only = ClientFilter {
        connected: Some(false),
        ..ClientFilter::default()
    };
    let page = clients(&mut r, None, 10, offline_only);
    assert_eq!(page.items.len(), 1);
    assert_eq!(&*page.items[0].client_id, "p");

    let known = ask(&mut r, now, |reply| Query::Discard {
        client_id: "p".into(),
        reply,
    });
    assert!(known);
    let gone = ask(&mut r, now, |reply| Query::Client {
        client_id: "p".into(),
        reply,
    });
    assert!(gone.is_none(), "the offline session ended");
    let unknown = ask(&mut r, now, |reply| Query::Discard {
        client_id: "nobody".into(),
        reply,
    });
    assert!(!unknown);
}

#[test]
fn discarding_a_connected_client_tells_its_session() {
    let now = SystemTime::UNIX_EPOCH;
    let mut r = router(settings());
    let mut inbox = connect(&mut r, "c", 1, false, now);
    drain(&mut inbox);
    assert!(ask(&mut r, now, |reply| Query::Discard {
        client_id: "c".into(),
        reply,
    }));
    let msgs = drain(&mut inbox);
    assert!(msgs
        .iter()
        .any(|m| matches!(m, SessionMsg::Control(SessionControl::Discarded))));
}

#[test]
fn subscriptions_page_across_clients_and_filter_by_topic_match() {
    let now = SystemTime::UNIX_EPOCH;
    let mut r = router(settings());
    let _a = connect(&mut r, "a", 1, true, now);
    let _b = connect(&mut r, "b", 2, true, now);
    subscribe(&mut r, "a", &["x/1", "x/+", "$share/g/y"], 0, now);
    subscribe(&mut r, "b", &["x/#", "z"], 0, now);
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = ask(&mut r, now, |reply| Query::Subscriptions {
            after: after.clone(),
            limit: 2,
            filter: SubscriptionFilter::default(),
            reply,
        });
        seen.extend(
            page.items
                .iter()
                .map(|s| format!("{}:{}", s.client_id, s.topic)),
        );
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    // In each client's target order: plain filters, then shared, then exclusive.
    assert_eq!(seen, ["a:x/+", "a:x/1", "a:$share/g/y", "b:x/#", "b:z"]);
    let matching = ask(&mut r, now, |reply| Query::Subscriptions {
        after: None,
        limit: 100,
        filter: SubscriptionFilter {
            match_topic: Some("x/1".into()),
            ..SubscriptionFilter::default()
        },
        reply,
    });
    let topics: Vec<_> = matching.items.iter().map(|s| s.topic.as_str()).collect();
    assert_eq!(topics, ["x/+", "x/1", "x/#"]);
    assert!(matching.items.iter().all(|s| s.qos == QoS::AtLeastOnce));
    let shared = ask(&mut r, now, |reply| Query::Subscriptions {
        after: None,
        limit: 100,
        filter: SubscriptionFilter {
            share_group: Some("g".into()),
            ..SubscriptionFilter::default()
        },
        reply,
    });
    assert_eq!(shared.items.len(), 1);
    assert_eq!(shared.items[0].filter, "y");
}

#[test]
fn topics_list_each_subscribed_filter_once_in_order_and_leave_with_the_last_subscriber() {
    let now = SystemTime::UNIX_EPOCH;
    let mut r = router(settings());
    let _a = connect(&mut r, "a", 1, true, now);
    let _b = connect(&mut r, "b", 2, true, now);
    subscribe(&mut r, "a", &["x/1", "x/+", "$share/g/y"], 0, now);
    subscribe(
        &mut r,
        "b",
        &["x/1", "$share/g/y", "$share/h/y", "z"],
        0,
        now,
    );
    let topics = |r: &mut super::Router, filter: TopicFilterQuery| {
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = ask(r, now, |reply| Query::Topics {
                after: after.clone(),
                limit: 2,
                filter: filter.clone(),
                reply,
            });
            seen.extend(
                page.items
                    .iter()
                    .map(|t| format!("{}:{}", t.topic, t.subscribers)),
            );
            match page.next {
                Some(next) => after = Some(next),
                None => break seen,
            }
        }
    };
    // x/1 has two clients; y has two groups (g's two members count once).
    assert_eq!(
        topics(&mut r, TopicFilterQuery::default()),
        ["x/+:1", "x/1:2", "y:2", "z:1"]
    );
    let matching = TopicFilterQuery {
        match_topic: Some("x/1".into()),
        ..TopicFilterQuery::default()
    };
    assert_eq!(topics(&mut r, matching), ["x/+:1", "x/1:2"]);
    let one = TopicFilterQuery {
        topic: Some("y".into()),
        ..TopicFilterQuery::default()
    };
    assert_eq!(topics(&mut r, one), ["y:2"]);
    r.handle(
        RouterCmd::Unsubscribe {
            client_id: Arc::from("b"),
            packet_id: starling_codec::PacketId::new(9).expect("id"),
            filters: vec![Ok(SubscriptionTarget::parse(
                "z",
                &starling_topic::TopicLimits::default(),
            )
            .expect("filter"))],
        },
        now,
    );
    assert_eq!(
        topics(&mut r, TopicFilterQuery::default()),
        ["x/+:1", "x/1:2", "y:2"]
    );
    r.update_gauges();
    assert_eq!(crate::metrics::Metrics::get(&r.metrics.topics), 3);
}

#[test]
fn retained_messages_page_in_topic_order_and_delete_without_delivery() {
    let now = SystemTime::UNIX_EPOCH;
    let mut r = router(settings());
    for t in ["r/b", "r/a", "r/c", "other"] {
        r.handle(
            RouterCmd::Publish(message(t, "v", QoS::AtMostOnce, true)),
            now,
        );
    }
    let all = TopicFilter::new("r/#").expect("filter");
    let page = ask(&mut r, now, |reply| Query::Retained {
        after: None,
        limit: 2,
        filter: all.clone(),
        reply,
    });
    let topics: Vec<_> = page
        .items
        .iter()
        .map(|m| m.message.topic.as_str())
        .collect();
    assert_eq!(topics, ["r/a", "r/b"]);
    let rest = ask(&mut r, now, |reply| Query::Retained {
        after: page.next.clone(),
        limit: 2,
        filter: all,
        reply,
    });
    assert_eq!(rest.items.len(), 1);
    assert!(rest.next.is_none());

    let mut sub = connect(&mut r, "s", 9, true, now);
    subscribe(&mut r, "s", &["r/a"], 0, now);
    drain(&mut sub);
    assert!(ask(&mut r, now, |reply| Query::RetainedDelete {
        topic: "r/a".into(),
        reply,
    }));
    assert!(drain(&mut sub).is_empty(), "a delete delivers nothing");
    assert!(ask(&mut r, now, |reply| Query::RetainedGet {
        topic: "r/a".into(),
        reply,
    })
    .is_none());
    assert!(!ask(&mut r, now, |reply| Query::RetainedDelete {
        topic: "r/a".into(),
        reply,
    }));
}

#[test]
fn one_client_with_more_subscriptions_than_the_scan_limit_is_paged_through_once() {
    let now = SystemTime::UNIX_EPOCH;
    let mut r = router(super::RouterSettings {
        max_subscriptions: 0,
        ..settings()
    });
    let _c = connect(&mut r, "big", 1, true, now);
    let total = SCAN_LIMIT + 50;
    let filters: Vec<String> = (0..total).map(|i| format!("t/{i:06}")).collect();
    for chunk in filters.chunks(1000) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        subscribe(&mut r, "big", &refs, 0, now);
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut after = None;
    let mut calls = 0;
    loop {
        calls += 1;
        let page = ask(&mut r, now, |reply| Query::Subscriptions {
            after: after.clone(),
            limit: 1000,
            filter: SubscriptionFilter::default(),
            reply,
        });
        assert!(page.items.len() <= 1000);
        for s in page.items {
            assert!(seen.insert(s.topic), "listed twice");
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen.len(), total);
    assert_eq!(calls, total.div_ceil(1000));
}
