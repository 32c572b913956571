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
use crate::router::command::{RouterCmd, SessionControl, SubAckReply};
use starling_codec::{Packet, ReasonCode};
use starling_core::{Channel, CloseReason, Effect};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context as TaskContext, Poll};
use tokio::sync::mpsc::error::TrySendError;
use tokio::time::Sleep;
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
/// every future it awaits (and some locals twice). Waiting is one pass over the inbox, the
/// socket and the keep-alive timer; shutdown arrives through the inbox. The timer is not
/// re-armed on every packet: when it fires, the channel says whether the deadline really
/// passed, and if packets moved it the timer is set to the new deadline. The two slow paths —
/// the router's inbox being full, and a socket that does not take our writes — are a boxed
/// future and a pending write, held only while they last.
pub(crate) struct Online<S> {
    pub(crate) conn: Accepted<S>,
    ctx: Arc<Context>,
    /// Boxed (and made only with a keep alive): most of an idle connection's timer state.
    keepalive: Option<Pin<Box<Sleep>>>,
    /// Commands waiting for room in the router's inbox, being sent in order.
    sending: Option<Pin<Box<dyn Future<Output = bool> + Send>>>,
    /// Set once the connection must end: flush what is written, then return it.
    ending: Option<Ended>,
}

impl<S: Stream> Online<S> {
    /// Starts the loop: CONNACK and any resent messages of a resumed session go first.
    pub(crate) fn new(conn: Accepted<S>, ctx: Arc<Context>) -> Self {
        let keepalive = conn
            .channel
            .keepalive_deadline()
            .map(|at| Box::pin(tokio::time::sleep_until(at.into())));
        let mut online = Self {
            conn,
            ctx,
            keepalive,
            sending: None,
            ending: None,
        };
        online.carry_out();
        online
    }

    /// Applies the channel's effects; a full router inbox starts the sending future.
    fn carry_out(&mut self) {
        let mut waiting = Vec::new();
        let Accepted {
            transport, channel, ..
        } = &mut self.conn;
        if let Some(ended) = apply_effects(channel, transport, &self.ctx, &mut waiting) {
            self.ending.get_or_insert(ended);
        }
        if !waiting.is_empty() {
            let ctx = self.ctx.clone();
            self.sending = Some(Box::pin(send_all(ctx, waiting)));
        }
    }

    /// Ends the connection with `reason` (sent to 5.0 clients when it allows it).
    fn close(&mut self, reason: ReasonCode, ended: Ended) {
        self.conn.channel.handle_server_close(reason);
        self.carry_out();
        self.ending = Some(ended);
    }

    /// Drives the connection; ready with how it ended.
    pub(crate) fn poll_run(&mut self, cx: &mut TaskContext<'_>) -> Poll<Ended> {
        loop {
            if let Some(sending) = &mut self.sending {
                let sent = ready!(sending.as_mut().poll(cx));
                self.sending = None;
                if !sent {
                    self.ending = Some(Ended::Shutdown);
                }
            }
            if self.ending.is_some() {
                // Whatever the flush gives, the connection is over.
                let _ = ready!(self.conn.transport.poll_flush(cx));
                return Poll::Ready(self.ending.take().unwrap_or(Ended::Lost));
            }
            // Everything already read, one packet at a time with its effects.
            match feed_one(&mut self.conn.transport, &mut self.conn.channel, &self.ctx) {
                Ok(true) => {
                    self.carry_out();
                    continue;
                }
                Ok(false) => {}
                Err(reason) => {
                    self.close(reason, Ended::Lost);
                    continue;
                }
            }
            // One write for the whole turn. A client that does not read holds us here, which
            // is the back-pressure on its deliveries (they wait in the mailbox, bounded).
            if ready!(self.conn.transport.poll_flush(cx)).is_err() {
                return Poll::Ready(Ended::Lost);
            }
            ready!(self.poll_event(cx));
        }
    }

