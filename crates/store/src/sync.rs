//! Tickets and group commit: which commits are on disk, and the thread that puts them there.
//!
//! Every non-empty commit increments `written` *after* the engine has taken its bytes, and
//! returns the new value as its [`Ticket`]. A ticket `t` is durable once an fsync has run that
//! started after `written` reached `t`: the sync thread reads `target = written`, fsyncs, then
//! stores `durable = target`, so every commit that returned a ticket `<= target` had finished
//! writing before the fsync began.
//!
//! In [`Fsync::Always`] mode the thread (named `store-sync`) sleeps until someone waits on a
//! ticket ([`Tickets::when_durable`]), fsyncs once, and runs every waiter the fsync covered.
//! Waiters that arrive while an fsync runs gather for the next one, so many commits share one
//! fsync and no caller waits for a disk. (fjall holds its journal lock during an fsync, so a
//! commit that arrives at that moment waits for the fsync to end before it writes.)
//!
//! In [`Fsync::Interval`] mode the thread fsyncs every interval and every commit counts as
//! durable at once; [`Fsync::Never`] has no thread.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use fjall::Database;

use crate::active_journal::ActiveJournal;

use crate::lock::DirLock;
use crate::options::Fsync;
use crate::watermark::Watermark;

/// A commit's place in the order of commits: 1 for the first commit after open, and so on.
/// Tickets start again at 0 each time the store is opened.
pub type Ticket = u64;

/// Something to run once a ticket is durable.
pub(crate) type Notify = Box<dyn FnOnce() + Send>;

/// How long the sync thread waits before retrying after a failed fsync, or before looking again
/// when every waiter holds a ticket that has not been committed yet.
const RETRY: Duration = Duration::from_millis(20);

#[derive(Default)]
struct Waiters {
    list: Vec<(Ticket, Notify)>,
    stop: bool,
    /// The directory lock, when the store was closed from the sync thread itself: released
    /// when the thread ends, after its handle on the engine.
    lock: Option<DirLock>,
}

/// The ticket counters, the waiters and the sync thread's wake-up.
pub(crate) struct Tickets {
    mode: Fsync,
    watermark: Watermark,
    /// The number of the last commit read back at open: commit `t` of this run is number
    /// `base + t` (see the `watermark` module).
    base: u64,
    /// Held across a commit, so that commit numbers follow the journal's order.
    commit: Mutex<()>,
    written: AtomicU64,
    durable: AtomicU64,
    syncs: AtomicU64,
    failures: AtomicU64,
    pending: AtomicUsize,
    waiters: Mutex<Waiters>,
    wake: Condvar,
}

