//! What a TCP connection goes through before MQTT, as its listener says: the PROXY protocol
//! header (within `proxy_protocol_timeout`), the TLS handshake, the WebSocket upgrade (together
//! within `handshake_timeout`). Each failure is logged at debug level and counted
//! (`starling_net::NetCounters`), and ends only this connection.

use super::accept::admit;
use super::bind::Listener;
use crate::admission::Slot;
use crate::connection::{self, CertIdentity};
use crate::context::Context;
use starling_config::ListenerKind;
use starling_net::tls::PeerNames;
use starling_net::{proxy, ws, NetCounters, Stream};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_util::task::TaskTracker;
use tracing::debug;

/// Reads the PROXY header (the listener has `proxy_protocol` on), admits the client by the
/// address it names, and serves the connection.
pub(super) async fn serve(
    mut stream: TcpStream,
    tcp_peer: SocketAddr,
    listener: Arc<Listener>,
    index: usize,
    ctx: Arc<Context>,
    tasks: TaskTracker,
) {
    let counters = &ctx.metrics.transport;
    let Some(timeout) = listener.config.proxy_protocol else {
        unreachable!("called for PROXY protocol listeners only");
    };
    let header = bounded(
        &ctx,
        Instant::now() + timeout,
        proxy::read_header(&mut stream),
    );
    let peer = match header.await {
        Some(Ok(Some(addr))) => addr,
        // LOCAL / UNKNOWN: the balancer itself (a health check).
        Some(Ok(None)) => tcp_peer,
        Some(Err(error)) => {
            NetCounters::bump(&counters.proxy_header_bad);
            debug!(peer = %tcp_peer, listener = %listener.label, %error, "connection closed");
            return;
        }
        None => {
            timed_out(&ctx, tcp_peer, &listener, "PROXY header");
            return;
        }
    };
    let Some(slot) = admit(&ctx, &listener, index, peer) else {
        return;
    };
    serve_admitted(stream, peer, slot, listener, ctx, tasks).await;
}

/// Does the listener's TLS and WebSocket handshakes on an admitted connection, then spawns the
/// connection's task (this one ends, and its state with it).
pub(super) async fn serve_admitted(
    stream: TcpStream,
    peer: SocketAddr,
    slot: Slot,
    listener: Arc<Listener>,
    ctx: Arc<Context>,
    tasks: TaskTracker,
) {
    let deadline = Instant::now() + listener.config.handshake_timeout;
    match listener.config.kind {
        ListenerKind::Tcp => {
            tasks.spawn(connection::serve(stream, peer, ctx, slot, None));
        }
        ListenerKind::Ws => {
            let Some((stream, peer)) = websocket(stream, peer, deadline, &listener, &ctx).await
            else {
                return ctx.admission.release(slot);
            };
            tasks.spawn(connection::serve(stream, peer, ctx, slot, None));
        }
        ListenerKind::Tls => {
            let Some((stream, identity)) = tls(stream, peer, deadline, &listener, &ctx).await
            else {
                return ctx.admission.release(slot);
            };
            tasks.spawn(connection::serve(stream, peer, ctx, slot, identity));
        }
        ListenerKind::Wss => {
            let Some((stream, identity)) = tls(stream, peer, deadline, &listener, &ctx).await
            else {
                return ctx.admission.release(slot);
            };
            let Some((stream, peer)) = websocket(stream, peer, deadline, &listener, &ctx).await
            else {
                return ctx.admission.release(slot);
            };
            tasks.spawn(connection::serve(stream, peer, ctx, slot, identity));
        }
        ListenerKind::Quic => unreachable!("QUIC listeners do not accept TCP"),
    }
}

/// The TLS handshake, and what the client certificate says about the client.
async fn tls<S: Stream>(
    stream: S,
    peer: SocketAddr,
    deadline: Instant,
    listener: &Listener,
    ctx: &Context,
) -> Option<(
    starling_net::tls::ServerTlsStream<S>,
    Option<Box<CertIdentity>>,
)> {
    let Some(tls) = &listener.tls else {
        unreachable!("TLS listeners have their configuration");
    };
    let accepted = bounded(
        ctx,
        deadline,
        tls.accept(stream, peer, &ctx.metrics.transport),
    );
    match accepted.await {
        Some(Ok(accepted)) => {
            let identity = accepted
                .peer_names
                .as_ref()
                .and_then(|names| identity(names, listener));
            Some((accepted.stream, identity))
        }
        Some(Err(_)) => None, // counted and logged by `accept`
        None => {
            timed_out(ctx, peer, listener, "TLS handshake");
            None
        }
    }
}

/// The WebSocket upgrade; the client's address may come from a trusted proxy's headers.
async fn websocket<S: Stream>(
    stream: S,
    peer: SocketAddr,
    deadline: Instant,
    listener: &Listener,
    ctx: &Context,
) -> Option<(ws::ServerWsStream<S>, SocketAddr)> {
    let Some(settings) = &listener.config.ws else {
        unreachable!("WebSocket listeners have their settings");
    };
    let upgraded = bounded(
        ctx,
        deadline,
        ws::accept(stream, peer.ip(), settings, &ctx.metrics.transport),
    );
    match upgraded.await {
        Some(Ok(upgraded)) => {
            let peer = upgraded
                .forwarded_for
                .map_or(peer, |ip| SocketAddr::new(ip, 0));
            Some((upgraded.stream, peer))
        }
        Some(Err(_)) => None, // counted and logged by `accept`
        None => {
            timed_out(ctx, peer, listener, "WebSocket upgrade");
            None
        }
    }
}

/// What a verified client certificate says: that there is one (for `x509` authentication),
/// and the username and client id it gives, as the listener picks them.
pub(super) fn identity(names: &PeerNames, listener: &Listener) -> Option<Box<CertIdentity>> {
    let settings = listener.config.tls.as_ref()?;
    Some(Box::new(CertIdentity {
        username: names
            .pick(settings.peer_cert_as_username)
            .map(str::to_owned),
        client_id: names
            .pick(settings.peer_cert_as_clientid)
            .map(str::to_owned),
    }))
}

/// `work` until `deadline`; `None` when the deadline passed, or the broker is shutting down.
pub(super) async fn bounded<T>(
    ctx: &Context,
    deadline: Instant,
    work: impl Future<Output = T>,
) -> Option<T> {
    tokio::select! {
        done = tokio::time::timeout_at(deadline, work) => done.ok(),
        () = ctx.shutdown.cancelled() => None,
    }
}

/// Counts and logs a handshake that did not finish in time (not at shutdown).
pub(super) fn timed_out(ctx: &Context, peer: SocketAddr, listener: &Listener, what: &str) {
    if ctx.shutdown.is_cancelled() {
        return;
    }
    NetCounters::bump(&ctx.metrics.transport.handshake_timeouts);
    debug!(%peer, listener = %listener.label, "{what} not finished in time; connection closed");
}
