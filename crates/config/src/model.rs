//! The typed configuration: what the rest of the broker reads, every value already checked.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The validated configuration. `Config::default()` is what a broker started without a file runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// This broker's identity.
    pub node: NodeConfig,
    /// The sockets clients connect to; never empty.
    pub listeners: Vec<ListenerConfig>,
    /// Protocol limits and announced capabilities.
    pub mqtt: MqttConfig,
    /// Per-session queueing.
    pub session: SessionConfig,
    /// The retained-message store.
    pub retain: RetainConfig,
    /// Shared subscriptions.
    pub shared: SharedConfig,
    /// Delayed publish.
    pub delayed: DelayedConfig,
    /// `$SYS` topics.
    pub sys: SysConfig,
    /// Logging.
    pub log: LogConfig,
    /// How the store reaches the disk.
    pub durability: DurabilityConfig,
    /// Authentication and authorization.
    pub auth: crate::auth::AuthConfig,
    /// Flapping detection; `None`: off.
    pub flapping: Option<crate::protection::FlappingConfig>,
    /// Bans held at most.
    pub max_bans: usize,
    /// Per-client rates.
    pub rate_limit: crate::protection::RateLimitConfig,
    /// Overload protection; `None`: off.
    pub overload: Option<crate::protection::OverloadConfig>,
    /// The management API.
    pub api: crate::api::ApiConfig,
    /// The topic rewrite and auto-subscribe rules.
    pub modules: crate::modules::ModulesConfig,
    /// The bounds of traces.
    pub trace: crate::trace::TraceConfig,
}

/// `[durability]`: when the store's writes are forced to the disk, and so what a power cut
/// may lose (a `kill -9` loses nothing in any mode: written data is in the OS's page cache).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DurabilityConfig {
    /// Every acknowledged write is on disk first (group commit: one fsync for many writes).
    Always,
    /// The disk is synced every period: a power cut loses up to one period of writes.
    Interval(Duration),
    /// The OS writes back when it likes: a power cut loses what it had not written.
    Never,
}

/// `[node]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeConfig {
    /// The node's name, a valid topic level (no `/`, `+`, `#`), used in `$SYS/brokers/<name>/...`.
    pub name: String,
    /// Worker threads of the runtime; `None`: one per CPU core.
    pub worker_threads: Option<usize>,
    /// The store's directory.
    pub data_dir: std::path::PathBuf,
}

/// One `[[listener]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerConfig {
    /// The listener's name if given; unique among listeners.
    pub name: Option<String>,
    /// The transport.
    pub kind: ListenerKind,
    /// The socket address to bind.
    pub bind: SocketAddr,
    /// Connections accepted at once on this listener; at least 1.
    pub max_connections: u32,
    /// Connections accepted at once from one IP address; `None` is no limit.
    pub max_connections_per_address: Option<u32>,
    /// New connections accepted per second (burst of as many); `None` is no limit.
    pub max_connection_rate: Option<u32>,
    /// `Some(timeout)`: every connection starts with a PROXY protocol header, read within it.
    pub proxy_protocol: Option<Duration>,
    /// Bound on the TLS, WebSocket or QUIC handshake; non-zero.
    pub handshake_timeout: Duration,
    /// TLS settings; `Some` exactly for `tls`, `wss` and `quic`.
    pub tls: Option<TlsConfig>,
    /// WebSocket settings; `Some` exactly for `ws` and `wss`.
    pub ws: Option<WsConfig>,
}

impl ListenerConfig {
    /// A listener of `kind` on `bind` with every other setting at its default.
    pub fn new(kind: ListenerKind, bind: SocketAddr) -> Self {
        Self {
            name: None,
            kind,
            bind,
            max_connections: 1_000_000,
            max_connections_per_address: None,
            max_connection_rate: None,
            proxy_protocol: None,
            handshake_timeout: Duration::from_secs(15),
            tls: kind.uses_tls().then(TlsConfig::default),
            ws: kind.uses_ws().then(WsConfig::default),
        }
    }

    /// How logs and errors name it: its name, else its kind and address.
    pub fn label(&self) -> String {
        match &self.name {
            Some(name) => name.clone(),
            None => format!("{}:{}", self.kind.as_str(), self.bind),
        }
    }
}