impl Tickets {
    pub(crate) fn new(mode: Fsync, watermark: Watermark, base: u64) -> Self {
        Self {
            mode,
            watermark,
            base,
            commit: Mutex::new(()),
            written: AtomicU64::new(0),
            durable: AtomicU64::new(0),
            syncs: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            pending: AtomicUsize::new(0),
            waiters: Mutex::new(Waiters::default()),
            wake: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Waiters> {
        self.waiters.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The mode the store was opened with.
    pub(crate) fn mode(&self) -> Fsync {
        self.mode
    }

    /// The ticket of the last commit that finished.
    pub(crate) fn written(&self) -> Ticket {
        self.written.load(Ordering::SeqCst)
    }

    /// Starts a commit: until the guard is given to [`Tickets::committed`] (or dropped, when the
    /// commit fails), no other commit starts, and the commit's number is [`Tickets::next_mark`].
    pub(crate) fn begin(&self) -> MutexGuard<'_, ()> {
        self.commit.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The number the commit being made (under [`Tickets::begin`]) writes as its mark.
    pub(crate) fn next_mark(&self) -> u64 {
        self.mark() + 1
    }

    /// The number of the last commit that finished.
    pub(crate) fn mark(&self) -> u64 {
        self.base + self.written()
    }

    /// Records a finished commit, ends it, and returns its ticket.
    pub(crate) fn committed(&self, guard: MutexGuard<'_, ()>) -> Ticket {
        let ticket = self.written.fetch_add(1, Ordering::SeqCst) + 1;
        drop(guard);
        if self.mode != Fsync::Always && self.pending.load(Ordering::SeqCst) > 0 {
            self.release(ticket);
        }
        ticket
    }

    /// The highest durable ticket.
    pub(crate) fn durable(&self) -> Ticket {
        match self.mode {
            Fsync::Always => self.durable.load(Ordering::SeqCst),
            Fsync::Interval(_) | Fsync::Never => self.written(),
        }
    }

    /// fsyncs done, and fsyncs that failed.
    pub(crate) fn sync_counts(&self) -> (u64, u64) {
        (
            self.syncs.load(Ordering::Relaxed),
            self.failures.load(Ordering::Relaxed),
        )
    }

    /// Runs `notify` once `ticket` is durable (at once if it is).
    pub(crate) fn when_durable(&self, ticket: Ticket, notify: Notify) {
        if ticket <= self.durable() {
            notify();
            return;
        }
        let mut waiters = self.lock();
        // The sync thread stores `durable` before it takes the lock to run waiters, so a
        // second look under the lock cannot miss an fsync that has just ended.
        if ticket <= self.durable() {
            drop(waiters);
            notify();
            return;
        }
        waiters.list.push((ticket, notify));
        self.pending.fetch_add(1, Ordering::SeqCst);
        drop(waiters);
        self.wake.notify_one();
    }

    /// Runs (outside the lock) every waiter whose ticket is `<= upto`.
    fn release(&self, upto: Ticket) {
        let ready: Vec<Notify> = {
            let mut waiters = self.lock();
            let (ready, waiting) = std::mem::take(&mut waiters.list)
                .into_iter()
                .partition::<Vec<_>, _>(|(t, _)| *t <= upto);
            waiters.list = waiting;
            self.pending.store(waiters.list.len(), Ordering::SeqCst);
            ready.into_iter().map(|(_, notify)| notify).collect()
        };
        for notify in ready {
            if catch_unwind(AssertUnwindSafe(notify)).is_err() {
                tracing::error!("a when_durable callback panicked");
            }
        }
    }

    /// One fsync; on success `durable` covers every commit that finished before it began, and
    /// so does the watermark.
    /// `fsync` is the sync thread's [`ActiveJournal::sync`], or fjall's own for a flush asked
    /// by a caller.
    pub(crate) fn sync<E: std::fmt::Display>(
        &self,
        fsync: impl FnOnce() -> Result<(), E>,
    ) -> Result<(), E> {
        let target = self.written();
        match fsync() {
            Ok(()) => {
                self.watermark.record(self.base + target);
                self.durable.fetch_max(target, Ordering::SeqCst);
                self.syncs.fetch_add(1, Ordering::Relaxed);
                if self.mode == Fsync::Always {
                    self.release(target);
                }
                Ok(())
            }
            Err(e) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, "store fsync failed; waiting writes stay unacknowledged");
                Err(e)
            }
        }
    }

    /// Records in the watermark that every commit up to number `mark` is on disk (after an
    /// fsync made outside [`Tickets::sync`]).
    pub(crate) fn record_watermark(&self, mark: u64) {
        self.watermark.record(mark);
    }

    /// Keeps `lock` until the sync thread has ended (the store was closed on that thread).
    pub(crate) fn release_on_exit(&self, lock: Option<DirLock>) {
        self.lock().lock = lock;
    }

    /// Asks the sync thread to make a last fsync and end.
    pub(crate) fn stop(&self) {
        self.lock().stop = true;
        self.wake.notify_all();
    }

    /// Starts the sync thread for the mode (none for [`Fsync::Never`]).
    /// `dir` is the fjall database's directory, where its journals are.
    pub(crate) fn spawn(
        self: &Arc<Self>,
        db: Database,
        dir: &std::path::Path,
    ) -> std::io::Result<Option<JoinHandle<()>>> {
        let tickets = Arc::clone(self);
        let mut journal = ActiveJournal::new(dir);
        let run: Box<dyn FnOnce() + Send> = match self.mode {
            Fsync::Always => Box::new(move || {
                tickets.run_always(&mut journal);
                drop(db);
                drop(tickets.lock().lock.take());
            }),
            Fsync::Interval(every) => Box::new(move || {
                tickets.run_interval(&mut journal, every);
                drop(db);
                drop(tickets.lock().lock.take());
            }),
            Fsync::Never => return Ok(None),
        };
        std::thread::Builder::new()
            .name("store-sync".to_owned())
            .spawn(run)
            .map(Some)
    }

    fn run_always(&self, journal: &mut ActiveJournal) {
        loop {
            let stopping = {
                let mut waiters = self.lock();
                while waiters.list.is_empty() && !waiters.stop {
                    waiters = self
                        .wake
                        .wait(waiters)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                let written = self.written();
                let due = waiters.list.iter().any(|(t, _)| *t <= written);
                if !due && !waiters.stop {
                    // Every waiter holds a ticket not committed yet: look again shortly.
                    drop(
                        self.wake
                            .wait_timeout(waiters, RETRY)
                            .unwrap_or_else(PoisonError::into_inner),
                    );
                    continue;
                }
                waiters.stop
            };
            if self.sync(|| journal.sync()).is_err() && !stopping {
                std::thread::park_timeout(RETRY);
            }
            if stopping {
                return;
            }
        }
    }

    fn run_interval(&self, journal: &mut ActiveJournal, every: Duration) {
        loop {
            let stopping = {
                let waiters = self.lock();
                if waiters.stop {
                    true
                } else {
                    let (waiters, _) = self
                        .wake
                        .wait_timeout(waiters, every)
                        .unwrap_or_else(PoisonError::into_inner);
                    waiters.stop
                }
            };
            if self.written() > self.durable.load(Ordering::SeqCst) {
                // A failure is counted and logged; the next interval tries again.
                let _ = self.sync(|| journal.sync());
            }
            if stopping {
                return;
            }
        }
    }
}
