//! `starling-client`: a small async MQTT client on `starling-codec` and tokio, used by the
//! `starling` CLI (`pub`, `sub`, `bench`) and by tests.
//!
//! It owns one connection's client-side protocol: CONNECT/CONNACK, keep alive, packet id
//! allocation, the outgoing inflight window (PUBACK, PUBREC/PUBREL/PUBCOMP), SUBSCRIBE and
//! UNSUBSCRIBE with their acknowledgments, and the acknowledgment of incoming PUBLISH at QoS 1
//! and 2. It must not depend on the broker crates (only tests start a broker).
//!
//! Shape: [`Client::connect`] opens a TCP connection (or [`Client::connect_with`] takes any
//! byte stream: the seam for TLS and WebSocket), does the handshake, then spawns **one task per
//! connection**. The [`Client`] handle sends it commands over a bounded channel; the task drains
//! every ready command per turn, encodes them into one buffer and writes it with one system call,
//! and reads and decodes whatever the socket holds. Incoming messages arrive on [`Incoming`].
//!
//! Map:
//! - `options`: [`ClientOptions`], [`LastWill`]: what CONNECT says and how the socket is opened.
//! - `error`: [`ClientError`].
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
pub use options::{ClientOptions, LastWill};
pub use starling_codec::{
    ProtocolVersion, Publish, QoS, ReasonCode, SubAck, Subscription, SubscriptionOptions, UnsubAck,
    Utf8String,
};
