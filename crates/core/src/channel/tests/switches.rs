//! Module switches seen by channels: shared and exclusive subscriptions refused once switched
//! off, and Retain Available fixed by what each connection's CONNACK said.

use super::*;
use crate::switches::Switch;

fn requests_of(ch: &mut Channel, filters: &[&'static str]) -> Vec<Result<(), ReasonCode>> {
    ch.handle_packet(
        Packet::Subscribe(Subscribe {
            packet_id: id(1),
            subscriptions: filters
                .iter()
                .map(|f| Subscription {
                    filter: Utf8String::from_static(f),
                    options: SubscriptionOptions::default(),
                })
                .collect(),
            properties: Properties::default(),
        }),
        Instant::now(),
    );
    match ch.take_effects().pop() {
        Some(Effect::Subscribe { requests, .. }) => {
            requests.into_iter().map(|r| r.map(|_| ())).collect()
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn shared_and_exclusive_switched_off_are_refused_on_live_channels() {
    let limits = ServerLimits::default();
    let switches = Arc::clone(&limits.switches);
    let mut ch = channel_with(&connect(ProtocolVersion::V5, None), limits, Instant::now());
    let filters = ["$share/g/t", "$exclusive/t", "t"];
    assert!(requests_of(&mut ch, &filters).iter().all(Result::is_ok));
    switches.set(Switch::Shared, false);
    switches.set(Switch::Exclusive, false);
    assert_eq!(
        requests_of(&mut ch, &filters),
        [
            Err(ReasonCode::SharedSubscriptionsNotSupported),
            Err(ReasonCode::TopicFilterInvalid),
            Ok(())
        ]
    );
}

#[test]
fn retain_available_is_what_each_connack_said() {
    let now = Instant::now();
    let limits = ServerLimits::default();
    let switches = Arc::clone(&limits.switches);
    let mut before = channel_with(&connect(ProtocolVersion::V5, None), limits.clone(), now);
    switches.set(Switch::Retainer, false);
    let retained = |id: u16| {
        let Packet::Publish(mut p) = publish_in("r", QoS::AtLeastOnce, id) else {
            unreachable!()
        };
        p.retain = true;
        Packet::Publish(p)
    };
    // Told Retain Available 1: its retained PUBLISH is taken (the router stores nothing).
    assert!(publish_outcome(&mut before, retained(1), now).0);
    let conn = connect(ProtocolVersion::V5, None);
    let neg = negotiate(&conn, &limits, || "x".into()).expect("accepted");
    let ack = crate::connect::connack(&neg, &limits, false);
    assert_eq!(ack.properties.retain_available, Some(0));
    let mut after = channel_with(&conn, limits.clone(), now);
    after.handle_packet(retained(2), now);
    assert!(matches!(
        after.take_effects().last(),
        Some(Effect::Close(CloseReason::Server(
            ReasonCode::RetainNotSupported
        )))
    ));
    // 3.x cannot be told: routed.
    let mut old = channel_with(&connect(ProtocolVersion::V3_1_1, None), limits, now);
    assert!(publish_outcome(&mut old, retained(3), now).0);
}