/// `[listener.tls]`, checked. Files are read when the listener starts (and on reload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// Certificate chain and private key; `None`: the generated ones in `<data_dir>/certs`.
    pub cert: Option<CertFiles>,
    /// CAs for client certificates; `None`: the generated CA (used when `verify` asks).
    pub cacertfile: Option<PathBuf>,
    /// Whether and how client certificates are verified.
    pub verify: PeerVerify,
    /// Versions offered; never empty.
    pub versions: Vec<TlsVersion>,
    /// Cipher suites by IANA name, checked against the build's suites when the listener
    /// starts; empty: the defaults.
    pub ciphers: Vec<String>,
    /// Certificate revocation lists.
    pub crlfiles: Vec<PathBuf>,
    /// Where a verified client certificate's name becomes the username.
    pub peer_cert_as_username: PeerCertField,
    /// Where it becomes the client identifier.
    pub peer_cert_as_clientid: PeerCertField,
    /// Period of the check for changed files; `None`: only SIGHUP reloads.
    pub reload_interval: Option<Duration>,
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self {
            cert: None,
            cacertfile: None,
            verify: PeerVerify::None,
            versions: vec![TlsVersion::V1_2, TlsVersion::V1_3],
            ciphers: Vec::new(),
            crlfiles: Vec::new(),
            peer_cert_as_username: PeerCertField::None,
            peer_cert_as_clientid: PeerCertField::None,
            reload_interval: Some(Duration::from_secs(10)),
        }
    }
}

/// A certificate chain file and its key file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFiles {
    /// PEM certificate chain, the server's own first.
    pub certfile: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub keyfile: PathBuf,
}

/// Client certificate verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerVerify {
    /// Not asked for.
    None,
    /// Asked for and verified if sent; clients without one are let in.
    Optional,
    /// A client without a valid certificate is refused.
    Required,
}

/// A TLS protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsVersion {
    /// TLS 1.2.
    V1_2,
    /// TLS 1.3.
    V1_3,
}

/// Which name of a client certificate is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerCertField {
    /// None: the client's own value stands.
    None,
    /// The subject's common name.
    Cn,
    /// The first subject alternative name (DNS name, e-mail, URI or IP address).
    San,
}

/// `[listener.ws]`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsConfig {
    /// The upgrade's path, starting with `/`.
    pub path: String,
    /// Largest frame and message accepted, bytes; at least 1024.
    pub max_frame_size: u32,
    /// Origins allowed; empty: any.
    pub allowed_origins: Vec<String>,
    /// Proxies whose forwarding headers are believed.
    pub trusted_proxies: Vec<IpNet>,
}

impl Default for WsConfig {
    fn default() -> Self {
        Self {
            path: "/mqtt".to_owned(),
            max_frame_size: 1_048_576,
            allowed_origins: Vec::new(),
            trusted_proxies: Vec::new(),
        }
    }
}

/// An IP network: an address and a prefix length (`10.0.0.0/8`, `::1/128`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    /// The network's address.
    pub addr: IpAddr,
    /// Bits of the prefix.
    pub prefix: u8,
}

impl IpNet {
    /// Parses `a.b.c.d`, `a.b.c.d/n`, an IPv6 address, or one with `/n`.
    pub fn parse(text: &str) -> Option<Self> {
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix.parse::<u8>().ok()?)),
            None => (text, None),
        };
        let addr: IpAddr = addr.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Self { addr, prefix })
    }

    /// Whether `ip` is in this network (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// A listener's transport. Every transport accepts MQTT 3.1, 3.1.1 and 5.0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListenerKind {
    /// Plain TCP.
    #[default]
    Tcp,
    /// TCP with TLS.
    Tls,
    /// MQTT over WebSocket.
    Ws,
    /// MQTT over WebSocket over TLS.
    Wss,
    /// MQTT over QUIC (UDP), ALPN `mqtt`.
    Quic,
}

impl ListenerKind {
    /// The name used in the configuration file.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Tls => "tls",
            Self::Ws => "ws",
            Self::Wss => "wss",
            Self::Quic => "quic",
        }
    }

    /// Whether the transport has TLS (QUIC always does).
    pub fn uses_tls(self) -> bool {
        matches!(self, Self::Tls | Self::Wss | Self::Quic)
    }

    /// Whether the transport is WebSocket.
    pub fn uses_ws(self) -> bool {
        matches!(self, Self::Ws | Self::Wss)
    }
}

