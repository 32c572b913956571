//! The raw schema: what a TOML file deserializes into, before any value is checked.
//!
//! Every struct denies unknown fields (a typo is an error, not a silently ignored key) and
//! takes its defaults from its `Default` impl, so a file only names what it changes.
//! Integers are `i64` here, TOML's own integer type, so that a value out of range is
//! reported by [`RawConfig::validate`](crate::RawConfig::validate) with its bounds rather
//! than as a type error; durations are humantime strings ("10s", "2h") parsed the same way.

use serde::{Deserialize, Serialize};

use crate::model::{ListenerKind, QueueOverflow, SharedStrategy};

/// The whole configuration file as written: one field per top-level section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawConfig {
    /// `[node]`: this broker's identity.
    pub node: RawNode,
    /// `[[listener]]`: the sockets clients connect to (a list, so there can be several).
    #[serde(rename = "listener")]
    pub listeners: Vec<RawListener>,
    /// `[mqtt]`: protocol limits and the capabilities announced to clients.
    pub mqtt: RawMqtt,
    /// `[session]`: per-session message queueing.
    pub session: RawSession,
    /// `[retain]`: the retained-message store.
    pub retain: RawRetain,
    /// `[shared]`: shared subscriptions (`$share/<group>/<filter>`).
    pub shared: RawShared,
    /// `[delayed]`: delayed publish (`$delayed/<seconds>/<topic>`).
    pub delayed: RawDelayed,
    /// `[sys]`: the `$SYS/brokers/<node>/...` topics.
    pub sys: RawSys,
    /// `[log]`: logging.
    pub log: RawLog,
    /// `[durability]`: how the store reaches the disk.
    pub durability: RawDurability,
    /// `[auth]`: authentication and authorization.
    pub auth: crate::auth::RawAuth,
    /// `[flapping]`: client ids that connect too often are banned for a while.
    pub flapping: crate::protection::RawFlapping,
    /// `[banned]`: the table of banned clients.
    pub banned: crate::protection::RawBanned,
    /// `[rate_limit]`: what one client may send per second.
    pub rate_limit: crate::protection::RawRateLimit,
    /// `[overload]`: memory and run-queue watermarks.
    pub overload: crate::protection::RawOverload,
    /// `[api]`: the management API.
    pub api: crate::api::RawApi,
    /// `[prometheus]`: the Prometheus route of the API.
    pub prometheus: crate::api::RawPrometheus,
    /// `[[topic_rewrite]]`: topic rewrite rules (the topic rewrite module).
    pub topic_rewrite: Vec<crate::modules::RewriteRule>,
    /// `[[auto_subscribe]]`: topics every client is subscribed to at connect.
    pub auto_subscribe: Vec<crate::modules::AutoSubscribeTopic>,
    /// `[trace]`: the bounds of traces.
    pub trace: crate::trace::RawTrace,
}

impl Default for RawConfig {
    fn default() -> Self {
        Self {
            node: RawNode::default(),
            listeners: RawListener::defaults(),
            mqtt: RawMqtt::default(),
            session: RawSession::default(),
            retain: RawRetain::default(),
            shared: RawShared::default(),
            delayed: RawDelayed::default(),
            sys: RawSys::default(),
            log: RawLog::default(),
            durability: RawDurability::default(),
            auth: crate::auth::RawAuth::default(),
            flapping: crate::protection::RawFlapping::default(),
            banned: crate::protection::RawBanned::default(),
            rate_limit: crate::protection::RawRateLimit::default(),
            overload: crate::protection::RawOverload::default(),
            api: crate::api::RawApi::default(),
            prometheus: crate::api::RawPrometheus::default(),
            topic_rewrite: Vec::new(),
            auto_subscribe: Vec::new(),
            trace: crate::trace::RawTrace::default(),
        }
    }
}

/// `[node]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawNode {
    /// The node's name, used in `$SYS/brokers/<name>/...` topics, so it must be a valid topic level.
    pub name: String,
    /// Threads that run connections and the router; 0 means one per CPU core.
    pub worker_threads: i64,
    /// The directory of the store (created on first start; one broker at a time).
    pub data_dir: String,
}

impl Default for RawNode {
    fn default() -> Self {
        Self {
            name: "starling@127.0.0.1".to_owned(),
            worker_threads: 0,
            data_dir: "data".to_owned(),
        }
    }
}

/// `[durability]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawDurability {
    /// `"always"`, `"interval"` or `"never"`.
    pub fsync: String,
    /// The period of `fsync = "interval"` (humantime).
    pub fsync_interval: String,
}

