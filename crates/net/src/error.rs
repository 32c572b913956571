//! [`NetError`]: why a transport could not be set up, in words a user can act on.

use std::path::PathBuf;

/// Why a TLS, WebSocket or QUIC transport could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The TLS handshake failed (or the peer rejected this side's certificate just after).
    #[error("TLS handshake with {server} failed: {reason}")]
    Tls {
        /// `host:port` of the peer.
        server: String,
        /// rustls' reason, e.g. `invalid peer certificate: UnknownIssuer`.
        reason: String,
    },
    /// A CA, certificate, key or CRL file could not be read or holds nothing usable.
    #[error("{what} {}: {reason}", .path.display())]
    TlsFile {
        /// Which file: `CA file`, `certificate file`, `key file`, `CRL file`.
        what: &'static str,
        /// Its path.
        path: PathBuf,
        /// Why it is unusable.
        reason: String,
    },
    /// The TLS settings do not make a configuration.
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
        /// `host:port` of the peer.
        server: String,
        /// quinn's reason.
        reason: String,
    },
    /// Reading or writing failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}
