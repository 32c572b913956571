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
    /// Wakes the timer task when a new earliest deadline arrives.
    earlier: Notify,
}

#[derive(Debug)]
struct Entry {
    /// Milliseconds after `epoch`, rounded up (so an entry never comes due early).
    at: u64,
    mailbox: WeakMailbox,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at
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
        self.at.cmp(&other.at)
    }
}

impl KeepAliveTimer {
    /// A timer counting from now.
    pub(crate) fn new() -> Self {
        Self {
            epoch: crate::clock::now(),
            heap: Mutex::default(),
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
        let at = self.millis(at);
        let earliest = {
            let mut heap = self.lock();
            let earliest = heap.peek().is_none_or(|Reverse(first)| at < first.at);
            heap.push(Reverse(Entry { at, mailbox }));
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
        while heap.peek().is_some_and(|Reverse(first)| first.at <= now) {
            if let Some(Reverse(entry)) = heap.pop() {
                due.push(entry);
            }
        }
        (
            due,
            heap.peek().map(|Reverse(first)| self.instant(first.at)),
        )
    }

    /// Runs the timer until `shutdown`.
    pub(crate) async fn run(&self, shutdown: CancellationToken) {
        loop {
            let (due, next) = self.take_due(crate::clock::now());
            for entry in due {
                entry.mailbox.control(SessionControl::KeepAlive);
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
}
