//! One task per connection: the CONNECT handshake, then the online loop with a
//! [`starling_core::Channel`]; a session that outlives the connection is handed to the router
//! (`crate::router`, which keeps offline sessions without a task) when it ends. The task's
//! future ([`Connection`]) is written by hand so that an idle connection holds only its online
//! state (see ARCHITECTURE.md, "Memory per connection").
//!
//! - `transport`: framing and the batched write buffer.
//! - `handshake`: reading CONNECT, negotiating, CONNACK.
//! - `enhanced`: 5.0 enhanced authentication (SCRAM over AUTH packets) at CONNECT.
//! - `takeover`: registering with the router, and the previous session resumed or discarded.
//! - `resume`: a stored session's inflight window and QoS 2 ids read back from the store.
//! - `online`: the loop over socket, inbox (deliveries, answers, takeover, shutdown) and keep alive.

mod enhanced;
mod handshake;
mod online;
mod resume;
mod takeover;
mod transport;

use crate::admission::Slot;
use crate::context::Context;
use crate::mailbox::{Inbox, SessionMsg};
use crate::metrics::Metrics;
use crate::router::command::RouterCmd;
use crate::router::Handoff;
pub(crate) use handshake::CertIdentity;
use handshake::{Accepted, Handshaken};
use online::Online;
use starling_core::{Message, SessionState, WillSpec};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context as TaskContext, Poll};
use tokio::sync::oneshot;
use tracing::{debug_span, field, Instrument};
use transport::Stream;

/// How the online part of a connection ended.
pub(crate) enum Ended {
    /// The client sent DISCONNECT.
    ClientDisconnect,
    /// The socket closed or failed, or the server closed it for a protocol error or timeout.
    Lost,
    /// Another connection took the client id (with Clean Start when the flag is set).
    Takeover(oneshot::Sender<SessionState>, bool),
    /// The broker is shutting down.
    Shutdown,
}

/// Serves one connection admitted into `slot` until it and its session are done; the slot is
/// given back when the connection closes (`crate::admission`).
pub(crate) fn serve<S>(
    stream: S,
    peer: SocketAddr,
    ctx: Arc<Context>,
    slot: Slot,
    identity: Option<Box<CertIdentity>>,
) -> Connection<S>
where
    S: Stream + 'static,
{
    // Debug spans only, around the handshake and the end: at the default level a span per
    // connection would cost each idle connection a few hundred bytes in the subscriber's
    // registry, and holding one would cost every connection's task 8 bytes that decide whether
    // it fits 384 bytes. Events of the online loop name the client themselves, as do the info
    // events.
    let span = debug_span!("conn", %peer, client_id = field::Empty, proto = field::Empty);
    // Boxed: the handshake's state (a whole CONNECT) must not stay in every task.
    let handshake =
        Box::pin(handshake::accept(stream, peer, ctx.clone(), identity).instrument(span));
    Connection {
        ctx,
        phase: Phase::Handshake(handshake),
        slot,
    }
}

/// The task of one connection. A hand-written future rather than an `async fn`: this is what
/// every connection holds for its whole life, and an `async fn` would keep room for the
/// handshake, the online loop and the end together. Here the rare phases are boxed and freed
/// when done, and the online phase is exactly [`Online`].
pub(crate) struct Connection<S> {
    ctx: Arc<Context>,
    phase: Phase<S>,
    slot: Slot,
}

impl<S> Connection<S> {
    /// Gives the listener slot back: a slot counts live connections only, so a session held
    /// offline after its connection closed does not keep anyone out.
    fn release_slot(&mut self) {
        let slot = std::mem::replace(&mut self.slot, Slot::NONE);
        self.ctx.admission.release(slot);
    }
}

impl<S> Drop for Connection<S> {
    fn drop(&mut self) {
        self.release_slot();
    }
}

// Not boxed: the online phase is the one a connection spends its life in, so it is the one the
// task's allocation is sized for; the others are boxed.
#[allow(clippy::large_enum_variant)]
enum Phase<S> {
    Handshake(Pin<Box<dyn Future<Output = Option<Handshaken<S>>> + Send>>),
    Online(Online<S>),
    Finish(Pin<Box<dyn Future<Output = ()> + Send>>),
    Done,
}

impl<S> Future for Connection<S>
where
    S: Stream + 'static,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        let this = self.get_mut();
        loop {
            match &mut this.phase {
                Phase::Handshake(handshake) => match ready!(handshake.as_mut().poll(cx)) {
                    None => {
                        this.phase = Phase::Done;
                        return Poll::Ready(());
                    }
                    Some((conn, resume_from)) => {
                        Metrics::add(&this.ctx.metrics.connections, 1);
                        Metrics::add(&this.ctx.metrics.connections_total, 1);
                        let online = Online::new(conn, resume_from, &this.ctx);
                        this.phase = Phase::Online(online);
                    }
                },
                Phase::Online(online) => {
                    let ended = ready!(online.poll_run(cx, &this.ctx));
                    online.commit_pending(&this.ctx);
                    this.ctx.keepalive.forget();
                    this.release_slot();
                    if let Phase::Online(online) = std::mem::replace(&mut this.phase, Phase::Done) {
                        // Boxed: what follows the connection is rare.
                        let client_id = &*online.conn.channel.session().client_id;
                        let span = debug_span!("conn", client_id);
                        let finish = finish(ended, online.conn, this.ctx.clone()).instrument(span);
                        this.phase = Phase::Finish(Box::pin(finish));
                    }
                }
                Phase::Finish(finish) => {
                    ready!(finish.as_mut().poll(cx));
                    this.phase = Phase::Done;
                    return Poll::Ready(());
                }
                Phase::Done => return Poll::Ready(()),
            }
        }
    }
}

