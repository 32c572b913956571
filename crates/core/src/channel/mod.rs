//! `Channel`: the protocol state machine of one connected client, with no I/O.
//!
//! The connection task feeds it what happens (a packet from the client, a delivery from the
//! router, the router's answer to a SUBSCRIBE, the passing of time) and carries out the
//! [`Effect`]s it returns, in order. Time is always a parameter, so keepalive and expiry are
//! tested without a runtime.
//!
//! - `incoming`: packets from the client (PUBLISH and its QoS 2 handshake, SUBSCRIBE, ...).
//! - `outgoing`: deliveries to the client (inflight window, queue, topic aliases, acks).
//! - `gate`: packets held until what they promise is safe (the router's answer, the store).
//! - `rate`: per-client publish rates (token buckets; reading pauses while in debt).
//! - `reauth`: AUTH packets of a re-authentication, handed to the broker and answered by it.

mod gate;
mod incoming;
mod outgoing;
mod rate;
mod reauth;

pub use gate::Ticket;
pub use rate::MAX_DEBT;
pub use reauth::AuthAnswer;

use crate::connect::{Negotiated, WillSpec};
use crate::limits::ServerLimits;
use crate::message::Message;
use crate::session::SessionState;
use starling_codec::{
    encoded_len, Disconnect, Packet, PacketId, Properties, ProtocolVersion, ReasonCode,
    SubscriptionOptions, Utf8String,
};
use starling_topic::SubscriptionTarget;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One SUBSCRIBE entry that passed the channel's checks, for the router.
#[derive(Debug, Clone)]
pub struct SubscribeRequest {
    /// The parsed filter (plain, shared or exclusive).
    pub target: SubscriptionTarget,
    /// The options as sent, QoS already capped at the server's maximum.
    pub options: SubscriptionOptions,
    /// The subscription identifier (5.0), if given.
    pub subscription_id: Option<u32>,
}

/// Why the connection ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The client sent DISCONNECT; the will is published only for reason 0x04.
    ClientDisconnect {
        /// True for "Disconnect with Will Message".
        publish_will: bool,
    },
    /// The server closes the connection; 5.0 clients are sent DISCONNECT with this reason.
    Server(ReasonCode),
}

/// Something the connection task must do, in the order given.
// `Send` is large (a packet with its properties inline); effects live only for one turn of the
// connection loop (taken with `take_effects`), so boxing would cost an allocation per packet.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Effect {
    /// Write a packet to the client.
    Send(Packet),
    /// Route an application message the client published.
    Publish(Arc<Message>),
    /// Route an application message and answer with [`Channel::handle_routed`]: its ack waits
    /// for that answer (only when `ServerLimits::acks_wait_for_router`).
    PublishAnswered(Arc<Message>),
    /// Write to this session's records in the store, then report the ticket with
    /// [`Channel::handle_written`] (packets of this turn may wait for it).
    Store(SessionWrite),
    /// The session's queue was full: stored deliveries from `seq` on were dropped from memory
    /// (they stay in the store), and the router must stream them again from there when the
    /// session asks for more.
    Spilled {
        /// The first stored delivery not kept.
        seq: u64,
    },
    /// Ask the router to subscribe; it answers through [`Channel::handle_suback`]. Entries the
    /// channel already refused carry their reason code.
    Subscribe {
        /// The SUBSCRIBE's packet id.
        packet_id: PacketId,
        /// One entry per filter, in order.
        requests: Vec<Result<SubscribeRequest, ReasonCode>>,
    },
    /// Ask the router to unsubscribe; it answers through [`Channel::handle_unsuback`].
    Unsubscribe {
        /// The UNSUBSCRIBE's packet id.
        packet_id: PacketId,
        /// One entry per filter, in order.
        filters: Vec<Result<SubscriptionTarget, ReasonCode>>,
    },
    /// Run a step of the enhanced authentication method's exchange (re-authentication, spec
    /// 4.12.1) and answer with [`Channel::handle_auth_answer`].
    Authenticate {
        /// The method (the one of CONNECT).
        method: Utf8String,
        /// ReAuthenticate (0x19): a new exchange; ContinueAuthentication (0x18): its next step.
        reason: ReasonCode,
        /// The AUTH packet's Authentication Data.
        data: bytes::Bytes,
    },
    /// Close the connection (after writing what came before).
    Close(CloseReason),
}

