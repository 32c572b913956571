//! `$SYS/brokers/<node>/clients/<client id>/connected|disconnected`: a QoS 0 JSON event each
//! time a client comes or goes (EMQX's convention), when `sys.client_events` is on.

use super::Router;
use bytes::Bytes;
use starling_codec::QoS;
use starling_core::{Message, MessageProperties};
use starling_topic::TopicName;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

impl Router {
    pub(super) fn client_event(&mut self, client_id: &str, connected: bool) {
        if !self.settings.client_events {
            return;
        }
        let what = if connected {
            "connected"
        } else {
            "disconnected"
        };
        let name = format!(
            "$SYS/brokers/{}/clients/{client_id}/{what}",
            self.settings.node
        );
        // A client id with wildcard characters cannot appear in a topic name; skip its event.
        let Ok(topic) = TopicName::parse(&name, &self.settings.topic_limits) else {
            return;
        };
        let ts = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let payload = format!(
            "{{\"clientid\":{},\"ts\":{ts},\"event\":\"{what}\"}}",
            json_string(client_id)
        );
        let message = Message {
            wire_topic: Message::wire_topic_of(&topic),
            topic,
            payload: Bytes::from(payload),
            qos: QoS::AtMostOnce,
            retain: false,
            properties: MessageProperties::default(),
            expires_at: None,
            publisher: Arc::from(""),
        };
        self.route(&Arc::new(message));
    }
}

/// A JSON string literal for `s` (quotes, backslashes and control characters escaped).
pub(crate) fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
