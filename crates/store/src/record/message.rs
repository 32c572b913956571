//! Records that hold an application message: [`Message`] (retained and delayed messages),
//! [`Delivery`] (a session's queue) and [`WillSpec`] (inside a session record).
//!
//! A message's fields, in order: topic, payload, QoS, retain, payload format indicator,
//! content type, response topic, correlation data, user properties, expiry time, publisher.

use std::sync::Arc;

use bytes::Bytes;
use starling_codec::{QoS, Utf8String};
use starling_core::{Delivery, Message, MessageProperties, SharedTag, WillSpec};
use starling_topic::{TopicLimits, TopicName};

use super::field::{Reader, Writer};
use super::FORMAT;
use crate::error::RecordError;

/// The limits topics are checked against on decode: only what the spec itself requires, so
/// that a record written under a looser server limit still reads back.
pub(crate) const DECODE_LIMITS: TopicLimits = TopicLimits {
    max_levels: usize::MAX,
    max_len: 65_535,
};

/// `message` as a record.
pub(crate) fn encode_message(message: &Message) -> Vec<u8> {
    let mut w = Writer::versioned(FORMAT);
    write_message(&mut w, message);
    w.finish()
}

/// The message in a record made by [`encode_message`].
pub(crate) fn decode_message(bytes: &[u8]) -> Result<Message, RecordError> {
    let mut r = Reader::versioned(bytes, FORMAT)?;
    let message = read_message(&mut r)?;
    r.end()?;
    Ok(message)
}

/// `delivery` as a record; its `stored` is not written (the queue key holds the sequence).
pub(crate) fn encode_delivery(delivery: &Delivery) -> Vec<u8> {
    let mut w = Writer::versioned(FORMAT);
    write_message(&mut w, &delivery.message);
    w.u8(delivery.qos as u8);
    w.bool(delivery.retain);
    w.count(delivery.subscription_ids.len());
    for id in delivery.subscription_ids.iter() {
        w.u32(*id);
    }
    w.option(delivery.shared.as_deref(), |w, tag| {
        w.str(&tag.group);
        w.str(&tag.filter);
    });
    w.finish()
}

/// The delivery in a record made by [`encode_delivery`], with `stored = seq`.
pub(crate) fn decode_delivery(bytes: &[u8], seq: u64) -> Result<Delivery, RecordError> {
    let mut r = Reader::versioned(bytes, FORMAT)?;
    let message = Arc::new(read_message(&mut r)?);
    let qos = read_qos(&mut r)?;
    let retain = r.bool("retain flag")?;
    let n = r.count(4)?;
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        ids.push(r.u32()?);
    }
    let shared = r.option("shared flag", |r| {
        Ok(Arc::new(SharedTag {
            group: Arc::from(r.str("share group")?),
            filter: Arc::from(r.str("shared filter")?),
        }))
    })?;
    r.end()?;
    Ok(Delivery {
        message,
        qos,
        retain,
        subscription_ids: ids.into_boxed_slice(),
        shared,
        stored: seq,
    })
}

/// Writes a will's fields (no version byte: it is nested in a session record).
pub(crate) fn write_will(w: &mut Writer, will: &WillSpec) {
    write_message(w, &will.message);
    w.option(will.expiry_interval.as_ref(), |w, v| w.u32(*v));
    w.u32(will.delay_secs);
}

/// Reads the fields written by [`write_will`].
pub(crate) fn read_will(r: &mut Reader<'_>) -> Result<WillSpec, RecordError> {
    Ok(WillSpec {
        message: read_message(r)?,
        expiry_interval: r.option("will expiry flag", Reader::u32)?,
        delay_secs: r.u32()?,
    })
}

fn write_message(w: &mut Writer, m: &Message) {
    w.str(m.topic.as_str());
    w.bytes(&m.payload);
    w.u8(m.qos as u8);
    w.bool(m.retain);
    let p = &m.properties;
    w.option(p.payload_format_indicator.as_ref(), |w, v| w.u8(*v));
    w.option(p.content_type.as_ref(), |w, v| w.str(v.as_str()));
    w.option(p.response_topic.as_ref(), |w, v| w.str(v.as_str()));
    w.option(p.correlation_data.as_ref(), |w, v| w.bytes(v));
    w.count(p.user_properties.len());
    for (k, v) in &p.user_properties {
        w.str(k.as_str());
        w.str(v.as_str());
    }
    w.option(m.expires_at.as_ref(), |w, t| w.time(*t));
    w.str(&m.publisher);
}

fn read_message(r: &mut Reader<'_>) -> Result<Message, RecordError> {
    let topic = TopicName::parse(r.str("topic")?, &DECODE_LIMITS)?;
    let payload = Bytes::copy_from_slice(r.bytes()?);
    let qos = read_qos(r)?;
    let retain = r.bool("retain flag")?;
    let payload_format_indicator = r.option("payload format flag", Reader::u8)?;
    let content_type = r.option("content type flag", |r| read_utf8(r, "content type"))?;
    let response_topic = r.option("response topic flag", |r| read_utf8(r, "response topic"))?;
    let correlation_data = r.option("correlation data flag", |r| {
        Ok(Bytes::copy_from_slice(r.bytes()?))
    })?;
    let n = r.count(8)?;
    let mut user_properties = Vec::with_capacity(n);
    for _ in 0..n {
        let key = read_utf8(r, "user property name")?;
        user_properties.push((key, read_utf8(r, "user property value")?));
    }
    let expires_at = r.option("expiry flag", Reader::time)?;
    let publisher = Arc::from(r.str("publisher")?);
    Ok(Message {
        wire_topic: Message::wire_topic_of(&topic),
        topic,
        payload,
        qos,
        retain,
        properties: MessageProperties {
            payload_format_indicator,
            content_type,
            response_topic,
            correlation_data,
            user_properties,
        },
        expires_at,
        publisher,
    })
}

fn read_qos(r: &mut Reader<'_>) -> Result<QoS, RecordError> {
    QoS::from_bits(r.u8()?).ok_or(RecordError::Invalid("QoS"))
}

fn read_utf8(r: &mut Reader<'_>, what: &'static str) -> Result<Utf8String, RecordError> {
    Utf8String::from_bytes(Bytes::copy_from_slice(r.bytes()?)).map_err(|_| RecordError::Utf8(what))
}
