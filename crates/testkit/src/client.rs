//! [`RawClient`]: an MQTT client with no protocol logic of its own beyond what a test asks for.
//!
//! Everything it reads is decoded with the client's protocol version (server packets such as
//! CONNACK and SUBACK included). Packets that arrive while a helper waits for a particular
//! answer (a PUBLISH while [`RawClient::subscribe`] waits for its SUBACK, say) are kept, in
//! order, and returned by the next [`RawClient::recv`].

use crate::packets::{connect_packet, pid, publish_packet, subscribe_packet, unsubscribe_packet};
use bytes::{Bytes, BytesMut};
use starling_codec::{
    decode, encode, ConnAck, Connect, DecodeError, DecodeOptions, Disconnect, Packet, PacketId,
    ProtocolVersion, PubResp, Publish, QoS, ReasonCode, SubAck, Subscribe, UnsubAck,
    MAX_PACKET_SIZE,
};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// How long [`RawClient::recv`] and the helpers wait before failing the test.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// What reading from the broker produced.
#[allow(clippy::large_enum_variant)] // short-lived test values; boxing would only add noise
#[derive(Debug)]
pub enum Event {
    /// A complete packet.
    Packet(Packet),
    /// The broker closed the connection (EOF or reset); no more packets will come.
    Closed,
    /// Nothing arrived in time.
    Timeout,
    /// The broker sent bytes this client cannot decode (a broker bug).
    Undecodable(DecodeError),
}

/// A raw MQTT connection over TCP.
pub struct RawClient {
    stream: TcpStream,
    version: ProtocolVersion,
    read: BytesMut,
    stash: VecDeque<Packet>,
    closed: bool,
    next_id: u16,
}

impl RawClient {
    /// Opens a TCP connection to `addr`; sends nothing. Packets are encoded and decoded for
    /// `version`.
    pub async fn connect(addr: SocketAddr, version: ProtocolVersion) -> RawClient {
        let stream = match TcpStream::connect(addr).await {
            Ok(s) => s,
            Err(e) => panic!("cannot connect to the test broker at {addr}: {e}"),
        };
        let _ = stream.set_nodelay(true);
        RawClient {
            stream,
            version,
            read: BytesMut::with_capacity(4096),
            stash: VecDeque::new(),
            closed: false,
            next_id: 0,
        }
    }

    /// Opens a connection, sends `connect` and waits for the CONNACK (any reason code).
    pub async fn connect_with(addr: SocketAddr, connect: Connect) -> (RawClient, ConnAck) {
        let mut client = RawClient::connect(addr, connect.protocol).await;
        client.send(&Packet::Connect(Box::new(connect))).await;
        let connack = match client.recv().await {
            Packet::ConnAck(connack) => connack,
            other => panic!("expected CONNACK, got {other:?}"),
        };
        (client, connack)
    }

    /// Connects with [`connect_packet`] (keep alive off) and `clean`; panics unless the CONNACK
    /// is a success.
    pub async fn mqtt_connect(
        addr: SocketAddr,
        version: ProtocolVersion,
        client_id: &str,
        clean: bool,
    ) -> (RawClient, ConnAck) {
        let connect = Connect {
            clean_start: clean,
            ..connect_packet(version, client_id)
        };
        let (client, connack) = RawClient::connect_with(addr, connect).await;
        assert_eq!(
            connack.reason_code,
            ReasonCode::Success,
            "CONNACK for {client_id:?} ({version}) refused: {connack:?}"
        );
        (client, connack)
    }

    /// The protocol version packets are encoded and decoded with.
    pub fn version(&self) -> ProtocolVersion {
        self.version
    }

    /// A fresh packet id: 1, 2, ... wrapping past 65535 back to 1.
    pub fn next_packet_id(&mut self) -> PacketId {
        self.next_id = self.next_id.checked_add(1).unwrap_or(1);
        pid(self.next_id)
    }

    /// Encodes `packet` for this client's version and writes it.
    pub async fn send(&mut self, packet: &Packet) {
        let mut buf = BytesMut::new();
        if let Err(e) = encode(packet, self.version, &mut buf) {
            panic!("cannot encode {packet:?} for {}: {e}", self.version);
        }
        self.send_bytes(&buf).await;
    }

