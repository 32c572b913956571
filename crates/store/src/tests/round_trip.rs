//! Every record kind through commit, close and open again.

use std::sync::Arc;

use starling_codec::QoS;
use starling_topic::{SubscriptionTarget, TopicFilter};

use super::*;
use crate::RecoveredSession;

#[test]
fn every_record_kind_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (store, recovered) = open(dir.path());
    assert!(recovered.sessions.is_empty() && recovered.damage.is_clean());

    let shared = SubscriptionTarget::Shared {
        group: "g1".to_owned(),
        filter: TopicFilter::new("s/#").unwrap(),
    };
    let exclusive = SubscriptionTarget::Exclusive(TopicFilter::new("x/1").unwrap());
    let mut batch = store.batch();
    batch.put_session("c1", &session_record(true));
    batch.put_session("c2", &session_record(false));
    batch.put_subscription("c1", &plain("a/+"), &options(QoS::AtLeastOnce), Some(7));
    batch.put_subscription("c1", &shared, &options(QoS::ExactlyOnce), None);
    batch.put_subscription("c1", &exclusive, &options(QoS::AtMostOnce), Some(1));
    for seq in [3, 4, 5] {
        batch.put_queued("c1", seq, &delivery(&format!("m{seq}")));
    }
    batch.put_inflight("c1", 3, 100, false);
    batch.put_inflight("c1", 6, 101, true); // released; its queue entry is gone
    batch.put_awaiting_rel("c2", 9);
    batch.put_awaiting_rel("c2", 2);
    batch.put_retained(&message("r/1", "one"));
    batch.put_retained(&message("r/2", "two"));
    batch.put_delayed(at(2_000), 5, &message("d/1", "later"));
    batch.put_delayed(at(1_000), 8, &message("d/2", "sooner"));
    assert_eq!(batch.len(), 16);
    let ticket = batch.commit().unwrap();
    wait_durable(&store, ticket);
    drop(store);

    let (store, recovered) = open(dir.path());
    assert!(recovered.damage.is_clean(), "{:?}", recovered.damage);
    let c1 = RecoveredSession {
        client_id: Arc::from("c1"),
        record: session_record(true),
        subscriptions: vec![
            (plain("a/+"), options(QoS::AtLeastOnce), Some(7)),
            (shared, options(QoS::ExactlyOnce), None),
            (exclusive, options(QoS::AtMostOnce), Some(1)),
        ],
        queued: 3,
        queued_bytes: recovered.sessions[0].queued_bytes,
        first_seq: 3,
        next_seq: 7,
    };
    assert!(c1.queued_bytes > 0);
    assert_eq!(recovered.sessions[0], c1);
    let c2 = &recovered.sessions[1];
    assert_eq!(&*c2.client_id, "c2");
    assert_eq!(c2.record, session_record(false));
    assert_eq!((c2.queued, c2.first_seq, c2.next_seq), (0, 1, 1));
    assert_eq!(
        recovered.retained,
        vec![message("r/1", "one"), message("r/2", "two")]
    );
    assert_eq!(
        recovered.delayed,
        vec![
            (at(1_000), 8, message("d/2", "sooner")),
            (at(2_000), 5, message("d/1", "later")),
        ]
    );
    assert_eq!(recovered.next_delayed_id, 9);
    let queue = store.read_queue("c1", 0, 10).unwrap();
    let expected: Vec<_> = [3, 4, 5]
        .into_iter()
        .map(|seq| Delivery {
            stored: seq,
            ..delivery(&format!("m{seq}"))
        })
        .collect();
    assert_eq!(queue, expected);
    assert_eq!(store.read_awaiting_rel("c2").unwrap(), vec![2, 9]);

    // Deletes survive a reopen too.
    let mut batch = store.batch();
    batch.delete_retained("r/1");
    batch.delete_delayed(at(1_000), 8);
    batch.delete_subscription("c1", &plain("a/+"));
    batch.delete_queued("c1", 3);
    batch.delete_awaiting_rel("c2", 9);
    wait_durable(&store, batch.commit().unwrap());
    drop(store);
    let (store, recovered) = open(dir.path());
    assert_eq!(recovered.retained, vec![message("r/2", "two")]);
    assert_eq!(recovered.delayed.len(), 1);
    assert_eq!(recovered.sessions[0].subscriptions.len(), 2);
    assert_eq!(recovered.sessions[0].first_seq, 4);
    assert_eq!(store.read_awaiting_rel("c2").unwrap(), vec![2]);
    let inflight = store.read_inflight("c1").unwrap();
    assert_eq!(
        inflight.len(),
        1,
        "delete_queued removed the inflight record of seq 3"
    );
    assert_eq!(inflight[0].seq, 6);
}

