//! [`Store`]: opening the data directory, tickets, and the reads a session makes when its
//! client comes back.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use starling_core::Delivery;

use crate::batch::Batch;
use crate::damage::{aside_path, dir_bytes, move_aside};
use crate::dir as data_dir;
use crate::engine::{Engine, Space};
use crate::error::StoreError;
use crate::journal;
use crate::key::{cid, packet_id_of, seq_key, seq_of};
use crate::lock::DirLock;
use crate::options::{Fsync, StoreOptions};
use crate::record::message::decode_delivery;
use crate::record::session::decode_inflight;
use crate::recovery::{recover, Recovered};
use crate::sync::{Ticket, Tickets};
use crate::watermark::{self, Watermark};

/// The durable store: cheap to clone, shared by every task that writes or reads it.
///
/// The directory lock, the engine and the sync thread live until the last clone (or
/// [`Batch`]) is dropped; the drop makes a final fsync.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("durable", &self.durable())
            .finish_non_exhaustive()
    }
}

/// One inflight record of a client, joined with its queued delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InflightRecord {
    /// The delivery's sequence in the client's queue.
    pub seq: u64,
    /// The packet id it was sent with.
    pub packet_id: u16,
    /// True once PUBREC came and PUBREL was sent (waiting for PUBCOMP).
    pub released: bool,
    /// The queued delivery, while its queue entry still exists (it may be gone once released).
    pub delivery: Option<Delivery>,
}

/// Counters of the store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Records removed at open because they were damaged or orphaned.
    pub records_set_aside: u64,
    /// Bytes moved aside at open because the engine could not open them.
    pub bytes_moved_aside: u64,
    /// The engine's files, in bytes (approximate).
    pub disk_bytes: u64,
    /// fsyncs done by the store.
    pub syncs: u64,
    /// fsyncs that failed.
    pub sync_failures: u64,
    /// The ticket of the last commit.
    pub written: Ticket,
    /// The highest durable ticket.
    pub durable: Ticket,
}

struct Inner {
    // Field order is drop order: the engine closes before the directory lock is released.
    engine: Engine,
    tickets: Arc<Tickets>,
    sync_thread: Option<JoinHandle<()>>,
    set_aside: u64,
    moved_aside_bytes: u64,
    dir: PathBuf,
    lock: Option<DirLock>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.tickets.stop();
        if let Some(thread) = self.sync_thread.take() {
            // The last clone may be dropped by a `when_durable` callback on the sync thread
            // itself: it ends on its own once stopped, and cannot join itself.
            if thread.thread().id() == std::thread::current().id() {
                // The thread releases the lock once its handle on the engine is gone.
                self.tickets.release_on_exit(self.lock.take());
            } else if thread.join().is_err() {
                tracing::error!("the store-sync thread panicked");
            }
        }
        let mark = self.tickets.mark();
        match self.engine.sync() {
            Ok(()) => self.tickets.record_watermark(mark),
            Err(error) => {
                tracing::error!(%error, dir = %self.dir.display(), "final store fsync failed");
            }
        }
    }
}

