//! Application messages as the broker routes them, and a delivery of one to one session.
//!
//! A [`Message`] is built once from an incoming PUBLISH and shared (`Arc`) by every subscriber it
//! reaches: the payload is a `Bytes` slice of the publisher's read buffer, so fan-out copies no
//! payload. Per-subscriber facts (granted QoS, retain flag, subscription identifiers, which shared
//! group it came through) live in the small [`Delivery`] beside it.

use bytes::Bytes;
use starling_codec::{Properties, QoS, Utf8String};
use starling_topic::TopicName;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// The properties of an application message that travel with it to subscribers (spec 3.3.2.3).
/// Topic alias and subscription identifiers are per-hop and are not kept here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageProperties {
    /// Payload format indicator (1 = UTF-8).
    pub payload_format_indicator: Option<u8>,
    /// Content type.
    pub content_type: Option<Utf8String>,
    /// Response topic.
    pub response_topic: Option<Utf8String>,
    /// Correlation data.
    pub correlation_data: Option<Bytes>,
    /// User properties, in order.
    pub user_properties: Vec<(Utf8String, Utf8String)>,
}

/// Payloads smaller than this are copied out of the read buffer when a message is built.
///
/// A decoded payload is a slice of the publisher's read buffer, and while any subscriber still
/// queues the message the whole buffer stays allocated: a 64-byte message could pin 4 KiB.
/// Copying a payload once at ingress costs little and lets the buffer be reused; fan-out still
/// shares that one copy. Up to 64 KiB is copied: a read buffer that grew to hold a 16 KiB packet
/// is often twice that, and with 1,000 such messages queued (100 publishers to one subscriber)
/// the pinned buffers doubled the broker's peak memory. Larger payloads fill most of their
/// buffer and stay shared.
pub const DETACH_BELOW: usize = 64 * 1024;

/// `bytes` as a value that does not pin its read buffer (see [`DETACH_BELOW`]).
pub fn detach(bytes: &Bytes) -> Bytes {
    if bytes.len() < DETACH_BELOW {
        Bytes::copy_from_slice(bytes)
    } else {
        bytes.clone()
    }
}

impl MessageProperties {
    /// Takes the forwarded properties out of a PUBLISH's properties, copying them so they do not
    /// pin the read buffer.
    pub fn from_publish(props: &Properties) -> Self {
        Self {
            payload_format_indicator: props.payload_format_indicator,
            content_type: props.content_type.as_ref().map(Utf8String::detached),
            response_topic: props.response_topic.as_ref().map(Utf8String::detached),
            correlation_data: props.correlation_data.as_ref().map(detach),
            user_properties: props
                .user_properties
                .iter()
                .map(|(k, v)| (k.detached(), v.detached()))
                .collect(),
        }
    }
}

/// One application message, shared by every session it is delivered to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The topic it was published to.
    pub topic: TopicName,
    /// The same topic as a wire string, made once per message ([`Message::wire_topic_of`]) so
    /// that every delivery shares it instead of copying and re-validating the name.
    pub wire_topic: Utf8String,
    /// The payload (never copied after decode).
    pub payload: Bytes,
    /// The QoS it was published with.
    pub qos: QoS,
    /// The RETAIN flag it was published with.
    pub retain: bool,
    /// Properties forwarded to subscribers.
    pub properties: MessageProperties,
    /// When it expires (wall time, so that it means the same after a restart), from the
    /// message expiry interval; `None` never expires.
    pub expires_at: Option<SystemTime>,
    /// Client id of the publisher (for No Local); empty for broker-originated messages.
    pub publisher: Arc<str>,
}

impl Message {
    /// What a retained message costs the store, in bytes: topic (twice: the tree's levels and the
    /// message's own name), payload, forwarded properties, and the fixed part: the `Message`, its
    /// `Arc`, the tree's leaf entry and allocation slack. Calibrated on 1,000,000 messages of
    /// 100 bytes under 15-byte topics, which took 586 bytes each in the broker's RSS (this
    /// counts about 560).
    pub fn footprint(&self) -> usize {
        const FIXED: usize = std::mem::size_of::<Message>() + 160;
        let p = &self.properties;
        let props = p.content_type.as_ref().map_or(0, |s| s.as_str().len())
            + p.response_topic.as_ref().map_or(0, |s| s.as_str().len())
            + p.correlation_data.as_ref().map_or(0, |b| b.len())
            + p.user_properties
                .iter()
                .map(|(k, v)| k.as_str().len() + v.as_str().len() + 16)
                .sum::<usize>();
        FIXED + 2 * self.topic.as_str().len() + self.payload.len() + props
    }

    /// The wire string for `topic` (a topic name is always a valid MQTT UTF-8 string).
    pub fn wire_topic_of(topic: &TopicName) -> Utf8String {
        Utf8String::try_from(topic.as_str()).unwrap_or_default()
    }

    /// True when the message expiry interval has run out at `now`.
    pub fn is_expired(&self, now: SystemTime) -> bool {
        self.expires_at.is_some_and(|at| now >= at)
    }

    /// The expiry interval left at `now`, in whole seconds rounded up (spec 3.3.2.3.3: the
    /// forwarded value is the received value minus the time spent waiting), or `None`.
    pub fn remaining_expiry(&self, now: SystemTime) -> Option<u32> {
        self.expires_at.map(|at| {
            let left = at.duration_since(now).unwrap_or(Duration::ZERO);
            let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
            u32::try_from(secs).unwrap_or(u32::MAX).max(1)
        })
    }

    /// The absolute expiry for an interval received at `now`.
    pub fn expiry_from_interval(interval: Option<u32>, now: SystemTime) -> Option<SystemTime> {
        interval.map(|secs| now + Duration::from_secs(u64::from(secs)))
    }
}

/// Which shared subscription a delivery came through, so that an unacknowledged message can be
/// dispatched to another member of the group if this member goes away.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SharedTag {
    /// The share group name (`$queue` for `$queue/` subscriptions).
    pub group: Arc<str>,
    /// The filter inside the share.
    pub filter: Arc<str>,
}

/// One message on its way to one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The shared message.
    pub message: Arc<Message>,
    /// QoS to deliver at: min(published, granted) ([MQTT-3.8.4-8]).
    pub qos: QoS,
    /// RETAIN flag to send (retained-on-subscribe, or retain-as-published).
    pub retain: bool,
    /// Subscription identifiers of every matching subscription (5.0).
    pub subscription_ids: Box<[u32]>,
    /// Set when the delivery came through a shared subscription.
    pub shared: Option<Arc<SharedTag>>,
    /// Its position in the session's queue in the store (`starling-store`), so the session can
    /// record its packet id and delete it once acknowledged; 0 when it is not stored (QoS 0, a
    /// clean session, or no store).
    pub stored: u64,
}