/// A change to a session's records in the store (`Delivery::stored` is the record's place).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionWrite {
    /// A stored delivery went out with this packet id; `released`: its PUBREC came and PUBREL
    /// went out, so only PUBCOMP is awaited.
    Inflight {
        /// The delivery's place in the stored queue.
        seq: u64,
        /// The packet id it was sent with.
        packet_id: PacketId,
        /// PUBREL sent.
        released: bool,
    },
    /// A stored delivery is finished with (acknowledged, expired, refused or too large).
    Done {
        /// The delivery's place in the stored queue.
        seq: u64,
        /// It may have an inflight record (a QoS 2 message's packet id and state), to delete
        /// too. A QoS 1 message has none while a connection serves it: its id is written when
        /// the connection ends and deleted when the next one reads it back.
        record: bool,
    },
    /// An incoming QoS 2 packet id now awaits PUBREL.
    AwaitingRel(PacketId),
    /// That packet id was released (PUBREL came, or the exchange failed).
    Released(PacketId),
}

/// Counters the broker adds to its metrics after each turn (so 32 bits are plenty, and keep
/// every connection a little smaller).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChannelStats {
    /// Deliveries dropped because the session queue was full.
    pub dropped_queue_full: u32,
    /// Deliveries dropped because their message expired before it could be sent.
    pub dropped_expired: u32,
    /// Deliveries dropped because they exceed the client's Maximum Packet Size.
    pub dropped_too_large: u32,
    /// PUBLISHes from the client refused as Not authorized (`$SYS`, direct or delayed).
    pub refused_not_authorized: u32,
    /// PUBLISHes from the client refused as invalid (a malformed `$delayed` topic, a payload
    /// that is not the UTF-8 it declares).
    pub refused_invalid: u32,
    /// PUBLISHes from the client refused as Quota exceeded (too many user properties).
    pub refused_quota: u32,
    /// Of `refused_not_authorized`, those an ACL denied (the rest are `$SYS`).
    pub denied_publish: u32,
    /// Subscriptions an ACL denied (SUBACK 0x87, 3.x 0x80).
    pub denied_subscribe: u32,
    /// Deliveries dropped because an ACL denies this client reading their topic.
    pub denied_delivery: u32,
}

impl ChannelStats {
    /// Every drop counted, refused PUBLISHes included (their message was not routed).
    pub fn dropped(&self) -> u64 {
        u64::from(self.dropped_queue_full)
            + u64::from(self.dropped_expired)
            + u64::from(self.dropped_too_large)
            + u64::from(self.refused_not_authorized)
            + u64::from(self.refused_invalid)
            + u64::from(self.refused_quota)
            + u64::from(self.denied_delivery)
    }
}

/// The drops every connection may count, kept inline (the refusals live in [`Rare`]).
#[derive(Debug, Clone, Copy, Default)]
struct Drops {
    queue_full: u32,
    expired: u32,
    too_large: u32,
}

/// What most connections never need: the topic alias maps of a 5.0 connection, the counts of
/// refused PUBLISHes and the packets held for durability, made on first use (inline they would be ~120 bytes in every idle connection).
#[derive(Debug, Default)]
struct Rare {
    /// Aliases the client set up (alias -> topic).
    inbound: HashMap<u16, Arc<str>>,
    /// Bytes of the topic names in `inbound`, at most `max_topic_alias_bytes`.
    inbound_bytes: usize,
    /// Aliases we set up towards the client (topic -> alias).
    outbound: HashMap<Arc<str>, u16>,
    /// Bytes of the topic names in `outbound`; no new alias is assigned past the cap.
    outbound_bytes: usize,
    /// Refused PUBLISHes since the last `take_stats` (the `refused_*` fields).
    refused: ChannelStats,
    /// Packets held until the router answers or the store has their writes (`gate`).
    gate: gate::Gate,
    /// Stored deliveries from this place on were dropped from memory (the queue was full) and
    /// the router streams them again: until that one comes back, later stored ones are dropped.
    spilled: Option<u64>,
    /// Places in the stored queue of the deliveries a resumed session read back into its
    /// inflight window, sorted: the router streams the whole stored queue, and these are
    /// skipped as they pass (they are in flight already).
    resumed: Vec<u64>,
    /// What the client may do with topics; `None`: no ACL is configured, everything is
    /// allowed. Here, not inline: the connection's task must stay within 384 bytes.
    access: Option<Box<dyn crate::Access>>,
    /// The client's publish rate buckets, once a rate limit is configured and it published.
    buckets: Option<rate::Buckets>,
    /// The enhanced authentication method of CONNECT, and a re-authentication under way.
    enhanced: Option<reauth::Enhanced>,
}

