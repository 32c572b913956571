//! The router's async loop: feeds [`Router`] from the connections' bounded channel, in batches,
//! and wakes it at its next deadline (a delayed message due, a retained message expiring).

use super::command::RouterCmd;
use super::Router;
use starling_core::WallClock;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::debug;

/// Commands handled per wake-up of the router before it looks at its timer and shutdown.
const INBOX_BATCH: usize = 32;

/// Runs until every sender of `inbox` is gone (all connections and listeners closed). When
/// `shutdown` is cancelled, every session is told to stop, and so is any that registers
/// afterwards.
pub(crate) async fn run(
    mut router: Router,
    mut inbox: mpsc::Receiver<RouterCmd>,
    shutdown: CancellationToken,
    clock: WallClock,
) {
    let wall_now = || clock.at(crate::clock::now());
    let stop = shutdown.cancelled();
    tokio::pin!(stop);
    loop {
        let due = router.next_deadline();
        let sleep = async move {
            match due {
                Some(at) => tokio::time::sleep_until(Instant::from_std(clock.instant(at))).await,
                None => std::future::pending().await,
            }
        };
        // Biased toward the inbox, and the inbox drained in batches: one pass through
        // `select!` (which polls the timer and shutdown futures too) per batch rather than per
        // command. The timer and shutdown are then also checked after each batch, so a busy
        // inbox cannot hold them back.
        tokio::select! {
            biased;
            cmd = inbox.recv() => match cmd {
                Some(cmd) => {
                    let now = wall_now();
                    router.handle(cmd, now);
                    for _ in 1..INBOX_BATCH {
                        match inbox.try_recv() {
                            Ok(cmd) => router.handle(cmd, now),
                            Err(_) => break,
                        }
                    }
                    if due.is_some_and(|at| at <= now) {
                        router.handle_timers(now);
                    }
                    if !router.stopping() && shutdown.is_cancelled() {
                        router.stop_sessions();
                    }
                }
                None => break,
            },
            () = sleep => router.handle_timers(wall_now()),
            () = &mut stop, if !router.stopping() => router.stop_sessions(),
        }
        router.flush();
        router.update_gauges();
    }
    router.flush();
    debug!("router stopped");
}
