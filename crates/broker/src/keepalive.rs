//! One timer for the keep alive of every connection.
//!
//! Why not a `tokio::time::Sleep` per connection: a sleep is ~110 bytes and has to be boxed in
//! the connection's state, for a deadline that almost never fires (clients that talk or ping in
//! time move it). Here a connection's deadline is one entry of a shared min-heap (~32 bytes),
//! and a single task sleeps until the earliest one. When a deadline comes, the timer does not
//! close anything itself: it drops a [`SessionControl::KeepAlive`] into the session's mailbox,
//! and the connection asks its channel whether the deadline really passed (packets received
//! since moved it) — if not, it schedules the new deadline. So each connection has at most one
//! entry, rescheduled once per keep-alive period rather than on every packet.
//!
//! Entries hold the mailbox weakly: a connection that ended leaves a dead entry that is dropped
//! when it comes due.

use crate::mailbox::WeakMailbox;
use crate::router::command::SessionControl;
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// The shared keep-alive timer.
#[derive(Debug)]
pub(crate) struct KeepAliveTimer {
    /// Deadlines are kept as milliseconds since this instant (an entry is then 16 bytes).
    epoch: Instant,
    heap: Mutex<BinaryHeap<Reverse<Entry>>>,
    /// Connections that ended since the last purge of dead entries.
    dead: std::sync::atomic::AtomicUsize,
    /// Wakes the timer task when a new earliest deadline arrives.
    earlier: Notify,
}

#[derive(Debug)]
struct Entry {
    /// Milliseconds after `epoch`, rounded up (so an entry never comes due early), with
    /// [`SEND_CHECK`] set for a send-timeout check rather than a keep-alive one.
    at: u64,
    mailbox: WeakMailbox,
}

/// The top bit of [`Entry::at`]: the entry is a send-timeout check. Milliseconds never reach it
/// (2^63 ms is 292 million years); ordering masks it off.
const SEND_CHECK: u64 = 1 << 63;

/// The next bit: the entry ends a rate-limit pause ([`SessionControl::ResumeInput`]).
const RESUME: u64 = 1 << 62;

impl Entry {
    fn due(&self) -> u64 {
        self.at & !(SEND_CHECK | RESUME)
    }

    fn order(&self) -> SessionControl {
        if self.at & SEND_CHECK != 0 {
            SessionControl::SendCheck
        } else if self.at & RESUME != 0 {
            SessionControl::ResumeInput
        } else {
            SessionControl::KeepAlive
        }
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.due() == other.due()
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        self.due().cmp(&other.due())
    }
}

impl KeepAliveTimer {
    /// A timer counting from now.
    pub(crate) fn new() -> Self {
        Self {
            epoch: crate::clock::now(),
            heap: Mutex::default(),
            dead: std::sync::atomic::AtomicUsize::new(0),
            earlier: Notify::new(),
        }
    }

    fn millis(&self, at: Instant) -> u64 {
        let nanos = at.saturating_duration_since(self.epoch).as_nanos();
        u64::try_from(nanos.div_ceil(1_000_000)).unwrap_or(u64::MAX)
    }

    fn instant(&self, millis: u64) -> Instant {
        self.epoch + Duration::from_millis(millis)
    }

    fn lock(&self) -> MutexGuard<'_, BinaryHeap<Reverse<Entry>>> {
        self.heap.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sends [`SessionControl::KeepAlive`] to `mailbox` at `at`.
    pub(crate) fn schedule(&self, at: Instant, mailbox: WeakMailbox) {
        self.push(self.millis(at).min(RESUME - 1), mailbox);
    }

    /// Wakes the session at `at` to read again after a rate-limit pause.
    pub(crate) fn schedule_resume(&self, at: Instant, mailbox: WeakMailbox) {
        self.push(self.millis(at).min(RESUME - 1) | RESUME, mailbox);
    }

    /// Sends [`SessionControl::SendCheck`] to `mailbox` at `at`.
    pub(crate) fn schedule_send_check(&self, at: Instant, mailbox: WeakMailbox) {
        self.push(self.millis(at).min(RESUME - 1) | SEND_CHECK, mailbox);
    }

