//! The messages between connection tasks and the router.
//!
//! Connection tasks send [`RouterCmd`] on one bounded channel (back-pressure on publishers).
//! The router answers a session through its [`SessionMailbox`] (see `crate::mailbox`).

use crate::mailbox::Inbox;
pub(crate) use crate::mailbox::SessionMailbox;
use starling_codec::{PacketId, ReasonCode};
use starling_core::{Delivery, Message, SessionState, SubscribeRequest, WillSpec};
use starling_topic::SubscriptionTarget;
use std::sync::Arc;
use tokio::sync::oneshot;

/// Identifies one connection of a client id, so stale messages from a replaced connection are
/// recognised.
pub(crate) type ConnId = u64;

/// Orders and answers for a session task.
#[derive(Debug)]
pub(crate) enum SessionControl {
    /// Answer to a SUBSCRIBE. Retained messages for the new subscriptions follow as ordinary
    /// deliveries, streamed against the session's credit (`router::cursor`).
    SubAck {
        /// The SUBSCRIBE's id.
        packet_id: PacketId,
        /// One per filter.
        reason_codes: Vec<ReasonCode>,
    },
    /// Answer to an UNSUBSCRIBE.
    UnsubAck {
        /// The UNSUBSCRIBE's id.
        packet_id: PacketId,
        /// One per filter.
        reason_codes: Vec<ReasonCode>,
    },
    /// A new connection took the client id: close (0x8E), hand the session over, and stop.
    Takeover {
        /// Where the session goes.
        reply: oneshot::Sender<SessionState>,
        /// The new connection starts clean: this session ends here, so its will goes out now,
        /// delayed or not (spec 3.1.2.5).
        clean_start: bool,
    },
    /// The router owes this session more than the credit it offered: stored deliveries (its
    /// queue in the store) or retained messages for its new subscriptions. Ask again
    /// ([`RouterCmd::Resume`]) once there is room.
    Owed,
    /// The stored deliveries that follow come from the store, in order, from where the session
    /// asked (`starling_core::Channel::handle_stream`).
    Stream,
    /// The keep-alive deadline the session scheduled has come (from `crate::keepalive`): check
    /// it, and schedule the next one.
    KeepAlive,
    /// The send-timeout check the session armed when its writes got stuck (from
    /// `crate::keepalive`): end the connection if they still make no progress.
    SendCheck,
    /// A rate-limit pause is over: read from the client again.
    ResumeInput,
    /// The client's credentials (a token) expired: close with Not authorized.
    CredentialsExpired,
    /// An operator (or a ban) removes the client: close with Administrative action.
    Kicked,
    /// An operator ends the client's session: close with Administrative action, and the
    /// session ends with the connection.
    Discarded,
    /// Answer to the PUBLISHes this connection sent with [`RouterCmd::PublishAnswered`]: the
    /// next `count` were routed, and what they made the router write is covered by store
    /// ticket `ticket` (0: nothing was written).
    Routed {
        /// How many PUBLISHes this answers, in the order they were sent.
        count: u32,
        /// The store ticket their acks wait for.
        ticket: u64,
        /// Positions (0-based, within these `count`) of PUBLISHes that matched subscribers
        /// but reached none of them because of a limit: a 5.0 publisher is told 0x97.
        refused: Vec<u32>,
    },
    /// The store's durable ticket reached the one this session asked about
    /// (`Store::when_durable`): release what it holds.
    Durable,
    /// The management API asks what the session holds (one client's detail).
    Report(oneshot::Sender<crate::clients::SessionReport>),
    /// The broker is shutting down: close (0x8B) and stop. Sent by the router to every session
    /// it knows, so that connections need no shutdown future of their own.
    Shutdown,
}

