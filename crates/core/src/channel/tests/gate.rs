//! The durability gate: acks wait for the router's answer and the store; the session's own
//! writes hold PUBCOMP, PUBREL and stored QoS 2 PUBLISHes; a full queue spills stored ones.

use super::*;

fn durable_channel(now: Instant) -> Channel {
    let limits = ServerLimits {
        acks_wait_for_router: true,
        ..ServerLimits::default()
    };
    channel_with(&connect(ProtocolVersion::V5, Some(2)), limits, now)
}

fn acks(effects: &[Effect]) -> Vec<(u16, ReasonCode)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send(Packet::PubAck(a) | Packet::PubRec(a) | Packet::PubComp(a)) => {
                Some((a.packet_id.get(), a.reason_code))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn a_puback_waits_for_the_router_and_then_the_disk() {
    let t0 = Instant::now();
    let mut ch = durable_channel(t0);
    ch.take_effects();
    ch.handle_packet(publish_in("t", QoS::AtLeastOnce, 1), t0);
    ch.handle_packet(publish_in("t", QoS::AtLeastOnce, 2), t0);
    let effects = ch.take_effects();
    let answered = effects
        .iter()
        .filter(|e| matches!(e, Effect::PublishAnswered(_)))
        .count();
    assert_eq!(answered, 2);
    assert!(
        acks(&effects).is_empty(),
        "no ack before the router answers"
    );
    assert_eq!(
        ch.waiting_for(),
        None,
        "waits for the router, not the store"
    );

    ch.handle_routed(2, 7, &[1]);
    assert_eq!(ch.waiting_for(), Some(7));
    ch.handle_durable(6);
    assert!(acks(&ch.take_effects()).is_empty(), "not on disk yet");
    ch.handle_durable(7);
    assert_eq!(
        acks(&ch.take_effects()),
        vec![(1, ReasonCode::Success), (2, ReasonCode::QuotaExceeded)],
        "in order; the refused one says 0x97"
    );
    assert_eq!(ch.held(), 0);
}

#[test]
fn later_packets_keep_their_place_behind_held_ones() {
    let t0 = Instant::now();
    let mut ch = durable_channel(t0);
    ch.take_effects();
    ch.handle_packet(publish_in("t", QoS::AtLeastOnce, 1), t0);
    ch.handle_packet(Packet::PingReq, t0);
    let effects = ch.take_effects();
    assert!(!effects
        .iter()
        .any(|e| matches!(e, Effect::Send(Packet::PingResp))));
    ch.handle_routed(1, 3, &[]);
    ch.handle_durable(3);
    let effects = ch.take_effects();
    let order: Vec<_> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send(Packet::PubAck(_)) => Some("puback"),
            Effect::Send(Packet::PingResp) => Some("pingresp"),
            _ => None,
        })
        .collect();
    assert_eq!(order, ["puback", "pingresp"]);
}

#[test]
fn pubcomp_waits_for_the_deleted_qos2_id() {
    let t0 = Instant::now();
    let mut ch = durable_channel(t0);
    ch.take_effects();
    ch.handle_packet(publish_in("t", QoS::ExactlyOnce, 5), t0);
    let effects = ch.take_effects();
    assert!(effects
        .iter()
        .any(|e| matches!(e, Effect::Store(SessionWrite::AwaitingRel(p)) if p.get() == 5)));
    ch.handle_routed(1, 2, &[]);
    ch.handle_durable(2);
    assert_eq!(acks(&ch.take_effects()), vec![(5, ReasonCode::Success)]);

    ch.handle_packet(Packet::PubRel(PubResp::new(id(5))), t0);
    let effects = ch.take_effects();
    assert!(effects
        .iter()
        .any(|e| matches!(e, Effect::Store(SessionWrite::Released(p)) if p.get() == 5)));
    assert!(acks(&effects).is_empty(), "PUBCOMP waits for the write");
    ch.handle_written(9);
    ch.handle_durable(8);
    assert!(acks(&ch.take_effects()).is_empty());
    ch.handle_durable(9);
    assert_eq!(acks(&ch.take_effects()), vec![(5, ReasonCode::Success)]);
}

