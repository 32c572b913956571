//! Damaged records and damaged files: recovery keeps what is valid and always opens.

use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::*;
use crate::engine::{Engine, Space};
use crate::key::{cid, seq_key};

/// Writes `value` under `key` in `space` through fjall directly, behind the store's back.
fn poke(dir: &Path, space: Space, key: &[u8], value: &[u8]) {
    let engine = Engine::open(&dir.join("store"), 1 << 20, None).unwrap();
    engine.ks(space).insert(key, value).unwrap();
    engine.sync().unwrap();
}

#[test]
fn a_garbage_value_is_dropped_and_counted_and_the_rest_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    write_client(&store, "good", 3);
    write_client(&store, "bad", 2);
    let mut batch = store.batch();
    batch.put_retained(&message("r", "x"));
    wait_durable(&store, batch.commit().unwrap());
    drop(store);

    poke(
        dir.path(),
        Space::Queue,
        &seq_key("good", 2),
        b"\x01garbage",
    );
    poke(
        dir.path(),
        Space::Sessions,
        &cid("bad"),
        b"\xffnot a session",
    );
    poke(dir.path(), Space::Queue, &seq_key("nobody", 1), b"\x01x");
    poke(dir.path(), Space::Sessions, b"\x00", b"");
    poke(
        dir.path(),
        Space::Retained,
        b"other",
        &crate::record::message::encode_message(&message("r", "x")),
    );

    let (store, recovered) = open(dir.path());
    let damage = &recovered.damage;
    assert_eq!(damage.damaged.queue, 1);
    assert_eq!(damage.damaged.sessions, 2);
    assert_eq!(
        damage.damaged.retained, 1,
        "a retained message under another topic's key"
    );
    assert_eq!(damage.damaged.total(), 4);
    // The damaged session's subscription, queue (2), inflight and awaiting entries, and the
    // queue entry of a client that never had a session.
    assert_eq!(damage.orphans.subscriptions, 1);
    assert_eq!(damage.orphans.queue, 3);
    assert_eq!(damage.orphans.inflight, 1);
    assert_eq!(damage.orphans.awaiting_rel, 1);
    assert_eq!(damage.moved_aside, None);
    assert_eq!(store.stats().records_set_aside, 10);
    assert_eq!(recovered.sessions.len(), 1);
    let good = &recovered.sessions[0];
    assert_eq!(
        (&*good.client_id, good.queued, good.next_seq),
        ("good", 2, 4)
    );
    let seqs: Vec<_> = store
        .read_queue("good", 0, 10)
        .unwrap()
        .iter()
        .map(|d| d.stored)
        .collect();
    assert_eq!(seqs, vec![1, 3]);
    assert_eq!(recovered.retained, vec![message("r", "x")]);
    drop(store);

    // Removed once, reported once.
    let (_store, recovered) = open(dir.path());
    assert!(recovered.damage.is_clean(), "{:?}", recovered.damage);
    assert_eq!(recovered.sessions.len(), 1);
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A store with records both in flushed tables and in the journal.
fn pristine() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    for i in 0..20 {
        write_client(&store, &format!("client-{i}"), 5);
    }
    for space in Space::ALL {
        store.engine().ks(space).rotate_memtable_and_wait().unwrap();
    }
    let mut batch = store.batch();
    for i in 0..50 {
        batch.put_retained(&message(&format!("r/{i}"), "retained"));
    }
    wait_durable(&store, batch.commit().unwrap());
    write_client(&store, "late", 3);
    store.flush().unwrap();
    drop(store);
    dir
}

