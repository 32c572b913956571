//! Deliveries to the client: the inflight window, packet ids, the queue, expiry, topic aliases
//! out, the client's Maximum Packet Size.

use super::*;

#[test]
fn client_receive_maximum_bounds_inflight_and_acks_release_the_queue() {
    let now = Instant::now();
    let mut ch = channel(ProtocolVersion::V5, now); // client receive maximum 2
    for _ in 0..5 {
        ch.handle_delivery(delivery("t", QoS::AtLeastOnce), now);
    }
    let effects = ch.take_effects();
    let first: Vec<_> = sent_publishes(&effects)
        .iter()
        .map(|p| p.packet_id)
        .collect();
    assert_eq!(first, vec![Some(id(1)), Some(id(2))]);
    assert_eq!(ch.session().queue().len(), 3);
    ch.handle_packet(Packet::PubAck(PubResp::new(id(2))), now);
    let effects = ch.take_effects();
    assert_eq!(sent_publishes(&effects)[0].packet_id, Some(id(3)));
    assert_eq!(ch.session().inflight().len(), 2);
}

#[test]
fn packet_ids_skip_ids_still_in_flight() {
    let mut session = SessionState::new(Arc::from("c"), 0);
    session.last_packet_id = u16::MAX - 1;
    let a = session.next_packet_id().expect("id");
    session.inflight_mut().push_back((a, Outgoing::Released(0)));
    let b = session.next_packet_id().expect("id"); // wraps to 1
    session.inflight_mut().push_back((b, Outgoing::Released(0)));
    session.last_packet_id = u16::MAX - 1;
    let c = session.next_packet_id().expect("id");
    assert_eq!(
        (a.get(), b.get(), c.get()),
        (u16::MAX, 1, 2),
        "65535 and 1 are taken"
    );
}

#[test]
fn qos2_outgoing_handshake_and_resume_resends_pubrel_and_dup_publish() {
    let now = Instant::now();
    let conn = connect(ProtocolVersion::V5, Some(10));
    let mut ch = channel_with(&conn, ServerLimits::default(), now);
    ch.handle_delivery(delivery("a", QoS::ExactlyOnce), now);
    ch.handle_delivery(delivery("b", QoS::AtLeastOnce), now);
    ch.take_effects();
    ch.handle_packet(Packet::PubRec(PubResp::new(id(1))), now);
    assert!(
        matches!(&ch.take_effects()[..], [Effect::Send(Packet::PubRel(r))] if r.packet_id == id(1))
    );
    let (session, _, _) = ch.into_parts();
    // The client comes back: PUBREL for id 1 again, PUBLISH id 2 again with DUP ([MQTT-4.4.0-1]).
    let limits = Arc::new(ServerLimits::default());
    let neg = negotiate(&conn, &limits, || "x".into()).expect("accepted");
    let mut resumed = Channel::new(neg, limits, session, now);
    let effects = resumed.take_effects();
    assert!(matches!(&effects[0], Effect::Send(Packet::PubRel(r)) if r.packet_id == id(1)));
    assert!(
        matches!(&effects[1], Effect::Send(Packet::Publish(p)) if p.dup && p.packet_id == Some(id(2)))
    );
    resumed.handle_packet(Packet::PubComp(PubResp::new(id(1))), now);
    resumed.handle_packet(Packet::PubAck(PubResp::new(id(2))), now);
    assert!(resumed.session().inflight().is_empty());
}

#[test]
fn message_expiry_counts_down_while_queued_and_expired_messages_are_not_sent() {
    let t0 = Instant::now();
    let mut ch = channel(ProtocolVersion::V5, t0);
    for _ in 0..2 {
        ch.handle_delivery(delivery("fill", QoS::AtLeastOnce), t0);
    }
    let soon = Delivery {
        message: message("t", QoS::AtLeastOnce, Some(t0 + Duration::from_secs(5))),
        ..delivery("t", QoS::AtLeastOnce)
    };
    let later = Delivery {
        message: message("t", QoS::AtLeastOnce, Some(t0 + Duration::from_secs(60))),
        ..delivery("t", QoS::AtLeastOnce)
    };
    ch.handle_delivery(soon, t0);
    ch.handle_delivery(later, t0);
    ch.take_effects();
    let t1 = t0 + Duration::from_secs(10);
    ch.handle_packet(Packet::PubAck(PubResp::new(id(1))), t1);
    let effects = ch.take_effects();
    let sent = sent_publishes(&effects);
    assert_eq!(sent.len(), 1, "the expired message is skipped");
    assert_eq!(sent[0].properties.message_expiry_interval, Some(50));
    assert_eq!(ch.take_stats().dropped_expired, 1);
}