#[test]
fn a_refused_pubrec_ends_the_exchange() {
    let t0 = Instant::now();
    let mut ch = durable_channel(t0);
    ch.take_effects();
    ch.handle_packet(publish_in("t", QoS::ExactlyOnce, 5), t0);
    ch.take_effects();
    ch.handle_routed(1, 1, &[0]);
    ch.handle_durable(1);
    assert_eq!(ch.session().awaiting_rel().len(), 0);
    let effects = ch.take_effects();
    assert_eq!(acks(&effects), vec![(5, ReasonCode::QuotaExceeded)]);
}

#[test]
fn a_stored_qos2_message_goes_out_once_its_packet_id_is_stored() {
    let t0 = Instant::now();
    let mut ch = durable_channel(t0);
    ch.take_effects();
    let d = Delivery {
        stored: 42,
        ..delivery("t", QoS::ExactlyOnce)
    };
    ch.handle_delivery(d, t0);
    let effects = ch.take_effects();
    assert!(sent_publishes(&effects).is_empty());
    assert!(effects.iter().any(|e| matches!(
        e,
        Effect::Store(SessionWrite::Inflight {
            seq: 42,
            released: false,
            ..
        })
    )));
    ch.handle_written(4);
    ch.handle_durable(4);
    let effects = ch.take_effects();
    assert_eq!(sent_publishes(&effects).len(), 1);

    // PUBREC: "released" is stored before PUBREL; PUBCOMP deletes the record.
    ch.handle_packet(Packet::PubRec(PubResp::new(id(1))), t0);
    let effects = ch.take_effects();
    assert!(effects.iter().any(|e| matches!(
        e,
        Effect::Store(SessionWrite::Inflight {
            seq: 42,
            released: true,
            ..
        })
    )));
    assert!(!effects
        .iter()
        .any(|e| matches!(e, Effect::Send(Packet::PubRel(_)))));
    ch.handle_written(5);
    ch.handle_durable(5);
    assert!(ch
        .take_effects()
        .iter()
        .any(|e| matches!(e, Effect::Send(Packet::PubRel(_)))));
    ch.handle_packet(Packet::PubComp(PubResp::new(id(1))), t0);
    assert!(ch.take_effects().iter().any(|e| matches!(
        e,
        Effect::Store(SessionWrite::Done {
            seq: 42,
            record: true
        })
    )));
}

#[test]
fn a_full_queue_leaves_stored_messages_to_the_store() {
    let t0 = Instant::now();
    let limits = ServerLimits {
        acks_wait_for_router: true,
        queue: QueueLimits {
            max_len: 1,
            ..QueueLimits::default()
        },
        ..ServerLimits::default()
    };
    // Receive Maximum 1: one inflight, one queued, the rest spills.
    let mut ch = channel_with(&connect(ProtocolVersion::V5, Some(1)), limits, t0);
    ch.take_effects();
    for seq in 1..=4 {
        let d = Delivery {
            stored: seq,
            ..delivery("t", QoS::AtLeastOnce)
        };
        ch.handle_delivery(d, t0);
    }
    let effects = ch.take_effects();
    let spilled: Vec<_> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Spilled { seq } => Some(*seq),
            _ => None,
        })
        .collect();
    assert_eq!(spilled, [3], "told once, from the first one not kept");
    assert_eq!(ch.session().queue().len(), 1);
    // A stale live one sent before the router heard of the spill is skipped...
    let stale = Delivery {
        stored: 5,
        ..delivery("t", QoS::AtLeastOnce)
    };
    ch.handle_delivery(stale, t0);
    assert_eq!(ch.session().queue().len(), 1);
    // ...and the stream, from 3, is taken.
    let again = Delivery {
        stored: 3,
        ..delivery("t", QoS::AtLeastOnce)
    };
    ch.handle_packet(Packet::PubAck(PubResp::new(id(1))), t0);
    ch.handle_stream();
    ch.handle_delivery(again, t0);
    assert_eq!(ch.session().queue().len(), 1, "2 went out, 3 queued");
}
