//! What the server allows a connection: the broker builds one `ServerLimits` from its config and
//! every channel reads it. The 5.0 CONNACK announces most of these.

use crate::session::QueueLimits;
use crate::switches::{Switch, Switches};
use crate::wall::WallClock;
use starling_codec::QoS;
use starling_topic::TopicLimits;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Server-side limits and capabilities that shape every channel.
#[derive(Debug, Clone)]
pub struct ServerLimits {
    /// Largest packet we accept (announced as Maximum Packet Size).
    pub max_packet_size: u32,
    /// Incoming QoS 2 messages awaiting PUBREL we accept at once (announced as Receive Maximum).
    pub receive_maximum: u16,
    /// Incoming QoS 2 messages awaiting PUBREL accepted at once from a 3.x client (which has no
    /// Receive Maximum); at least `receive_maximum`.
    pub max_awaiting_rel: u16,
    /// Topic aliases we accept from a client (announced as Topic Alias Maximum).
    pub topic_alias_maximum: u16,
    /// Cap on our own outgoing inflight window, whatever the client's Receive Maximum.
    pub max_inflight: u16,
    /// Highest QoS we support (announced as Maximum QoS when below 2).
    pub max_qos: QoS,
    /// Whether wildcard subscriptions are supported.
    pub wildcard_subscription_available: bool,
    /// Whether subscription identifiers are supported.
    pub subscription_identifier_available: bool,
    /// Close a connection after this multiple of its keep alive without a packet.
    pub keepalive_multiplier: f64,
    /// Keep alive imposed on 5.0 clients; 0 accepts the client's.
    pub server_keep_alive: u16,
    /// Cap on the session expiry interval; also the expiry of 3.x persistent sessions.
    pub max_session_expiry: Duration,
    /// Longest client id accepted.
    pub max_client_id_len: usize,
    /// MQTT 3.1 requires client ids of 1 to 23 bytes; enforce it.
    pub strict_3_1_client_id: bool,
    /// Limits on topic names and filters.
    pub topic: TopicLimits,
    /// Limits on each session's queue.
    pub queue: QueueLimits,
    /// Response Information for 5.0 clients that request it (spec 3.2.2.3.15).
    pub response_information: Option<String>,
    /// Longest keep alive accepted, seconds (0: no cap): imposed on 5.0 clients that ask for more
    /// or none; 3.x clients that do are refused. A connection without keep alive is never found
    /// dead, so its session and buffers would stay forever.
    pub max_keepalive: u16,
    /// The features switched on and off at run time (delayed publish, retainer, shared and
    /// exclusive subscriptions, `$SYS`), shared with the router: see [`crate::switches`].
    pub switches: Arc<Switches>,
    /// Whether a PUBLISH refused as Not authorized closes the connection (5.0: DISCONNECT 0x87)
    /// instead of being answered 0x87 (3.x: acknowledged and dropped).
    pub deny_disconnects: bool,
    /// PUBLISH packets per second one client may send, and the burst; `None`: no limit.
    pub message_rate: Option<(u32, u32)>,
    /// PUBLISH bytes (topic and payload) per second one client may send, and the burst.
    pub byte_rate: Option<(u64, u64)>,
    /// User properties one PUBLISH or will may carry: every one is copied into the stored
    /// message and cloned into each outgoing PUBLISH.
    pub max_user_properties: usize,
    /// Bytes (keys plus values) of the user properties of one PUBLISH or will.
    pub max_user_property_bytes: usize,
    /// Bytes of topic names one connection's inbound topic alias map may hold (exceeding it
    /// closes with Quota exceeded); also where we stop assigning outbound aliases.
    pub max_topic_alias_bytes: usize,
    /// Subscriptions one client may hold (`usize::MAX`: unlimited). The channel refuses filters
    /// of one SUBSCRIBE past it; the router caps the client's total.
    pub max_subscriptions: usize,
    /// SUBSCRIBE/UNSUBSCRIBE requests of one connection the router may owe an answer at once;
    /// while that many are pending the connection reads no more ([`crate::Channel::wants_input`]).
    pub max_pending_answers: usize,
    /// A write to a client that makes no progress for this long closes the connection.
    pub send_timeout: Duration,
    /// Acks of QoS 1/2 PUBLISHes wait for the router's answer and for the store to have the
    /// message on disk (the broker sets this when it has a store; see `channel::gate`).
    pub acks_wait_for_router: bool,
    /// The mapping from the `now: Instant` every channel is given to wall-clock deadlines
    /// (message expiry). The broker fixes it at start.
    pub clock: WallClock,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            max_packet_size: 1024 * 1024,
            receive_maximum: 32,
            max_awaiting_rel: 100,
            topic_alias_maximum: 65535,
            max_inflight: 32,
            max_qos: QoS::ExactlyOnce,
            wildcard_subscription_available: true,
            subscription_identifier_available: true,
            keepalive_multiplier: 1.5,
            server_keep_alive: 0,
            max_session_expiry: Duration::from_secs(2 * 3600),
            max_client_id_len: 65535,
            strict_3_1_client_id: true,
            topic: TopicLimits::default(),
            queue: QueueLimits::default(),
            response_information: None,
            max_keepalive: 65535,
            switches: Arc::default(),
            deny_disconnects: false,
            message_rate: None,
            byte_rate: None,
            max_user_properties: 32,
            max_user_property_bytes: 8192,
            max_topic_alias_bytes: 65536,
            max_subscriptions: 1000,
            max_pending_answers: 16,
            send_timeout: Duration::from_secs(30),
            acks_wait_for_router: false,
            clock: default_clock(),
        }
    }
}

/// The mapping every default `ServerLimits` shares, taken once per process: the one place the
/// core reads clocks (a default needs some mapping; the broker sets its own at start).
fn default_clock() -> WallClock {
    static CLOCK: std::sync::OnceLock<WallClock> = std::sync::OnceLock::new();
    *CLOCK.get_or_init(|| WallClock::new(Instant::now(), SystemTime::now()))
}

impl ServerLimits {
    /// Whether `$delayed/<seconds>/<topic>` is delayed publish now. When it is, a malformed
    /// `$delayed/...` topic is refused; when not, it is an ordinary topic.
    pub fn delayed_enabled(&self) -> bool {
        self.switches.is_on(Switch::Delayed)
    }

    /// Whether retained messages are stored now (what a 5.0 CONNACK announces).
    pub fn retain_available(&self) -> bool {
        self.switches.is_on(Switch::Retainer)
    }

    /// Whether shared subscriptions are accepted now.
    pub fn shared_subscription_available(&self) -> bool {
        self.switches.is_on(Switch::Shared)
    }

    /// Whether `$exclusive/` subscriptions are accepted now.
    pub fn exclusive_subscription_available(&self) -> bool {
        self.switches.is_on(Switch::Exclusive)
    }

    /// The session expiry cap in seconds, as the protocol counts it.
    pub fn max_session_expiry_secs(&self) -> u32 {
        u32::try_from(self.max_session_expiry.as_secs()).unwrap_or(u32::MAX)
    }
}