/// The protocol state of one connected client.
#[derive(Debug)]
pub struct Channel {
    neg: Negotiated,
    limits: Arc<ServerLimits>,
    session: SessionState,
    /// Topic aliases both ways (5.0) and refusal counts, made on first use.
    rare: Option<Box<Rare>>,
    last_received: Instant,
    closed: bool,
    /// SUBSCRIBE/UNSUBSCRIBE requests sent to the router and not answered yet (u16 keeps the
    /// channel within its size: it never goes far past `max_pending_answers`).
    answers_pending: u16,
    effects: Vec<Effect>,
    stats: Drops,
    /// An ACL was set (it lives in `rare`): checked first, so a channel without one does not
    /// touch `rare` for every delivery.
    guarded: bool,
}

impl Channel {
    /// A channel for an accepted connection, continuing `session` (new or resumed). A resumed
    /// session's unacknowledged messages are sent again first, PUBLISH with DUP set and PUBREL
    /// as PUBREL ([MQTT-4.4.0-1]); take them with [`Channel::take_effects`].
    pub fn new(
        neg: Negotiated,
        limits: Arc<ServerLimits>,
        session: SessionState,
        now: Instant,
    ) -> Self {
        let mut channel = Self {
            neg,
            limits,
            session,
            rare: None,
            last_received: now,
            closed: false,
            answers_pending: 0,
            effects: Vec::new(),
            stats: Drops::default(),
            guarded: false,
        };
        channel.resend_inflight(now);
        channel.fill_window(now);
        channel
    }

    /// Checks every PUBLISH, SUBSCRIBE and delivery from now on against `access`.
    pub fn set_access(&mut self, access: Box<dyn crate::Access>) {
        self.rare().access = Some(access);
        self.guarded = true;
    }

    /// The client's ACL, if one is configured.
    fn access(&mut self) -> Option<&mut Box<dyn crate::Access>> {
        if !self.guarded {
            return None;
        }
        self.rare.as_mut().and_then(|rare| rare.access.as_mut())
    }

    /// The negotiated connection parameters.
    pub fn negotiated(&self) -> &Negotiated {
        &self.neg
    }

    /// Protocol version in use.
    pub fn version(&self) -> ProtocolVersion {
        self.neg.version
    }

    /// The session (read-only).
    pub fn session(&self) -> &SessionState {
        &self.session
    }

    /// The topic a topic alias stands for: one the client set up (`inbound`), or one set up
    /// towards it (for traces, which show the topic of a PUBLISH that carries only an alias).
    pub fn alias_topic(&self, alias: u16, inbound: bool) -> Option<&str> {
        let rare = self.rare.as_ref()?;
        if inbound {
            rare.inbound.get(&alias).map(|t| &**t)
        } else {
            rare.outbound
                .iter()
                .find(|(_, a)| **a == alias)
                .map(|(t, _)| &**t)
        }
    }

    /// True once the channel has produced a `Close` effect.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// SUBSCRIBE/UNSUBSCRIBE requests given to the router ([`Effect::Subscribe`],
    /// [`Effect::Unsubscribe`]) whose answer ([`Channel::handle_suback`],
    /// [`Channel::handle_unsuback`]) has not come yet.
    pub fn answers_pending(&self) -> usize {
        usize::from(self.answers_pending)
    }

    /// False while `max_pending_answers` requests wait for the router: the connection should
    /// decode nothing more until an answer comes, so a client pipelining SUBSCRIBEs cannot make
    /// the router (and the answers in its mailbox) hold more than that for it.
    pub fn wants_input(&self) -> bool {
        self.answers_pending() < self.limits.max_pending_answers && !self.rate_paused()
    }

    /// Takes the effects produced so far.
    pub fn take_effects(&mut self) -> Vec<Effect> {
        // Once per turn: a session that holds nothing gives its collections' memory back.
        self.session.compact();
        std::mem::take(&mut self.effects)
    }

    /// Takes and resets the counters.
    pub fn take_stats(&mut self) -> ChannelStats {
        let drops = std::mem::take(&mut self.stats);
        let refused = self
            .rare
            .as_mut()
            .map(|rare| std::mem::take(&mut rare.refused))
            .unwrap_or_default();
        ChannelStats {
            dropped_queue_full: drops.queue_full,
            dropped_expired: drops.expired,
            dropped_too_large: drops.too_large,
            ..refused
        }
    }

    fn rare(&mut self) -> &mut Rare {
        self.rare.get_or_insert_with(Box::default)
    }

