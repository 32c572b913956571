//! TLS with rustls (`ring` provider) on both sides: the client's configuration and handshake
//! (`client`), the server's reloadable configuration and handshake (`server`), the generated
//! default certificates (`selfsigned`), and the names of a client certificate (`peer`).

mod client;
mod peer;
mod selfsigned;
mod server;

pub use client::{handshake, tls_failure, TlsConfig, TlsOptions};
pub use peer::PeerNames;
pub use selfsigned::{ensure as ensure_default_certs, DefaultCerts};
pub use server::{classify, ServerTls, TlsAccepted, TlsFiles, TlsRefusal};

/// A TLS stream, client side.
pub type ClientTlsStream<S> = tokio_rustls::client::TlsStream<S>;
/// A TLS stream, server side.
pub type ServerTlsStream<S> = tokio_rustls::server::TlsStream<S>;
