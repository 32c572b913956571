//! The online loop: decode what the client sent, feed the channel, carry out its effects, write
//! everything the turn produced in one go, then wait for the next event (the router's answers
//! and orders — shutdown among them —, deliveries, bytes from the client, or the keep-alive
//! deadline).

use super::handshake::Accepted;
use super::transport::{Stream, Transport};
use super::Ended;
use crate::clock;
use crate::context::Context;
use crate::mailbox::{Inbox, SessionMsg};
use crate::metrics::Metrics;
use crate::router::command::{RouterCmd, SessionControl};
use starling_codec::{Packet, ReasonCode};
use starling_core::{Channel, CloseReason, Effect, ServerLimits};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context as TaskContext, Poll};
use std::time::Instant;
use tokio::sync::mpsc::error::TrySendError;
use tracing::debug;

/// Deliveries taken from the inbox in one turn before writing (bounds latency under load).
const DELIVERY_BATCH: usize = 256;
/// Payload bytes taken from the inbox in one turn before writing: with large messages the
/// count alone would build multi-megabyte write buffers (256 x 16 KB), which cost memory and
/// latency for nothing (the socket takes a few hundred KB at a time anyway).
const DELIVERY_BATCH_BYTES: usize = 256 * 1024;

/// The online part of a connection: the transport, the protocol channel and the inbox, plus
/// the little state the loop needs between wake-ups.
///
/// Memory: this is what an idle connection holds, so the loop is written by hand as a `poll`
/// over this struct rather than as an `async fn`, whose generated state would keep room for
/// every future it awaits (and some locals twice). Waiting is one pass over the inbox and the
/// socket: shutdown and the keep-alive check arrive through the inbox (the deadline is an entry
/// of the shared timer, `crate::keepalive`, not a timer of our own). The two slow paths —
/// the router's inbox being full, and a socket that does not take our writes — are a boxed
/// future and a pending write, held only while they last.
pub(crate) struct Online<S> {
    pub(crate) conn: Accepted<S>,
    /// The rare states, boxed together: most of the time a connection is neither waiting for
    /// the router nor ending.
    slow: Option<Box<Slow>>,
}

#[derive(Default)]
struct Slow {
    /// Commands waiting for room in the router's inbox, being sent in order.
    sending: Option<Pin<Box<dyn Future<Output = bool> + Send>>>,
    /// Set once the connection must end: flush what is written, then return it.
    ending: Option<Ended>,
    /// The socket stopped taking our writes: since when it last took some.
    stalled_since: Option<Instant>,
    /// A send-timeout check is in the shared timer (at most one at a time).
    send_check_armed: bool,
    /// A keep-alive check came while writes were stuck: we did not read the client meanwhile,
    /// so its silence is ours; once writes move again its deadline starts afresh.
    keepalive_deferred: bool,
    /// The router owes this session retained messages and waits for it to ask.
    retained_paused: bool,
}

impl Slow {
    /// Nothing rare is going on: the box can go.
    fn is_idle(&self) -> bool {
        self.sending.is_none()
            && self.ending.is_none()
            && self.stalled_since.is_none()
            && !self.send_check_armed
            && !self.retained_paused
    }
}

impl<S: Stream> Online<S> {
    /// Starts the loop: CONNACK and any resent messages of a resumed session go first.
    pub(crate) fn new(conn: Accepted<S>, ctx: &Arc<Context>) -> Self {
        let mut online = Self { conn, slow: None };
        online.schedule_keepalive(ctx);
        online.carry_out(ctx);
        online
    }

    fn slow(&mut self) -> &mut Slow {
        self.slow.get_or_insert_with(Box::default)
    }

    /// Marks the connection as ending. The one place a reason is set, with one precedence: a
    /// takeover wins over everything (the session is wanted elsewhere and must be handed
    /// over), then a shutdown (nothing is kept), then the first reason given.
    fn end(&mut self, ended: Ended) {
        let rank = |e: &Ended| match e {
            Ended::Takeover(..) => 2,
            Ended::Shutdown => 1,
            Ended::ClientDisconnect | Ended::Lost => 0,
        };
        let slot = &mut self.slow().ending;
        if slot
            .as_ref()
            .is_none_or(|current| rank(&ended) > rank(current))
        {
            *slot = Some(ended);
        }
    }

