//! The TCP accept loop (TCP, TLS, WebSocket and WSS listeners). Each listener accepts until
//! shutdown, at most `max_connection_rate` a second, and spawns one task per connection; a
//! listener at its `max_connections`, or an address at its `max_connections_per_address`, has
//! new sockets closed at once (and counted). A plain TCP listener without the PROXY protocol
//! spawns the connection itself; the others spawn a handshake task (`upgrade`: PROXY header,
//! TLS, WebSocket), which spawns the connection's own task once it is done. So every
//! connection's long-lived task is exactly its `connection::Connection` future: the handshake's
//! state (tens of kilobytes for TLS and WebSocket together) is gone with its task.

use super::bind::Listener;
use super::control::Order;
use super::upgrade;
use crate::admission::{AcceptRate, Slot};
use crate::connection;
use crate::context::Context;
use crate::metrics::Metrics;
use starling_config::ListenerKind;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio_util::task::TaskTracker;
use tracing::{debug, warn};

/// Why an accept loop returned.
pub(super) enum Exit {
    /// The broker is stopping.
    Shutdown,
    /// A stop order: the socket is closed (dropped with the loop); answer once it is.
    Stopped(oneshot::Sender<()>),
}

/// Runs one TCP listener (number `index` of the configuration's) until shutdown or a stop
/// order. Its open connections are counted in `ctx.admission`; a connection gives its slot
/// back when its socket closes.
pub(super) async fn run(
    socket: TcpListener,
    listener: &Arc<Listener>,
    index: usize,
    ctx: &Arc<Context>,
    tasks: &TaskTracker,
    orders: &mut mpsc::Receiver<Order>,
) -> Exit {
    let config = &listener.config;
    let mut rate = config
        .max_connection_rate
        .map(|r| AcceptRate::new(r, crate::clock::now()));
    let direct = config.kind == ListenerKind::Tcp && config.proxy_protocol.is_none();
    loop {
        if let Some(rate) = &mut rate {
            // Over the rate, wait (the kernel's backlog holds the callers) rather than refuse.
            while let Err(wait) = rate.take(crate::clock::now()) {
                tokio::select! {
                    () = ctx.shutdown.cancelled() => return Exit::Shutdown,
                    () = tokio::time::sleep(wait) => {}
                }
            }
        }
        let accepted = tokio::select! {
            () = ctx.shutdown.cancelled() => return Exit::Shutdown,
            order = orders.recv() => match order {
                Some(Order::Stop(done)) => return Exit::Stopped(done),
                Some(Order::Start(done)) => {
                    let _ = done.send(Ok(()));
                    continue;
                }
                None => return Exit::Shutdown,
            },
            accepted = socket.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(error) => {
                // Usually EMFILE: back off briefly instead of spinning.
                warn!(%error, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        if config.proxy_protocol.is_some() {
            // Admitted once the header names the client: the balancer's address says nothing.
            let task = upgrade::serve(
                stream,
                peer,
                listener.clone(),
                index,
                ctx.clone(),
                tasks.clone(),
            );
            tasks.spawn(task);
            continue;
        }
        let Some(slot) = admit(ctx, listener, index, peer) else {
            continue;
        };
        if direct {
            tasks.spawn(connection::serve(stream, peer, ctx.clone(), slot, None));
        } else {
            let task = upgrade::serve_admitted(
                stream,
                peer,
                slot,
                listener.clone(),
                ctx.clone(),
                tasks.clone(),
            );
            tasks.spawn(task);
        }
    }
}

/// A connection slot for `peer` on listener `index`, or `None` (counted) when it is full.
pub(super) fn admit(
    ctx: &Context,
    listener: &Listener,
    index: usize,
    peer: SocketAddr,
) -> Option<Slot> {
    let config = &listener.config;
    match ctx.admission.admit(
        index,
        peer.ip(),
        config.max_connections as usize,
        config.max_connections_per_address,
    ) {
        Ok(slot) => Some(slot),
        Err(refusal) => {
            debug!(%peer, listener = %listener.label, ?refusal, "connection refused before CONNECT");
            Metrics::add(&ctx.metrics.connections_refused, 1);
            None
        }
    }
}
