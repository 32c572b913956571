//! The workload: commits batches to a [`Store`] (with [`Fsync::Always`]) and prints each batch
//! once the store reports it durable, which is what a broker would acknowledge.
//!
//! Thread `t` of cycle `c` commits batches `b = 0, 1, ...`, each atomic and made of: the
//! session record of client `pc-c-t`, its queued delivery number `b + 1`, retained messages
//! on `pc/c/t/b/j` for `j` in `0..KEYS`, and (from batch `GAP` on) the deletion of
//! `pc/c/t/(b - GAP)/0`. Payloads are derived from the names, so the checker knows every byte.
//! Output, one line each: `C t b ticket` once committed, `D t b ticket` once
//! [`Store::when_durable`] fires for the ticket, `done` at the end (after a clean close).

use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use starling_codec::QoS;
use starling_core::{Delivery, Message, MessageProperties};
use starling_store::{Fsync, SessionRecord, Store, StoreOptions};
use starling_topic::TopicName;

/// Retained messages per batch.
pub(crate) const KEYS: u32 = 3;
/// A batch deletes key 0 of the batch this many before it.
pub(crate) const GAP: u32 = 4;
/// How many of its batches a thread may have committed and not yet seen durable.
const WINDOW: usize = 4;

/// The shape of one workload run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan {
    /// The cycle (run) number within a chain of runs on one store: names its records.
    pub(crate) cycle: u32,
    /// Committing threads.
    pub(crate) threads: u32,
    /// Batches per thread.
    pub(crate) batches: u32,
}

/// The retained topic of key `j` of batch `b` of thread `t` in cycle `c`.
pub(crate) fn topic(c: u32, t: u32, b: u32, j: u32) -> String {
    format!("pc/{c}/{t}/{b}/{j}")
}

/// The client whose queue thread `t` of cycle `c` fills.
pub(crate) fn client(c: u32, t: u32) -> String {
    format!("pc-{c}-{t}")
}

/// The payload of key `j` of batch `b` (`j == KEYS`: its queued delivery): 16 bytes to 3 KB,
/// and 40 KB now and then, so that entries cross pages and journal buffers.
pub(crate) fn payload(c: u32, t: u32, b: u32, j: u32) -> Vec<u8> {
    let mut x = (u64::from(c) << 48 | u64::from(t) << 32 | u64::from(b) << 8 | u64::from(j))
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let len = if b % 17 == 5 && j == 1 {
        40_000
    } else {
        16 + (next() % 3000) as usize
    };
    let mut out = format!("{c}/{t}/{b}/{j}:").into_bytes();
    while out.len() < len {
        out.push(b'a' + (next() % 26) as u8);
    }
    out
}

/// The retained message stored for key `j` of batch `b`.
pub(crate) fn message(c: u32, t: u32, b: u32, j: u32) -> Message {
    let topic = TopicName::new(&topic(c, t, b, j)).unwrap_or_else(|e| panic!("topic: {e}"));
    Message {
        wire_topic: Message::wire_topic_of(&topic),
        topic,
        payload: Bytes::from(payload(c, t, b, j)),
        qos: QoS::AtLeastOnce,
        retain: true,
        properties: MessageProperties::default(),
        expires_at: None,
        publisher: Arc::from("powercut"),
    }
}

fn session() -> SessionRecord {
    SessionRecord {
        expiry_interval: 3600,
        expires_at: None,
        will: None,
        will_at: None,
    }
}

/// Opens the store in `dir` and runs `plan`; returns an error (the process exits non-zero) as
/// soon as anything fails, as it will once the power is cut.
pub(crate) fn run(dir: &std::path::Path, plan: Plan) -> Result<(), String> {
    let options = StoreOptions {
        fsync: Fsync::Always,
        memtable_bytes: Some(48 * 1024),
        ..StoreOptions::new(dir)
    };
    let (store, recovered) = Store::open(&options).map_err(|e| format!("open: {e}"))?;
    println!(
        "open retained={} sessions={} clean={}",
        recovered.retained.len(),
        recovered.sessions.len(),
        recovered.damage.is_clean()
    );
    drop(recovered);
    let threads: Vec<_> = (0..plan.threads)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || commit_all(&store, plan, t))
        })
        .collect();
    for thread in threads {
        thread
            .join()
            .map_err(|_| "a workload thread panicked".to_owned())??;
    }
    drop(store);
    println!("done");
    Ok(())
}

fn commit_all(store: &Store, plan: Plan, t: u32) -> Result<(), String> {
    let c = plan.cycle;
    let id = client(c, t);
    let (tx, rx) = mpsc::channel();
    let mut waiting = 0;
    for b in 0..plan.batches {
        let mut batch = store.batch();
        batch.put_session(&id, &session());
        let delivery = Delivery {
            message: Arc::new(Message {
                retain: false,
                ..message(c, t, b, KEYS)
            }),
            qos: QoS::AtLeastOnce,
            retain: false,
            subscription_ids: Box::new([]),
            shared: None,
            stored: 0,
        };
        batch.put_queued(&id, u64::from(b) + 1, &delivery);
        for j in 0..KEYS {
            batch.put_retained(&message(c, t, b, j));
        }
        if b >= GAP {
            batch.delete_retained(&topic(c, t, b - GAP, 0));
        }
        let ticket = batch.commit().map_err(|e| format!("commit {t}/{b}: {e}"))?;
        println!("C {t} {b} {ticket}");
        let tx = tx.clone();
        store.when_durable(
            ticket,
            Box::new(move || {
                println!("D {t} {b} {ticket}");
                let _ = tx.send(());
            }),
        );
        waiting += 1;
        while waiting > WINDOW {
            rx.recv_timeout(Duration::from_secs(60))
                .map_err(|_| format!("batch of {t} not durable within 60 s"))?;
            waiting -= 1;
        }
    }
    for _ in 0..waiting {
        rx.recv_timeout(Duration::from_secs(60))
            .map_err(|_| format!("last batches of {t} not durable within 60 s"))?;
    }
    Ok(())
}
