//! The broker's queue workload on the two candidate store engines, redb and fjall, with every
//! commit durable (fsync), to choose the engine of `starling-store` by measurement.
//!
//! ```text
//! cd bench/store-engines && cargo run --release -- [dir] [sessions] [messages per session]
//! ```
//!
//! Workload (what a broker with persistent sessions does):
//! - append: each session's queue gets messages of 100 bytes, keyed (session u32, seq u64)
//!   big-endian so a session's queue is one key range; commits group `batch` messages (the
//!   broker's group commit: many messages, one fsync), at batch 1, 16 and 256;
//! - scan: read one session's queue in order (a session coming back);
//! - ack: delete messages in acknowledgement order, grouped the same way.
//!
//! Figures are printed as operations per second; nothing here is asserted.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const PAYLOAD: [u8; 100] = [b'm'; 100];

fn key(session: u32, seq: u64) -> [u8; 12] {
    let mut k = [0u8; 12];
    k[..4].copy_from_slice(&session.to_be_bytes());
    k[4..].copy_from_slice(&seq.to_be_bytes());
    k
}

/// One engine under the workload.
trait Engine {
    fn name(&self) -> &'static str;
    /// Writes `keys` in one durable commit.
    fn append(&mut self, keys: &[[u8; 12]]);
    /// Deletes `keys` in one durable commit.
    fn ack(&mut self, keys: &[[u8; 12]]);
    /// Reads one session's queue in order; returns how many messages it holds.
    fn scan(&self, session: u32) -> usize;
}

struct Redb {
    db: redb::Database,
}

const QUEUE: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new("queue");

impl Redb {
    fn open(dir: &Path) -> Self {
        let db = redb::Database::create(dir.join("redb.db")).expect("redb open");
        Self { db }
    }

    fn write(&mut self, keys: &[[u8; 12]], insert: bool) {
        let mut tx = self.db.begin_write().expect("begin");
        tx.set_durability(redb::Durability::Immediate);
        {
            let mut table = tx.open_table(QUEUE).expect("table");
            for k in keys {
                if insert {
                    table.insert(&k[..], &PAYLOAD[..]).expect("insert");
                } else {
                    table.remove(&k[..]).expect("remove");
                }
            }
        }
        tx.commit().expect("commit");
    }
}

impl Engine for Redb {
    fn name(&self) -> &'static str {
        "redb 2"
    }
    fn append(&mut self, keys: &[[u8; 12]]) {
        self.write(keys, true);
    }
    fn ack(&mut self, keys: &[[u8; 12]]) {
        self.write(keys, false);
    }
    fn scan(&self, session: u32) -> usize {
        let tx = self.db.begin_read().expect("read");
        let table = tx.open_table(QUEUE).expect("table");
        let (lo, hi) = (key(session, 0), key(session, u64::MAX));
        table
            .range(&lo[..]..=&hi[..])
            .expect("range")
            .map(|e| e.expect("entry").1.value().len())
            .filter(|len| *len == PAYLOAD.len())
            .count()
    }
}

struct Fjall {
    db: fjall::Database,
    queue: fjall::Keyspace,
}

impl Fjall {
    fn open(dir: &Path) -> Self {
        let db = fjall::Database::builder(dir.join("fjall"))
            .open()
            .expect("fjall open");
        let queue = db
            .keyspace("queue", fjall::KeyspaceCreateOptions::default)
            .expect("keyspace");
        Self { db, queue }
    }

    fn write(&mut self, keys: &[[u8; 12]], insert: bool) {
        let mut batch = self
            .db
            .batch()
            .durability(Some(fjall::PersistMode::SyncAll));
        for k in keys {
            if insert {
                batch.insert(&self.queue, k.to_vec(), PAYLOAD.to_vec());
            } else {
                batch.remove(&self.queue, k.to_vec());
            }
        }
        batch.commit().expect("commit");
    }
}

impl Engine for Fjall {
    fn name(&self) -> &'static str {
        "fjall 3"
    }
    fn append(&mut self, keys: &[[u8; 12]]) {
        self.write(keys, true);
    }
    fn ack(&mut self, keys: &[[u8; 12]]) {
        self.write(keys, false);
    }
    fn scan(&self, session: u32) -> usize {
        self.queue
            .prefix(session.to_be_bytes())
            .map(|g| g.into_inner().expect("entry").1.len())
            .filter(|len| *len == PAYLOAD.len())
            .count()
    }
}

fn rate(n: usize, took: Duration) -> String {
    format!("{:>10.0}/s", n as f64 / took.as_secs_f64())
}

/// Appends `per_session` messages to each of `sessions` queues, interleaved across sessions as
/// a fan-in would, in commits of `batch`; scans one session; acks everything the same way.
fn run(engine: &mut dyn Engine, sessions: u32, per_session: u64, batch: usize) {
    let keys: Vec<[u8; 12]> = (0..per_session)
        .flat_map(|seq| (0..sessions).map(move |s| key(s, seq)))
        .collect();
    let start = Instant::now();
    for chunk in keys.chunks(batch) {
        engine.append(chunk);
    }
    let append = start.elapsed();
    let start = Instant::now();
    let held = engine.scan(sessions / 2);
    let scan = start.elapsed();
    assert_eq!(
        held as u64, per_session,
        "the scan sees the session's queue"
    );
    let start = Instant::now();
    for chunk in keys.chunks(batch) {
        engine.ack(chunk);
    }
    let ack = start.elapsed();
    println!(
        "| {} | {batch} | {} | {} | {} msgs in {:.2} ms |",
        engine.name(),
        rate(keys.len(), append),
        rate(keys.len(), ack),
        held,
        scan.as_secs_f64() * 1e3
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = PathBuf::from(args.get(1).map_or("target/engines", String::as_str));
    let sessions: u32 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(100);
    let per_session: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(200);
    println!("| engine | messages per fsync | append | ack (delete) | scan one session |");
    println!("|---|---:|---:|---:|---|");
    for batch in [1usize, 16, 256] {
        // Batch 1 is one fsync per message: fewer messages, or it takes minutes.
        let per = if batch == 1 {
            per_session / 10
        } else {
            per_session
        };
        for which in ["redb", "fjall"] {
            let run_dir = dir.join(format!("{which}-{batch}"));
            let _ = std::fs::remove_dir_all(&run_dir);
            std::fs::create_dir_all(&run_dir).expect("dir");
            let mut engine: Box<dyn Engine> = match which {
                "redb" => Box::new(Redb::open(&run_dir)),
                _ => Box::new(Fjall::open(&run_dir)),
            };
            run(engine.as_mut(), sessions, per, batch);
            drop(engine);
            let _ = std::fs::remove_dir_all(&run_dir);
        }
    }
}
