//! The reads a returning session makes.

use super::*;

#[test]
fn read_queue_honours_from_and_limit() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    write_client(&store, "c", 10);
    write_client(&store, "c2", 2);
    let seqs = |from, limit| -> Vec<u64> {
        store
            .read_queue("c", from, limit)
            .unwrap()
            .iter()
            .map(|d| d.stored)
            .collect()
    };
    assert_eq!(seqs(0, 100), (1..=10).collect::<Vec<_>>());
    assert_eq!(seqs(4, 3), vec![4, 5, 6]);
    assert_eq!(seqs(9, 100), vec![9, 10]);
    assert_eq!(seqs(11, 100), Vec::<u64>::new());
    assert_eq!(seqs(1, 0), Vec::<u64>::new());
    let d = &store.read_queue("c", 7, 1).unwrap()[0];
    assert_eq!(
        d,
        &Delivery {
            stored: 7,
            ..delivery("c-7")
        }
    );
    assert!(store.read_queue("nobody", 0, 10).unwrap().is_empty());
}

#[test]
fn read_inflight_joins_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    write_client(&store, "c", 3);
    let mut batch = store.batch();
    batch.put_inflight("c", 2, 11, false);
    batch.put_inflight("c", 3, 12, true);
    batch.delete_queued("c", 1);
    commit_and_wait(&store, batch);
    // Released: the queue entry goes, the inflight record stays.
    let mut batch = store.batch();
    batch.put_inflight("c", 3, 12, true);
    commit_and_wait(&store, batch);
    let mut batch = store.batch();
    batch.put_inflight("c", 1, 10, false); // queue entry 1 was deleted
    commit_and_wait(&store, batch);
    let records = store.read_inflight("c").unwrap();
    let view: Vec<_> = records
        .iter()
        .map(|r| {
            (
                r.seq,
                r.packet_id,
                r.released,
                r.delivery.as_ref().map(|d| d.stored),
            )
        })
        .collect();
    assert_eq!(
        view,
        vec![
            (1, 10, false, None),
            (2, 11, false, Some(2)),
            (3, 12, true, Some(3))
        ]
    );
    assert_eq!(
        records[1].delivery,
        Some(Delivery {
            stored: 2,
            ..delivery("c-2")
        })
    );
    assert!(store.read_inflight("c2").unwrap().is_empty());
}

fn commit_and_wait(store: &Store, batch: crate::Batch) {
    let ticket = batch.commit().unwrap();
    wait_durable(store, ticket);
}

#[test]
fn a_key_too_long_fails_the_commit() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    let mut batch = store.batch();
    batch.put_retained(&message("fine", "x"));
    batch.put_subscription(
        &"c".repeat(65_535),
        &plain(&"a".repeat(60_000)),
        &options(starling_codec::QoS::AtMostOnce),
        None,
    );
    assert!(matches!(
        batch.commit(),
        Err(crate::StoreError::KeyTooLong { .. })
    ));
    assert_eq!(store.stats().written, 0, "nothing of the batch was written");
}