#[test]
fn damaged_files_never_stop_the_store_from_opening() {
    let base = pristine();
    let all = files(&base.path().join("store"));
    assert!(all.len() > 3, "{all:?}");
    let mut moved = 0;
    for case in 0..30usize {
        let file = &all[case * 7 % all.len()];
        let len = std::fs::metadata(file).unwrap().len();
        let offset = if len == 0 {
            0
        } else {
            (case as u64 * 7919) % len
        };
        let dir = tempfile::tempdir().unwrap();
        copy_dir(base.path(), dir.path());
        let target = dir.path().join(file.strip_prefix(base.path()).unwrap());
        let mut f = OpenOptions::new().write(true).open(&target).unwrap();
        if case % 2 == 0 {
            f.set_len(offset).unwrap();
        } else {
            f.seek(SeekFrom::Start(offset)).unwrap();
            f.write_all(&[0xA5; 64]).unwrap();
        }
        drop(f);
        let (store, recovered) = Store::open(&StoreOptions::new(dir.path()))
            .unwrap_or_else(|e| panic!("case {case} ({}): {e}", target.display()));
        if let Some(path) = &recovered.damage.moved_aside {
            moved += 1;
            assert!(path.starts_with(dir.path()) && path.exists());
            assert!(recovered.damage.moved_aside_bytes > 0);
            assert!(recovered.sessions.is_empty());
        }
        // The store works after recovery, and opens again.
        write_client(&store, "after", 1);
        drop(store);
        let (_store, again) = Store::open(&StoreOptions::new(dir.path())).unwrap();
        assert!(again.damage.moved_aside.is_none(), "case {case}");
        assert!(again.sessions.iter().any(|s| &*s.client_id == "after"));
    }
    eprintln!("{moved} of 30 damaged stores were moved aside");
}

/// The journals of the store in `dir`.
fn journals(dir: &Path) -> Vec<PathBuf> {
    files(&dir.join("store"))
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "jnl"))
        .collect()
}

/// A store with `n` durable commits of one retained message each, closed.
fn retained_commits(n: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    for i in 0..n {
        let mut batch = store.batch();
        batch.put_retained(&message(&format!("r/{i:02}"), "retained"));
        wait_durable(&store, batch.commit().unwrap());
    }
    drop(store);
    dir
}

#[test]
fn a_journal_cut_short_is_counted_once_not_lost_silently() {
    for cut in 0..3 {
        let dir = retained_commits(10);
        let all = journals(dir.path());
        assert_eq!(all.len(), 1, "{all:?}");
        // The engine preallocates its journal: what it wrote ends at the last byte not zero.
        let bytes = std::fs::read(&all[0]).unwrap();
        let len = bytes.iter().rposition(|b| *b != 0).unwrap() as u64 + 1;
        // Cut at nothing, mid-way (mid-entry: the engine drops the torn entry itself), or
        // one byte short.
        let at = [0, len / 2, len - 1][cut];
        OpenOptions::new()
            .write(true)
            .open(&all[0])
            .unwrap()
            .set_len(at)
            .unwrap();
        let (store, recovered) = open(dir.path());
        let lost = recovered.damage.lost_commits;
        assert!(lost > 0, "cut at {at} of {len}: {:?}", recovered.damage);
        assert!(
            recovered.retained.len() as u64 + lost >= 10,
            "every missing commit is counted: {} back, {lost} lost",
            recovered.retained.len()
        );
        assert_eq!(recovered.damage.records_set_aside(), lost);
        assert!(!recovered.damage.is_clean());
        assert_eq!(store.stats().records_set_aside, lost);
        drop(store);
        // Reported once: the next open starts from what was read back.
        let (_store, again) = open(dir.path());
        assert!(again.damage.is_clean(), "cut {cut}: {:?}", again.damage);
    }
}

#[test]
fn commits_of_deletions_compacted_away_are_not_counted_as_lost() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    let mut batch = store.batch();
    for i in 0..50 {
        batch.put_retained(&message(&format!("r/{i}"), "x"));
    }
    wait_durable(&store, batch.commit().unwrap());
    for i in 0..50 {
        let mut batch = store.batch();
        batch.delete_retained(&format!("r/{i}"));
        wait_durable(&store, batch.commit().unwrap());
    }
    // Flush everything to tables (the journal goes) and compact the tombstones away: the
    // highest sequence number left is the commit marker's.
    for space in Space::ALL {
        store.engine().ks(space).rotate_memtable_and_wait().unwrap();
        store.engine().ks(space).major_compact().unwrap();
    }
    store.engine().meta().rotate_memtable_and_wait().unwrap();
    store.engine().meta().major_compact().unwrap();
    drop(store);
    let (_store, recovered) = open(dir.path());
    assert!(recovered.damage.is_clean(), "{:?}", recovered.damage);
    assert!(recovered.retained.is_empty());
}

