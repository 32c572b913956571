//! The online loop: decode what the client sent, feed the channel, carry out its effects, write
//! everything the turn produced in one go, then wait for the next event (the router's answers
//! and orders — shutdown among them —, deliveries, bytes from the client, or the keep-alive
//! deadline).
//!
//! - `stalled`: what the loop does while the socket takes none of its writes (orders out of
//!   turn, the send timeout) and while it ends.
//! - `inbox`: a batch of what the router sent (deliveries, answers, orders).
//! - `effects`: carrying out the channel's effects (packets into the write buffer, commands to
//!   the router).
//! - `reauth`: a re-authentication's steps (SCRAM over AUTH packets), answered to the channel.

use super::handshake::Accepted;
use super::transport::{Stream, Transport};
use super::Ended;
use crate::clock;
use crate::context::Context;
use crate::metrics::Metrics;
use crate::router::command::{RouterCmd, SessionControl};
use crate::trace::Direction;
use starling_codec::{Packet, ReasonCode};
use starling_core::{Channel, ServerLimits};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context as TaskContext, Poll};
use std::time::Instant;
use tokio::sync::mpsc::error::TrySendError;
use tracing::debug;

mod effects;
mod inbox;
mod reauth;
mod stalled;

use effects::{apply_effects, send_all};
use inbox::handle_batch;

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
    /// The router owes this session stored or retained deliveries and waits for it to ask.
    retained_paused: bool,
    /// A resumed stored session's place in its stored queue, told with the first request.
    resume_from: Option<u64>,
    /// Deletions of finished deliveries not committed yet (`effects`).
    pending_writes: Option<effects::PendingWrites>,
    /// The store will say when this ticket is durable (`SessionControl::Durable`): acks held
    /// at the channel's gate wait for it. At most one such request at a time.
    durable_wait: Option<u64>,
    /// A re-authentication's SCRAM state between the client's two messages (`reauth`).
    reauth: Option<Box<starling_auth::scram::ServerFirstSent>>,
}

impl Slow {
    /// Nothing rare is going on: the box can go.
    fn is_idle(&self) -> bool {
        self.sending.is_none()
            && self.ending.is_none()
            && self.stalled_since.is_none()
            && !self.send_check_armed
            && !self.retained_paused
            && self.resume_from.is_none()
            && self.pending_writes.is_none()
            && self.durable_wait.is_none()
            && self.reauth.is_none()
    }
}

impl<S: Stream> Online<S> {
    /// Starts the loop: CONNACK and any resent messages of a resumed session go first.
    pub(crate) fn new(conn: Accepted<S>, resume_from: Option<u64>, ctx: &Arc<Context>) -> Self {
        let mut online = Self { conn, slow: None };
        if resume_from.is_some() {
            online.slow().resume_from = resume_from;
        }
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
        let mut pending = self.slow.as_mut().and_then(|s| s.pending_writes.take());
        let mut reauth = self.slow.as_mut().and_then(|s| s.reauth.take());
        let Accepted {
            transport, channel, ..
        } = &mut self.conn;
        let conn_id = transport.conn_id();
        let ended = apply_effects(
            channel,
            transport,
            ctx,
            conn_id,
            &mut waiting,
            (&mut pending, &mut reauth),
        );
        if pending.is_some() {
            self.slow().pending_writes = pending;
        }
        if reauth.is_some() {
            self.slow().reauth = reauth;
        }
        if let Some(ended) = ended {
            self.end(ended);
        }
        if !waiting.is_empty() {
            self.slow().sending = Some(Box::pin(send_all(ctx.clone(), waiting)));
        }
        self.wait_for_disk(ctx);
    }

    /// Commits what the session's writes still hold (the connection is ending).
    pub(crate) fn commit_pending(&mut self, ctx: &Context) {
        if let Some(slow) = self.slow.as_mut() {
            let client_id = &self.conn.channel.session().client_id;
            effects::commit_pending(&mut slow.pending_writes, client_id, ctx);
        }
    }

    /// Asks the store to say when the ticket the first held ack waits for is durable.
    fn wait_for_disk(&mut self, ctx: &Arc<Context>) {
        let (Some(ticket), Some(store)) = (self.conn.channel.waiting_for(), &ctx.store) else {
            return;
        };
        if self.slow.as_ref().is_some_and(|s| s.durable_wait.is_some()) {
            return; // one request at a time; the next is made when it is answered
        }
        self.slow().durable_wait = Some(ticket);
        let mailbox = self.conn.inbox.downgrade();
        store.when_durable(
            ticket,
            Box::new(move || mailbox.control(SessionControl::Durable)),
        );
    }

    /// The store reached the ticket asked for: release what is on disk, ask again if more waits.
    fn handle_durable(&mut self, ctx: &Arc<Context>) {
        self.slow().durable_wait = None;
        let Accepted {
            transport, channel, ..
        } = &mut self.conn;
        effects::release_held(channel, transport, ctx);
        self.wait_for_disk(ctx);
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
            if let Some(until) = self.conn.channel.take_input_pause() {
                // Over its publish rate: not read from until then (`rate` in the core).
                ctx.keepalive
                    .schedule_resume(until, self.conn.inbox.downgrade());
            }
            // One write for the whole turn.
            match self.conn.transport.poll_flush(cx, &ctx.metrics) {
                Poll::Ready(Ok(())) => self.writes_moved(ctx),
                Poll::Ready(Err(_)) => return Poll::Ready(Ended::Lost),
                Poll::Pending => return self.poll_stalled(cx, ctx),
            }
            ready!(self.poll_event(cx, ctx));
        }
    }

    /// Asks the router for more of the stored and retained deliveries it owes, once there is
    /// room.
    fn request_retained(&mut self, ctx: &Arc<Context>) {
        if !self.slow.as_ref().is_some_and(|s| s.retained_paused) {
            return;
        }
        let credit = retained_credit(&self.conn.channel, &ctx.limits.load());
        if credit == 0 {
            return;
        }
        let slow = self.slow();
        slow.retained_paused = false;
        let from = slow.resume_from.take();
        let cmd = RouterCmd::Resume {
            client_id: self.conn.channel.session().client_id.clone(),
            conn_id: self.conn.transport.conn_id(),
            credit,
            from,
        };
        self.send_command(ctx, cmd);
    }

    /// Sends one command to the router, behind any that wait for room.
    fn send_command(&mut self, ctx: &Arc<Context>, cmd: RouterCmd) {
        if self.slow.as_ref().is_some_and(|s| s.sending.is_some()) {
            // Rare: the router is full and commands already wait; this one can wait for the
            // next turn's request.
            let slow = self.slow();
            slow.retained_paused = true;
            if let RouterCmd::Resume {
                from: Some(from), ..
            } = cmd
            {
                slow.resume_from = Some(from);
            }
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
                    if batch.durable {
                        self.handle_durable(ctx);
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
pub(super) fn retained_credit(channel: &Channel, limits: &ServerLimits) -> usize {
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
            if let Packet::Publish(publish) = &packet {
                Metrics::add(&ctx.metrics.messages_received, 1);
                Metrics::add(&ctx.metrics.messages_received_qos[publish.qos as usize], 1);
                transport.count_publish_in();
            }
            crate::trace::packet(ctx, transport.client(), channel, Direction::In, &packet);
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