    /// Waits for the next event and handles it.
    fn poll_event(&mut self, cx: &mut TaskContext<'_>) -> Poll<()> {
        if let Poll::Ready(msg) = self.conn.inbox.poll_recv(cx) {
            match msg {
                Some(msg) => {
                    let Accepted { channel, inbox, .. } = &mut self.conn;
                    if let Some(ended) = handle_batch(msg, inbox, channel) {
                        self.ending = Some(ended);
                    }
                    self.carry_out();
                }
                // The router only lets go of an online session's mailbox when it stops.
                None => self.close(ReasonCode::ServerShuttingDown, Ended::Shutdown),
            }
            return Poll::Ready(());
        }
        if let Poll::Ready(read) = self.conn.transport.poll_read_more(cx) {
            if !matches!(read, Ok(n) if n > 0) {
                self.ending = Some(Ended::Lost);
            }
            return Poll::Ready(());
        }
        if let Some(timer) = &mut self.keepalive {
            if timer.as_mut().poll(cx).is_ready() {
                let channel = &mut self.conn.channel;
                channel.handle_tick(clock::now());
                match channel.keepalive_deadline() {
                    Some(at) => timer.as_mut().reset(at.into()),
                    None => self.keepalive = None,
                }
                self.carry_out();
                return Poll::Ready(());
            }
        }
        Poll::Pending
    }
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
            debug!(%error, "malformed packet; disconnecting");
            Err(error.reason_code())
        }
    }
}

/// Handles `first` and then what is already waiting, up to `DELIVERY_BATCH` messages or
/// `DELIVERY_BATCH_BYTES` of payload, so one write carries them all; `Some` when the
/// connection must end.
fn handle_batch(first: SessionMsg, inbox: &mut Inbox, channel: &mut Channel) -> Option<Ended> {
    let now = clock::now();
    let mut next = Some(first);
    let mut handled = 0;
    let mut bytes = 0;
    while let Some(msg) = next {
        match msg {
            SessionMsg::Deliver(delivery) => {
                bytes += delivery.message.payload.len();
                channel.handle_delivery(delivery, now);
            }
            SessionMsg::Control(control) => {
                if let Some(ended) = handle_control(control, channel) {
                    return Some(ended);
                }
            }
        }
        handled += 1;
        if handled == DELIVERY_BATCH || bytes >= DELIVERY_BATCH_BYTES {
            break; // the rest waits for the next turn, after this turn's write
        }
        next = inbox.try_recv();
    }
    None
}

/// Applies an order or answer from the router; `Some` when the connection must end.
fn handle_control(control: SessionControl, channel: &mut Channel) -> Option<Ended> {
    match control {
        SessionControl::SubAck(reply) => {
            let SubAckReply {
                packet_id,
                reason_codes,
                retained,
            } = *reply;
            channel.handle_suback(packet_id, reason_codes);
            let now = clock::now();
            for delivery in retained {
                channel.handle_delivery(delivery, now);
            }
            None
        }
        SessionControl::UnsubAck {
            packet_id,
            reason_codes,
        } => {
            channel.handle_unsuback(packet_id, reason_codes);
            None
        }
        SessionControl::Takeover { reply } => {
            channel.handle_server_close(ReasonCode::SessionTakenOver);
            Some(Ended::Takeover(reply))
        }
        SessionControl::Shutdown => {
            channel.handle_server_close(ReasonCode::ServerShuttingDown);
            Some(Ended::Shutdown)
        }
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
    let dropped = stats.dropped_queue_full + stats.dropped_expired + stats.dropped_too_large;
    if dropped > 0 {
        Metrics::add(&ctx.metrics.messages_dropped, dropped);
    }
    let version = channel.version();
    let client_id = &channel.session().client_id;
    let mut ended = None;
    for effect in effects {
        let cmd = match effect {
            Effect::Send(packet) => {
                transport.queue(&packet, version);
                continue;
            }
            Effect::Close(CloseReason::ClientDisconnect { .. }) => {
                ended = Some(Ended::ClientDisconnect);
                continue;
            }
            Effect::Close(CloseReason::Server(reason)) => {
                debug!(%reason, "server closes the connection");
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
