//! Opening many connections: pacing (`-i`), a bound on handshakes in flight, source addresses
//! round-robin (`--ifaddr`), client ids and topic placeholders.

use super::args::Common;
use super::stats::Stats;
use anyhow::Context;
use starling_client::{Client, ClientOptions, Incoming, TransportKind};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// What every client task of a run shares.
pub(crate) struct Ctx {
    pub(crate) common: Common,
    pub(crate) addr: SocketAddr,
    /// The broker's host name (TLS SNI and verification, WebSocket `Host`).
    pub(crate) host: String,
    /// TCP, TLS, WebSocket: one TLS configuration shared by every connection.
    pub(crate) transport: TransportKind,
    pub(crate) stats: Arc<Stats>,
    /// Cancelled when the run ends: tasks disconnect and return.
    pub(crate) stop: CancellationToken,
    handshakes: Arc<Semaphore>,
    sequence: AtomicUsize,
    error_shown: AtomicBool,
}

/// A connected client handed to a role's body.
pub(crate) struct Session {
    /// The client's number within its role, from 1.
    pub(crate) index: usize,
    /// Its client id.
    pub(crate) client_id: String,
    /// The connection.
    pub(crate) client: Client,
    /// What it receives.
    pub(crate) incoming: Incoming,
}

impl Ctx {
    /// A context for `common`, resolving the broker address.
    pub(crate) async fn new(common: Common, stats: Arc<Stats>) -> anyhow::Result<Arc<Self>> {
        let endpoint = common.broker.endpoint()?;
        let transport = common.broker.transport(&endpoint)?;
        let addr = tokio::net::lookup_host((endpoint.host.as_str(), endpoint.port))
            .await
            .with_context(|| format!("resolving {}", endpoint.host))?
            .next()
            .ok_or_else(|| anyhow::anyhow!("{} has no address", endpoint.host))?;
        Ok(Arc::new(Self {
            host: endpoint.host,
            transport,
            handshakes: Arc::new(Semaphore::new(common.max_connecting.max(1))),
            common,
            addr,
            stats,
            stop: CancellationToken::new(),
            sequence: AtomicUsize::new(0),
            error_shown: AtomicBool::new(false),
        }))
    }

    fn options(&self, client_id: &str, inflight: u16) -> ClientOptions {
        let c = &self.common;
        let mut o = ClientOptions::new(self.addr)
            .version(c.version)
            .client_id(client_id)
            .clean_start(c.clean_start())
            .keep_alive(Duration::from_secs(c.keepalive.into()));
        if !matches!(self.transport, TransportKind::Tcp) {
            o.transport = self.transport.clone();
            o.server_name = Some(self.host.clone());
        }
        o.session_expiry = c.session_expiry;
        o.username.clone_from(&c.username);
        o.password = c.password.clone().map(Into::into);
        o.max_inflight = inflight;
        o.incoming_capacity = 64;
        if !c.ifaddr.is_empty() {
            let n = self.sequence.fetch_add(1, Relaxed);
            o.local_addr = Some(c.ifaddr[n % c.ifaddr.len()]);
        }
        o
    }

    /// Connects `n` clients named `<prefix>_<role>_<i>`, `-i` ms apart, and runs `body` on each
    /// connected one in its own task. A client that fails to connect counts in the stats and
    /// yields `None`.
    pub(crate) async fn spawn<F, Fut, T>(
        self: &Arc<Self>,
        role: &'static str,
        n: usize,
        inflight: u16,
        body: F,
    ) -> Vec<JoinHandle<Option<T>>>
    where
        F: Fn(Arc<Ctx>, Session) -> Fut + Clone + Send + 'static,
        Fut: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let mut handles = Vec::with_capacity(n);
        let interval = Duration::from_millis(self.common.connect_interval_ms);
        for index in 1..=n {
            if self.stop.is_cancelled() {
                break;
            }
            if index > 1 && !interval.is_zero() {
                tokio::time::sleep(interval).await;
            }
            let Ok(permit) = Arc::clone(&self.handshakes).acquire_owned().await else {
                break;
            };
            let ctx = Arc::clone(self);
            let body = body.clone();
            handles.push(tokio::spawn(async move {
                let client_id = format!("{}_{role}_{index}", ctx.common.prefix);
                let result = Client::connect(&ctx.options(&client_id, inflight)).await;
                drop(permit);
                match result {
                    Ok((client, incoming)) => {
                        ctx.stats.connected.fetch_add(1, Relaxed);
                        let session = Session {
                            index,
                            client_id,
                            client,
                            incoming,
                        };
                        Some(body(Arc::clone(&ctx), session).await)
                    }
                    Err(e) => {
                        ctx.stats.connect_failed.fetch_add(1, Relaxed);
                        if !ctx.error_shown.swap(true, Relaxed) {
                            eprintln!("{client_id}: {e}");
                        }
                        None
                    }
                }
            }));
        }
        handles
    }

    /// Counts an error and shows the first one.
    pub(crate) fn error(&self, who: &str, e: impl std::fmt::Display) {
        self.stats.errors.fetch_add(1, Relaxed);
        if !self.error_shown.swap(true, Relaxed) {
            eprintln!("{who}: {e}");
        }
    }
}

/// `pattern` with `%i` replaced by `index` and `%c` by `client_id`.
pub(crate) fn expand(pattern: &str, index: usize, client_id: &str) -> String {
    pattern
        .replace("%i", &index.to_string())
        .replace("%c", client_id)
}

/// Waits for every task and keeps the results of those that connected.
pub(crate) async fn join_all<T>(handles: Vec<JoinHandle<Option<T>>>) -> Vec<T> {
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        if let Ok(Some(v)) = h.await {
            out.push(v);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::expand;

    #[test]
    fn placeholders_expand() {
        assert_eq!(expand("t/%i/%c/%i", 7, "b_pub_7"), "t/7/b_pub_7/7");
        assert_eq!(expand("plain", 1, "x"), "plain");
    }
}
