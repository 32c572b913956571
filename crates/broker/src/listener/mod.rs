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

mod accept;
mod bind;
mod quic;
mod reload;
mod upgrade;

pub(crate) use bind::{bind_all, Bound, Socket};
pub(crate) use reload::{run as run_reload, Reloadable};

use crate::context::Context;
use std::sync::Arc;
use tokio_util::task::TaskTracker;

/// Serves listener number `index` until shutdown.
pub(crate) async fn run(bound: Bound, index: usize, ctx: Arc<Context>, tasks: TaskTracker) {
    match bound.socket {
        Socket::Tcp(socket) => {
            accept::run(socket, Arc::new(bound.listener), index, ctx, tasks).await
        }
        Socket::Quic(endpoint) => {
            quic::run(endpoint, Arc::new(bound.listener), index, ctx, tasks).await
        }
    }
}