/// `[mqtt]`.
#[derive(Debug, Clone, PartialEq)]
pub struct MqttConfig {
    /// Largest packet accepted, in bytes, 1..=268435456.
    pub max_packet_size: u32,
    /// Longest client identifier accepted, in bytes, 23..=65535.
    pub max_client_id_len: u16,
    /// Most levels in a topic name or filter, at least 1.
    pub max_topic_levels: u16,
    /// Highest QoS granted, 0..=2.
    pub max_qos: u8,
    /// Retain Available.
    pub retain_available: bool,
    /// Wildcard Subscription Available.
    pub wildcard_subscription_available: bool,
    /// Shared Subscription Available.
    pub shared_subscription_available: bool,
    /// Subscription Identifier Available.
    pub subscription_identifier_available: bool,
    /// Topic Alias Maximum accepted from a client; 0 disables topic aliases.
    pub topic_alias_maximum: u16,
    /// Receive Maximum: QoS 1/2 publishes accepted in flight from one client, at least 1.
    pub receive_maximum: u16,
    /// Cap on the outgoing inflight window per client, at least 1.
    pub max_inflight: u16,
    /// Silence of this many times the keep alive closes a connection; 1.0 to 100.0.
    pub keepalive_multiplier: f64,
    /// Server Keep Alive in seconds imposed on 5.0 clients; `None` accepts the client's.
    pub server_keep_alive: Option<u16>,
    /// A connection that sends no CONNECT within this time is closed; non-zero.
    pub connect_timeout: Duration,
    /// Cap on session expiry, and the expiry of 3.x persistent sessions; at most `u32::MAX` seconds.
    pub max_session_expiry: Duration,
    /// QoS 2 messages awaiting PUBREL per client; at least `receive_maximum`.
    pub max_awaiting_rel: u16,
    /// MQTT 3.1: client ids must be 1 to 23 bytes.
    pub strict_3_1_client_id: bool,
    /// Response Information for 5.0 clients that request it; `None` sends none.
    pub response_information: Option<String>,
    /// Longest keep alive accepted, seconds; `None`: no cap. Imposed on 5.0 clients asking for
    /// more or none; 3.x clients asking for more or none are refused.
    pub max_keepalive: Option<u16>,
    /// User properties one PUBLISH or will may carry.
    pub max_user_properties: u32,
    /// Bytes (keys plus values) of the user properties of one PUBLISH or will.
    pub max_user_property_bytes: u32,
    /// Bytes of topic names held by one connection's topic alias map (each direction).
    pub max_topic_alias_bytes: u32,
    /// Subscriptions one client may hold; `None` is unlimited.
    pub max_subscriptions: Option<u32>,
    /// A write to a client that makes no progress for this long closes it; at least 1s.
    pub send_timeout: Duration,
}

/// `[session]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// Messages queued per session beyond the inflight window; 0 queues nothing.
    pub max_queue_len: u32,
    /// Bytes the queue may count for (at least 1 KiB).
    pub max_queue_bytes: u64,
    /// What happens when the queue is full.
    pub queue_overflow: QueueOverflow,
    /// Whether QoS 0 messages are queued for offline persistent sessions.
    pub queue_qos0: bool,
    /// Sessions held offline at most; `None` is no limit.
    pub max_offline: Option<u32>,
    /// QoS 1/2 messages one persistent session may hold in the store (queued and inflight).
    pub max_stored_messages: u64,
    /// Bytes those may take (topic, payload, properties and ~200 bytes each).
    pub max_stored_bytes: u64,
}

/// What a full session queue does with one more message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueOverflow {
    /// Drop the oldest queued message to make room.
    #[default]
    DropOldest,
    /// Drop the new message.
    DropNewest,
    /// Disconnect the client (its session is kept as configured).
    Disconnect,
}

/// `[retain]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetainConfig {
    /// Retained messages stored at most; `None` is unlimited.
    pub max_messages: Option<u32>,
    /// Larger retained payloads (bytes) are not stored; 1..=268435456.
    pub max_payload_size: u32,
    /// Bytes all retained messages may hold together; `None` is no limit.
    pub max_bytes: Option<u64>,
}

/// `[shared]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedConfig {
    /// How one member of a shared-subscription group is picked.
    pub strategy: SharedStrategy,
}

/// How a message to a shared subscription picks one member of the group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SharedStrategy {
    /// A member at random.
    Random,
    /// Each member in turn.
    #[default]
    RoundRobin,
    /// The same member until it leaves.
    Sticky,
    /// A member chosen by a hash of the publisher's client id.
    HashClientid,
    /// A member chosen by a hash of the topic.
    HashTopic,
}

/// `[delayed]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DelayedConfig {
    /// Whether `$delayed/` publishes are held back.
    pub enabled: bool,
    /// Delayed messages held at most; `None` is unlimited.
    pub max_messages: Option<u32>,
    /// Bytes all delayed messages may hold together; `None` is unlimited.
    pub max_bytes: Option<u64>,
}

/// `[sys]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SysConfig {
    /// `$SYS` publish interval, at least one second; `None` disables `$SYS` statistics.
    pub interval: Option<Duration>,
    /// Whether client connected/disconnected events are published.
    pub client_events: bool,
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// A `tracing` `EnvFilter` directive list, already checked to be well formed.
    pub level: String,
}
