//! Damaged store files at start: the broker starts, serves, and counts what it lost.
//!
//! One pristine data directory is made by a broker that stores retained messages (QoS 1, each
//! acknowledged, so durable) and shuts down cleanly. Its store was created with small
//! memtables, so it holds flushed tables as well as journals, version files and keyspace
//! metadata. Then, for each case, a copy of it has one file under `store/` (or the store's
//! durable watermark beside it) truncated, or overwritten with garbage or zeros, at an offset
//! chosen deterministically from the case number (the files are taken in turn, journals and
//! tables more often; the offsets spread over each file), and a broker is started on the copy. Every case checks that
//!
//! - the broker starts, and a fresh client can connect, subscribe and receive what it
//!   publishes;
//! - every retained message that comes back is one that was stored, byte for byte (damage
//!   never turns into a wrong message);
//! - when fewer retained messages come back than were stored, the broker's
//!   `store_records_set_aside` or `store_bytes_set_aside` counter is not zero: data is never
//!   lost silently.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use starling_broker::metrics::Metrics;
use starling_codec::{ProtocolVersion, QoS};
use starling_testkit::{RawClient, TestBroker};

/// Retained messages in the pristine store.
const TOPICS: usize = 160;
/// Broker starts on damaged copies.
const CASES: usize = 216;

fn topic(i: usize) -> String {
    format!("keep/{i:03}")
}

/// A payload of 40 to ~1,000 bytes that names its topic, so a swapped value would show.
fn payload(i: usize) -> Vec<u8> {
    let len = 40 + (i * 397) % 960;
    let mut out = format!("m{i}:").into_bytes();
    let mut x = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push(b'a' + (x % 26) as u8);
    }
    out
}

async fn broker_on(dir: &Path) -> TestBroker {
    let dir = dir.to_owned();
    TestBroker::start_with(move |c| c.node.data_dir = dir).await
}

/// The pristine data directory: retained messages written by a broker, then a clean shutdown.
async fn pristine() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    // Create the store's keyspaces with 16 KiB memtables (the size is recorded with each
    // keyspace and kept when the broker opens the store with its defaults), so that the
    // messages below are flushed to tables.
    let options = starling_store::StoreOptions {
        memtable_bytes: Some(16 * 1024),
        ..starling_store::StoreOptions::new(dir.path())
    };
    drop(starling_store::Store::open(&options).expect("create the store"));

    let broker = broker_on(dir.path()).await;
    let (mut publisher, _) =
        RawClient::mqtt_connect(broker.addr(), ProtocolVersion::V5, "p", true).await;
    for i in 0..TOPICS {
        publisher
            .publish(&topic(i), payload(i), QoS::AtLeastOnce, true)
            .await;
    }
    publisher.disconnect().await;
    broker.shutdown().await;
    dir
}

/// Every file under `dir`, sorted.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
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
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir").flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

/// What a case does to its file.
#[derive(Debug, Clone, Copy)]
enum Harm {
    /// Cut the file at this length.
    Truncate(u64),
    /// Overwrite `len` bytes at `offset` with pseudo-random garbage.
    Garbage { offset: u64, len: usize },
    /// Overwrite `len` bytes at `offset` with zeros.
    Zeros { offset: u64, len: usize },
}

/// The harm of `case` to a file of `len` bytes: the kind cycles, the offset walks the file
/// (its first and last bytes included) in steps that differ from case to case.
fn harm(case: usize, len: u64) -> Harm {
    let round = (case / 3) as u64;
    let offset = match (round % 5, len) {
        (_, 0) => 0,
        (0, _) => 0,
        (1, _) => len - 1,
        (2, _) => len / 2,
        (3, _) => len.saturating_sub(1 + round % 64),
        _ => (round.wrapping_mul(7919) + case as u64) % len,
    };
    let size = [1, 8, 64, 512][case % 4];
    match case % 3 {
        0 => Harm::Truncate(offset),
        1 => Harm::Garbage { offset, len: size },
        _ => Harm::Zeros { offset, len: size },
    }
}

fn apply(path: &Path, harm: Harm, case: usize) {
    let mut file = OpenOptions::new().write(true).open(path).expect("open");
    match harm {
        Harm::Truncate(at) => file.set_len(at).expect("truncate"),
        Harm::Garbage { offset, len } => {
            let mut x = case as u64 | 1;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            file.seek(SeekFrom::Start(offset)).expect("seek");
            file.write_all(&bytes).expect("write");
        }
        Harm::Zeros { offset, len } => {
            file.seek(SeekFrom::Start(offset)).expect("seek");
            file.write_all(&vec![0; len]).expect("write");
        }
    }
}

