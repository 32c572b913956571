//! The checker: reopens the store from what a cut left, and compares it with what the workload
//! was told was durable.
//!
//! What must hold, for every cut:
//!
//! - the store opens, and reports no damage (nothing moved aside, no record removed, no
//!   durable commit lost: a power cut with `Fsync::Always` is not damage), except a journal
//!   batch cut off because the cut tore it (torn mode);
//! - every batch printed durable is there, whole, byte for byte (durability);
//! - every batch is there whole or not at all (atomicity), and the batches of one thread that
//!   are there are a prefix of the ones it committed (order);
//! - every record of the earlier runs of the chain is exactly as the previous check found it
//!   (they were on disk when this run began: nothing may disturb them, not even a cut during
//!   recovery).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use starling_store::{Store, StoreOptions};

use crate::workload::{client, payload, topic, Plan, GAP, KEYS};

/// What the workload printed, per thread.
#[derive(Debug, Default)]
pub(crate) struct Log {
    /// Batches reported durable, per thread.
    pub(crate) durable: BTreeMap<u32, BTreeSet<u32>>,
    /// Batches whose commit returned, per thread.
    pub(crate) committed: BTreeMap<u32, BTreeSet<u32>>,
    /// True when it printed `done` (a clean end).
    pub(crate) done: bool,
}

impl Log {
    /// Reads the workload's output.
    pub(crate) fn parse(lines: &[String]) -> Self {
        let mut log = Self::default();
        for line in lines {
            let words: Vec<&str> = line.split(' ').collect();
            let num = |i: usize| words.get(i).and_then(|w| w.parse::<u32>().ok());
            match (words.first().copied(), num(1), num(2)) {
                (Some("C"), Some(t), Some(b)) => {
                    log.committed.entry(t).or_default().insert(b);
                }
                (Some("D"), Some(t), Some(b)) => {
                    log.durable.entry(t).or_default().insert(b);
                }
                (Some("done"), _, _) => log.done = true,
                _ => {}
            }
        }
        log
    }

    /// Batches reported durable, in all.
    pub(crate) fn durable_count(&self) -> usize {
        self.durable.values().map(BTreeSet::len).sum()
    }
}

/// Every record of the workload's kind in a store: `r <topic>` and `q <client> <seq>` keys to
/// their payloads.
pub(crate) type Snapshot = BTreeMap<String, Vec<u8>>;

/// What one check found.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    /// What is wrong (empty: the cut is fine).
    pub(crate) failures: Vec<String>,
    /// The records found, for the next run's check.
    pub(crate) snapshot: Snapshot,
    /// Records compared with what they must be.
    pub(crate) records_checked: u64,
    /// Journal tails the store cut off at open (a batch torn by the cut).
    pub(crate) journal_tails_cut: u64,
}

fn cycle_of(key: &str) -> Option<u32> {
    let rest = key
        .strip_prefix("r pc/")
        .or_else(|| key.strip_prefix("q pc-"))?;
    rest.split(['/', '-']).next()?.parse().ok()
}

/// Opens the store in `dir` and reads every record back.
fn read(dir: &Path, failures: &mut Vec<String>, torn_batches: &mut u64) -> Option<Snapshot> {
    let (store, recovered) = match Store::open(&StoreOptions::new(dir)) {
        Ok(opened) => opened,
        Err(e) => {
            failures.push(format!("the store does not open: {e}"));
            return None;
        }
    };
    // A journal batch cut off because it failed its check is what a torn write leaves (torn
    // mode); whatever it held that was durable shows up as lost batches and `lost_commits`.
    let damage = &recovered.damage;
    *torn_batches += damage.journal_tails.len() as u64;
    if damage.moved_aside.is_some() || damage.records_set_aside() > 0 {
        failures.push(format!(
            "the store reports damage after a power cut: {damage:?}"
        ));
    }
    let mut snapshot = Snapshot::new();
    for message in &recovered.retained {
        snapshot.insert(
            format!("r {}", message.topic.as_str()),
            message.payload.to_vec(),
        );
    }
    for session in &recovered.sessions {
        match store.read_queue(&session.client_id, 0, usize::MAX) {
            Ok(queue) => {
                for d in queue {
                    snapshot.insert(
                        format!("q {} {}", session.client_id, d.stored),
                        d.message.payload.to_vec(),
                    );
                }
            }
            Err(e) => failures.push(format!("queue of {}: {e}", session.client_id)),
        }
    }
    Some(snapshot)
}

