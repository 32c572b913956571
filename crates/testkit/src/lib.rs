//! `starling-testkit`: helpers for black-box tests of the broker over loopback. Test-only
//! (`publish = false`); nothing in the broker may depend on it.
//!
//! It owns two things: a broker started in-process on an ephemeral port ([`TestBroker`]) and a
//! deliberately dumb MQTT client ([`RawClient`]) that sends exactly the packets (or bytes) a test
//! asks for and reports exactly what comes back, so that tests can check the wire behaviour the
//! spec requires. It depends on the codec (to build and read packets), the config and the broker.
//!
//! Map:
//! - [`broker`]: [`TestBroker`], start with a tweaked [`starling_config::Config`], address,
//!   metrics, shutdown.
//! - [`client`]: [`RawClient`], send/receive with timeouts, close detection, and handshake
//!   helpers (connect, subscribe, publish with the QoS 1/2 acknowledgments, acknowledging
//!   received messages), and the signals tests wait on instead of time: [`RawClient::ping`] (a
//!   round trip) and the sentinel ([`RawClient::expect_next_publish_on`],
//!   [`RawClient::expect_nothing_before_own_sentinel`]) that proves a message did not come.
//! - [`packets`]: builders for the packets tests send most (`connect_packet`,
//!   `publish_packet`, `subscribe_packet`, ...).
//! - `transports` (feature `transports`): certificates made at test time and a TLS/WebSocket
//!   proxy in front of a [`TestBroker`], for the client's transport tests.
//!
//! Every scenario should run on each of [`versions()`]; 3.1 ([`ProtocolVersion::V3_1`]) is
//! added by the tests where its behaviour differs.
//!
//! Set `STARLING_TEST_LOG` (an `EnvFilter` directive such as `starling_broker=debug`) to see the
//! broker's logs in a failing test.

pub mod broker;
pub mod client;
pub mod packets;
#[cfg(feature = "transports")]
pub mod transports;

pub use broker::TestBroker;
pub use client::{Event, RawClient, DEFAULT_TIMEOUT};
pub use packets::{
    connect_packet, pid, publish_packet, string, subscribe_packet, subscription,
    unsubscribe_packet, wire,
};
pub use starling_codec::ProtocolVersion;

/// The protocol versions every scenario runs on: 3.1.1 and 5.0.
pub fn versions() -> [ProtocolVersion; 2] {
    [ProtocolVersion::V3_1_1, ProtocolVersion::V5]
}

/// All three versions, for scenarios whose 3.1 behaviour is worth checking too.
pub fn all_versions() -> [ProtocolVersion; 3] {
    [
        ProtocolVersion::V3_1,
        ProtocolVersion::V3_1_1,
        ProtocolVersion::V5,
    ]
}