#[test]
fn topic_alias_out_sends_the_name_once_then_the_alias_alone() {
    let now = Instant::now();
    let mut ch = channel(ProtocolVersion::V5, now);
    ch.handle_delivery(delivery("long/topic", QoS::AtMostOnce), now);
    ch.handle_delivery(delivery("long/topic", QoS::AtMostOnce), now);
    let effects = ch.take_effects();
    let sent = sent_publishes(&effects);
    assert_eq!(
        (sent[0].topic.as_str(), sent[0].properties.topic_alias),
        ("long/topic", Some(1))
    );
    assert_eq!(
        (sent[1].topic.as_str(), sent[1].properties.topic_alias),
        ("", Some(1))
    );
}

#[test]
fn oversize_delivery_for_the_clients_maximum_packet_size_is_dropped() {
    let now = Instant::now();
    let mut conn = connect(ProtocolVersion::V5, None);
    conn.properties.maximum_packet_size = Some(20);
    let mut ch = channel_with(&conn, ServerLimits::default(), now);
    ch.handle_delivery(
        delivery("a/very/long/topic/name/indeed", QoS::AtMostOnce),
        now,
    );
    assert!(sent_publishes(&ch.take_effects()).is_empty());
    assert_eq!(ch.take_stats().dropped_too_large, 1);
}

#[test]
fn queue_overflow_policies() {
    let limits = |overflow| QueueLimits {
        max_len: 2,
        max_bytes: usize::MAX,
        overflow,
        queue_qos0_offline: false,
    };
    let mut s = SessionState::new(Arc::from("c"), 0);
    let l = limits(crate::session::QueueOverflow::DropOldest);
    assert_eq!(
        s.enqueue(delivery("1", QoS::AtLeastOnce), &l),
        crate::Enqueued::Queued
    );
    assert_eq!(
        s.enqueue(delivery("2", QoS::AtLeastOnce), &l),
        crate::Enqueued::Queued
    );
    assert_eq!(
        s.enqueue(delivery("3", QoS::AtLeastOnce), &l),
        crate::Enqueued::DroppedOldest
    );
    let topics: Vec<_> = s
        .queue()
        .iter()
        .map(|d| d.message.topic.as_str().to_owned())
        .collect();
    assert_eq!(topics, ["2", "3"]);
    let l = limits(crate::session::QueueOverflow::DropNewest);
    assert_eq!(
        s.enqueue(delivery("4", QoS::AtLeastOnce), &l),
        crate::Enqueued::Dropped
    );
    let l = limits(crate::session::QueueOverflow::Disconnect);
    assert_eq!(
        s.enqueue(delivery("4", QoS::AtLeastOnce), &l),
        crate::Enqueued::Overflow
    );
    assert_eq!(
        s.enqueue_offline(delivery("5", QoS::AtMostOnce), &l),
        crate::Enqueued::Dropped
    );
}

#[test]
fn a_full_queue_gives_up_qos0_first() {
    let limits = QueueLimits {
        max_len: 2,
        max_bytes: usize::MAX,
        overflow: crate::session::QueueOverflow::Disconnect,
        queue_qos0_offline: true,
    };
    let mut s = SessionState::new(Arc::from("c"), 0);
    assert_eq!(
        s.enqueue(delivery("q0", QoS::AtMostOnce), &limits),
        crate::Enqueued::Queued
    );
    assert_eq!(
        s.enqueue(delivery("q1", QoS::AtLeastOnce), &limits),
        crate::Enqueued::Queued
    );
    // Full: a new QoS 0 message is dropped, whatever the policy.
    assert_eq!(
        s.enqueue(delivery("q0b", QoS::AtMostOnce), &limits),
        crate::Enqueued::Dropped
    );
    // A new QoS 1 message replaces the queued QoS 0 one before the policy (disconnect) applies.
    assert_eq!(
        s.enqueue(delivery("q1b", QoS::AtLeastOnce), &limits),
        crate::Enqueued::DroppedOldest
    );
    let topics: Vec<_> = s
        .queue()
        .iter()
        .map(|d| d.message.topic.as_str().to_owned())
        .collect();
    assert_eq!(topics, ["q1", "q1b"]);
    assert_eq!(
        s.enqueue(delivery("q1c", QoS::AtLeastOnce), &limits),
        crate::Enqueued::Overflow
    );
}

