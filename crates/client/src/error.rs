//! [`ClientError`]: everything that can end a connection or fail a request.

use starling_codec::{DecodeError, EncodeError, ReasonCode, Utf8StringError};
use starling_net::rustls;
use starling_net::NetError;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Why connecting, or a request on a connection, failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The TCP connection could not be opened.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// The broker address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The TLS handshake failed (or the server rejected the client's certificate just after).
    #[error("TLS handshake with {server} failed: {reason}")]
    Tls {
        /// `host:port` of the server.
        server: String,
        /// rustls' reason, e.g. `invalid peer certificate: UnknownIssuer`.
        reason: String,
    },
    /// A CA, certificate or key file could not be read or holds nothing usable.
    #[error("{what} {}: {reason}", .path.display())]
    TlsFile {
        /// Which file: `CA file`, `client certificate file`, `client key file`.
        what: &'static str,
        /// Its path.
        path: PathBuf,
        /// Why it is unusable.
        reason: String,
    },
    /// The TLS options do not make a configuration.
    #[error("TLS configuration: {0}")]
    TlsConfig(String),
    /// The server name is neither a DNS name nor an IP address.
    #[error("invalid server name for TLS: {0:?}")]
    InvalidServerName(String),
    /// The WebSocket upgrade failed.
    #[error("WebSocket upgrade at {url} failed: {reason}")]
    WebSocket {
        /// The URL requested.
        url: String,
        /// Why, e.g. the HTTP status the server answered.
        reason: String,
    },
    /// The QUIC connection could not be opened.
    #[error("QUIC connection to {server} failed: {reason}")]
    Quic {
        /// `host:port` of the server.
        server: String,
        /// quinn's reason.
        reason: String,
    },
    /// The server refused the CONNECT.
    #[error("connection refused by the server: {} (reason code 0x{:02X})", .0.description(), .0.as_u8())]
    Refused(ReasonCode),
    /// The server sent no CONNACK in time.
    #[error("no CONNACK within {0:?}")]
    ConnectTimeout(Duration),
    /// Reading or writing the socket failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The server's bytes are not a valid packet.
    #[error("invalid packet from the server: {0}")]
    Decode(#[from] DecodeError),
    /// The server sent a valid packet at the wrong time.
    #[error("protocol error by the server: {0}")]
    Protocol(&'static str),
    /// A packet could not be encoded (e.g. a field too long).
    #[error("cannot encode the packet: {0}")]
    Encode(#[from] EncodeError),
    /// A topic, client id or user name is not a valid MQTT string.
    #[error("invalid string: {0}")]
    InvalidString(#[from] Utf8StringError),
    /// The server closed the connection with a DISCONNECT (5.0).
    #[error("disconnected by the server: {}", .0.description())]
    ServerDisconnect(ReasonCode),
    /// The server closed the socket.
    #[error("the server closed the connection")]
    ConnectionClosed,
    /// No PINGRESP came back within the keep alive.
    #[error("keep alive timed out: no PINGRESP from the server")]
    KeepAliveTimeout,
    /// The connection task has ended; the request was not completed.
    #[error("the connection is closed")]
    Closed,
}

impl From<NetError> for ClientError {
    fn from(error: NetError) -> Self {
        match error {
            NetError::Tls { server, reason } => Self::Tls { server, reason },
            NetError::TlsFile { what, path, reason } => Self::TlsFile { what, path, reason },
            NetError::TlsConfig(why) => Self::TlsConfig(why),
            NetError::InvalidServerName(name) => Self::InvalidServerName(name),
            NetError::WebSocket { url, reason } => Self::WebSocket { url, reason },
            NetError::Quic { server, reason } => Self::Quic { server, reason },
            NetError::Io(e) => Self::Io(e),
        }
    }
}

/// After the handshake, the server may still reject the client's certificate (TLS 1.3 sends the
/// alert with its first record): such an I/O error is a TLS failure too.
pub(crate) fn explain_tls(server: &str, error: ClientError) -> ClientError {
    match error {
        ClientError::Io(e)
            if e.get_ref()
                .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some()) =>
        {
            starling_net::tls::tls_failure(server, e).into()
        }
        other => other,
    }
}
