//! TLS certificates and `[auth]` files reloaded without a restart: every listener's files are
//! checked for changes each `reload_interval` (the smallest configured), the password and ACL
//! files every [`AUTH_CHECK`] (or that interval, if shorter), and all are reloaded on SIGHUP. New
//! connections get the new certificate; open ones keep theirs. A reload that fails keeps the
//! old configuration and logs why (once per change of the files).

use super::bind::Listener;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// A TLS listener to keep up to date; a QUIC one also has its endpoint.
pub(crate) struct Reloadable {
    label: String,
    tls: Arc<starling_net::tls::ServerTls>,
    interval: Option<Duration>,
    endpoint: Option<quinn::Endpoint>,
}

impl Reloadable {
    /// The reload view of `listener`, if it has TLS.
    pub(crate) fn of(listener: &Listener, endpoint: Option<quinn::Endpoint>) -> Option<Self> {
        let tls = listener.tls.clone()?;
        let interval = listener.config.tls.as_ref().and_then(|t| t.reload_interval);
        Some(Self {
            label: listener.label.clone(),
            tls,
            interval,
            endpoint,
        })
    }

    /// Reloads if the files changed (or always, with `force`); logs the outcome.
    pub(crate) fn reload(&self, force: bool) {
        match self.tls.reload(force) {
            Ok(false) => {}
            Ok(true) => {
                if let Some(endpoint) = &self.endpoint {
                    match starling_net::quic::server_config(&self.tls) {
                        Ok(config) => endpoint.set_server_config(Some(config)),
                        Err(error) => {
                            warn!(listener = %self.label, %error, "TLS reload not applied to QUIC");
                            return;
                        }
                    }
                }
                info!(listener = %self.label, "TLS certificate reloaded");
            }
            Err(error) => {
                warn!(listener = %self.label, %error, "TLS reload failed; the previous certificate stays in use");
            }
        }
    }
}

/// How often the `[auth]` files are checked for changes.
pub(crate) const AUTH_CHECK: Duration = Duration::from_secs(10);

/// Watches `listeners` and the `[auth]` files until shutdown.
pub(crate) async fn run(
    listeners: Arc<Vec<Reloadable>>,
    auth: Arc<starling_auth::Auth>,
    shutdown: CancellationToken,
) {
    // Even without TLS listeners, so that SIGHUP means "reload" and never ends the broker.
    let period = listeners
        .iter()
        .filter_map(|l| l.interval)
        .chain(std::iter::once(AUTH_CHECK))
        .min();
    let mut ticker = period.map(tokio::time::interval);
    #[cfg(unix)]
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    loop {
        let tick = async {
            match &mut ticker {
                Some(t) => {
                    t.tick().await;
                }
                None => std::future::pending().await,
            }
        };
        #[cfg(unix)]
        let hup = async {
            match &mut hangup {
                Some(h) => h.recv().await,
                None => std::future::pending().await,
            }
        };
        #[cfg(not(unix))]
        let hup = std::future::pending::<Option<()>>();
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tick => {
                for l in listeners.iter() {
                    if l.interval.is_some() {
                        l.reload(false);
                    }
                }
                crate::access::reload(&auth);
            }
            Some(()) = hup => {
                info!("SIGHUP: reloading TLS certificates and [auth] files");
                for l in listeners.iter() {
                    l.reload(true);
                }
                crate::access::reload(&auth);
            }
        }
    }
}
