//! Opening every listener before serving any: sockets bound, TLS configurations loaded.

use crate::StartError;
use starling_config::{Config, ListenerConfig, ListenerKind};
use starling_net::tls::{DefaultCerts, ServerTls, TlsFiles};
use starling_net::NetError;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tracing::info;

/// A listener ready to serve.
pub(crate) struct Bound {
    pub(crate) socket: Socket,
    pub(crate) addr: SocketAddr,
    pub(crate) listener: Listener,
}

/// The socket of a listener.
pub(crate) enum Socket {
    Tcp(TcpListener),
    Quic(quinn::Endpoint),
}

/// A listener's settings with what was loaded for them.
pub(crate) struct Listener {
    pub(crate) config: ListenerConfig,
    /// How logs name it.
    pub(crate) label: String,
    /// Its TLS configuration (TLS, WSS and QUIC).
    pub(crate) tls: Option<Arc<ServerTls>>,
}

/// Binds every listener of `config`; the first failure stops it, naming the listener.
pub(crate) async fn bind_all(config: &Config) -> Result<Vec<Bound>, StartError> {
    let mut defaults = None;
    let mut bound = Vec::with_capacity(config.listeners.len());
    for listener in &config.listeners {
        let label = listener.label();
        let tls = match &listener.tls {
            None => None,
            Some(settings) => {
                let files =
                    files(config, listener, &mut defaults).map_err(|error| StartError::Tls {
                        listener: label.clone(),
                        error,
                    })?;
                let alpn: &[&str] = if listener.kind == ListenerKind::Quic {
                    &[starling_net::quic::ALPN]
                } else {
                    &[]
                };
                let tls =
                    ServerTls::new(settings, files, alpn).map_err(|error| StartError::Tls {
                        listener: label.clone(),
                        error,
                    })?;
                Some(Arc::new(tls))
            }
        };
        let bind_error = |error: std::io::Error| StartError::Bind {
            listener: label.clone(),
            addr: listener.bind,
            error,
        };
        let (socket, addr) = match listener.kind {
            ListenerKind::Quic => {
                let Some(tls) = &tls else {
                    unreachable!("a QUIC listener always has TLS settings");
                };
                let endpoint =
                    starling_net::quic::server_endpoint(listener.bind, tls).map_err(bind_error)?;
                let addr = endpoint.local_addr().map_err(bind_error)?;
                (Socket::Quic(endpoint), addr)
            }
            _ => {
                let socket = TcpListener::bind(listener.bind).await.map_err(bind_error)?;
                let addr = socket.local_addr().map_err(bind_error)?;
                (Socket::Tcp(socket), addr)
            }
        };
        bound.push(Bound {
            socket,
            addr,
            listener: Listener {
                config: listener.clone(),
                label,
                tls,
            },
        });
    }
    Ok(bound)
}

/// The certificate, key and client CA of a TLS listener: as configured, else the generated
/// ones (made on first use, once for all listeners).
fn files(
    config: &Config,
    listener: &ListenerConfig,
    defaults: &mut Option<DefaultCerts>,
) -> Result<TlsFiles, NetError> {
    let Some(settings) = &listener.tls else {
        unreachable!("called for TLS listeners only");
    };
    let verifies = settings.verify != starling_config::PeerVerify::None;
    let needs_defaults = settings.cert.is_none() || (verifies && settings.cacertfile.is_none());
    if needs_defaults && defaults.is_none() {
        let dir = config.node.data_dir.join("certs");
        let made = starling_net::tls::ensure_default_certs(&dir)?;
        let verb = if made.created { "created" } else { "using" };
        info!(
            ca = %made.ca.display(),
            cert = %made.cert.display(),
            key = %made.key.display(),
            fingerprint = %made.fingerprint,
            "{verb} the self-signed TLS certificates (no certfile configured); clients can trust the CA file"
        );
        *defaults = Some(made);
    }
    let generated = defaults.as_ref();
    let (certfile, keyfile) = match (&settings.cert, generated) {
        (Some(files), _) => (files.certfile.clone(), files.keyfile.clone()),
        (None, Some(d)) => (d.cert.clone(), d.key.clone()),
        (None, None) => unreachable!("defaults are made when needed"),
    };
    let cacertfile = match (&settings.cacertfile, generated) {
        (Some(path), _) => path.clone(),
        (None, Some(d)) => d.ca.clone(),
        // Not read: no client certificate is asked for.
        (None, None) => certfile.clone(),
    };
    Ok(TlsFiles {
        certfile,
        keyfile,
        cacertfile,
    })
}