#[test]
fn the_last_operation_on_a_key_in_a_batch_wins() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    write_client(&store, "c", 2);
    let mut batch = store.batch();
    batch.delete_session("c").unwrap();
    batch.put_session("c", &session_record(true));
    batch.put_queued("c", 1, &delivery("new"));
    wait_durable(&store, batch.commit().unwrap());
    drop(store);
    let (store, recovered) = open(dir.path());
    assert_eq!(recovered.sessions.len(), 1);
    assert_eq!(recovered.sessions[0].record, session_record(true));
    assert!(recovered.sessions[0].subscriptions.is_empty());
    assert_eq!(recovered.sessions[0].queued, 1);
    assert_eq!(
        store.read_queue("c", 0, 10).unwrap()[0].message.payload,
        "new"
    );
    assert!(store.read_awaiting_rel("c").unwrap().is_empty());
}

#[test]
fn delete_session_spares_a_client_whose_id_is_a_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    write_client(&store, "a", 3);
    write_client(&store, "ab", 3);
    let mut batch = store.batch();
    batch.delete_session("ab").unwrap();
    wait_durable(&store, batch.commit().unwrap());
    assert!(store.read_queue("ab", 0, 10).unwrap().is_empty());
    assert!(store.read_inflight("ab").unwrap().is_empty());
    assert!(store.read_awaiting_rel("ab").unwrap().is_empty());
    assert_eq!(store.read_queue("a", 0, 10).unwrap().len(), 3);
    drop(store);
    let (store, recovered) = open(dir.path());
    assert!(
        recovered.damage.is_clean(),
        "no orphans: {:?}",
        recovered.damage
    );
    assert_eq!(recovered.sessions.len(), 1);
    let a = &recovered.sessions[0];
    assert_eq!(
        (&*a.client_id, a.queued, a.subscriptions.len()),
        ("a", 3, 1)
    );
    assert_eq!(store.read_inflight("a").unwrap().len(), 1);
    assert_eq!(store.read_awaiting_rel("a").unwrap(), vec![42]);

    // Deleting "a" spares nothing of "ab" (already gone) and removes all of "a".
    let mut batch = store.batch();
    batch.delete_session("a").unwrap();
    wait_durable(&store, batch.commit().unwrap());
    drop(store);
    let (_store, recovered) = open(dir.path());
    assert!(recovered.sessions.is_empty() && recovered.damage.is_clean());
}

#[test]
fn admin_records_survive_a_reopen_and_can_be_removed() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (store, _) = open(dir.path());
        let mut batch = store.batch();
        batch.put_admin(b"user/admin", b"{\"v\":1}");
        batch.put_admin(b"key/ci", b"{\"v\":2}");
        batch.put_admin(b"user/gone", b"x");
        batch.commit().unwrap();
        let mut batch = store.batch();
        batch.delete_admin(b"user/gone");
        batch.commit().unwrap();
    }
    let (_store, recovered) = open(dir.path());
    assert_eq!(
        recovered.admin,
        vec![
            (b"key/ci".to_vec(), b"{\"v\":2}".to_vec()),
            (b"user/admin".to_vec(), b"{\"v\":1}".to_vec()),
        ]
    );
    assert!(recovered.damage.is_clean());
}

#[test]
fn builtin_users_and_rules_survive_a_reopen_and_their_deletes_too() {
    use crate::{AclAction, AclRuleRecord, AclWho, UserRecord};
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    let user = |name: &str, superuser: bool| UserRecord {
        username: name.into(),
        password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1$salt${name}"),
        is_superuser: superuser,
        created_at: at(5_000),
        scram: Vec::new(),
    };
    let rule = |id: u64, who: AclWho| AclRuleRecord {
        id,
        who,
        action: AclAction::Publish,
        allow: id % 2 == 0,
        topic: format!("t/{id}/#"),
        eq: false,
    };
    let mut batch = store.batch();
    batch.put_auth_user(&user("bob", false));
    batch.put_auth_user(&user("alice", true));
    // Ids sort as numbers, not as text: 256 after 2.
    batch.put_auth_rule(&rule(256, AclWho::All));
    batch.put_auth_rule(&rule(2, AclWho::Username("alice".into())));
    batch.put_auth_rule(&rule(
        3,
        AclWho::Network {
            addr: "10.0.0.0".parse().unwrap(),
            prefix: 8,
        },
    ));
    wait_durable(&store, batch.commit().unwrap());
    drop(store);

    let (store, recovered) = open(dir.path());
    assert!(recovered.damage.is_clean(), "{:?}", recovered.damage);
    assert_eq!(
        recovered.auth_users,
        vec![user("alice", true), user("bob", false)]
    );
    let ids: Vec<u64> = recovered.auth_acl.iter().map(|r| r.id).collect();
    assert_eq!(ids, vec![2, 3, 256]);
    assert_eq!(
        recovered.auth_acl[0],
        rule(2, AclWho::Username("alice".into()))
    );

    let mut batch = store.batch();
    batch.delete_auth_user("bob");
    batch.delete_auth_rule(3);
    wait_durable(&store, batch.commit().unwrap());
    drop(store);
    let (_store, recovered) = open(dir.path());
    assert_eq!(recovered.auth_users, vec![user("alice", true)]);
    let ids: Vec<u64> = recovered.auth_acl.iter().map(|r| r.id).collect();
    assert_eq!(ids, vec![2, 256]);
}
