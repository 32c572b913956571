//! `starling-client`: a small async MQTT client on `starling-codec` and tokio, used by the
//! `starling` CLI (`pub`, `sub`, `bench`) and by tests.
//!
//! It owns one connection's client-side protocol: CONNECT/CONNACK, keep alive, packet id
//! allocation, the outgoing inflight window (PUBACK, PUBREC/PUBREL/PUBCOMP), SUBSCRIBE and
//! UNSUBSCRIBE with their acknowledgments, and the acknowledgment of incoming PUBLISH at QoS 1
//! and 2. It must not depend on the broker crates (only tests start a broker).
//!
//! Shape: [`Client::connect`] opens a TCP connection and, as [`ClientOptions::transport`]
//! says, TLS on it (rustls, `ring` provider), a WebSocket (subprotocol `mqtt`), or both, or a QUIC
//! connection instead
//! ([`Client::connect_with`] takes any other byte stream); it does the MQTT handshake, then
//! spawns **one task per connection**, generic over the stream (plain TCP has no wrapper). The [`Client`] handle sends it commands over a bounded channel; the task drains
//! every ready command per turn, encodes them into one buffer and writes it with one system call,
//! and reads and decodes whatever the socket holds. Incoming messages arrive on [`Incoming`].
//!
//! Map:
//! - `options`: [`ClientOptions`], [`LastWill`], [`TransportKind`]: what CONNECT says and how
//!   the connection is opened.
//! - `error`: [`ClientError`]; TLS and WebSocket failures say why in words (rustls' reason,
//!   the HTTP status of a refused upgrade, the unreadable file).
//! - Transports come from `starling-net`: [`TlsOptions`] (`--cafile --cert --key --insecure`)
//!   -> [`TlsConfig`] (built once, shared by connections; the system's trust store when no CA
//!   file), the WebSocket upgrade and adapter, QUIC (`quic://`, ALPN `mqtt`).
//! - `client`: [`Client`] (cloneable handle), [`Incoming`] (received messages), connecting.
//! - `connection`: the connection task: the select loop, batched writes, keep alive.
//! - `inflight`: the packet id table of requests awaiting an acknowledgment.

mod client;
mod connection;
mod error;
mod inflight;
mod options;

pub use client::{Client, Incoming, Message, Transport};
pub use error::ClientError;
pub use options::{ClientOptions, LastWill, TransportKind, DEFAULT_WS_PATH};
pub use starling_codec::{
    ProtocolVersion, Publish, QoS, ReasonCode, SubAck, Subscription, SubscriptionOptions, UnsubAck,
    Utf8String,
};
/// The rustls crate this client uses, to build a [`TlsConfig`] by hand.
pub use starling_net::rustls;
pub use starling_net::tls::{TlsConfig, TlsOptions};
/// Why a TLS configuration or transport could not be set up (what [`TlsConfig::new`] returns).
pub use starling_net::NetError;
