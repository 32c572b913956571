//! Accept loops. Each listener accepts until shutdown, at most `max_connection_rate` a second,
//! and spawns one task per connection; a listener at its `max_connections`, or an address at
//! its `max_connections_per_address`, has new sockets closed at once (and counted).

use crate::admission::AcceptRate;
use crate::connection;
use crate::context::Context;
use crate::metrics::Metrics;
use starling_config::ListenerConfig;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::task::TaskTracker;
use tracing::{debug, warn};

/// Runs one TCP listener (number `index` of the configuration's) until shutdown. Its open
/// connections are counted in `ctx.admission`; a connection gives its slot back when its
/// socket closes.
pub(crate) async fn run_tcp(
    listener: TcpListener,
    config: ListenerConfig,
    index: usize,
    ctx: Arc<Context>,
    tasks: TaskTracker,
) {
    let max = config.max_connections as usize;
    let mut rate = config
        .max_connection_rate
        .map(|r| AcceptRate::new(r, crate::clock::now()));
    loop {
        if let Some(rate) = &mut rate {
            // Over the rate, wait (the kernel's backlog holds the callers) rather than refuse.
            while let Err(wait) = rate.take(crate::clock::now()) {
                tokio::select! {
                    () = ctx.shutdown.cancelled() => return,
                    () = tokio::time::sleep(wait) => {}
                }
            }
        }
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
        let slot =
            match ctx
                .admission
                .admit(index, peer.ip(), max, config.max_connections_per_address)
            {
                Ok(slot) => slot,
                Err(refusal) => {
                    debug!(%peer, ?refusal, "connection refused before CONNECT");
                    Metrics::add(&ctx.metrics.connections_refused, 1);
                    continue;
                }
            };
        let _ = stream.set_nodelay(true);
        let ctx = ctx.clone();
        tasks.spawn(connection::serve(stream, peer, ctx, slot));
    }
}