impl Store {
    /// Opens the store in `options.dir` and reads it back.
    ///
    /// Creates the directory if missing (durably: its parent is fsynced) and takes an
    /// exclusive lock on `dir/LOCK`, held while any clone of the store lives: a second open of
    /// the same directory, in this process or another, fails with [`StoreError::Locked`]. Then opens the engine in `dir/store` and
    /// recovers (see the `recovery` module): damaged records are removed and counted, never
    /// an error. If the engine fails on a journal batch that does not pass its check (a torn
    /// write at a power cut), the journal is cut there, the cut-off bytes saved (see
    /// [`Damage::journal_tails`](crate::Damage::journal_tails)), and the rest is kept. If the
    /// engine cannot open or read its files at all, they are moved to
    /// `dir/damaged-<unix-seconds>/`, a fresh store is opened, and
    /// [`Damage::moved_aside`](crate::Damage::moved_aside) says where they went: the broker always starts.
    pub fn open(options: &StoreOptions) -> Result<(Store, Recovered), StoreError> {
        let started = Instant::now();
        let dir = options.dir.clone();
        data_dir::create(&dir).map_err(|source| StoreError::Io {
            what: "create store directory",
            path: dir.clone(),
            source,
        })?;
        let lock = DirLock::take(&dir)?;
        let path = dir.join("store");
        let durable = watermark::read(&dir);
        let (engine, mut recovered, mark) = match open_cutting_journals(&dir, options, durable) {
            Ok(opened) => opened,
            Err(StoreError::Engine(fjall::Error::Locked)) => {
                return Err(StoreError::Locked {
                    path: path.join("lock"),
                })
            }
            Err(error) => {
                let (moved, bytes) = move_aside(&dir, &path)?;
                tracing::error!(
                    %error,
                    moved_to = %moved.display(),
                    bytes,
                    "the store could not be opened; its files were moved aside and a new, empty \
                     store was started"
                );
                let (engine, mut recovered, mark) = open_and_recover(&path, options, None)?;
                recovered.damage.moved_aside = Some(moved);
                recovered.damage.moved_aside_bytes = bytes;
                (engine, recovered, mark)
            }
        };
        // Everything read back is on disk from here on (a journal tail that only the page cache
        // held after a kill is fsynced now), and the watermark says so: a loss found above is
        // reported once, and a store set aside restarts the watermark at 0.
        engine.sync()?;
        let watermark = Watermark::open(&dir).map_err(|source| StoreError::Io {
            what: "open the durable watermark",
            path: dir.join(watermark::FILE),
            source,
        })?;
        watermark.record(mark);
        // The entries of `store/` (new, or renamed aside and made again), `LOCK` and the
        // watermark.
        data_dir::sync(&dir).map_err(|source| StoreError::Io {
            what: "fsync the data directory",
            path: dir.clone(),
            source,
        })?;
        recovered.elapsed = started.elapsed();
        let tickets = Arc::new(Tickets::new(options.fsync, watermark, mark));
        let sync_thread =
            tickets
                .spawn(engine.db.clone(), &path)
                .map_err(|source| StoreError::Io {
                    what: "start the store-sync thread for",
                    path: dir.clone(),
                    source,
                })?;
        let inner = Inner {
            engine,
            tickets,
            sync_thread,
            set_aside: recovered.damage.records_set_aside(),
            moved_aside_bytes: recovered.damage.moved_aside_bytes,
            dir,
            lock: Some(lock),
        };
        Ok((
            Store {
                inner: Arc::new(inner),
            },
            recovered,
        ))
    }

    /// A new, empty batch of writes.
    pub fn batch(&self) -> Batch {
        Batch::new(self.clone())
    }

    /// The highest ticket known to be on disk. In [`Fsync::Interval`] and [`Fsync::Never`]
    /// modes every commit counts as durable at once (see [`Fsync`] for their window of loss).
    pub fn durable(&self) -> Ticket {
        self.inner.tickets.durable()
    }

    /// True once `ticket` is durable.
    pub fn is_durable(&self, ticket: Ticket) -> bool {
        ticket <= self.durable()
    }

    /// Runs `notify` once `ticket` is durable: at once, on the caller's thread, if it already
    /// is; otherwise on the `store-sync` thread after the fsync that covers it. `notify` should
    /// be quick (send on a channel). A ticket that is never committed never fires, nor does one
    /// still waiting when the store closes.
    pub fn when_durable(&self, ticket: Ticket, notify: Box<dyn FnOnce() + Send>) {
        self.inner.tickets.when_durable(ticket, notify);
    }

    /// Up to `limit` queued deliveries of `client_id` with `seq >= from`, in sequence order,
    /// each with `stored = seq`.
    pub fn read_queue(
        &self,
        client_id: &str,
        from: u64,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        let ks = self.inner.engine.ks(Space::Queue);
        let prefix_len = cid(client_id).len();
        let mut out = Vec::new();
        let range = ks.range(seq_key(client_id, from)..=seq_key(client_id, u64::MAX));
        for guard in range.take(limit) {
            let (key, value) = guard.into_inner()?;
            let seq = key
                .get(prefix_len..)
                .and_then(seq_of)
                .ok_or_else(|| damaged(Space::Queue, crate::error::RecordError::Invalid("key")))?;
            out.push(decode_delivery(&value, seq).map_err(|e| damaged(Space::Queue, e))?);
        }
        Ok(out)
    }

    /// The inflight records of `client_id`, in sequence order, each with its queued delivery
    /// when the queue entry still exists.
    pub fn read_inflight(&self, client_id: &str) -> Result<Vec<InflightRecord>, StoreError> {
        let engine = &self.inner.engine;
        let prefix = cid(client_id);
        let mut out = Vec::new();
        for guard in engine.ks(Space::Inflight).prefix(&prefix) {
            let (key, value) = guard.into_inner()?;
            let seq = key.get(prefix.len()..).and_then(seq_of).ok_or_else(|| {
                damaged(Space::Inflight, crate::error::RecordError::Invalid("key"))
            })?;
            let (packet_id, released) =
                decode_inflight(&value).map_err(|e| damaged(Space::Inflight, e))?;
            let delivery = match engine.ks(Space::Queue).get(&key)? {
                Some(bytes) => {
                    Some(decode_delivery(&bytes, seq).map_err(|e| damaged(Space::Queue, e))?)
                }
                None => None,
            };
            out.push(InflightRecord {
                seq,
                packet_id,
                released,
                delivery,
            });
        }
        Ok(out)
    }

