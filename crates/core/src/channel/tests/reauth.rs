//! Re-authentication (spec 4.12.1): AUTH handed to the broker as an effect, its answer sent.

use super::*;
use crate::channel::AuthAnswer;
use starling_codec::Auth;

fn auth(reason: ReasonCode, method: &str, data: &'static [u8]) -> Packet {
    Packet::Auth(Auth {
        reason_code: reason,
        properties: Properties {
            authentication_method: Some(Utf8String::try_from(method.to_owned()).expect("utf-8")),
            authentication_data: Some(Bytes::from_static(data)),
            ..Properties::default()
        },
    })
}

fn enhanced(now: Instant) -> Channel {
    let mut channel = channel(ProtocolVersion::V5, now);
    channel.set_auth_method(Utf8String::from_static("SCRAM-SHA-256"));
    channel.take_effects();
    channel
}

fn closed_with(effects: &[Effect]) -> Option<ReasonCode> {
    effects.iter().find_map(|e| match e {
        Effect::Close(CloseReason::Server(reason)) => Some(*reason),
        _ => None,
    })
}

fn sent_auth(effects: &[Effect]) -> Vec<(ReasonCode, Bytes)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send(Packet::Auth(a)) => {
                assert_eq!(
                    a.properties
                        .authentication_method
                        .as_ref()
                        .map(|m| m.as_str()),
                    Some("SCRAM-SHA-256")
                );
                Some((a.reason_code, a.properties.authentication_data.clone()?))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn a_re_authentication_goes_to_the_broker_and_its_answers_to_the_client() {
    let now = Instant::now();
    let mut channel = enhanced(now);
    channel.handle_packet(
        auth(ReasonCode::ReAuthenticate, "SCRAM-SHA-256", b"first"),
        now,
    );
    let effects = channel.take_effects();
    assert!(matches!(
        &effects[..],
        [Effect::Authenticate { method, reason: ReasonCode::ReAuthenticate, data }]
            if method.as_str() == "SCRAM-SHA-256" && &data[..] == b"first"
    ));
    channel.handle_auth_answer(AuthAnswer::Continue(Bytes::from_static(b"server-first")));
    let effects = channel.take_effects();
    assert_eq!(
        sent_auth(&effects),
        vec![(
            ReasonCode::ContinueAuthentication,
            Bytes::from_static(b"server-first")
        )]
    );
    // Other packets go on meanwhile.
    channel.handle_packet(Packet::PingReq, now);
    assert!(matches!(
        &channel.take_effects()[..],
        [Effect::Send(Packet::PingResp)]
    ));
    channel.handle_packet(
        auth(
            ReasonCode::ContinueAuthentication,
            "SCRAM-SHA-256",
            b"final",
        ),
        now,
    );
    assert!(matches!(
        &channel.take_effects()[..],
        [Effect::Authenticate {
            reason: ReasonCode::ContinueAuthentication,
            ..
        }]
    ));
    channel.handle_auth_answer(AuthAnswer::Success(Bytes::from_static(b"v=sig")));
    assert_eq!(
        sent_auth(&channel.take_effects()),
        vec![(ReasonCode::Success, Bytes::from_static(b"v=sig"))]
    );
    // Done: a stray answer is ignored, and another re-authentication may start.
    channel.handle_auth_answer(AuthAnswer::Failed);
    assert!(channel.take_effects().is_empty() && !channel.is_closed());
    channel.handle_packet(
        auth(ReasonCode::ReAuthenticate, "SCRAM-SHA-256", b"again"),
        now,
    );
    channel.take_effects();
    channel.handle_auth_answer(AuthAnswer::Failed);
    assert_eq!(
        closed_with(&channel.take_effects()),
        Some(ReasonCode::NotAuthorized)
    );
}

#[test]
fn an_auth_out_of_place_is_a_protocol_error() {
    let now = Instant::now();
    let cases: [(bool, Packet); 5] = [
        // Not enhanced at CONNECT.
        (
            false,
            auth(ReasonCode::ReAuthenticate, "SCRAM-SHA-256", b"x"),
        ),
        // Another method.
        (
            true,
            auth(ReasonCode::ReAuthenticate, "SCRAM-SHA-512", b"x"),
        ),
        // Continue outside an exchange.
        (
            true,
            auth(ReasonCode::ContinueAuthentication, "SCRAM-SHA-256", b"x"),
        ),
        // Success from a client.
        (true, auth(ReasonCode::Success, "SCRAM-SHA-256", b"x")),
        // No method at all.
        (
            true,
            Packet::Auth(Auth {
                reason_code: ReasonCode::ReAuthenticate,
                properties: Properties::default(),
            }),
        ),
    ];
    for (is_enhanced, packet) in cases {
        let mut channel = if is_enhanced {
            enhanced(now)
        } else {
            channel(ProtocolVersion::V5, now)
        };
        channel.handle_packet(packet.clone(), now);
        assert_eq!(
            closed_with(&channel.take_effects()),
            Some(ReasonCode::ProtocolError),
            "{packet:?}"
        );
    }
    // A second 0x19 while one is under way.
    let mut channel = enhanced(now);
    channel.handle_packet(auth(ReasonCode::ReAuthenticate, "SCRAM-SHA-256", b"x"), now);
    channel.take_effects();
    channel.handle_packet(auth(ReasonCode::ReAuthenticate, "SCRAM-SHA-256", b"x"), now);
    assert_eq!(
        closed_with(&channel.take_effects()),
        Some(ReasonCode::ProtocolError)
    );
}
