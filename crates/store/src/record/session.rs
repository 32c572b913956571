//! Records about a session: the [`SessionRecord`], a subscription (its target lives in the key,
//! its options in the value) and an inflight entry.

use std::time::SystemTime;

use starling_codec::{QoS, RetainHandling, SubscriptionOptions};
use starling_core::WillSpec;
use starling_topic::{SubscriptionTarget, TopicFilter};

use super::field::{Reader, Writer};
use super::message::{read_will, write_will, DECODE_LIMITS};
use super::FORMAT;
use crate::error::RecordError;

/// What the store keeps about one persistent session besides its subscriptions and queue.
#[derive(Debug, Clone, Default)]
pub struct SessionRecord {
    /// Session expiry interval in seconds (`u32::MAX`: never expires).
    pub expiry_interval: u32,
    /// When the session expires; `None` while its client is connected.
    pub expires_at: Option<SystemTime>,
    /// The will message still to be published, if any.
    pub will: Option<WillSpec>,
    /// When the will is due (after its delay), once the client has gone.
    pub will_at: Option<SystemTime>,
}

impl PartialEq for SessionRecord {
    fn eq(&self, other: &Self) -> bool {
        let wills = match (&self.will, &other.will) {
            (None, None) => true,
            (Some(a), Some(b)) => {
                a.message == b.message
                    && a.expiry_interval == b.expiry_interval
                    && a.delay_secs == b.delay_secs
            }
            _ => false,
        };
        wills
            && self.expiry_interval == other.expiry_interval
            && self.expires_at == other.expires_at
            && self.will_at == other.will_at
    }
}

impl Eq for SessionRecord {}

pub(crate) fn encode_session(record: &SessionRecord) -> Vec<u8> {
    let mut w = Writer::versioned(FORMAT);
    w.u32(record.expiry_interval);
    w.option(record.expires_at.as_ref(), |w, t| w.time(*t));
    w.option(record.will.as_ref(), write_will);
    w.option(record.will_at.as_ref(), |w, t| w.time(*t));
    w.finish()
}

pub(crate) fn decode_session(bytes: &[u8]) -> Result<SessionRecord, RecordError> {
    let mut r = Reader::versioned(bytes, FORMAT)?;
    let record = SessionRecord {
        expiry_interval: r.u32()?,
        expires_at: r.option("expiry flag", Reader::time)?,
        will: r.option("will flag", read_will)?,
        will_at: r.option("will time flag", Reader::time)?,
    };
    r.end()?;
    Ok(record)
}

const PLAIN: u8 = 0;
const SHARED: u8 = 1;
const EXCLUSIVE: u8 = 2;

/// A subscription target as the tail of a key: a kind byte, for a shared subscription the
/// group with a `u16` length, then the filter to the end of the key.
pub(crate) fn write_target(key: &mut Vec<u8>, target: &SubscriptionTarget) {
    match target {
        SubscriptionTarget::Plain(filter) => {
            key.push(PLAIN);
            key.extend_from_slice(filter.as_str().as_bytes());
        }
        SubscriptionTarget::Shared { group, filter } => {
            key.push(SHARED);
            let len = u16::try_from(group.len()).unwrap_or(u16::MAX);
            key.extend_from_slice(&len.to_be_bytes());
            key.extend_from_slice(group.as_bytes().get(..usize::from(len)).unwrap_or_default());
            key.extend_from_slice(filter.as_str().as_bytes());
        }
        SubscriptionTarget::Exclusive(filter) => {
            key.push(EXCLUSIVE);
            key.extend_from_slice(filter.as_str().as_bytes());
        }
    }
}

/// The target in a key tail made by [`write_target`], validated like a SUBSCRIBE filter.
pub(crate) fn read_target(tail: &[u8]) -> Result<SubscriptionTarget, RecordError> {
    let mut r = Reader::new(tail);
    let kind = r.u8()?;
    let group = if kind == SHARED {
        let len = r.u16()?;
        let group = std::str::from_utf8(r.take(usize::from(len))?)
            .map_err(|_| RecordError::Utf8("share group"))?;
        if group.is_empty() || group.contains(['/', '+', '#', '\0']) {
            return Err(RecordError::Invalid("share group"));
        }
        Some(group.to_owned())
    } else {
        None
    };
    let filter = std::str::from_utf8(r.rest()).map_err(|_| RecordError::Utf8("filter"))?;
    let filter = TopicFilter::parse(filter, &DECODE_LIMITS)?;
    match (kind, group) {
        (PLAIN, _) => Ok(SubscriptionTarget::Plain(filter)),
        (SHARED, Some(group)) => Ok(SubscriptionTarget::Shared { group, filter }),
        (EXCLUSIVE, _) => Ok(SubscriptionTarget::Exclusive(filter)),
        _ => Err(RecordError::Invalid("subscription kind")),
    }
}

/// A subscription's options and identifier as a record.
pub(crate) fn encode_subscription(
    options: &SubscriptionOptions,
    subscription_id: Option<u32>,
) -> Vec<u8> {
    let mut w = Writer::versioned(FORMAT);
    w.u8(options.qos as u8);
    w.bool(options.no_local);
    w.bool(options.retain_as_published);
    w.u8(options.retain_handling as u8);
    w.option(subscription_id.as_ref(), |w, id| w.u32(*id));
    w.finish()
}

/// The options and identifier in a record made by [`encode_subscription`].
pub(crate) fn decode_subscription(
    bytes: &[u8],
) -> Result<(SubscriptionOptions, Option<u32>), RecordError> {
    let mut r = Reader::versioned(bytes, FORMAT)?;
    let qos = QoS::from_bits(r.u8()?).ok_or(RecordError::Invalid("QoS"))?;
    let no_local = r.bool("no local flag")?;
    let retain_as_published = r.bool("retain as published flag")?;
    let retain_handling = match r.u8()? {
        0 => RetainHandling::SendAtSubscribe,
        1 => RetainHandling::SendIfNew,
        2 => RetainHandling::DoNotSend,
        _ => return Err(RecordError::Invalid("retain handling")),
    };
    let id = r.option("subscription id flag", Reader::u32)?;
    r.end()?;
    let options = SubscriptionOptions {
        qos,
        no_local,
        retain_as_published,
        retain_handling,
    };
    Ok((options, id))
}

/// An inflight entry: the packet id a queued delivery was sent with, and whether PUBREL has
/// been sent for it.
pub(crate) fn encode_inflight(packet_id: u16, released: bool) -> Vec<u8> {
    let mut w = Writer::versioned(FORMAT);
    w.u16(packet_id);
    w.bool(released);
    w.finish()
}

/// The packet id and released flag in a record made by [`encode_inflight`].
pub(crate) fn decode_inflight(bytes: &[u8]) -> Result<(u16, bool), RecordError> {
    let mut r = Reader::versioned(bytes, FORMAT)?;
    let packet_id = r.u16()?;
    let released = r.bool("released flag")?;
    r.end()?;
    Ok((packet_id, released))
}
