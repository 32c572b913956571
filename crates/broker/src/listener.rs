//! Accept loops. Each listener accepts until shutdown and spawns one task per connection; a
//! listener at its `max_connections` closes new sockets at once.

use crate::connection;
use crate::context::Context;
use starling_config::ListenerConfig;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::task::TaskTracker;
use tracing::{debug, warn};

/// Runs one TCP listener (number `index` of the configuration's) until shutdown. Its open
/// connections are counted in `ctx.listener_open[index]`; a connection gives its slot back
/// when its task ends.
pub(crate) async fn run_tcp(
    listener: TcpListener,
    config: ListenerConfig,
    index: usize,
    ctx: Arc<Context>,
    tasks: TaskTracker,
) {
    let max = config.max_connections as usize;
    loop {
        let accepted = tokio::select! {
            () = ctx.shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
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
        let open = &ctx.listener_open[index];
        if open.load(Ordering::Relaxed) >= max {
            debug!(%peer, "listener at max_connections; closing new connection");
            continue;
        }
        open.fetch_add(1, Ordering::Relaxed);
        let _ = stream.set_nodelay(true);
        let ctx = ctx.clone();
        tasks.spawn(connection::serve(stream, peer, ctx, index));
    }
}
