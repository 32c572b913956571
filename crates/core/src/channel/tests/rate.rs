//! Publish rate limits: the buckets, the pause and its end, the disconnect past the debt.

use super::*;

fn limited(messages: Option<(u32, u32)>, bytes: Option<(u64, u64)>, now: Instant) -> Channel {
    let limits = ServerLimits {
        message_rate: messages,
        byte_rate: bytes,
        ..ServerLimits::default()
    };
    channel_with(&connect(ProtocolVersion::V5, Some(10)), limits, now)
}

#[test]
fn a_burst_passes_then_reading_pauses_until_the_rate_catches_up() {
    let now = Instant::now();
    let mut ch = limited(Some((10, 3)), None, now);
    for _ in 0..3 {
        ch.handle_packet(publish_in("a", QoS::AtMostOnce, 0), now);
        assert!(ch.wants_input(), "within the burst");
    }
    ch.handle_packet(publish_in("a", QoS::AtMostOnce, 0), now);
    assert!(!ch.wants_input(), "one over: paused");
    let until = ch.take_input_pause().expect("a pause to wake from");
    assert_eq!(until, now + Duration::from_millis(100));
    assert_eq!(ch.take_input_pause(), None, "handed out once");
    // Every PUBLISH read was handled: four routed.
    let routed = ch
        .take_effects()
        .iter()
        .filter(|e| matches!(e, Effect::Publish(_)))
        .count();
    assert_eq!(routed, 4);
    ch.resume_input(now + Duration::from_millis(50));
    assert!(!ch.wants_input(), "too early");
    assert!(ch.take_input_pause().is_some(), "armed again");
    ch.resume_input(until);
    assert!(ch.wants_input());
    // A paused client is not timed out for a silence that was ours.
    ch.handle_tick(until + Duration::from_secs(14));
    assert!(!ch.is_closed());
}

#[test]
fn bytes_are_limited_too_and_a_huge_debt_closes() {
    let now = Instant::now();
    let mut ch = limited(None, Some((1000, 1000)), now);
    let Packet::Publish(mut big) = publish_in("t", QoS::AtMostOnce, 0) else {
        unreachable!()
    };
    big.payload = Bytes::from(vec![0u8; 1999]);
    ch.handle_packet(Packet::Publish(big.clone()), now);
    assert!(!ch.wants_input(), "1000 bytes of debt: one second's pause");
    assert_eq!(ch.take_input_pause(), Some(now + Duration::from_secs(1)));
    big.payload = Bytes::from(vec![0u8; 20_000]);
    ch.handle_packet(Packet::Publish(big), now);
    assert!(ch.is_closed(), "more than MAX_DEBT of debt closes");
    let effects = ch.take_effects();
    assert!(effects.iter().any(|e| matches!(
        e,
        Effect::Send(Packet::Disconnect(d)) if d.reason_code == ReasonCode::QuotaExceeded
    )));
}

#[test]
fn without_limits_nothing_is_counted() {
    let now = Instant::now();
    let mut ch = limited(None, None, now);
    for _ in 0..1000 {
        ch.handle_packet(publish_in("a", QoS::AtMostOnce, 0), now);
    }
    assert!(ch.wants_input());
    assert_eq!(ch.take_input_pause(), None);
}
