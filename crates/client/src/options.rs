//! [`ClientOptions`]: what CONNECT says, and how the connection is opened and buffered.

use crate::TlsConfig;
use bytes::Bytes;
use starling_codec::{ProtocolVersion, QoS};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// The will message the server publishes if the connection ends without DISCONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastWill {
    /// Topic name.
    pub topic: String,
    /// Payload.
    pub payload: Bytes,
    /// QoS.
    pub qos: QoS,
    /// Retain flag.
    pub retain: bool,
    /// Will delay in seconds (5.0 only).
    pub delay_interval: Option<u32>,
}

/// How the byte stream to the broker is opened, on top of the TCP connection to
/// [`ClientOptions::addr`].
#[derive(Debug, Clone, Default)]
pub enum TransportKind {
    /// Plain TCP (`mqtt://`, usually port 1883).
    #[default]
    Tcp,
    /// TLS (`mqtts://`, usually port 8883).
    Tls(TlsConfig),
    /// WebSocket (`ws://`, often port 8083), subprotocol `mqtt`, at `path` (e.g. `/mqtt`).
    Ws {
        /// The HTTP path of the upgrade request.
        path: String,
    },
    /// WebSocket over TLS (`wss://`, often port 8084).
    Wss {
        /// The HTTP path of the upgrade request.
        path: String,
        /// The TLS configuration.
        tls: TlsConfig,
    },
    /// QUIC (`quic://`, usually UDP port 14567), ALPN `mqtt`: TLS 1.3 with this configuration,
    /// one bidirectional stream.
    Quic(TlsConfig),
}

impl TransportKind {
    /// The URL scheme: `mqtt`, `mqtts`, `ws`, `wss` or `quic`.
    pub fn scheme(&self) -> &'static str {
        match self {
            Self::Tcp => "mqtt",
            Self::Tls(_) => "mqtts",
            Self::Ws { .. } => "ws",
            Self::Wss { .. } => "wss",
            Self::Quic(_) => "quic",
        }
    }
}

/// The WebSocket path brokers use by default (Mosquitto, EMQX, HiveMQ).
pub const DEFAULT_WS_PATH: &str = "/mqtt";

/// Options of one connection. `ClientOptions::new(addr)` gives MQTT 5.0, an empty client id
/// (the server assigns one), clean start, 60 s keep alive.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Broker address.
    pub addr: SocketAddr,
    /// TCP, TLS, WebSocket or WebSocket over TLS.
    pub transport: TransportKind,
    /// The broker's host name: what TLS sends as SNI and checks the certificate against, and
    /// the WebSocket `Host`. `None`: the IP address of `addr`.
    pub server_name: Option<String>,
    /// Local source address to bind before connecting (port chosen by the OS).
    pub local_addr: Option<IpAddr>,
    /// Protocol version: 3.1.1 or 5.0 (3.1 works too).
    pub version: ProtocolVersion,
    /// Client identifier; empty asks the server to assign one.
    pub client_id: String,
    /// Clean Session (3.x) / Clean Start (5.0).
    pub clean_start: bool,
    /// Keep alive; `Duration::ZERO` disables it. Rounded down to whole seconds.
    pub keep_alive: Duration,
    /// Session expiry interval in seconds (5.0).
    pub session_expiry: Option<u32>,
    /// User name.
    pub username: Option<String>,
    /// Password.
    pub password: Option<Bytes>,
    /// Will message.
    pub will: Option<LastWill>,
    /// User properties sent in CONNECT (5.0; ignored on 3.x), order kept.
    pub user_properties: Vec<(String, String)>,
    /// Most outgoing QoS 1/2 messages awaiting acknowledgment; the server's Receive Maximum
    /// lowers it. When full, `publish` waits.
    pub max_inflight: u16,
    /// How long to wait for CONNACK.
    pub connect_timeout: Duration,
    /// Capacity of the command channel from [`crate::Client`] to the connection task.
    pub command_capacity: usize,
    /// Capacity of the channel of received messages ([`crate::Incoming`]), in batches: a batch
    /// is what one read of the socket decoded. When it is full the connection stops reading.
    pub incoming_capacity: usize,
    /// Set TCP_NODELAY (on by default: writes are already batched).
    pub nodelay: bool,
}

impl ClientOptions {
    /// Defaults for a connection to `addr`.
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            transport: TransportKind::Tcp,
            server_name: None,
            local_addr: None,
            version: ProtocolVersion::V5,
            client_id: String::new(),
            clean_start: true,
            keep_alive: Duration::from_secs(60),
            session_expiry: None,
            username: None,
            password: None,
            will: None,
            user_properties: Vec::new(),
            max_inflight: 1024,
            connect_timeout: Duration::from_secs(10),
            command_capacity: 1024,
            incoming_capacity: 16,
            nodelay: true,
        }
    }

    /// Sets the client id.
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.client_id = id.into();
        self
    }

    /// Sets the protocol version.
    pub fn version(mut self, version: ProtocolVersion) -> Self {
        self.version = version;
        self
    }

    /// Sets clean start.
    pub fn clean_start(mut self, clean: bool) -> Self {
        self.clean_start = clean;
        self
    }

    /// Sets the transport.
    pub fn transport(mut self, transport: TransportKind) -> Self {
        self.transport = transport;
        self
    }

    /// Sets the server's host name (TLS SNI and verification, WebSocket `Host`).
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    /// Sets the keep alive.
    pub fn keep_alive(mut self, keep_alive: Duration) -> Self {
        self.keep_alive = keep_alive;
        self
    }
}