    /// Asks the shared timer for a [`SessionControl::KeepAlive`] at the current deadline.
    fn schedule_keepalive(&self, ctx: &Context) {
        if let Some(at) = self.conn.channel.keepalive_deadline() {
            ctx.keepalive.schedule(at, self.conn.inbox.downgrade());
        }
    }

    /// Applies the channel's effects; a full router inbox starts the sending future.
    fn carry_out(&mut self, ctx: &Arc<Context>) {
        let mut waiting = Vec::new();
        let Accepted {
            transport, channel, ..
        } = &mut self.conn;
        if let Some(ended) = apply_effects(channel, transport, ctx, &mut waiting) {
            self.end(ended);
        }
        if !waiting.is_empty() {
            self.slow().sending = Some(Box::pin(send_all(ctx.clone(), waiting)));
        }
    }

    /// Ends the connection with `reason` (sent to 5.0 clients when it allows it).
    fn close(&mut self, ctx: &Arc<Context>, reason: ReasonCode, ended: Ended) {
        self.conn.channel.handle_server_close(reason);
        self.carry_out(ctx);
        self.end(ended);
    }

    /// Drives the connection; ready with how it ended.
    ///
    /// One turn: decode and handle what was read; ask the router for owed retained messages if
    /// there is room; write everything in one go; then wait for the socket and the inbox
    /// together. While the socket does not take our writes, nothing more is read or delivered
    /// (that is the back-pressure), but orders still are (`poll_stalled`): a takeover, a
    /// shutdown or the send timeout never wait for a client that stopped reading.
    pub(crate) fn poll_run(&mut self, cx: &mut TaskContext<'_>, ctx: &Arc<Context>) -> Poll<Ended> {
        loop {
            if let Some(slow) = &mut self.slow {
                if let Some(sending) = &mut slow.sending {
                    let sent = ready!(sending.as_mut().poll(cx));
                    slow.sending = None;
                    if !sent {
                        self.end(Ended::Shutdown);
                        continue;
                    }
                }
                if slow.ending.is_some() {
                    return self.poll_ending(cx, ctx);
                }
                if slow.is_idle() {
                    self.slow = None;
                }
            }
            // Everything already read, one packet at a time with its effects, while the
            // router has answered enough of this client's requests.
            if self.conn.channel.wants_input() {
                match feed_one(&mut self.conn.transport, &mut self.conn.channel, ctx) {
                    Ok(true) => {
                        self.carry_out(ctx);
                        continue;
                    }
                    Ok(false) => {}
                    Err(reason) => {
                        self.close(ctx, reason, Ended::Lost);
                        continue;
                    }
                }
            }
            self.request_retained(ctx);
            // One write for the whole turn.
            match self.conn.transport.poll_flush(cx, &ctx.metrics) {
                Poll::Ready(Ok(())) => self.writes_moved(ctx),
                Poll::Ready(Err(_)) => return Poll::Ready(Ended::Lost),
                Poll::Pending => return self.poll_stalled(cx, ctx),
            }
            ready!(self.poll_event(cx, ctx));
        }
    }