impl Default for RawDurability {
    fn default() -> Self {
        Self {
            fsync: "always".to_owned(),
            fsync_interval: "100ms".to_owned(),
        }
    }
}

/// One `[[listener]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawListener {
    /// Optional name, unique among listeners, to tell listeners apart in logs and metrics.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The transport: `tcp`, `tls`, `ws`, `wss` or `quic`.
    pub kind: ListenerKind,
    /// The socket address to bind, `ip:port` (UDP for `quic`).
    pub bind: String,
    /// Connections accepted at once on this listener; more are refused, bounding memory.
    pub max_connections: i64,
    /// Connections accepted at once from one IP address on this listener; 0 means no limit.
    pub max_connections_per_address: i64,
    /// New connections accepted per second on this listener (a burst of as many is allowed);
    /// faster ones wait in the kernel's backlog. 0 means no limit.
    pub max_connection_rate: i64,
    /// Whether every connection starts with a PROXY protocol (v1 or v2) header, as sent by
    /// HAProxy or a cloud load balancer; not for `quic`.
    pub proxy_protocol: bool,
    /// How long a connection may take to send its PROXY header.
    pub proxy_protocol_timeout: String,
    /// How long the TLS, WebSocket or QUIC handshake may take.
    pub handshake_timeout: String,
    /// `[listener.tls]`: for `tls`, `wss` and `quic` listeners.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<RawTls>,
    /// `[listener.ws]`: for `ws` and `wss` listeners.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ws: Option<RawWs>,
}

impl Default for RawListener {
    fn default() -> Self {
        Self {
            name: None,
            kind: ListenerKind::Tcp,
            bind: "0.0.0.0:1883".to_owned(),
            max_connections: 1_000_000,
            max_connections_per_address: 0,
            max_connection_rate: 0,
            proxy_protocol: false,
            proxy_protocol_timeout: "3s".to_owned(),
            handshake_timeout: "15s".to_owned(),
            tls: None,
            ws: None,
        }
    }
}

impl RawListener {
    /// The default listener of `kind` on `bind`, with the default TLS and WebSocket sections
    /// its kind uses.
    pub fn of_kind(kind: ListenerKind, bind: &str) -> Self {
        Self {
            kind,
            bind: bind.to_owned(),
            tls: kind.uses_tls().then(RawTls::default),
            ws: kind.uses_ws().then(RawWs::default),
            ..Self::default()
        }
    }

    /// The listeners a broker without `[[listener]]` opens, as EMQX does: TCP 1883, TLS 8883,
    /// WebSocket 8083, WebSocket over TLS 8084 and QUIC 14567 (UDP).
    pub fn defaults() -> Vec<Self> {
        vec![
            Self::of_kind(ListenerKind::Tcp, "0.0.0.0:1883"),
            Self::of_kind(ListenerKind::Tls, "0.0.0.0:8883"),
            Self::of_kind(ListenerKind::Ws, "0.0.0.0:8083"),
            Self::of_kind(ListenerKind::Wss, "0.0.0.0:8084"),
            Self::of_kind(ListenerKind::Quic, "0.0.0.0:14567"),
        ]
    }
}

/// `[listener.tls]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawTls {
    /// PEM file of the server certificate chain; empty: the one generated in
    /// `<data_dir>/certs` on first start (with its own CA).
    pub certfile: String,
    /// PEM file of the server's private key; set together with `certfile`.
    pub keyfile: String,
    /// PEM file of the CAs that issue client certificates; empty: the generated CA.
    pub cacertfile: String,
    /// Client certificates: `"none"` (not asked for), `"optional"` (verified if sent) or
    /// `"required"` (a client without a valid one is refused).
    pub verify: String,
    /// TLS versions offered: `"tlsv1.2"`, `"tlsv1.3"`.
    pub versions: Vec<String>,
    /// Cipher suites, by IANA name (e.g. `"TLS13_AES_128_GCM_SHA256"`); empty: rustls' defaults.
    pub ciphers: Vec<String>,
    /// PEM files of certificate revocation lists checked against client certificates.
    pub crlfiles: Vec<String>,
    /// A verified client certificate's `"cn"` or first `"san"` as the username, or `"none"`.
    pub peer_cert_as_username: String,
    /// The same as the client identifier, or `"none"`.
    pub peer_cert_as_clientid: String,
    /// How often the files are checked for changes and reloaded (SIGHUP reloads too); `"0s"`
    /// checks only on SIGHUP.
    pub reload_interval: String,
}