/// After the connection: hand the session over (first, before anything that could wait on
/// the old socket), close the socket within the send timeout, then end the session or give it
/// to the router to hold offline (with its will, which the router publishes when it is due).
///
/// Precedence: a takeover ends the connection whatever else was going on (the session is
/// wanted elsewhere); a shutdown keeps nothing (a stored session stays in the store); otherwise
/// session expiry 0 ends the session with its will, and anything else goes offline (the router
/// ends it instead when it already holds `session.max_offline` offline sessions).
async fn finish<S: Stream + 'static>(ended: Ended, conn: Accepted<S>, ctx: Arc<Context>) {
    let ctx = &*ctx;
    let Accepted {
        mut transport,
        channel,
        mut inbox,
    } = conn;
    let conn_id = transport.conn_id();
    let why = match &ended {
        Ended::ClientDisconnect => "by the client's DISCONNECT",
        Ended::Lost => "lost or closed by the server",
        Ended::Takeover(..) => "taken over by another connection",
        Ended::Shutdown => "the broker shuts down",
    };
    crate::trace::closed(ctx, transport.client(), why);
    let (mut session, will, expiry) = channel.into_parts();
    let client_id = session.client_id.clone();
    // Whoever holds the session next reads its inflight window from the store.
    resume::save_window(ctx, &session);
    if let Ended::Takeover(reply, clean_start) = ended {
        // Deliveries already in the inbox belong to the session that moves on.
        drain_into(&mut session, &mut inbox, ctx);
        let _ = reply.send(session);
        transport.close(&ctx.metrics, ctx.close_timeout()).await;
        Metrics::sub(&ctx.metrics.connections, 1);
        // [MQTT-3.1.3-9]: a delayed will waits for the session, which lives on unless the new
        // connection starts clean; then it ends here and the will goes now.
        if let Some(will) = will.filter(|w| w.delay_secs == 0 || clean_start) {
            publish_will(ctx, will).await;
        }
        return;
    }
    Metrics::sub(&ctx.metrics.connections, 1);
    if matches!(ended, Ended::ClientDisconnect | Ended::Lost) {
        crate::access::disconnected(ctx, &client_id);
    }
    match ended {
        Ended::Takeover(..) | Ended::Shutdown => {
            transport.close(&ctx.metrics, ctx.close_timeout()).await
        }
        Ended::ClientDisconnect | Ended::Lost if expiry == 0 => {
            transport.close(&ctx.metrics, ctx.close_timeout()).await;
            if let Some(will) = will {
                publish_will(ctx, will).await;
            }
            end_session(ctx, &mut session, conn_id).await;
        }
        Ended::ClientDisconnect | Ended::Lost => {
            close_apart(transport, ctx);
            let handoff = Handoff {
                client_id,
                conn_id,
                session,
                will,
                inbox,
            };
            let _ = ctx.router.send(RouterCmd::Offline(Box::new(handoff))).await;
        }
    }
}

/// Moves the deliveries waiting in the inbox into the session's queue (answers meant for the
/// connection that is gone are dropped with it).
fn drain_into(session: &mut SessionState, inbox: &mut Inbox, ctx: &Context) {
    while let Some(msg) = inbox.try_recv() {
        if let SessionMsg::Deliver(delivery) = msg {
            if delivery.stored != 0 {
                continue; // in the store: the next holder reads it from there
            }
            if session.enqueue_offline(delivery, &ctx.limits.load().queue)
                != starling_core::Enqueued::Queued
            {
                Metrics::add(&ctx.metrics.messages_dropped, 1);
            }
        }
    }
}

/// Closes the socket off the session's path: what is left to write may take up to the close
/// timeout, and nothing the session does (answering a takeover first of all) waits for it.
fn close_apart<S: Stream + 'static>(mut transport: transport::Transport<S>, ctx: &Context) {
    let metrics = ctx.metrics.clone();
    let timeout = ctx.close_timeout();
    tokio::spawn(async move { transport.close(&metrics, timeout).await });
}

/// Tells the router the session is gone, handing back its unacknowledged shared messages.
pub(crate) async fn end_session(ctx: &Context, session: &mut SessionState, conn_id: u64) {
    let redispatch = session.take_shared_unacked();
    let client_id = session.client_id.clone();
    let _ = ctx
        .router
        .send(RouterCmd::SessionEnded {
            client_id,
            conn_id,
            redispatch,
        })
        .await;
}

/// Publishes a will message, its expiry counted from now.
pub(crate) async fn publish_will(ctx: &Context, will: WillSpec) {
    let now = crate::clock::wall(&ctx.limits.load());
    let message = Message {
        expires_at: Message::expiry_from_interval(will.expiry_interval, now),
        ..will.message
    };
    let _ = ctx.router.send(RouterCmd::Publish(Arc::new(message))).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idle_connection_fits_a_384_byte_task() {
        // tokio allocates a task as header + future + trailer (~112 bytes with the task
        // tracker's token), aligned to 128 bytes: at most 264 bytes of future keeps every
        // connection's task at 384 bytes rather than 512 (see ARCHITECTURE.md, "Memory per
        // connection").
        let size = std::mem::size_of::<Connection<tokio::net::TcpStream>>();
        assert!(size <= 264, "Connection is {size} bytes");
    }
}