/// Checks the store in `dir` after run `plan` printed `log`; `before` is what the previous
/// check of the chain found (empty for the first run).
pub(crate) fn check(dir: &Path, plan: Plan, log: &Log, before: &Snapshot) -> Outcome {
    let mut out = Outcome::default();
    let Some(now) = read(dir, &mut out.failures, &mut out.journal_tails_cut) else {
        return out;
    };
    let c = plan.cycle;

    // The earlier runs: exactly as found before.
    let earlier: Snapshot = now
        .iter()
        .filter(|(k, _)| cycle_of(k).is_some_and(|kc| kc < c))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if &earlier != before {
        let missing: Vec<_> = before
            .keys()
            .filter(|k| !earlier.contains_key(*k))
            .collect();
        let extra: Vec<_> = earlier
            .keys()
            .filter(|k| !before.contains_key(*k))
            .collect();
        let changed: Vec<_> = before
            .iter()
            .filter(|(k, v)| earlier.get(*k).is_some_and(|e| e != *v))
            .map(|(k, _)| k)
            .collect();
        out.failures.push(format!(
            "records of earlier runs changed: {} missing {:?}, {} appeared {:?}, {} altered {:?}",
            missing.len(),
            missing.iter().take(5).collect::<Vec<_>>(),
            extra.len(),
            extra.iter().take(5).collect::<Vec<_>>(),
            changed.len(),
            changed.iter().take(5).collect::<Vec<_>>()
        ));
    }
    out.records_checked += before.len() as u64;

    // Nothing but the workload's own records.
    for key in now.keys() {
        if cycle_of(key).is_none_or(|kc| kc > c) {
            out.failures.push(format!("an unexpected record: {key}"));
        }
    }

    for t in 0..plan.threads {
        check_thread(&now, plan, t, log, &mut out);
    }
    out.snapshot = now;
    out
}

/// The batches of thread `t` in this run.
fn check_thread(now: &Snapshot, plan: Plan, t: u32, log: &Log, out: &mut Outcome) {
    let c = plan.cycle;
    let fail = &mut out.failures;
    let get = |b: u32, j: u32| now.get(&format!("r {}", topic(c, t, b, j)));
    let queued = |b: u32| now.get(&format!("q {} {}", client(c, t), b + 1));
    let mut applied = Vec::new();
    for b in 0..plan.batches {
        // Keys 1.. and the queued delivery are never deleted: all there, or none.
        let mut there = (1..KEYS).map(|j| get(b, j).is_some()).collect::<Vec<_>>();
        there.push(queued(b).is_some());
        let whole = there.iter().all(|x| *x);
        if !whole && there.iter().any(|x| *x) {
            fail.push(format!("thread {t} batch {b} is there in part: {there:?}"));
        }
        applied.push(whole);
    }
    for b in 0..plan.batches as usize {
        let (b32, ok) = (b as u32, applied[b]);
        if ok && b > 0 && !applied[b - 1] {
            fail.push(format!(
                "thread {t}: batch {b} is there without batch {}",
                b - 1
            ));
        }
        let deleted_later = applied.get(b + GAP as usize).copied().unwrap_or(false);
        let key0 = get(b32, 0).is_some();
        if key0 != (ok && !deleted_later) {
            fail.push(format!(
                "thread {t} batch {b}: key 0 there={key0}, batch there={ok}, deleted by a \
                 batch there={deleted_later}"
            ));
        }
        if ok {
            for j in 0..=KEYS {
                let value = if j == KEYS { queued(b32) } else { get(b32, j) };
                if let Some(v) = value {
                    out.records_checked += 1;
                    if *v != payload(c, t, b32, j) {
                        fail.push(format!("thread {t} batch {b} key {j}: wrong bytes"));
                    }
                }
            }
        }
    }
    let durable = log.durable.get(&t).cloned().unwrap_or_default();
    let lost: Vec<_> = durable
        .iter()
        .filter(|b| !applied.get(**b as usize).copied().unwrap_or(false))
        .collect();
    if !lost.is_empty() {
        fail.push(format!(
            "thread {t}: {} batches reported durable are gone: {:?}",
            lost.len(),
            lost.iter().take(10).collect::<Vec<_>>()
        ));
    }
    let committed = log.committed.get(&t).map_or(0, BTreeSet::len);
    let there = applied.iter().filter(|x| **x).count();
    // A commit can reach the disk and the cut come before the workload prints it; never more
    // than the one in progress per thread.
    if there > committed + 1 {
        fail.push(format!(
            "thread {t}: {there} batches there, only {committed} committed"
        ));
    }
}