#[test]
fn the_queue_is_capped_in_bytes_too() {
    use crate::session::QueueOverflow;
    let one = delivery("b1", QoS::AtLeastOnce).message.footprint();
    // Room for two messages by bytes, ten by count.
    let limits = |overflow| QueueLimits {
        max_len: 10,
        max_bytes: 2 * one + one / 2,
        overflow,
        queue_qos0_offline: true,
    };
    let topics = |s: &SessionState| -> Vec<String> {
        s.queue()
            .iter()
            .map(|d| d.message.topic.as_str().to_owned())
            .collect()
    };
    let mut s = SessionState::new(Arc::from("c"), 0);
    let l = limits(QueueOverflow::DropOldest);
    assert_eq!(
        s.enqueue(delivery("b1", QoS::AtMostOnce), &l),
        crate::Enqueued::Queued
    );
    assert_eq!(
        s.enqueue(delivery("b2", QoS::AtLeastOnce), &l),
        crate::Enqueued::Queued
    );
    assert_eq!(s.queue_bytes(), 2 * one);
    // Full by bytes: a QoS 0 message is dropped; a QoS 1 one takes the QoS 0 one's place.
    assert_eq!(
        s.enqueue(delivery("b3", QoS::AtMostOnce), &l),
        crate::Enqueued::Dropped
    );
    assert_eq!(
        s.enqueue(delivery("b4", QoS::AtLeastOnce), &l),
        crate::Enqueued::DroppedOldest
    );
    assert_eq!(topics(&s), ["b2", "b4"]);
    // Then the policy: drop the oldest, drop the newest, or disconnect.
    assert_eq!(
        s.enqueue(delivery("b5", QoS::AtLeastOnce), &l),
        crate::Enqueued::DroppedOldest
    );
    assert_eq!(topics(&s), ["b4", "b5"]);
    let newest = limits(QueueOverflow::DropNewest);
    assert_eq!(
        s.enqueue(delivery("b6", QoS::AtLeastOnce), &newest),
        crate::Enqueued::Dropped
    );
    let disconnect = limits(QueueOverflow::Disconnect);
    assert_eq!(
        s.enqueue(delivery("b7", QoS::AtLeastOnce), &disconnect),
        crate::Enqueued::Overflow
    );
    assert_eq!(topics(&s), ["b4", "b5"]);
    assert_eq!(s.queue_bytes(), 2 * one);
    // Taking from the queue gives the bytes back.
    assert!(s.pop_queued().is_some() && s.pop_queued().is_some());
    assert_eq!((s.queue_bytes(), s.pop_queued().is_none()), (0, true));
    // A message larger than the whole cap never fits.
    let tiny = QueueLimits {
        max_bytes: one - 1,
        ..limits(QueueOverflow::DropOldest)
    };
    assert_eq!(
        s.enqueue(delivery("big", QoS::AtLeastOnce), &tiny),
        crate::Enqueued::Dropped
    );
}

#[test]
fn an_ack_for_the_wrong_qos_is_a_protocol_error() {
    let now = Instant::now();
    type WrongAck = fn(PacketId) -> Packet;
    let cases: [(QoS, WrongAck); 2] = [
        (QoS::AtLeastOnce, |id| Packet::PubRec(PubResp::new(id))),
        (QoS::ExactlyOnce, |id| Packet::PubAck(PubResp::new(id))),
    ];
    for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        for (qos, wrong_ack) in cases {
            let mut ch = channel(version, now);
            ch.handle_delivery(delivery("t", qos), now);
            ch.take_effects();
            ch.handle_packet(wrong_ack(id(1)), now);
            let effects = ch.take_effects();
            assert!(
                matches!(
                    effects.last(),
                    Some(Effect::Close(CloseReason::Server(
                        ReasonCode::ProtocolError
                    )))
                ),
                "{version} {qos:?}: {effects:?}"
            );
            let disconnects = effects
                .iter()
                .filter(|e| matches!(e, Effect::Send(Packet::Disconnect(d)) if d.reason_code == ReasonCode::ProtocolError))
                .count();
            assert_eq!(
                disconnects,
                usize::from(version.is_v5()),
                "{version} {qos:?}"
            );
        }
    }
    // A PUBACK for a QoS 2 message already released is just as wrong.
    let mut ch = channel(ProtocolVersion::V5, now);
    ch.handle_delivery(delivery("t", QoS::ExactlyOnce), now);
    ch.handle_packet(Packet::PubRec(PubResp::new(id(1))), now);
    ch.take_effects();
    ch.handle_packet(Packet::PubAck(PubResp::new(id(1))), now);
    assert!(ch.is_closed());
}

