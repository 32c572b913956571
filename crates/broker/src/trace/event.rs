//! One line per traced event: what a packet says, in words an operator can read, with the
//! payload cut to `trace.payload_max` bytes and written as the trace asks (text, hex or
//! hidden). The password of a CONNECT is never written.
//!
//! A line is `<RFC 3339 time, UTC> <client id>@<ip>:<port> <in|out|-> <EVENT> <fields>`:
//! `in` is from the client, `out` to it, `-` an event without a packet (the connection
//! closed).

use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::SystemTime;

use starling_codec::{Connect, Packet, ReasonCode};

use super::PayloadEncode;

/// Which way a packet went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// From the client.
    In,
    /// To the client.
    Out,
}

/// Who an event is about.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Who<'a> {
    pub(crate) client_id: &'a str,
    pub(crate) ip: IpAddr,
    pub(crate) port: u16,
}

/// The start of every line: time, client and direction.
pub(crate) fn head(at: SystemTime, who: &Who<'_>, dir: Option<Direction>) -> String {
    let dir = match dir {
        Some(Direction::In) => "in",
        Some(Direction::Out) => "out",
        None => "-",
    };
    let at = humantime::format_rfc3339_millis(at);
    match who.ip {
        IpAddr::V4(ip) => format!("{at} {}@{ip}:{} {dir} ", who.client_id, who.port),
        IpAddr::V6(ip) => format!("{at} {}@[{ip}]:{} {dir} ", who.client_id, who.port),
    }
}

fn reason(code: ReasonCode) -> String {
    format!("0x{:02X} ({})", code.as_u8(), code.description())
}

/// CONNECT, with the resolved client id (the one the broker uses).
pub(crate) fn connect(line: &mut String, connect: &Connect) {
    let _ = write!(
        line,
        "CONNECT proto={} clean_start={} keep_alive={}",
        connect.protocol, connect.clean_start, connect.keep_alive
    );
    if let Some(username) = &connect.username {
        let _ = write!(line, " username={:?}", username.as_str());
    }
    if let Some(will) = &connect.will {
        let _ = write!(line, " will_topic={:?}", will.topic.as_str());
    }
}

/// Any other packet; `topic` is a PUBLISH's topic when an alias stands for it. `None` for
/// packets not traced (PINGREQ, PINGRESP).
pub(crate) fn packet(
    line: &mut String,
    packet: &Packet,
    topic: Option<&str>,
    encode: PayloadEncode,
    payload_max: usize,
) -> Option<()> {
    match packet {
        Packet::Connect(c) => connect(line, c),
        Packet::ConnAck(a) => {
            let _ = write!(
                line,
                "CONNACK reason={} session_present={}",
                reason(a.reason_code),
                a.session_present
            );
        }
        Packet::Publish(p) => {
            let shown = if p.topic.is_empty() {
                topic.unwrap_or("")
            } else {
                p.topic.as_str()
            };
            let _ = write!(
                line,
                "PUBLISH topic={shown:?} qos={} retain={} dup={}",
                p.qos as u8, p.retain, p.dup
            );
            if let Some(id) = p.packet_id {
                let _ = write!(line, " packet_id={}", id.get());
            }
            if let Some(alias) = p.properties.topic_alias {
                let _ = write!(line, " topic_alias={alias}");
            }
            payload(line, &p.payload, encode, payload_max);
        }
        Packet::PubAck(r) | Packet::PubRec(r) | Packet::PubRel(r) | Packet::PubComp(r) => {
            let name = match packet {
                Packet::PubAck(_) => "PUBACK",
                Packet::PubRec(_) => "PUBREC",
                Packet::PubRel(_) => "PUBREL",
                _ => "PUBCOMP",
            };
            let _ = write!(
                line,
                "{name} packet_id={} reason={}",
                r.packet_id.get(),
                reason(r.reason_code)
            );
        }
        Packet::Subscribe(s) => {
            let _ = write!(line, "SUBSCRIBE packet_id={} filters=[", s.packet_id.get());
            for (i, sub) in s.subscriptions.iter().enumerate() {
                let o = &sub.options;
                let _ = write!(
                    line,
                    "{}{:?} qos={} nl={} rap={} rh={}",
                    if i == 0 { "" } else { ", " },
                    sub.filter.as_str(),
                    o.qos as u8,
                    u8::from(o.no_local),
                    u8::from(o.retain_as_published),
                    o.retain_handling as u8
                );
            }
            line.push(']');
        }
        Packet::SubAck(a) => {
            let _ = write!(line, "SUBACK packet_id={}", a.packet_id.get());
            codes(line, &a.reason_codes);
        }
        Packet::Unsubscribe(u) => {
            let _ = write!(
                line,
                "UNSUBSCRIBE packet_id={} filters=[",
                u.packet_id.get()
            );
            for (i, f) in u.filters.iter().enumerate() {
                let _ = write!(line, "{}{:?}", if i == 0 { "" } else { ", " }, f.as_str());
            }
            line.push(']');
        }
        Packet::UnsubAck(a) => {
            let _ = write!(line, "UNSUBACK packet_id={}", a.packet_id.get());
            codes(line, &a.reason_codes);
        }
        Packet::Disconnect(d) => {
            let _ = write!(line, "DISCONNECT reason={}", reason(d.reason_code));
        }
        Packet::Auth(a) => {
            let _ = write!(line, "AUTH reason={}", reason(a.reason_code));
        }
        Packet::PingReq | Packet::PingResp => return None,
    }
    Some(())
}

