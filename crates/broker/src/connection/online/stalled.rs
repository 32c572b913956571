//! The online loop while the socket takes none of our writes, and while the connection ends:
//! orders (takeover, shutdown, the send-timeout check) are taken out of turn, so a client that
//! stopped reading cannot hold its session or the broker's shutdown hostage, and writes that
//! make no progress for `mqtt.send_timeout` end the connection.

use super::{Ended, Online};
use crate::clock;
use crate::connection::transport::Stream;
use crate::context::Context;
use crate::metrics::Metrics;
use crate::router::command::SessionControl;
use starling_codec::ReasonCode;
use std::sync::Arc;
use std::task::{ready, Context as TaskContext, Poll};
use tracing::debug;

impl<S: Stream> Online<S> {
    /// The connection must end: flush what is written, unless the socket stays stuck past the
    /// send timeout or an order (takeover, shutdown) comes first.
    pub(super) fn poll_ending(
        &mut self,
        cx: &mut TaskContext<'_>,
        ctx: &Arc<Context>,
    ) -> Poll<Ended> {
        let flushed = self.conn.transport.poll_flush(cx, &ctx.metrics);
        if flushed.is_pending() {
            self.note_stall(ctx);
            match self.poll_order_stalled(cx, ctx) {
                Poll::Ready(Some(Ended::Takeover(reply, clean_start))) => {
                    // The session is wanted elsewhere: hand it over now, whatever ended us.
                    return Poll::Ready(Ended::Takeover(reply, clean_start));
                }
                Poll::Ready(Some(_)) => {} // shutdown or timeout: end as planned
                Poll::Ready(None) | Poll::Pending => return Poll::Pending,
            }
        }
        let slow = self.slow.as_mut();
        Poll::Ready(slow.and_then(|s| s.ending.take()).unwrap_or(Ended::Lost))
    }

    /// Writes are stuck: wait for the socket (registered by the flush) or an order.
    pub(super) fn poll_stalled(
        &mut self,
        cx: &mut TaskContext<'_>,
        ctx: &Arc<Context>,
    ) -> Poll<Ended> {
        self.note_stall(ctx);
        match self.poll_order_stalled(cx, ctx) {
            Poll::Ready(Some(ended)) => Poll::Ready(ended),
            Poll::Ready(None) | Poll::Pending => Poll::Pending,
        }
    }

    /// Records that the socket did not take everything; arms the send-timeout check.
    fn note_stall(&mut self, ctx: &Context) {
        let progressed = self.conn.transport.take_progress();
        let now = clock::now();
        let inbox = self.conn.inbox.downgrade();
        let slow = self.slow();
        match slow.stalled_since {
            Some(_) if !progressed => {}
            _ => slow.stalled_since = Some(now),
        }
        if !slow.send_check_armed {
            slow.send_check_armed = true;
            ctx.keepalive
                .schedule_send_check(now + send_timeout(ctx), inbox);
        }
    }

    /// Everything written went out.
    pub(super) fn writes_moved(&mut self, ctx: &Arc<Context>) {
        let Some(slow) = &mut self.slow else { return };
        slow.stalled_since = None;
        if std::mem::take(&mut slow.keepalive_deferred) {
            self.conn.channel.handle_activity(clock::now());
            self.schedule_keepalive(ctx);
        }
    }

    /// An order while writes are stuck: `Some` when the connection ends.
    fn poll_order_stalled(
        &mut self,
        cx: &mut TaskContext<'_>,
        ctx: &Arc<Context>,
    ) -> Poll<Option<Ended>> {
        loop {
            let order = ready!(self.conn.inbox.poll_order(cx));
            let Some(order) = order else {
                return Poll::Ready(Some(Ended::Shutdown));
            };
            match order {
                SessionControl::Takeover { reply, clean_start } => {
                    self.conn
                        .channel
                        .handle_server_close(ReasonCode::SessionTakenOver);
                    return Poll::Ready(Some(Ended::Takeover(reply, clean_start)));
                }
                SessionControl::Shutdown => return Poll::Ready(Some(Ended::Shutdown)),
                SessionControl::KeepAlive => self.slow().keepalive_deferred = true,
                SessionControl::SendCheck if self.send_timed_out(ctx) => {
                    let client_id = &*self.conn.channel.session().client_id;
                    debug!(
                        client_id,
                        "send timeout: the client takes none of our writes"
                    );
                    Metrics::add(&ctx.metrics.send_timeouts, 1);
                    self.conn.transport.discard_writes();
                    return Poll::Ready(Some(Ended::Lost));
                }
                // Only orders come out of turn.
                _ => {}
            }
        }
    }

    /// Handles a send-timeout check: true when writes made no progress for the whole timeout;
    /// otherwise the next check is armed if writes are still stuck.
    fn send_timed_out(&mut self, ctx: &Context) -> bool {
        let progressed = self.conn.transport.take_progress();
        let now = clock::now();
        let timeout = send_timeout(ctx);
        let inbox = self.conn.inbox.downgrade();
        let slow = self.slow();
        slow.send_check_armed = false;
        let Some(since) = slow.stalled_since else {
            return false;
        };
        let since = if progressed { now } else { since };
        slow.stalled_since = Some(since);
        if now.saturating_duration_since(since) >= timeout {
            return true;
        }
        slow.send_check_armed = true;
        ctx.keepalive.schedule_send_check(since + timeout, inbox);
        false
    }
}

/// The send timeout in force.
fn send_timeout(ctx: &Context) -> std::time::Duration {
    ctx.limits.load().send_timeout
}
