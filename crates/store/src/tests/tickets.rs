//! Tickets and group commit.

use std::sync::mpsc;
use std::time::Duration;

use super::*;

#[test]
fn always_mode_makes_tickets_durable_after_an_fsync() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    assert_eq!(
        store.batch().commit().unwrap(),
        0,
        "an empty batch writes nothing"
    );
    let mut tickets = Vec::new();
    for i in 0..20 {
        let mut batch = store.batch();
        batch.put_retained(&message(&format!("t/{i}"), "x"));
        tickets.push(batch.commit().unwrap());
    }
    assert_eq!(tickets, (1..=20).collect::<Vec<_>>());
    assert_eq!(store.batch().commit().unwrap(), 20);
    let (tx, rx) = mpsc::channel();
    for &ticket in &tickets {
        let tx = tx.clone();
        let s = store.clone();
        store.when_durable(
            ticket,
            Box::new(move || {
                tx.send((ticket, s.is_durable(ticket))).unwrap();
            }),
        );
    }
    let mut fired: Vec<_> = (0..20)
        .map(|_| rx.recv_timeout(Duration::from_secs(30)).unwrap())
        .collect();
    fired.sort_unstable();
    assert!(fired.iter().all(|(_, durable)| *durable));
    assert_eq!(fired.len(), 20);
    let stats = store.stats();
    assert!(stats.syncs >= 1 && stats.syncs <= 20, "{stats:?}");
    assert_eq!((stats.written, stats.durable), (20, 20));
    // A durable ticket fires at once, on the caller's thread.
    let (tx, rx) = mpsc::channel();
    store.when_durable(5, Box::new(move || tx.send(()).unwrap()));
    rx.try_recv().expect("ran at once");
}

#[test]
fn commits_from_many_threads_share_fsyncs() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    let (tx, rx) = mpsc::channel();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let store = store.clone();
            let tx = tx.clone();
            std::thread::spawn(move || {
                for i in 0..50 {
                    let mut batch = store.batch();
                    batch.put_queued("c", t * 1000 + i, &delivery("x"));
                    let ticket = batch.commit().unwrap();
                    let tx = tx.clone();
                    store.when_durable(ticket, Box::new(move || tx.send(ticket).unwrap()));
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let mut got: Vec<_> = (0..200)
        .map(|_| rx.recv_timeout(Duration::from_secs(30)).unwrap())
        .collect();
    got.sort_unstable();
    assert_eq!(got, (1..=200).collect::<Vec<_>>());
    assert!(store.stats().syncs <= 200);
}

#[test]
fn interval_and_never_modes_count_commits_durable_at_once() {
    for mode in [Fsync::Interval(Duration::from_millis(5)), Fsync::Never] {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = open_mode(dir.path(), mode);
        assert_eq!(store.fsync(), mode);
        let mut batch = store.batch();
        batch.put_retained(&message("t", "x"));
        let ticket = batch.commit().unwrap();
        assert!(store.is_durable(ticket), "{mode:?}");
        assert_eq!(store.durable(), ticket);
        // A ticket not committed yet fires when a commit reaches it.
        let (tx, rx) = mpsc::channel();
        store.when_durable(ticket + 1, Box::new(move || tx.send(()).unwrap()));
        assert!(rx.try_recv().is_err());
        let mut batch = store.batch();
        batch.delete_retained("t");
        assert_eq!(batch.commit().unwrap(), ticket + 1);
        rx.try_recv().expect("fired by the commit");
        store.flush().unwrap();
        drop(store);
        let (_store, recovered) = open_mode(dir.path(), mode);
        assert!(recovered.retained.is_empty());
    }
}

#[test]
fn always_mode_waits_for_a_ticket_committed_later() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    let (tx, rx) = mpsc::channel();
    store.when_durable(1, Box::new(move || tx.send(()).unwrap()));
    assert!(rx.try_recv().is_err());
    let mut batch = store.batch();
    batch.put_retained(&message("t", "x"));
    assert_eq!(batch.commit().unwrap(), 1);
    rx.recv_timeout(Duration::from_secs(30)).unwrap();
}

#[test]
fn a_callback_may_drop_the_last_clone() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    let mut batch = store.batch();
    batch.put_retained(&message("t", "x"));
    let ticket = batch.commit().unwrap();
    let (tx, rx) = mpsc::channel();
    let last = store.clone();
    drop(store);
    let holder = last.clone();
    holder.when_durable(
        ticket,
        Box::new(move || {
            drop(last);
            tx.send(()).unwrap();
        }),
    );
    drop(holder);
    rx.recv_timeout(Duration::from_secs(30)).unwrap();
    // Closed on the sync thread, the store releases its lock when that thread ends, just
    // after the callback returns: nothing signals that moment, so poll (bounded) for it.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match Store::open(&StoreOptions::new(dir.path())) {
            Ok(_) => break,
            Err(crate::StoreError::Locked { .. }) if std::time::Instant::now() < deadline => {
                std::thread::yield_now();
            }
            Err(e) => panic!("{e}"),
        }
    }
}

/// In the child: commit in `Never` mode (no fsync at all) and abort, as `kill -9` would.
#[test]
fn kill_child() {
    let Some(dir) = std::env::var_os("STARLING_STORE_KILL_DIR") else {
        return;
    };
    let (store, _) = open_mode(Path::new(&dir), Fsync::Never);
    let mut batch = store.batch();
    batch.put_retained(&message("killed/before/exit", "x"));
    batch.commit().unwrap();
    std::process::abort();
}

#[test]
fn a_killed_process_loses_no_commit() {
    let dir = tempfile::tempdir().unwrap();
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "tests::tickets::kill_child", "--nocapture"])
        .env("STARLING_STORE_KILL_DIR", dir.path())
        .stderr(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success(), "the child aborted");
    let (_store, recovered) = open(dir.path());
    assert_eq!(recovered.retained, vec![message("killed/before/exit", "x")]);
}
