//! Builders for the packets tests send most often. Each returns the plain codec struct so a test
//! can change any field before sending it.

use bytes::Bytes;
use starling_codec::{
    Connect, PacketId, Properties, ProtocolVersion, Publish, QoS, Subscribe, Subscription,
    SubscriptionOptions, Unsubscribe, Utf8String,
};

/// A packet id from a number; panics on 0 (never a valid id).
pub fn pid(id: u16) -> PacketId {
    match PacketId::new(id) {
        Some(id) => id,
        None => panic!("0 is not a valid packet id"),
    }
}

/// A UTF-8 string from test text; panics on text MQTT forbids (U+0000).
pub fn string(s: &str) -> Utf8String {
    match Utf8String::from_bytes(Bytes::copy_from_slice(s.as_bytes())) {
        Ok(s) => s,
        Err(e) => panic!("{s:?} is not an MQTT string: {e}"),
    }
}

/// CONNECT for `version` with client id `client_id`: clean session/start, keep alive 0 (off),
/// no will, no credentials, no properties.
pub fn connect_packet(version: ProtocolVersion, client_id: &str) -> Connect {
    Connect {
        protocol: version,
        clean_start: true,
        keep_alive: 0,
        client_id: string(client_id),
        will: None,
        username: None,
        password: None,
        properties: Properties::default(),
    }
}

/// PUBLISH of `payload` to `topic`; `packet_id` must be `Some` exactly when `qos` > 0.
pub fn publish_packet(
    topic: &str,
    payload: &[u8],
    qos: QoS,
    retain: bool,
    packet_id: Option<u16>,
) -> Publish {
    Publish {
        dup: false,
        qos,
        retain,
        topic: string(topic),
        packet_id: packet_id.map(pid),
        properties: Properties::default(),
        payload: Bytes::copy_from_slice(payload),
    }
}

/// One subscription to `filter` with maximum QoS `qos` and the other options at their defaults.
pub fn subscription(filter: &str, qos: QoS) -> Subscription {
    Subscription {
        filter: string(filter),
        options: SubscriptionOptions {
            qos,
            ..SubscriptionOptions::default()
        },
    }
}

/// SUBSCRIBE with id `packet_id` to each `(filter, qos)`.
pub fn subscribe_packet(packet_id: u16, filters: &[(&str, QoS)]) -> Subscribe {
    Subscribe {
        packet_id: pid(packet_id),
        subscriptions: filters
            .iter()
            .map(|&(filter, qos)| subscription(filter, qos))
            .collect(),
        properties: Properties::default(),
    }
}

/// UNSUBSCRIBE with id `packet_id` from each filter.
pub fn unsubscribe_packet(packet_id: u16, filters: &[&str]) -> Unsubscribe {
    Unsubscribe {
        packet_id: pid(packet_id),
        filters: filters.iter().map(|f| string(f)).collect(),
        properties: Properties::default(),
    }
}

/// `packets` encoded for `version` back to back, to be sent in one write (a client that
/// pipelines, or floods).
pub fn wire(packets: &[starling_codec::Packet], version: ProtocolVersion) -> bytes::BytesMut {
    let mut buf = bytes::BytesMut::new();
    for packet in packets {
        if let Err(e) = starling_codec::encode(packet, version, &mut buf) {
            panic!("cannot encode {packet:?} for {version}: {e}");
        }
    }
    buf
}