    /// The connection must end: flush what is written, unless the socket stays stuck past the
    /// send timeout or an order (takeover, shutdown) comes first.
    fn poll_ending(&mut self, cx: &mut TaskContext<'_>, ctx: &Arc<Context>) -> Poll<Ended> {
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
    fn poll_stalled(&mut self, cx: &mut TaskContext<'_>, ctx: &Arc<Context>) -> Poll<Ended> {
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
    fn writes_moved(&mut self, ctx: &Arc<Context>) {
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

    /// Asks the router for more of the retained messages it owes, once there is room.
    fn request_retained(&mut self, ctx: &Arc<Context>) {
        if !self.slow.as_ref().is_some_and(|s| s.retained_paused) {
            return;
        }
        let credit = retained_credit(&self.conn.channel, &ctx.limits);
        if credit == 0 {
            return;
        }
        self.slow().retained_paused = false;
        let cmd = RouterCmd::ResumeRetained {
            client_id: self.conn.channel.session().client_id.clone(),
            conn_id: self.conn.conn_id,
            credit,
        };
        self.send_command(ctx, cmd);
    }

    /// Sends one command to the router, behind any that wait for room.
    fn send_command(&mut self, ctx: &Arc<Context>, cmd: RouterCmd) {
        if self.slow.as_ref().is_some_and(|s| s.sending.is_some()) {
            // Rare: the router is full and commands already wait; this one can wait for the
            // next turn's request.
            self.slow().retained_paused = true;
            return;
        }
        match ctx.router.try_send(cmd) {
            Ok(()) => {}
            Err(TrySendError::Closed(_)) => self.end(Ended::Shutdown),
            Err(TrySendError::Full(cmd)) => {
                self.slow().sending = Some(Box::pin(send_all(ctx.clone(), vec![cmd])));
            }
        }
    }

    /// Waits for the next event and handles it: bytes from the client and the inbox are both
    /// polled every time, the socket first, so deliveries that keep coming never starve the
    /// client's acks and pings (and its keep alive never expires for our want of reading).
    fn poll_event(&mut self, cx: &mut TaskContext<'_>, ctx: &Arc<Context>) -> Poll<()> {
        let mut progressed = false;
        if self.conn.channel.wants_input() {
            if let Poll::Ready(read) = self.conn.transport.poll_read_more(cx, &ctx.metrics) {
                if !matches!(read, Ok(n) if n > 0) {
                    self.end(Ended::Lost);
                    return Poll::Ready(());
                }
                progressed = true;
            }
        }
        if let Poll::Ready(msg) = self.conn.inbox.poll_recv(cx) {
            match msg {
                Some(msg) => {
                    let Accepted { channel, inbox, .. } = &mut self.conn;
                    let batch = handle_batch(msg, inbox, channel);
                    if batch.keepalive_checked {
                        self.schedule_keepalive(ctx);
                    }
                    if batch.retained_paused {
                        self.slow().retained_paused = true;
                    }
                    if batch.send_check {
                        // Writes were stuck and moved since: nothing to check.
                        self.slow().send_check_armed = false;
                    }
                    if let Some(ended) = batch.ended {
                        self.end(ended);
                    }
                    self.carry_out(ctx);
                }
                // The router only lets go of an online session's mailbox when it stops.
                None => self.close(ctx, ReasonCode::ServerShuttingDown, Ended::Shutdown),
            }
            progressed = true;
        }
        if progressed {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

/// Retained messages this session can take now: half the room left in its inflight window
/// and queue (the other half stays for live messages), at most a batch.
fn retained_credit(channel: &Channel, limits: &ServerLimits) -> usize {
    let session = channel.session();
    let window = usize::from(
        channel
            .negotiated()
            .client_receive_maximum
            .min(limits.max_inflight)
            .max(1),
    );
    let room = window.saturating_sub(session.inflight().len())
        + limits.queue.max_len.saturating_sub(session.queue().len());
    room.div_ceil(2).min(crate::router::RETAINED_BATCH)
}

/// The send timeout in force.
fn send_timeout(ctx: &Context) -> std::time::Duration {
    ctx.limits.send_timeout
}

/// Decodes the next buffered packet, if any, and hands it to the channel; the reason code to
/// close with when the bytes are malformed. (Not inline in the loop: a decoded `Packet` is
/// large, and a local held across an `.await` would size the connection's future.)
fn feed_one<S>(
    transport: &mut Transport<S>,
    channel: &mut Channel,
    ctx: &Context,
) -> Result<bool, ReasonCode>
where
    S: Stream,
{
    match transport.next_packet() {
        Ok(Some(packet)) => {
            if matches!(packet, Packet::Publish(_)) {
                Metrics::add(&ctx.metrics.messages_received, 1);
            }
            channel.handle_packet(packet, clock::now());
            Ok(true)
        }
        Ok(None) => Ok(false),
        Err(error) => {
            let client_id = &*channel.session().client_id;
            debug!(client_id, %error, "malformed packet; disconnecting");
            Err(error.reason_code())
        }
    }
}

/// Handles `first` and then what is already waiting, up to `DELIVERY_BATCH` messages or
/// `DELIVERY_BATCH_BYTES` of payload, so one write carries them all; `Some` when the
/// connection must end.
fn handle_batch(first: SessionMsg, inbox: &mut Inbox, channel: &mut Channel) -> Batch {
    let now = clock::now();
    let mut next = Some(first);
    let mut handled = 0;
    let mut bytes = 0;
    let mut batch = Batch::default();
    while let Some(msg) = next {
        match msg {
            SessionMsg::Deliver(delivery) => {
                bytes += delivery.message.payload.len();
                channel.handle_delivery(delivery, now);
            }
            SessionMsg::Control(control) => {
                // The check is made in `handle_control`; the next deadline is scheduled after
                // the batch.
                batch.keepalive_checked |= matches!(control, SessionControl::KeepAlive);
                batch.retained_paused |= matches!(control, SessionControl::RetainedPaused);
                batch.send_check |= matches!(control, SessionControl::SendCheck);
                if let Some(ended) = handle_control(control, channel) {
                    batch.ended = Some(ended);
                    return batch;
                }
            }
        }
        handled += 1;
        if handled == DELIVERY_BATCH || bytes >= DELIVERY_BATCH_BYTES {
            break; // the rest waits for the next turn, after this turn's write
        }
        next = inbox.try_recv();
    }
    batch
}

/// What a batch of inbox messages did besides producing effects.
#[derive(Default)]
struct Batch {
    /// The connection must end.
    ended: Option<Ended>,
    /// The keep-alive deadline was checked: schedule the next one.
    keepalive_checked: bool,
    /// The router owes retained messages: ask for them when there is room.
    retained_paused: bool,
    /// A send-timeout check came while writes were moving.
    send_check: bool,
}

/// Applies an order or answer from the router; `Some` when the connection must end.
fn handle_control(control: SessionControl, channel: &mut Channel) -> Option<Ended> {
    match control {
        SessionControl::SubAck {
            packet_id,
            reason_codes,
        } => {
            channel.handle_suback(packet_id, reason_codes);
            None
        }
        SessionControl::UnsubAck {
            packet_id,
            reason_codes,
        } => {
            channel.handle_unsuback(packet_id, reason_codes);
            None
        }
        SessionControl::Takeover { reply, clean_start } => {
            channel.handle_server_close(ReasonCode::SessionTakenOver);
            Some(Ended::Takeover(reply, clean_start))
        }
        SessionControl::Shutdown => {
            channel.handle_server_close(ReasonCode::ServerShuttingDown);
            Some(Ended::Shutdown)
        }
        SessionControl::KeepAlive => {
            channel.handle_tick(clock::now());
            None
        }
        // Noted by the batch: handled by the loop.
        SessionControl::RetainedPaused | SessionControl::SendCheck => None,
    }
}

/// Sends commands to the router in order, waiting for room; false when the router is gone.
async fn send_all(ctx: Arc<Context>, commands: Vec<RouterCmd>) -> bool {
    for cmd in commands {
        if ctx.router.send(cmd).await.is_err() {
            return false;
        }
    }
    true
}

/// Applies the effects: packets into the write buffer, commands to the router while it has
/// room (the rest into `waiting`, in order).
fn apply_effects<S>(
    channel: &mut Channel,
    transport: &mut Transport<S>,
    ctx: &Context,
    waiting: &mut Vec<RouterCmd>,
) -> Option<Ended>
where
    S: Stream,
{
    // Taken, not drained into a kept buffer: a busy turn makes hundreds of (large) effects, and a
    // reused Vec would keep that much memory in every connection that was ever busy.
    let effects = channel.take_effects();
    let stats = channel.take_stats();
    let dropped = stats.dropped();
    if dropped > 0 {
        Metrics::add(&ctx.metrics.messages_dropped, dropped);
    }
    let version = channel.version();
    let client_id = &channel.session().client_id;
    let mut ended = None;
    for effect in effects {
        let cmd = match effect {
            Effect::Send(packet) => {
                transport.queue(&packet, version, &ctx.metrics);
                continue;
            }
            Effect::Close(CloseReason::ClientDisconnect { .. }) => {
                ended = Some(Ended::ClientDisconnect);
                continue;
            }
            Effect::Close(CloseReason::Server(reason)) => {
                debug!(client_id = &**client_id, %reason, "server closes the connection");
                ended = Some(Ended::Lost);
                continue;
            }
            Effect::Publish(message) => RouterCmd::Publish(message),
            Effect::Subscribe {
                packet_id,
                requests,
            } => RouterCmd::Subscribe {
                client_id: client_id.clone(),
                packet_id,
                requests,
                credit: retained_credit(channel, &ctx.limits),
            },
            Effect::Unsubscribe { packet_id, filters } => RouterCmd::Unsubscribe {
                client_id: client_id.clone(),
                packet_id,
                filters,
            },
        };
        if !waiting.is_empty() {
            waiting.push(cmd); // keep the order behind what already waits
            continue;
        }
        match ctx.router.try_send(cmd) {
            Ok(()) => {}
            Err(TrySendError::Closed(_)) => return Some(Ended::Shutdown),
            Err(TrySendError::Full(cmd)) => waiting.push(cmd),
        }
    }
    ended
}