impl Default for RawTls {
    fn default() -> Self {
        Self {
            certfile: String::new(),
            keyfile: String::new(),
            cacertfile: String::new(),
            verify: "none".to_owned(),
            versions: vec!["tlsv1.2".to_owned(), "tlsv1.3".to_owned()],
            ciphers: Vec::new(),
            crlfiles: Vec::new(),
            peer_cert_as_username: "none".to_owned(),
            peer_cert_as_clientid: "none".to_owned(),
            reload_interval: "10s".to_owned(),
        }
    }
}

/// `[listener.ws]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawWs {
    /// The HTTP path of the upgrade.
    pub path: String,
    /// Largest WebSocket frame (and message) accepted, in bytes.
    pub max_frame_size: i64,
    /// Origins allowed to connect (`Origin` header, e.g. `"https://example.com"`); empty:
    /// any, and requests without one.
    pub allowed_origins: Vec<String>,
    /// Proxies (IP addresses or CIDR blocks) whose `X-Forwarded-For` / `X-Real-IP` header
    /// gives the client's address; from anyone else those headers are ignored.
    pub trusted_proxies: Vec<String>,
}

impl Default for RawWs {
    fn default() -> Self {
        Self {
            path: "/mqtt".to_owned(),
            max_frame_size: 1_048_576,
            allowed_origins: Vec::new(),
            trusted_proxies: Vec::new(),
        }
    }
}

/// `[mqtt]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawMqtt {
    /// Largest packet accepted, in bytes; announced in CONNACK (5.0) and enforced on every version.
    pub max_packet_size: i64,
    /// Longest client identifier accepted, in bytes.
    pub max_client_id_len: i64,
    /// Most levels a topic name or filter may have, bounding the trie's depth.
    pub max_topic_levels: i64,
    /// Highest QoS granted, announced as Maximum QoS (5.0).
    pub max_qos: i64,
    /// Whether retained messages are supported, announced as Retain Available (5.0).
    pub retain_available: bool,
    /// Whether `+`/`#` filters are accepted, announced as Wildcard Subscription Available (5.0).
    pub wildcard_subscription_available: bool,
    /// Whether `$share/` filters are accepted, announced as Shared Subscription Available (5.0).
    pub shared_subscription_available: bool,
    /// Whether subscription identifiers are accepted, announced as Subscription Identifier Available (5.0).
    pub subscription_identifier_available: bool,
    /// Topic aliases accepted from a client, announced as Topic Alias Maximum (5.0); 0 disables them.
    pub topic_alias_maximum: i64,
    /// QoS 1/2 publishes accepted in flight from one client, announced as Receive Maximum (5.0).
    pub receive_maximum: i64,
    /// Cap on the broker's own outgoing inflight window per client (the smaller of this and the client's Receive Maximum).
    pub max_inflight: i64,
    /// A connection silent for this many times its keep alive is closed; the spec says 1.5.
    /// Bounded (1.0 to 100.0) so the deadline is always a representable time.
    pub keepalive_multiplier: f64,
    /// Seconds; 0 accepts the client's keep alive, otherwise imposed on 5.0 clients as Server Keep Alive.
    pub server_keep_alive: i64,
    /// A connection that sends no CONNECT within this time is closed (humantime, e.g. "10s").
    pub connect_timeout: String,
    /// Cap on a requested session expiry, and the expiry of 3.x persistent sessions (humantime).
    pub max_session_expiry: String,
    /// QoS 2 messages awaiting PUBREL per client, bounding what a client can make the broker hold.
    pub max_awaiting_rel: i64,
    /// MQTT 3.1 only: require client ids of 1 to 23 bytes, as that version's spec does.
    pub strict_3_1_client_id: bool,
    /// Response Information returned in CONNACK to 5.0 clients that request it ("" = none): the
    /// basis the broker suggests for response topics in request/response.
    pub response_information: String,
    /// Seconds; the longest keep alive accepted (0: no cap). A 5.0 client asking for more, or for
    /// none (0), is given this as Server Keep Alive; a 3.x client is refused (return code 2), as
    /// Mosquitto does: a connection without keep alive is never detected as dead.
    pub max_keepalive: i64,
    /// User properties one PUBLISH or will may carry: each is copied into the stored message and
    /// into every delivery, so a 1 MiB packet of empty pairs would cost 200k copies per subscriber.
    pub max_user_properties: i64,
    /// Bytes (keys plus values) of the user properties of one PUBLISH or will, for the same reason.
    pub max_user_property_bytes: i64,
    /// Bytes of topic names one connection's topic alias map may hold (inbound; outbound aliases
    /// stop being assigned past it): 65535 aliases of 64 KiB topics would be 4 GiB.
    pub max_topic_alias_bytes: i64,
    /// Subscriptions one client may hold (0: unlimited); filters of a SUBSCRIBE past it are refused
    /// with Quota exceeded, bounding what one client makes the router hold.
    pub max_subscriptions: i64,
    /// A write to a client that makes no progress for this long closes the connection (humantime,
    /// at least 1s), so a client that stops reading cannot hold its buffers forever.
    pub send_timeout: String,
}

