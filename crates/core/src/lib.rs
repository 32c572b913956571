//! `starling-core`: the MQTT protocol as state machines, with no I/O and no tokio.
//!
//! Owns what happens on one connection once CONNECT is accepted ([`channel::Channel`]): keep
//! alive, packet ids, the inflight window, the QoS 1 and QoS 2 handshakes in both directions, topic
//! aliases both ways, receive maximum, maximum packet size and message expiry. It also owns the
//! shape of a session ([`session::SessionState`]) so the store can persist it, and CONNECT
//! negotiation ([`connect`]). Time is always a parameter (`now: Instant`).
//!
//! It must not depend on tokio, sockets or the router: side effects are returned as
//! [`channel::Effect`] values and the broker carries them out.
//!
//! Map:
//! - [`access`]: `Access`, what one client may do with topics (the broker's ACLs, asked here).
//! - [`message`]: `Message` (shared by all subscribers) and `Delivery` (one message to one session).
//! - [`session`]: `SessionState`, the queue and its overflow policy.
//! - [`limits`]: `ServerLimits`, what the server allows and announces.
//! - [`publish_rules`]: what a client may publish (`$SYS`, `$delayed`, user properties), shared
//!   by PUBLISH and the will.
//! - [`connect`]: CONNECT negotiation, client id rules, will, CONNACK.
//! - [`channel`]: `Channel`, the per-connection state machine, and its `Effect`s.
//! - [`switches`]: `Switches`, the features turned on and off at run time (shared atomics).
//! - [`wall`]: `WallClock`, monotonic `now` to wall-clock deadlines (what must outlive a restart).

pub mod access;
pub mod channel;
pub mod connect;
pub mod limits;
pub mod message;
pub mod publish_rules;
pub mod session;
pub mod switches;
pub mod wall;

pub use access::Access;
pub use channel::{
    AuthAnswer, Channel, ChannelStats, CloseReason, Effect, SessionWrite, SubscribeRequest,
};
pub use connect::{connack, connack_fitting, connack_refused, negotiate, Negotiated, WillSpec};
pub use limits::ServerLimits;
pub use message::{Delivery, Message, MessageProperties, SharedTag};
pub use session::{Enqueued, Outgoing, QueueLimits, QueueOverflow, SessionState};
pub use switches::{Switch, Switches};
pub use wall::WallClock;
