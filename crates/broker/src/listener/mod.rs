//! The listeners: TCP, TLS, WebSocket, WebSocket over TLS (all on TCP) and QUIC (on UDP).
//!
//! - `bind`: opens every configured listener's socket before anything is served, with the
//!   TLS configuration it needs (the generated defaults in `<data_dir>/certs` when none is
//!   given); an error names the listener.
//! - `accept`: the TCP accept loop: rate, admission, one task per connection.
//! - `upgrade`: what happens on a TCP connection before MQTT: PROXY header, TLS, WebSocket,
//!   bounded by the listener's `handshake_timeout`.
//! - `quic`: the QUIC accept loop.
//! - `reload`: TLS certificates reloaded when their files change and on SIGHUP.
//! - `control`: a listener stopped and started while the broker runs.

mod accept;
mod bind;
mod control;
mod quic;
mod reload;
mod upgrade;

pub(crate) use bind::{bind_all, Bound, Socket};
pub use control::{ListenerControl, ListenerError};
pub(crate) use reload::{run as run_reload, Reloadable};

use crate::context::Context;
use control::Order;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

/// Serves listener number `index` until shutdown, obeying its start and stop orders.
pub(crate) async fn run(
    bound: Bound,
    index: usize,
    ctx: Arc<Context>,
    tasks: TaskTracker,
    control: Arc<ListenerControl>,
    mut orders: mpsc::Receiver<Order>,
) {
    let listener = Arc::new(bound.listener);
    let addr = bound.addr;
    let mut socket = match bound.socket {
        Socket::Quic(endpoint) => {
            return quic::run(endpoint, listener, index, ctx, tasks, control, orders).await
        }
        Socket::Tcp(socket) => Some(socket),
    };
    loop {
        if let Some(open) = socket.take() {
            match accept::run(open, &listener, index, &ctx, &tasks, &mut orders).await {
                accept::Exit::Shutdown => return,
                accept::Exit::Stopped(done) => {
                    control.set_running(false);
                    info!(listener = %listener.label, %addr, "listener stopped; open connections stay");
                    let _ = done.send(());
                }
            }
        }
        // Stopped: wait for a start order.
        let order = tokio::select! {
            () = ctx.shutdown.cancelled() => return,
            order = orders.recv() => order,
        };
        match order {
            None => return,
            Some(Order::Stop(done)) => {
                let _ = done.send(());
            }
            Some(Order::Start(done)) => match TcpListener::bind(addr).await {
                Ok(open) => {
                    socket = Some(open);
                    control.set_running(true);
                    info!(listener = %listener.label, %addr, "listener started");
                    let _ = done.send(Ok(()));
                }
                Err(error) => {
                    warn!(listener = %listener.label, %addr, %error, "listener could not start");
                    let _ = done.send(Err(format!("{addr}: {error}")));
                }
            },
        }
    }
}