    /// A connection ended: its entry (if any) is dead. Dead entries are dropped in one pass
    /// once they are as many as the live ones, so a connect/disconnect loop cannot grow the
    /// heap (each would otherwise stay until its deadline, 27 hours with keep alive 65535).
    pub(crate) fn forget(&self) {
        let mut heap = self.lock();
        let dead = self.dead.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        if dead * 2 > heap.len() {
            heap.retain(|Reverse(entry)| entry.mailbox.is_alive());
            self.dead.store(0, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Entries held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    fn push(&self, at: u64, mailbox: WeakMailbox) {
        let entry = Entry { at, mailbox };
        let earliest = {
            let mut heap = self.lock();
            let earliest = heap
                .peek()
                .is_none_or(|Reverse(first)| entry.due() < first.due());
            heap.push(Reverse(entry));
            earliest
        };
        if earliest {
            self.earlier.notify_one();
        }
    }

    /// Entries due at `now`, taken off the heap, and the next deadline after them.
    fn take_due(&self, now: Instant) -> (Vec<Entry>, Option<Instant>) {
        // Rounded down (deadlines are rounded up): nothing is taken before its time.
        let now = u64::try_from(now.saturating_duration_since(self.epoch).as_millis())
            .unwrap_or(u64::MAX);
        let mut heap = self.lock();
        let mut due = Vec::new();
        while heap.peek().is_some_and(|Reverse(first)| first.due() <= now) {
            if let Some(Reverse(entry)) = heap.pop() {
                due.push(entry);
            }
        }
        (
            due,
            heap.peek().map(|Reverse(first)| self.instant(first.due())),
        )
    }

    /// Runs the timer until `shutdown`.
    pub(crate) async fn run(&self, shutdown: CancellationToken) {
        loop {
            let (due, next) = self.take_due(crate::clock::now());
            for entry in due {
                entry.mailbox.control(entry.order());
            }
            let sleep = async {
                match next {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = self.earlier.notified() => {}
                () = sleep => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mailbox::{mailbox, SessionMsg};
    use std::sync::Arc;

    #[tokio::test(start_paused = true)]
    async fn fires_in_deadline_order_and_skips_ended_sessions() {
        let timer = Arc::new(KeepAliveTimer::new());
        let shutdown = CancellationToken::new();
        let task = tokio::spawn({
            let (timer, shutdown) = (timer.clone(), shutdown.clone());
            async move { timer.run(shutdown).await }
        });
        let now = crate::clock::now();
        let (_late_tx, mut late) = mailbox();
        let (_early_tx, mut early) = mailbox();
        let (_gone_tx, gone) = mailbox();
        timer.schedule(now + Duration::from_secs(20), late.downgrade());
        timer.schedule(now + Duration::from_secs(5), gone.downgrade());
        drop(gone);
        timer.schedule(now + Duration::from_secs(10), early.downgrade());

        tokio::time::sleep(Duration::from_secs(9)).await;
        assert!(early.try_recv().is_none(), "not before its deadline");
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(matches!(
            early.try_recv(),
            Some(SessionMsg::Control(SessionControl::KeepAlive))
        ));
        assert!(late.try_recv().is_none());
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert!(matches!(
            late.try_recv(),
            Some(SessionMsg::Control(SessionControl::KeepAlive))
        ));
        shutdown.cancel();
        task.await.expect("timer task");
    }

    #[test]
    fn entries_of_ended_connections_do_not_pile_up() {
        // A connect/disconnect loop with keep alive 65535: each connection leaves its entry
        // (due in 27 hours) when it ends. The heap must stay within twice the live ones.
        let timer = KeepAliveTimer::new();
        let far = crate::clock::now() + Duration::from_secs(65_535 * 3 / 2);
        let (_live_tx, live) = mailbox();
        timer.schedule(far, live.downgrade());
        for _ in 0..10_000 {
            let (_tx, rx) = mailbox();
            timer.schedule(far, rx.downgrade());
            drop(rx);
            timer.forget();
            assert!(timer.len() <= 3, "heap holds {} entries", timer.len());
        }
        assert!(timer.len() >= 1, "the live connection's entry stays");
    }

    #[tokio::test(start_paused = true)]
    async fn a_send_check_arrives_as_such() {
        let timer = Arc::new(KeepAliveTimer::new());
        let shutdown = CancellationToken::new();
        let task = tokio::spawn({
            let (timer, shutdown) = (timer.clone(), shutdown.clone());
            async move { timer.run(shutdown).await }
        });
        let (_tx, mut rx) = mailbox();
        let now = crate::clock::now();
        timer.schedule_send_check(now + Duration::from_secs(30), rx.downgrade());
        timer.schedule(now + Duration::from_secs(10), rx.downgrade());
        let first = rx.recv().await;
        assert!(matches!(
            first,
            Some(SessionMsg::Control(SessionControl::KeepAlive))
        ));
        let second = rx.recv().await;
        assert!(matches!(
            second,
            Some(SessionMsg::Control(SessionControl::SendCheck))
        ));
        assert!(crate::clock::now() >= now + Duration::from_secs(30));
        shutdown.cancel();
        task.await.expect("timer task");
    }
}