    /// The packet ids of incoming QoS 2 messages of `client_id` still awaiting PUBREL, in order.
    pub fn read_awaiting_rel(&self, client_id: &str) -> Result<Vec<u16>, StoreError> {
        let prefix = cid(client_id);
        let mut out = Vec::new();
        for guard in self.inner.engine.ks(Space::AwaitingRel).prefix(&prefix) {
            let key = guard.key()?;
            let id = key
                .get(prefix.len()..)
                .and_then(packet_id_of)
                .ok_or_else(|| {
                    damaged(
                        Space::AwaitingRel,
                        crate::error::RecordError::Invalid("key"),
                    )
                })?;
            out.push(id);
        }
        Ok(out)
    }

    /// The store's counters.
    pub fn stats(&self) -> StoreStats {
        let inner = &self.inner;
        let (syncs, sync_failures) = inner.tickets.sync_counts();
        StoreStats {
            records_set_aside: inner.set_aside,
            bytes_moved_aside: inner.moved_aside_bytes,
            disk_bytes: inner
                .engine
                .db
                .disk_space()
                .unwrap_or_else(|_| dir_bytes(&inner.dir.join("store"))),
            syncs,
            sync_failures,
            written: inner.tickets.written(),
            durable: self.durable(),
        }
    }

    /// An fsync now, covering every commit so far (in every mode). The lock is released when
    /// the last clone drops, after one more fsync.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.inner
            .tickets
            .sync(|| self.inner.engine.sync())
            .map_err(StoreError::from)
    }

    /// The engine, for [`Batch`].
    pub(crate) fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The ticket counters, for [`Batch`].
    pub(crate) fn tickets(&self) -> &Tickets {
        &self.inner.tickets
    }

    /// The fsync mode the store was opened with.
    pub fn fsync(&self) -> Fsync {
        self.inner.tickets.mode()
    }
}

fn damaged(space: Space, source: crate::error::RecordError) -> StoreError {
    StoreError::Damaged {
        keyspace: space.name(),
        source,
    }
}

/// How many times a journal batch that fails its check is cut off before the store is moved
/// aside instead (each cut removes the first failing batch of every journal).
const JOURNAL_CUTS: usize = 4;

/// Opens the engine in `dir/store` and recovers it; when the engine fails on a journal batch
/// that does not check, cuts the journals there (see the `journal` module) and tries again.
fn open_cutting_journals(
    dir: &Path,
    options: &StoreOptions,
    durable: Option<u64>,
) -> Result<(Engine, Recovered, u64), StoreError> {
    let path = dir.join("store");
    let mut cut = journal::Cut::default();
    let mut aside = None;
    for _ in 0..JOURNAL_CUTS {
        match open_and_recover(&path, options, durable) {
            Ok((engine, mut recovered, mark)) => {
                recovered.damage.moved_aside_bytes += cut.bytes;
                recovered.damage.journal_tails = cut.saved;
                return Ok((engine, recovered, mark));
            }
            Err(StoreError::Engine(fjall::Error::JournalRecovery(error))) => {
                let to: &PathBuf = aside.get_or_insert_with(|| aside_path(dir));
                let more =
                    journal::cut_bad_batches(&path, to).map_err(|source| StoreError::Io {
                        what: "cut a journal batch that fails its check, into",
                        path: to.clone(),
                        source,
                    })?;
                if more.saved.is_empty() {
                    return Err(StoreError::Engine(fjall::Error::JournalRecovery(error)));
                }
                cut.bytes += more.bytes;
                cut.saved.extend(more.saved);
            }
            Err(error) => return Err(error),
        }
    }
    open_and_recover(&path, options, durable)
}

/// Opens the engine in `path` and recovers it (`durable`: the watermark it must reach), and
/// returns the number of the last commit read back; a panic inside the engine on damaged files
/// counts as a failure to open.
fn open_and_recover(
    path: &Path,
    options: &StoreOptions,
    durable: Option<u64>,
) -> Result<(Engine, Recovered, u64), StoreError> {
    let attempt = catch_unwind(AssertUnwindSafe(|| {
        let engine = Engine::open(path, options.cache_bytes, options.memtable_bytes)?;
        let (recovered, mark) = recover(&engine, durable)?;
        Ok::<_, fjall::Error>((engine, recovered, mark))
    }));
    match attempt {
        Ok(result) => result.map_err(StoreError::from),
        Err(_) => Err(StoreError::Engine(fjall::Error::Unrecoverable)),
    }
}
