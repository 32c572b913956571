//! `$SYS/brokers/<node>/clients/<client id>/connected|disconnected`: a QoS 0 JSON event each
//! time a client comes or goes (EMQX's convention), when `sys.client_events` and the `$SYS`
//! module are on.

use super::Router;
use bytes::Bytes;
use starling_codec::QoS;
use starling_core::{Message, MessageProperties, Switch};
use starling_topic::TopicName;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

impl Router {
    /// `connected` (with the client's address) or, without one, `disconnected`.
    pub(super) fn client_event(&mut self, client_id: &str, connected: Option<SocketAddr>) {
        if !self.settings.client_events || !self.settings.switches.is_on(Switch::Sys) {
            return;
        }
        let what = if connected.is_some() {
            "connected"
        } else {
            "disconnected"
        };
        let name = format!(
            "$SYS/brokers/{}/clients/{}/{what}",
            self.settings.node,
            topic_level(client_id)
        );
        let Ok(topic) = TopicName::parse(&name, &self.settings.topic_limits) else {
            return; // too long for the topic limits: no event rather than a cut one
        };
        let ts = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let address = connected.map_or_else(String::new, |peer| {
            format!(",\"ipaddress\":\"{}\",\"port\":{}", peer.ip(), peer.port())
        });
        let payload = format!(
            "{{\"clientid\":{},\"ts\":{ts},\"event\":\"{what}\"{address}}}",
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

/// `client_id` as one topic level: `/`, `+`, `#` and `%` are percent-encoded (`a/b` becomes
/// `a%2Fb`), so a client id can neither add levels to an event topic nor make it invalid. The
/// payload carries the client id as it is.
pub(crate) fn topic_level(client_id: &str) -> std::borrow::Cow<'_, str> {
    if !client_id.contains(['/', '+', '#', '%']) {
        return client_id.into();
    }
    let mut out = String::with_capacity(client_id.len() + 8);
    for c in client_id.chars() {
        match c {
            '/' => out.push_str("%2F"),
            '+' => out.push_str("%2B"),
            '#' => out.push_str("%23"),
            '%' => out.push_str("%25"),
            c => out.push(c),
        }
    }
    out.into()
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

#[cfg(test)]
mod tests {
    use super::topic_level;

    #[test]
    fn a_client_id_is_one_topic_level() {
        assert_eq!(topic_level("plain-id"), "plain-id");
        assert_eq!(topic_level("a/b/+/#/%"), "a%2Fb%2F%2B%2F%23%2F%25");
    }
}
