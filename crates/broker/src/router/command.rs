//! The messages between connection tasks and the router.
//!
//! Connection tasks send [`RouterCmd`] on one bounded channel (back-pressure on publishers).
//! The router answers a session through its [`SessionMailbox`] (see `crate::mailbox`).

pub(crate) use crate::mailbox::SessionMailbox;
use starling_codec::{PacketId, ReasonCode};
use starling_core::{Delivery, Message, SessionState, SubscribeRequest};
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
    /// Retained messages are still owed to this session's new subscriptions, more than the
    /// credit it offered: ask again ([`RouterCmd::ResumeRetained`]) once there is room.
    RetainedPaused,
    /// The keep-alive deadline the session scheduled has come (from `crate::keepalive`): check
    /// it, and schedule the next one.
    KeepAlive,
    /// The send-timeout check the session armed when its writes got stuck (from
    /// `crate::keepalive`): end the connection if they still make no progress.
    SendCheck,
    /// Answer to the PUBLISHes this connection sent with [`RouterCmd::PublishAnswered`]: the
    /// next `count` were routed, and what they made the router write is covered by store
    /// ticket `ticket` (0: nothing was written).
    Routed {
        /// How many PUBLISHes this answers, in the order they were sent.
        count: u32,
        /// The store ticket their acks wait for.
        ticket: u64,
    },
    /// The store's durable ticket reached the one this session asked about
    /// (`Store::when_durable`): release what it holds.
    Durable,
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
        /// Clean Start: the previous session's subscriptions are dropped.
        clean_start: bool,
        /// How to reach the new session.
        mailbox: SessionMailbox,
        /// Gets the previous session, if one was alive.
        reply: oneshot::Sender<Option<oneshot::Receiver<SessionState>>>,
    },
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
    /// The session has room for more of the retained messages it is owed.
    ResumeRetained {
        /// The client id.
        client_id: Arc<str>,
        /// The connection asking (a stale one is ignored).
        conn_id: ConnId,
        /// How many it can take.
        credit: usize,
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
    /// The connection closed; the session lives on offline.
    Offline {
        /// The client id.
        client_id: Arc<str>,
        /// The connection that closed.
        conn_id: ConnId,
    },
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