/// Subscribes to everything retained and to a sentinel, publishes the sentinel, and returns
/// the retained messages that came before it. Proves the broker serves: the sentinel comes
/// back.
async fn retained_and_serve(broker: &TestBroker, client_id: &str) -> BTreeMap<String, Vec<u8>> {
    let (mut client, _) =
        RawClient::mqtt_connect(broker.addr(), ProtocolVersion::V5, client_id, true).await;
    client.subscribe("keep/#", QoS::AtLeastOnce).await;
    client.subscribe("sentinel", QoS::AtLeastOnce).await;
    client
        .publish("sentinel", b"end", QoS::AtLeastOnce, false)
        .await;
    let mut got = BTreeMap::new();
    loop {
        let msg = client.recv_and_ack().await;
        if msg.topic.as_str() == "sentinel" {
            assert_eq!(&msg.payload[..], b"end");
            break;
        }
        assert!(msg.retain, "a retained message: {}", msg.topic.as_str());
        got.insert(msg.topic.to_string(), msg.payload.to_vec());
    }
    client.disconnect().await;
    got
}

/// How one case ended.
#[derive(Debug, Default)]
struct Tally {
    intact: usize,
    lost_counted: usize,
    counted_no_loss: usize,
    silent: Vec<String>,
    wrong: Vec<String>,
}

#[tokio::test]
async fn damaged_store_files_never_stop_the_broker_and_losses_are_counted() {
    let started = Instant::now();
    let base = pristine().await;
    let store = base.path().join("store");
    let all = files(&store);
    assert!(
        all.iter().any(|f| f.to_string_lossy().contains("tables")),
        "the pristine store has flushed tables: {all:?}"
    );

    // The pristine store itself comes back whole, with nothing set aside.
    {
        let copy = tempfile::tempdir().expect("tempdir");
        copy_dir(base.path(), copy.path());
        let broker = broker_on(copy.path()).await;
        let got = retained_and_serve(&broker, "check").await;
        assert_eq!(got.len(), TOPICS);
        assert_eq!(Metrics::get(&broker.metrics().store_records_set_aside), 0);
        assert_eq!(Metrics::get(&broker.metrics().store_bytes_set_aside), 0);
        broker.shutdown().await;
    }

    // Journals hold the newest records and tables the rest: they take more of the cases. The
    // store's durable watermark, beside `store/`, takes its share too.
    let mut targets = Vec::new();
    for file in all.iter().chain([&base.path().join("durable-commit")]) {
        let name = file.to_string_lossy();
        let weight = if name.ends_with(".jnl") {
            8
        } else if name.contains("tables") {
            3
        } else {
            1
        };
        targets.extend(std::iter::repeat_n(file.clone(), weight));
    }
    let mut tally = Tally::default();
    for case in 0..CASES {
        let file = &targets[case % targets.len()];
        let rel = file.strip_prefix(base.path()).expect("under the data dir");
        let len = std::fs::metadata(file).expect("metadata").len();
        let harm = harm(case, len);
        let what = format!("case {case}: {} ({len} bytes): {harm:?}", rel.display());

        let dir = tempfile::tempdir().expect("tempdir");
        copy_dir(base.path(), dir.path());
        apply(&dir.path().join(rel), harm, case);

        eprintln!("{what}");
        let broker = broker_on(dir.path()).await;
        let got = retained_and_serve(&broker, "c").await;
        let records = Metrics::get(&broker.metrics().store_records_set_aside);
        let bytes = Metrics::get(&broker.metrics().store_bytes_set_aside);
        broker.shutdown().await;

        for (t, p) in &got {
            let i: usize = t
                .strip_prefix("keep/")
                .and_then(|n| n.parse().ok())
                .unwrap_or(usize::MAX);
            if i >= TOPICS || *p != payload(i) {
                tally.wrong.push(format!("{what}: {t} came back wrong"));
            }
        }
        let lost = TOPICS.saturating_sub(got.len());
        match (lost, records + bytes) {
            (0, 0) => tally.intact += 1,
            (0, _) => tally.counted_no_loss += 1,
            (_, 0) => tally.silent.push(format!(
                "{what}: {lost} retained messages lost, nothing counted"
            )),
            _ => tally.lost_counted += 1,
        }
    }
    eprintln!(
        "{CASES} damaged starts over {} files in {:.1?}: {} intact, {} lost and counted, {} \
         counted without loss, {} silent losses, {} wrong messages",
        all.len() + 1,
        started.elapsed(),
        tally.intact,
        tally.lost_counted,
        tally.counted_no_loss,
        tally.silent.len(),
        tally.wrong.len()
    );
    assert!(tally.wrong.is_empty(), "{:#?}", tally.wrong);
    assert!(tally.silent.is_empty(), "{:#?}", tally.silent);
}