    /// Writes raw bytes (for malformed input). A write error (the broker already closed) is
    /// ignored: the test sees it on the next read.
    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes).await;
        let _ = self.stream.flush().await;
    }

    /// The next thing that happens within `timeout`: a packet (stashed ones first), the close,
    /// or nothing.
    pub async fn next_event(&mut self, timeout: Duration) -> Event {
        if let Some(packet) = self.stash.pop_front() {
            return Event::Packet(packet);
        }
        let deadline = Instant::now() + timeout;
        loop {
            let opts = DecodeOptions {
                version: Some(self.version),
                max_packet_size: MAX_PACKET_SIZE,
            };
            match decode(&mut self.read, &opts) {
                Ok(Some(packet)) => return Event::Packet(packet),
                Ok(None) => {}
                Err(e) => return Event::Undecodable(e),
            }
            if self.closed {
                return Event::Closed;
            }
            match tokio::time::timeout_at(deadline, self.stream.read_buf(&mut self.read)).await {
                Err(_) => return Event::Timeout,
                Ok(Ok(0)) | Ok(Err(_)) => self.closed = true,
                Ok(Ok(_)) => {}
            }
        }
    }

    /// The next packet; panics if none comes within [`DEFAULT_TIMEOUT`] or the connection closes.
    pub async fn recv(&mut self) -> Packet {
        match self.recv_timeout(DEFAULT_TIMEOUT).await {
            Some(packet) => packet,
            None => panic!(
                "no packet from the broker within {DEFAULT_TIMEOUT:?} ({})",
                self.version
            ),
        }
    }

    /// The next packet within `timeout`, or `None`; panics if the connection closes.
    pub async fn recv_timeout(&mut self, timeout: Duration) -> Option<Packet> {
        match self.next_event(timeout).await {
            Event::Packet(packet) => Some(packet),
            Event::Timeout => None,
            Event::Closed => panic!("the broker closed the connection ({})", self.version),
            Event::Undecodable(e) => panic!("the broker sent undecodable bytes: {e}"),
        }
    }

    /// The next packet, which must be a PUBLISH.
    pub async fn recv_publish(&mut self) -> Publish {
        match self.recv().await {
            Packet::Publish(publish) => publish,
            other => panic!("expected PUBLISH, got {other:?}"),
        }
    }

    /// The sentinel pattern in one call: the next packet must be a PUBLISH on `topic` (the
    /// sentinel); it is acknowledged as its QoS requires and returned. Panics if anything else
    /// (a PUBLISH on another topic, any other packet, the close) comes first, or nothing comes
    /// within [`DEFAULT_TIMEOUT`].
    ///
    /// To prove that a message was *not* delivered to this client, publish the sentinel after
    /// the action, from the same connection as the message that must not arrive, on a topic this
    /// client subscribes to: deliveries from one publisher to one subscriber keep their order,
    /// so if the message had been routed here it would have come first. Use the QoS of the
    /// messages in question (a QoS 0 delivery skips the session queue that QoS 1 and 2 wait in).
    pub async fn expect_next_publish_on(&mut self, topic: &str) -> Publish {
        let publish = match self.recv().await {
            Packet::Publish(publish) => publish,
            other => panic!(
                "expected the PUBLISH on {topic:?} (the sentinel) next, got {other:?} ({})",
                self.version
            ),
        };
        assert_eq!(
            publish.topic.as_str(),
            topic,
            "expected the PUBLISH on {topic:?} (the sentinel) next, got one on another topic \
             first ({}): {publish:?}",
            self.version
        );
        self.ack(&publish).await;
        publish
    }

    /// [`RawClient::expect_next_publish_on`] with a sentinel this client publishes itself: a
    /// QoS 1 `sentinel` on `topic` (which this client must subscribe to at QoS 1 or more), that
    /// must be the next PUBLISH it receives. Proves that nothing the broker had routed to this
    /// client before it handled that PUBLISH (say retained messages for a SUBSCRIBE sent
    /// earlier, or messages whose PUBACK a publisher already got) is still to come.
    pub async fn expect_nothing_before_own_sentinel(&mut self, topic: &str) {
        self.publish(topic, b"sentinel", QoS::AtLeastOnce, false)
            .await;
        self.expect_next_publish_on(topic).await;
    }

    /// Panics if a packet arrives (or the connection closes) within `timeout`.
    pub async fn expect_no_packet(&mut self, timeout: Duration) {
        match self.next_event(timeout).await {
            Event::Timeout => {}
            other => panic!("expected silence for {timeout:?}, got {other:?}"),
        }
    }

    /// Waits (up to [`DEFAULT_TIMEOUT`]) for the broker to close the connection and returns the
    /// DISCONNECT it sent first, if any. Panics if any other packet arrives or it stays open.
    pub async fn expect_closed(&mut self) -> Option<Disconnect> {
        let mut disconnect = None;
        loop {
            match self.next_event(DEFAULT_TIMEOUT).await {
                Event::Closed => return disconnect,
                Event::Packet(Packet::Disconnect(d)) if disconnect.is_none() => {
                    disconnect = Some(d);
                }
                Event::Timeout => panic!(
                    "the broker did not close the connection within {DEFAULT_TIMEOUT:?} ({})",
                    self.version
                ),
                other => panic!("expected the connection to close, got {other:?}"),
            }
        }
    }

    /// Like [`RawClient::expect_closed`], but also checks the reason: in 5.0 a DISCONNECT with
    /// `reason` must come first; in 3.x no DISCONNECT may come (servers never send one).
    pub async fn expect_disconnect(&mut self, reason: ReasonCode) {
        let disconnect = self.expect_closed().await;
        if self.version.is_v5() {
            let Some(d) = disconnect else {
                panic!("expected DISCONNECT {reason} before the close, got none");
            };
            assert_eq!(d.reason_code, reason, "DISCONNECT reason code");
        } else {
            assert_eq!(disconnect, None, "a 3.x server never sends DISCONNECT");
        }
    }

    /// Waits for a packet accepted by `want`, stashing the others for later [`RawClient::recv`].
    pub async fn recv_matching<T>(&mut self, mut want: impl FnMut(&Packet) -> Option<T>) -> T {
        let deadline = Instant::now() + DEFAULT_TIMEOUT;
        let mut skipped = Vec::new();
        // Look through already-stashed packets first.
        while let Some(packet) = self.stash.pop_front() {
            if let Some(found) = want(&packet) {
                skipped.extend(self.stash.drain(..));
                self.stash = skipped.into();
                return found;
            }
            skipped.push(packet);
        }
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let packet = match self.next_event(left).await {
                Event::Packet(packet) => packet,
                other => panic!(
                    "still waiting for an expected packet ({}): {other:?}; skipped {skipped:?}",
                    self.version
                ),
            };
            if let Some(found) = want(&packet) {
                self.stash = skipped.into();
                return found;
            }
            skipped.push(packet);
        }
    }

    /// Sends SUBSCRIBE to `filter` at `qos` and returns the SUBACK.
    pub async fn subscribe(&mut self, filter: &str, qos: QoS) -> SubAck {
        let id = self.next_packet_id();
        let subscribe = subscribe_packet(id.get(), &[(filter, qos)]);
        self.subscribe_with(subscribe).await
    }

    /// Sends `subscribe` as is and waits for the SUBACK with its packet id.
    pub async fn subscribe_with(&mut self, subscribe: Subscribe) -> SubAck {
        let id = subscribe.packet_id;
        self.send(&Packet::Subscribe(subscribe)).await;
        self.recv_matching(|p| match p {
            Packet::SubAck(ack) if ack.packet_id == id => Some(ack.clone()),
            _ => None,
        })
        .await
    }

    /// Sends UNSUBSCRIBE from `filters` and returns the UNSUBACK.
    pub async fn unsubscribe(&mut self, filters: &[&str]) -> UnsubAck {
        let id = self.next_packet_id();
        self.send(&Packet::Unsubscribe(unsubscribe_packet(id.get(), filters)))
            .await;
        self.recv_matching(|p| match p {
            Packet::UnsubAck(ack) if ack.packet_id == id => Some(ack.clone()),
            _ => None,
        })
        .await
    }

    /// Publishes `payload` to `topic`, completing the QoS 1 (PUBACK) or QoS 2 (PUBREC, PUBREL,
    /// PUBCOMP) handshake. Returns the reason code of PUBACK or PUBREC (`Success` at QoS 0).
    pub async fn publish(
        &mut self,
        topic: &str,
        payload: impl AsRef<[u8]>,
        qos: QoS,
        retain: bool,
    ) -> ReasonCode {
        let id = (qos != QoS::AtMostOnce).then(|| self.next_packet_id().get());
        let publish = publish_packet(topic, payload.as_ref(), qos, retain, id);
        self.publish_with(publish).await
    }

    /// Sends `publish` as is and completes its handshake (see [`RawClient::publish`]).
    pub async fn publish_with(&mut self, publish: Publish) -> ReasonCode {
        let qos = publish.qos;
        let id = publish.packet_id;
        self.send(&Packet::Publish(publish)).await;
        let Some(id) = id else {
            return ReasonCode::Success;
        };
        match qos {
            QoS::AtMostOnce => ReasonCode::Success,
            QoS::AtLeastOnce => {
                self.recv_matching(|p| match p {
                    Packet::PubAck(ack) if ack.packet_id == id => Some(ack.reason_code),
                    _ => None,
                })
                .await
            }
            QoS::ExactlyOnce => {
                let rc = self
                    .recv_matching(|p| match p {
                        Packet::PubRec(ack) if ack.packet_id == id => Some(ack.reason_code),
                        _ => None,
                    })
                    .await;
                if rc.is_success() {
                    self.send(&Packet::PubRel(PubResp::new(id))).await;
                    self.recv_matching(|p| match p {
                        Packet::PubComp(ack) if ack.packet_id == id => Some(()),
                        _ => None,
                    })
                    .await;
                }
                rc
            }
        }
    }

    /// Acknowledges a received PUBLISH: PUBACK at QoS 1; PUBREC, then waits for the PUBREL and
    /// sends PUBCOMP at QoS 2; nothing at QoS 0.
    pub async fn ack(&mut self, publish: &Publish) {
        let Some(id) = publish.packet_id else {
            return;
        };
        match publish.qos {
            QoS::AtMostOnce => {}
            QoS::AtLeastOnce => self.send(&Packet::PubAck(PubResp::new(id))).await,
            QoS::ExactlyOnce => {
                self.send(&Packet::PubRec(PubResp::new(id))).await;
                self.recv_matching(|p| match p {
                    Packet::PubRel(rel) if rel.packet_id == id => Some(()),
                    _ => None,
                })
                .await;
                self.send(&Packet::PubComp(PubResp::new(id))).await;
            }
        }
    }

    /// Receives the next PUBLISH, acknowledges it as its QoS requires, and returns it.
    pub async fn recv_and_ack(&mut self) -> Publish {
        let publish = self.recv_publish().await;
        self.ack(&publish).await;
        publish
    }

    /// A round trip through the broker: PINGREQ, then waits for PINGRESP (stashing anything
    /// else). Proves that everything sent before was processed.
    pub async fn ping(&mut self) {
        self.send(&Packet::PingReq).await;
        self.recv_matching(|p| matches!(p, Packet::PingResp).then_some(()))
            .await;
    }

    /// Sends a normal DISCONNECT and waits for the broker to close the connection.
    pub async fn disconnect(mut self) {
        self.send(&Packet::Disconnect(Disconnect::default())).await;
        let _ = self.stream.shutdown().await;
        let _ = self.expect_closed().await;
    }

    /// Drops the TCP connection without DISCONNECT (an abnormal close, as the broker sees it).
    pub fn drop_connection(self) {
        drop(self);
    }

    /// Payload helper: `Bytes` from anything byte-like.
    pub fn bytes(payload: impl AsRef<[u8]>) -> Bytes {
        Bytes::copy_from_slice(payload.as_ref())
    }
}
