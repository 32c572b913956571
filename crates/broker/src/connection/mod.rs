//! One task per connection: the CONNECT handshake, then the online loop with a
//! [`starling_core::Channel`], then (for a session that outlives the connection) the offline
//! holder that queues deliveries until the client returns, the session expires or a new
//! connection takes it over.
//!
//! - `transport`: framing and the batched write buffer.
//! - `handshake`: reading CONNECT, negotiating, registering with the router, CONNACK.
//! - `online`: the loop over socket, inbox (deliveries, answers, takeover, shutdown) and keep alive.
//! - `offline`: the session without a connection, and the will delay.

mod handshake;
mod offline;
mod online;
mod transport;

use crate::context::Context;
use crate::metrics::Metrics;
use crate::router::command::RouterCmd;
use starling_core::{Message, SessionState, WillSpec};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::oneshot;
use tracing::{debug_span, field, Instrument};
use transport::Stream;

/// How the online part of a connection ended.
pub(crate) enum Ended {
    /// The client sent DISCONNECT.
    ClientDisconnect,
    /// The socket closed or failed, or the server closed it for a protocol error or timeout.
    Lost,
    /// Another connection took the client id.
    Takeover(oneshot::Sender<SessionState>),
    /// The broker is shutting down.
    Shutdown,
}

/// Serves one accepted connection until it and its session are done.
pub(crate) async fn serve<S>(stream: S, peer: SocketAddr, ctx: Arc<Context>)
where
    S: Stream,
{
    // A debug span only: at the default level a span per connection would cost each idle
    // connection a few hundred bytes in the subscriber's registry. The info events name the
    // peer and client id themselves.
    let span = debug_span!("conn", %peer, client_id = field::Empty, proto = field::Empty);
    async move {
        // Boxed: the handshake's state (a whole CONNECT) must not stay in every task's frame.
        // (Each boxed future is built in its own statement: built inside the `.await` expression,
        // the unboxed future would still be given room in this task's frame.)
        let handshake = Box::pin(handshake::accept(stream, peer, &ctx));
        let Some(mut conn) = handshake.await else {
            return;
        };
        Metrics::add(&ctx.metrics.connections, 1);
        Metrics::add(&ctx.metrics.connections_total, 1);
        // Not boxed: the online loop is what the task is for, and its future is kept small.
        let ended = online::run(
            &mut conn.transport,
            &mut conn.channel,
            &mut conn.inbox,
            &ctx,
        )
        .await;
        // Boxed: what follows the connection is rare and must not size every task.
        let finish = Box::pin(finish(ended, conn, &ctx));
        finish.await;
    }
    .instrument(span)
    .await;
}

/// After the connection: close the socket, then hand the session over, end it, or hold it
/// offline, publishing the will when it is due.
async fn finish<S: Stream>(ended: Ended, conn: handshake::Accepted<S>, ctx: &Context) {
    let handshake::Accepted {
        mut transport,
        channel,
        mut inbox,
        conn_id,
    } = conn;
    transport.close().await;
    Metrics::sub(&ctx.metrics.connections, 1);
    drop(transport);
    let (mut session, will, expiry) = channel.into_parts();
    let client_id = session.client_id.clone();
    match ended {
        Ended::Takeover(reply) => {
            // Deliveries already in the inbox belong to the session that moves on.
            offline::drain_into(&mut session, &mut inbox, ctx);
            if let Some(will) = will.filter(|w| w.delay_secs == 0) {
                publish_will(ctx, will).await; // [MQTT-3.1.3-9] only a delayed will waits
            }
            let _ = reply.send(session);
        }
        Ended::Shutdown => {}
        Ended::ClientDisconnect | Ended::Lost if expiry == 0 => {
            if let Some(will) = will {
                publish_will(ctx, will).await;
            }
            end_session(ctx, &mut session, conn_id).await;
        }
        Ended::ClientDisconnect | Ended::Lost => {
            let offline = RouterCmd::Offline { client_id, conn_id };
            let _ = ctx.router.send(offline).await;
            offline::hold(session, will, inbox, conn_id, ctx).await;
        }
    }
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
    let now = crate::clock::now();
    let message = Message {
        expires_at: Message::expiry_from_interval(will.expiry_interval, now),
        ..will.message
    };
    let _ = ctx.router.send(RouterCmd::Publish(Arc::new(message))).await;
}