#[test]
fn outbound_topic_aliases_stop_at_the_byte_cap() {
    let now = Instant::now();
    let limits = ServerLimits {
        max_topic_alias_bytes: 10,
        ..ServerLimits::default()
    };
    // The client allows 4 aliases; 6 bytes fit, 6 more do not, 4 more do.
    let mut ch = channel_with(&connect(ProtocolVersion::V5, None), limits, now);
    for topic in ["aaaaaa", "bbbbbb", "cccc", "bbbbbb"] {
        ch.handle_delivery(delivery(topic, QoS::AtMostOnce), now);
    }
    let effects = ch.take_effects();
    let sent: Vec<_> = sent_publishes(&effects)
        .iter()
        .map(|p| (p.topic.as_str().to_owned(), p.properties.topic_alias))
        .collect();
    let want = [
        ("aaaaaa", Some(1)),
        ("bbbbbb", None),
        ("cccc", Some(2)),
        ("bbbbbb", None),
    ];
    let want: Vec<_> = want.iter().map(|(t, a)| ((*t).to_owned(), *a)).collect();
    assert_eq!(sent, want);
}

#[test]
fn resumed_inflight_too_large_for_the_new_maximum_packet_size_leaves_the_window() {
    let now = Instant::now();
    let conn = connect(ProtocolVersion::V5, Some(2));
    let mut ch = channel_with(&conn, ServerLimits::default(), now);
    let big = |topic: &str| Delivery {
        message: Arc::new(Message {
            payload: Bytes::from(vec![0u8; 200]),
            ..(*message(topic, QoS::AtLeastOnce, None)).clone()
        }),
        ..delivery(topic, QoS::AtLeastOnce)
    };
    ch.handle_delivery(big("big/1"), now);
    ch.handle_delivery(big("big/2"), now);
    ch.handle_delivery(delivery("small/3", QoS::AtLeastOnce), now);
    ch.handle_delivery(delivery("small/4", QoS::AtLeastOnce), now);
    ch.take_effects();
    assert_eq!(ch.session().inflight().len(), 2);
    let (session, _, _) = ch.into_parts();
    // The client comes back announcing a Maximum Packet Size the big ones no longer fit.
    let mut conn = conn;
    conn.properties.maximum_packet_size = Some(100);
    let limits = Arc::new(ServerLimits::default());
    let neg = negotiate(&conn, &limits, || "x".into()).expect("accepted");
    let mut resumed = Channel::new(neg, limits, session, now);
    let effects = resumed.take_effects();
    let sent: Vec<_> = sent_publishes(&effects)
        .iter()
        .map(|p| p.topic.as_str().to_owned())
        .collect();
    assert_eq!(
        sent,
        ["small/3", "small/4"],
        "the window filled from the queue"
    );
    let inflight: Vec<_> = resumed
        .session()
        .inflight()
        .iter()
        .map(|(id, _)| id.get())
        .collect();
    assert_eq!(inflight, [3, 4]);
    assert_eq!(resumed.take_stats().dropped_too_large, 2);
}

#[test]
fn mqtt_3_1_2_24_a_suback_too_large_for_the_client_closes_with_packet_too_large() {
    let now = Instant::now();
    for (max, disconnect) in [(20, true), (2, false)] {
        let mut conn = connect(ProtocolVersion::V5, None);
        conn.properties.maximum_packet_size = Some(max);
        let mut ch = channel_with(&conn, ServerLimits::default(), now);
        ch.handle_packet(subscribe_to(30, 1), now);
        ch.take_effects();
        ch.handle_suback(id(1), vec![ReasonCode::GrantedQoS1; 30]);
        let effects = ch.take_effects();
        assert!(
            !effects
                .iter()
                .any(|e| matches!(e, Effect::Send(Packet::SubAck(_)))),
            "{effects:?}"
        );
        let sent_disconnect = effects.iter().any(|e| {
            matches!(e, Effect::Send(Packet::Disconnect(d))
                if d.reason_code == ReasonCode::PacketTooLarge && d.properties.reason_string.is_none())
        });
        assert_eq!(sent_disconnect, disconnect, "max {max}: {effects:?}");
        assert!(matches!(
            effects.last(),
            Some(Effect::Close(CloseReason::Server(
                ReasonCode::PacketTooLarge
            )))
        ));
        // An UNSUBACK is bounded the same way.
        let mut ch = channel_with(&conn, ServerLimits::default(), now);
        ch.handle_unsuback(id(2), vec![ReasonCode::Success; 30]);
        assert!(ch.is_closed());
    }
    // Small enough: sent as is.
    let mut ch = channel(ProtocolVersion::V5, now);
    ch.handle_suback(id(1), vec![ReasonCode::GrantedQoS1; 30]);
    assert!(matches!(
        &ch.take_effects()[..],
        [Effect::Send(Packet::SubAck(_))]
    ));
}