    /// Counts a PUBLISH refused with `reason` (not routed).
    fn count_refusal(&mut self, reason: ReasonCode) {
        let refused = &mut self.rare().refused;
        let counter = match reason {
            ReasonCode::NotAuthorized => &mut refused.refused_not_authorized,
            ReasonCode::QuotaExceeded => &mut refused.refused_quota,
            _ => &mut refused.refused_invalid,
        };
        *counter = counter.saturating_add(1);
    }

    /// When keepalive runs out if nothing arrives: 1.5 x keep alive (configurable) after the
    /// last packet ([MQTT-3.1.2-24]); `None` when keep alive is 0.
    pub fn keepalive_deadline(&self) -> Option<Instant> {
        if self.neg.keep_alive == 0 {
            return None;
        }
        // Saturating and panic-free whatever the multiplier (config bounds it, but `ServerLimits`
        // is public): a NaN or negative product is no grace at all, a huge one the far future.
        let secs = f64::from(self.neg.keep_alive) * self.limits.keepalive_multiplier;
        let grace = Duration::try_from_secs_f64(secs).unwrap_or(if secs > 0.0 {
            Duration::MAX
        } else {
            Duration::ZERO
        });
        Some(
            self.last_received
                .checked_add(grace)
                .unwrap_or_else(|| far_future(self.last_received)),
        )
    }

    /// Time passes: closes the connection with Keep Alive timeout (0x8D) once the deadline passed.
    pub fn handle_tick(&mut self, now: Instant) {
        if self.closed {
            return;
        }
        if self.rate_paused() {
            // We are not reading it (its publish rate): its silence is ours.
            self.last_received = now;
            return;
        }
        if self
            .keepalive_deadline()
            .is_some_and(|deadline| now >= deadline)
        {
            self.close_with(ReasonCode::KeepAliveTimeout);
        }
    }

    /// The server, not the client, held things up until `now` (its writes to the client were
    /// stuck, so it read nothing): the keep-alive silence counts from here.
    pub fn handle_activity(&mut self, now: Instant) {
        self.last_received = self.last_received.max(now);
    }

    /// The server is shutting down or taking the connection away: closes it with `reason`
    /// (0x8B shutting down, 0x8E session taken over, 0x98 administrative action).
    pub fn handle_server_close(&mut self, reason: ReasonCode) {
        if !self.closed {
            self.close_with(reason);
        }
    }

    /// An operator ends the session: it will not outlive the connection (session expiry 0),
    /// whatever the client negotiated.
    pub fn discard_session(&mut self) {
        self.neg.session_expiry = 0;
    }

    /// Ends the connection and returns what outlives it: the session, the will (unless the
    /// client disconnected normally), and the session expiry in force.
    pub fn into_parts(self) -> (SessionState, Option<WillSpec>, u32) {
        let mut session = self.session;
        session.expiry_interval = self.neg.session_expiry;
        (session, self.neg.will.map(|w| *w), self.neg.session_expiry)
    }

    /// Whether `packet` is within the client's Maximum Packet Size: nothing larger may be sent
    /// ([MQTT-3.1.2-24]).
    fn fits(&self, packet: &Packet) -> bool {
        encoded_len(packet, self.neg.version)
            .is_ok_and(|len| len as u64 <= u64::from(self.neg.client_max_packet_size))
    }

    /// Closes with a server reason: 5.0 clients get DISCONNECT with it first, without its
    /// reason string if that would not fit, and none at all if even that would not.
    fn close_with(&mut self, reason: ReasonCode) {
        if self.neg.version.is_v5() {
            let mut properties = Properties::default();
            if self.neg.request_problem_information {
                // [MQTT-3.1.2-29] allows a reason string on DISCONNECT whatever the request says;
                // we add it only when the client asked for problem information.
                properties.reason_string = Utf8String::try_from(reason.description()).ok();
            }
            let mut packet = Packet::Disconnect(Disconnect {
                reason_code: reason,
                properties,
            });
            if !self.fits(&packet) {
                if let Packet::Disconnect(d) = &mut packet {
                    d.properties.reason_string = None; // [MQTT-3.14.2-3]
                }
            }
            if self.fits(&packet) {
                // Not behind held packets: the connection ends, and what waits is not sent.
                self.effects.push(Effect::Send(packet));
            }
        }
        self.closed = true;
        self.effects
            .push(Effect::Close(CloseReason::Server(reason)));
    }
}

/// The latest instant after `from` that `Instant` can hold, near enough: about a century on.
fn far_future(from: Instant) -> Instant {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    from.checked_add(CENTURY).unwrap_or(from)
}

#[cfg(test)]
mod tests;
