//! `starling-net`: Starling's transports, shared by the broker (server side), `starling-client`
//! and through it `starling pub/sub/bench` (client side), and the tests.
//!
//! Map:
//! - [`Stream`] (`stream`): the byte stream a broker connection runs over, with read readiness
//!   that needs no buffer; implemented for TCP, server TLS, WebSocket and QUIC.
//! - [`tls`]: rustls on both sides: client options and handshake; the server's reloadable
//!   configuration (versions, cipher suites, mutual TLS, CRLs); the self-signed defaults in
//!   `<data_dir>/certs`; the CN/SAN of a client certificate.
//! - [`ws`]: MQTT over WebSocket (tungstenite): the message/byte adapter, the client upgrade,
//!   the server upgrade (path, subprotocol, Origin, `X-Forwarded-For` from trusted proxies).
//! - [`quic`]: MQTT over QUIC (quinn), ALPN `mqtt`, one bidirectional stream.
//! - [`proxy`]: the PROXY protocol v1/v2 header (ppp), read exactly.
//! - [`NetCounters`] (`counters`): refusals by cause; [`NetError`] (`error`): setup failures.

mod counters;
mod error;
pub mod proxy;
pub mod quic;
mod stream;
pub mod tls;
pub mod ws;

pub use counters::NetCounters;
pub use error::NetError;
pub use stream::Stream;
/// The rustls crate these transports use.
pub use tokio_rustls::rustls;
