//! MQTT over QUIC with quinn: ALPN `mqtt`, one bidirectional stream per connection (the client
//! opens it with its CONNECT), connection migration left on. [`QuicStream`] joins the stream's
//! two halves into the byte stream a connection runs over.
//!
//! Idle connections: MQTT's keep alive decides when a client is gone, so the server sets no
//! QUIC idle timeout of its own and sends a QUIC keep-alive every 15 s, which also keeps a
//! client's default 30 s idle timeout from closing a connection whose MQTT keep alive is longer.

use crate::tls::{ServerTls, TlsConfig};
use crate::NetError;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The ALPN protocol of MQTT over QUIC (as EMQX and NanoMQ use).
pub const ALPN: &str = "mqtt";

/// How often the server sends a QUIC keep-alive on an idle connection.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// One QUIC connection's MQTT stream.
pub struct QuicStream {
    send: quinn::SendStream,
    recv: quinn::RecvStream,
    /// The client side's endpoint (its UDP socket), kept as long as the stream.
    _endpoint: Option<quinn::Endpoint>,
}

impl QuicStream {
    /// The stream of `send` and `recv`.
    pub fn new(send: quinn::SendStream, recv: quinn::RecvStream) -> Self {
        Self {
            send,
            recv,
            _endpoint: None,
        }
    }
}

impl AsyncRead for QuicStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().recv).poll_read(cx, buf)
    }
}

impl AsyncWrite for QuicStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().send)
            .poll_write(cx, buf)
            .map_err(io::Error::from)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().send).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().send).poll_shutdown(cx)
    }
}

impl crate::Stream for QuicStream {
    /// Always ready: quinn buffers received stream data itself. A spurious readiness costs one
    /// read attempt that returns `Pending`.
    fn poll_read_ready(&self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// quinn's server configuration from the listener's TLS configuration (which must allow TLS 1.3
/// with `TLS13_AES_128_GCM_SHA256`, as QUIC requires).
pub fn server_config(tls: &ServerTls) -> Result<quinn::ServerConfig, NetError> {
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls.config())
        .map_err(|e| NetError::TlsConfig(format!("QUIC needs TLS 1.3: {e}")))?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    let mut transport = quinn::TransportConfig::default();
    transport
        .max_concurrent_bidi_streams(1u32.into())
        .max_concurrent_uni_streams(0u32.into())
        .max_idle_timeout(None)
        .keep_alive_interval(Some(KEEP_ALIVE));
    config.transport_config(Arc::new(transport));
    config.migration(true);
    Ok(config)
}

/// A server endpoint on `bind`.
pub fn server_endpoint(bind: SocketAddr, tls: &ServerTls) -> io::Result<quinn::Endpoint> {
    let config = server_config(tls).map_err(io::Error::other)?;
    quinn::Endpoint::server(config, bind)
}

/// Opens a QUIC connection to `addr` (verifying the server as `tls` says, for `server_name`)
/// and its MQTT stream. Bounded by the caller.
pub async fn connect(
    tls: &TlsConfig,
    addr: SocketAddr,
    server_name: &str,
    local: Option<std::net::IpAddr>,
) -> Result<QuicStream, NetError> {
    let server = format!("{server_name}:{}", addr.port());
    let failed = |reason: String| NetError::Quic {
        server: server.clone(),
        reason,
    };
    let mut rustls = (**tls.rustls()).clone();
    rustls.alpn_protocols = vec![ALPN.as_bytes().to_vec()];
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(Arc::new(rustls))
        .map_err(|e| failed(format!("QUIC needs TLS 1.3: {e}")))?;
    let mut config = quinn::ClientConfig::new(Arc::new(crypto));
    let mut transport = quinn::TransportConfig::default();
    transport.keep_alive_interval(Some(KEEP_ALIVE));
    config.transport_config(Arc::new(transport));
    let local: SocketAddr = match (local, addr) {
        (Some(ip), _) => (ip, 0).into(),
        (None, SocketAddr::V4(_)) => ([0, 0, 0, 0], 0).into(),
        (None, SocketAddr::V6(_)) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let mut endpoint = quinn::Endpoint::client(local)?;
    endpoint.set_default_client_config(config);
    let connection = endpoint
        .connect(addr, server_name)
        .map_err(|e| failed(e.to_string()))?
        .await
        .map_err(|e| failed(e.to_string()))?;
    let (send, recv) = connection
        .open_bi()
        .await
        .map_err(|e| failed(e.to_string()))?;
    Ok(QuicStream {
        send,
        recv,
        _endpoint: Some(endpoint),
    })
}