/// Requests to the router.
#[derive(Debug)]
pub(crate) enum RouterCmd {
    /// A client passed CONNECT negotiation; register it (taking over any previous connection).
    Connect {
        /// The client id.
        client_id: Arc<str>,
        /// This connection.
        conn_id: ConnId,
        /// The client's address (the PROXY header's or trusted proxy's when there is one), for
        /// the `connected` event.
        peer: std::net::SocketAddr,
        /// Clean Start: the previous session's subscriptions are dropped.
        clean_start: bool,
        /// The session expiry interval the connection negotiated (0: ends with it).
        expiry_interval: u32,
        /// The will, kept in the session's record so that it outlives a crash (boxed: it is
        /// large and rare).
        will: Option<Box<WillSpec>>,
        /// How to reach the new session.
        mailbox: SessionMailbox,
        /// Who connected, for the management API.
        info: Arc<crate::clients::ClientInfo>,
        /// Gets the previous session (if there was one) and whether this one is in the store.
        reply: oneshot::Sender<Connected>,
    },
    /// Close the connection of `client_id`, if it is connected (its session stays, as after
    /// any lost connection).
    Kick {
        /// Whom.
        client_id: Arc<str>,
    },
    /// A management query, answered with bounded work (`router::query`).
    Query(Box<super::query::Query>),
    /// A module change for what the router owns (`crate::modules`).
    Modules(ModuleOrder),
    /// An application message to route.
    Publish(Arc<Message>),
    /// An application message to route, answered with [`SessionControl::Routed`] once what
    /// it changed in the store is committed (its publisher's ack waits for that).
    PublishAnswered {
        /// The message (its `publisher` names the client to answer).
        message: Arc<Message>,
        /// The connection to answer (a stale one is not).
        conn_id: ConnId,
    },
    /// SUBSCRIBE from a session.
    Subscribe {
        /// The client id.
        client_id: Arc<str>,
        /// The SUBSCRIBE's id.
        packet_id: PacketId,
        /// One per filter.
        requests: Vec<Result<SubscribeRequest, ReasonCode>>,
        /// Retained messages the session can take now (room in its window and queue).
        credit: usize,
    },
    /// The session has room for more of what it is owed (stored deliveries first, then
    /// retained messages).
    Resume {
        /// The client id.
        client_id: Arc<str>,
        /// The connection asking (a stale one is ignored).
        conn_id: ConnId,
        /// How many it can take.
        credit: usize,
        /// A resumed stored session's first request: the place in its stored queue after the
        /// inflight window it read back from the store. The stream starts there.
        from: Option<u64>,
    },
    /// The session's queue was full: stored deliveries from `seq` on were not kept in memory
    /// (`starling_core::Effect::Spilled`); stream them from the store when it asks.
    Spilled {
        /// The client id.
        client_id: Arc<str>,
        /// The connection (a stale one is ignored).
        conn_id: ConnId,
        /// The first stored delivery not kept.
        seq: u64,
    },
    /// The session finished with (and deleted) `count` of its stored deliveries: the router's
    /// count of what the session holds in the store goes down.
    StoredDone {
        /// The client id.
        client_id: Arc<str>,
        /// How many.
        count: u32,
    },
    /// UNSUBSCRIBE from a session.
    Unsubscribe {
        /// The client id.
        client_id: Arc<str>,
        /// The UNSUBSCRIBE's id.
        packet_id: PacketId,
        /// One per filter.
        filters: Vec<Result<SubscriptionTarget, ReasonCode>>,
    },
    /// The connection closed; the session lives on offline, kept by the router (no task).
    Offline(Box<Handoff>),
    /// The session ended (clean, or expired): forget its subscriptions and registration, and
    /// give its unacknowledged shared-subscription messages to other members.
    SessionEnded {
        /// The client id.
        client_id: Arc<str>,
        /// The connection whose session ended.
        conn_id: ConnId,
        /// Shared-subscription deliveries to dispatch again.
        redispatch: Vec<Delivery>,
    },
    /// Shared-subscription deliveries of a session that was replaced (Clean Start takeover):
    /// dispatch them to other members of their groups.
    Redispatch {
        /// The client whose session held them.
        from: Arc<str>,
        /// The deliveries.
        deliveries: Vec<Delivery>,
    },
    /// A resumed connection found no previous session after all: drop stale subscriptions.
    ResetSubscriptions {
        /// The client id.
        client_id: Arc<str>,
        /// The connection asking.
        conn_id: ConnId,
    },
}

/// Module changes the router carries out (`router::modules`).
#[derive(Debug)]
pub(crate) enum ModuleOrder {
    /// The topic rewrite rules in force from now on (empty: off).
    Rewrite(Arc<crate::modules::rewrite::Rewriter>),
    /// The auto-subscribe topics in force from now on (empty: off).
    AutoSubscribe(Arc<crate::modules::auto_subscribe::AutoSubscribe>),
    /// Drop a batch of delayed messages; answers whether any are left.
    ClearDelayed(oneshot::Sender<bool>),
    /// Drop a batch of retained messages (not `$` topics); answers whether any are left.
    ClearRetained(oneshot::Sender<bool>),
}

/// The router's answer to [`RouterCmd::Connect`].
#[derive(Debug)]
pub(crate) struct Connected {
    /// Gets the previous session, if there was one (at once when it was offline).
    pub(crate) previous: Option<oneshot::Receiver<SessionState>>,
    /// A session resumed from the store: it reads its inflight window and QoS 2 ids back from
    /// there, and its queue is streamed from there (it says where from in its first `Resume`).
    pub(crate) from_store: bool,
}

/// What a connection leaves the router when its session goes offline.
#[derive(Debug)]
pub(crate) struct Handoff {
    /// The client id.
    pub(crate) client_id: Arc<str>,
    /// The connection that closed.
    pub(crate) conn_id: ConnId,
    /// The session (what is in the store is dropped from it by the router).
    pub(crate) session: SessionState,
    /// The will, published after its delay or when the session ends.
    pub(crate) will: Option<WillSpec>,
    /// The connection's inbox: the router takes what is still in it (deliveries, or a takeover
    /// that came while the connection was ending).
    pub(crate) inbox: Inbox,
}