#[test]
fn a_damaged_watermark_is_ignored() {
    let dir = retained_commits(3);
    let path = dir.path().join(crate::watermark::FILE);
    assert!(path.exists());
    std::fs::write(&path, b"STRLDUR1garbage-garbage!").unwrap();
    let (store, recovered) = open(dir.path());
    assert!(recovered.damage.is_clean(), "{:?}", recovered.damage);
    assert_eq!(recovered.retained.len(), 3);
    drop(store);
    std::fs::remove_file(&path).unwrap();
    let (_store, recovered) = open(dir.path());
    assert!(recovered.damage.is_clean(), "{:?}", recovered.damage);
}

#[test]
fn a_journal_batch_that_fails_its_check_costs_that_batch_and_later_ones_not_the_store() {
    for (bad, kept) in [(9usize, 9usize), (4, 4)] {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = open(dir.path());
        for i in 0..10 {
            let mut batch = store.batch();
            batch.put_retained(&message(
                &format!("r/{i:02}"),
                &format!("payload-number-{i:02}"),
            ));
            wait_durable(&store, batch.commit().unwrap());
        }
        drop(store);
        // Flip one byte inside batch `bad`'s value: its framing is whole, its checksum wrong
        // (what a power cut leaves when some sectors of a batch reached the disk and others
        // did not). fjall refuses to open such a journal.
        let all = journals(dir.path());
        let mut bytes = std::fs::read(&all[0]).unwrap();
        let needle = format!("payload-number-{bad:02}").into_bytes();
        let at = bytes
            .windows(needle.len())
            .position(|w| w == needle)
            .unwrap();
        bytes[at + 3] ^= 0x20;
        std::fs::write(&all[0], &bytes).unwrap();

        let (store, recovered) = open(dir.path());
        let damage = &recovered.damage;
        assert_eq!(damage.moved_aside, None, "the store is kept: {damage:?}");
        assert_eq!(damage.journal_tails.len(), 1, "{damage:?}");
        assert!(damage.journal_tails[0].exists());
        assert!(damage.moved_aside_bytes > 0);
        assert_eq!(recovered.retained.len(), kept);
        assert_eq!(
            damage.lost_commits,
            (10 - kept) as u64,
            "durable, so counted"
        );
        assert!(!damage.is_clean());
        drop(store);
        let (_store, again) = open(dir.path());
        assert!(again.damage.is_clean(), "{:?}", again.damage);
        assert_eq!(again.retained.len(), kept);
    }
}

#[test]
fn damaged_builtin_users_and_rules_are_set_aside_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(dir.path());
    let mut batch = store.batch();
    batch.put_auth_user(&crate::UserRecord {
        username: "alice".into(),
        password_hash: "$argon2id$x".into(),
        is_superuser: false,
        created_at: std::time::SystemTime::UNIX_EPOCH,
        scram: Vec::new(),
    });
    batch.put_auth_rule(&crate::AclRuleRecord {
        id: 1,
        who: crate::AclWho::All,
        action: crate::AclAction::All,
        allow: true,
        topic: "#".into(),
        eq: false,
    });
    wait_durable(&store, batch.commit().unwrap());
    drop(store);

    poke(dir.path(), Space::AuthUsers, b"bob", b"\x01garbage");
    poke(dir.path(), Space::AuthUsers, b"\xff\xfe", b"");
    poke(dir.path(), Space::AuthAcl, b"short", b"\x01\x00\x03\x01");
    poke(dir.path(), Space::AuthAcl, &7u64.to_be_bytes(), b"\x01\x09");

    let (store, recovered) = open(dir.path());
    let damage = &recovered.damage;
    assert_eq!(damage.damaged.auth_users, 2);
    assert_eq!(damage.damaged.auth_acl, 2);
    assert_eq!(damage.damaged.total(), 4);
    assert_eq!(store.stats().records_set_aside, 4);
    assert_eq!(recovered.auth_users.len(), 1);
    assert_eq!(recovered.auth_users[0].username, "alice");
    assert_eq!(recovered.auth_acl.len(), 1);
    drop(store);
    let (_store, recovered) = open(dir.path());
    assert!(recovered.damage.is_clean(), "{:?}", recovered.damage);
}