impl Default for RawMqtt {
    fn default() -> Self {
        Self {
            max_packet_size: 1_048_576,
            max_client_id_len: 65_535,
            max_topic_levels: 128,
            max_qos: 2,
            retain_available: true,
            wildcard_subscription_available: true,
            shared_subscription_available: true,
            subscription_identifier_available: true,
            topic_alias_maximum: 65_535,
            receive_maximum: 32,
            max_inflight: 32,
            keepalive_multiplier: 1.5,
            server_keep_alive: 0,
            connect_timeout: "10s".to_owned(),
            max_session_expiry: "2h".to_owned(),
            max_awaiting_rel: 100,
            strict_3_1_client_id: true,
            response_information: String::new(),
            max_keepalive: 65_535,
            max_user_properties: 32,
            max_user_property_bytes: 8192,
            max_topic_alias_bytes: 65_536,
            max_subscriptions: 1000,
            send_timeout: "30s".to_owned(),
        }
    }
}

/// `[session]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawSession {
    /// Messages queued per session beyond the inflight window, bounding a slow or offline client's memory.
    pub max_queue_len: i64,
    /// Bytes that queue may count for (topic, payload, properties and ~200 bytes a message).
    pub max_queue_bytes: i64,
    /// What happens when that queue is full.
    pub queue_overflow: QueueOverflow,
    /// Whether QoS 0 messages are queued for offline persistent sessions.
    pub queue_qos0: bool,
    /// Sessions held offline (persistent sessions whose client is away) at most; a client
    /// that leaves when this many are held has its session ended, as with expiry 0. 0 means no limit.
    pub max_offline: i64,
    /// QoS 1/2 messages one persistent session may hold in the store (queued, inflight); past
    /// it, further deliveries to the session are dropped and counted.
    pub max_stored_messages: i64,
    /// Bytes one persistent session's stored messages may take.
    pub max_stored_bytes: i64,
}

impl Default for RawSession {
    fn default() -> Self {
        Self {
            max_queue_len: 1000,
            max_queue_bytes: 67_108_864,
            queue_overflow: QueueOverflow::DropOldest,
            queue_qos0: true,
            max_offline: 100_000,
            max_stored_messages: 1_000_000,
            max_stored_bytes: 1 << 30,
        }
    }
}

/// `[retain]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawRetain {
    /// Retained messages stored at most; 0 means unlimited.
    pub max_messages: i64,
    /// Larger retained payloads (bytes) are not stored, only counted.
    pub max_payload_size: i64,
    /// Bytes all retained messages may hold together (topic, payload, properties and a fixed
    /// cost each); a message that would pass it is not stored, only counted. 0 means no limit.
    pub max_bytes: i64,
}

impl Default for RawRetain {
    fn default() -> Self {
        Self {
            max_messages: 1_000_000,
            max_payload_size: 1_048_576,
            max_bytes: 1_073_741_824,
        }
    }
}

/// `[shared]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RawShared {
    /// How a message to a shared subscription picks one member of the group.
    pub strategy: SharedStrategy,
}

/// `[delayed]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawDelayed {
    /// Whether `$delayed/<seconds>/<topic>` publishes are held back; when off they are published as-is.
    pub enabled: bool,
    /// Delayed messages held at most; 0 means unlimited.
    pub max_messages: i64,
    /// Bytes all delayed messages may hold together (as `retain.max_bytes` counts them); 0 means unlimited.
    pub max_bytes: i64,
}

impl Default for RawDelayed {
    fn default() -> Self {
        Self {
            enabled: true,
            max_messages: 100_000,
            max_bytes: 268_435_456,
        }
    }
}

/// `[sys]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawSys {
    /// How often `$SYS` statistics are published (humantime); "0s" disables them.
    pub interval: String,
    /// Whether `$SYS/brokers/<node>/clients/<id>/connected|disconnected` events are published.
    pub client_events: bool,
}

impl Default for RawSys {
    fn default() -> Self {
        Self {
            interval: "10s".to_owned(),
            client_events: true,
        }
    }
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawLog {
    /// A `tracing` filter: a level, or comma-separated `target=level` directives.
    pub level: String,
}

impl Default for RawLog {
    fn default() -> Self {
        Self {
            level: "info".to_owned(),
        }
    }
}