fn codes(line: &mut String, codes: &[ReasonCode]) {
    line.push_str(" reasons=[");
    for (i, code) in codes.iter().enumerate() {
        let _ = write!(
            line,
            "{}0x{:02X}",
            if i == 0 { "" } else { ", " },
            code.as_u8()
        );
    }
    line.push(']');
}

/// ` payload_bytes=N payload=...`, cut to `max` bytes (` cut=true` when it was).
fn payload(line: &mut String, payload: &[u8], encode: PayloadEncode, max: usize) {
    let _ = write!(line, " payload_bytes={}", payload.len());
    let shown = &payload[..payload.len().min(max)];
    match encode {
        PayloadEncode::Hidden => return,
        PayloadEncode::Text => {
            let _ = write!(line, " payload={:?}", String::from_utf8_lossy(shown));
        }
        PayloadEncode::Hex => {
            line.push_str(" payload=");
            for byte in shown {
                let _ = write!(line, "{byte:02x}");
            }
        }
    }
    if shown.len() < payload.len() {
        line.push_str(" cut=true");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use starling_codec::{Properties, Publish, QoS};

    fn publish(payload: &'static [u8]) -> Packet {
        Packet::Publish(Publish {
            dup: false,
            qos: QoS::AtLeastOnce,
            retain: false,
            topic: "a/b".try_into().expect("topic"),
            packet_id: starling_codec::PacketId::new(7),
            properties: Properties::default(),
            payload: Bytes::from_static(payload),
        })
    }

    #[test]
    fn a_publish_shows_its_fields_and_its_payload_cut_and_encoded() {
        let mut line = String::new();
        packet(&mut line, &publish(b"hello"), None, PayloadEncode::Text, 3);
        assert_eq!(
            line,
            "PUBLISH topic=\"a/b\" qos=1 retain=false dup=false packet_id=7 payload_bytes=5 \
             payload=\"hel\" cut=true"
        );
        let mut line = String::new();
        packet(
            &mut line,
            &publish(b"\x01\xff"),
            None,
            PayloadEncode::Hex,
            10,
        );
        assert!(line.ends_with("payload_bytes=2 payload=01ff"), "{line}");
        let mut line = String::new();
        packet(
            &mut line,
            &publish(b"secret"),
            None,
            PayloadEncode::Hidden,
            10,
        );
        assert!(line.ends_with("payload_bytes=6"), "{line}");
    }

    #[test]
    fn pings_are_not_traced() {
        let mut line = String::new();
        assert!(packet(&mut line, &Packet::PingReq, None, PayloadEncode::Text, 1).is_none());
    }
}
