//! CONNECT and CONNACK (spec 3.1, 3.2): the handshake, client identifiers, the 5.0 limits the
//! server announces, session present, protocol errors around CONNECT, and takeover.

use starling_codec::{Packet, ProtocolVersion, QoS, ReasonCode};
use starling_testkit::{connect_packet, versions, RawClient, TestBroker};
use std::time::Duration;

/// A topic clients subscribe to for the sentinel that shows a message did not come (see
/// [`RawClient::expect_next_publish_on`]).
const SENTINEL: &str = "sentinel/connect";

#[tokio::test]
async fn mqtt_3_2_2_accepted_connack_is_success_without_session_present() {
    let broker = TestBroker::start().await;
    for v in versions() {
        let (client, connack) = RawClient::mqtt_connect(broker.addr(), v, "plain", true).await;
        assert_eq!(connack.reason_code, ReasonCode::Success, "{v}");
        assert!(!connack.session_present, "{v}: clean start has no session");
        if !v.is_v5() {
            assert_eq!(connack.properties, Default::default(), "{v}: no properties");
        }
        client.disconnect().await;
    }
}

#[tokio::test]
async fn mqtt_3_2_2_3_v5_connack_announces_the_server_limits() {
    let broker = TestBroker::start_with(|cfg| {
        cfg.mqtt.receive_maximum = 17;
        cfg.mqtt.max_packet_size = 4096;
        cfg.mqtt.topic_alias_maximum = 9;
        cfg.mqtt.max_qos = 1;
        cfg.mqtt.retain_available = false;
        cfg.mqtt.wildcard_subscription_available = false;
        cfg.mqtt.subscription_identifier_available = false;
        cfg.mqtt.shared_subscription_available = false;
    })
    .await;
    let (_client, connack) =
        RawClient::mqtt_connect(broker.addr(), ProtocolVersion::V5, "limits", true).await;
    let p = &connack.properties;
    assert_eq!(p.receive_maximum, Some(17));
    assert_eq!(p.maximum_packet_size, Some(4096));
    assert_eq!(p.topic_alias_maximum, Some(9));
    assert_eq!(p.maximum_qos, Some(1));
    assert_eq!(p.retain_available, Some(0));
    assert_eq!(p.wildcard_subscription_available, Some(0));
    assert_eq!(p.subscription_identifier_available, Some(0));
    assert_eq!(p.shared_subscription_available, Some(0));
    assert_eq!(
        p.assigned_client_identifier, None,
        "the client chose its id"
    );
}

#[tokio::test]
async fn mqtt_3_2_2_3_v5_connack_announces_default_capabilities() {
    let broker = TestBroker::start().await;
    let (_client, connack) =
        RawClient::mqtt_connect(broker.addr(), ProtocolVersion::V5, "defaults", true).await;
    let p = &connack.properties;
    let cfg = &broker.config().mqtt;
    assert_eq!(p.receive_maximum, Some(cfg.receive_maximum));
    assert_eq!(p.maximum_packet_size, Some(cfg.max_packet_size));
    assert_eq!(p.topic_alias_maximum, Some(cfg.topic_alias_maximum));
    assert_eq!(
        p.maximum_qos, None,
        "QoS 2 is supported, so Maximum QoS is absent"
    );
    // Absent means available, so either absent or 1 is right.
    for (name, value) in [
        ("retain", p.retain_available),
        ("wildcard", p.wildcard_subscription_available),
        ("subscription id", p.subscription_identifier_available),
        ("shared", p.shared_subscription_available),
    ] {
        assert_ne!(value, Some(0), "{name} available by default");
    }
}

#[tokio::test]
async fn mqtt_3_2_2_3_7_v5_empty_client_id_gets_an_assigned_identifier() {
    let broker = TestBroker::start().await;
    for clean in [true, false] {
        let connect = starling_codec::Connect {
            clean_start: clean,
            ..connect_packet(ProtocolVersion::V5, "")
        };
        let (_client, connack) = RawClient::connect_with(broker.addr(), connect).await;
        assert_eq!(connack.reason_code, ReasonCode::Success, "clean={clean}");
        let assigned = connack
            .properties
            .assigned_client_identifier
            .expect("an Assigned Client Identifier [MQTT-3.2.2-16]");
        assert!(!assigned.is_empty(), "clean={clean}");
    }
}

#[tokio::test]
async fn mqtt_3_1_3_6_v311_empty_client_id_with_clean_session_is_accepted() {
    let broker = TestBroker::start().await;
    let (client, connack) =
        RawClient::mqtt_connect(broker.addr(), ProtocolVersion::V3_1_1, "", true).await;
    assert!(!connack.session_present);
    client.disconnect().await;
}

#[tokio::test]
async fn mqtt_3_1_3_8_empty_client_id_without_clean_session_is_refused() {
    let broker = TestBroker::start().await;
    // 3.1.1: return code 2 (identifier rejected). 3.1 requires 1 to 23 characters.
    for v in [ProtocolVersion::V3_1, ProtocolVersion::V3_1_1] {
        let connect = starling_codec::Connect {
            clean_start: false,
            ..connect_packet(v, "")
        };
        let (mut client, connack) = RawClient::connect_with(broker.addr(), connect).await;
        assert_eq!(
            connack.reason_code,
            ReasonCode::ClientIdentifierNotValid,
            "{v}"
        );
        assert!(!connack.session_present, "[MQTT-3.2.2-4]");
        assert_eq!(
            client.expect_closed().await,
            None,
            "{v}: closed [MQTT-3.2.2-5]"
        );
    }
}

#[tokio::test]
async fn mqtt_3_1_3_1_v31_client_id_longer_than_23_bytes_is_refused() {
    let broker = TestBroker::start().await;
    let long = "a".repeat(24);
    let (mut client, connack) =
        RawClient::connect_with(broker.addr(), connect_packet(ProtocolVersion::V3_1, &long)).await;
    assert_eq!(connack.reason_code, ReasonCode::ClientIdentifierNotValid);
    client.expect_closed().await;
    // 23 bytes is fine, and the same long id is fine in 3.1.1 and 5.0.
    let ok = "b".repeat(23);
    RawClient::mqtt_connect(broker.addr(), ProtocolVersion::V3_1, &ok, true).await;
    for v in versions() {
        RawClient::mqtt_connect(broker.addr(), v, &long, true).await;
    }
}

#[tokio::test]
async fn mqtt_3_2_2_2_session_present_when_a_persistent_session_is_resumed() {
    let broker = TestBroker::start().await;
    for v in versions() {
        let id = format!("resume-{v}");
        let mut connect = connect_packet(v, &id);
        connect.clean_start = false;
        connect.properties.session_expiry_interval = v.is_v5().then_some(60);
        let (client, connack) = RawClient::connect_with(broker.addr(), connect.clone()).await;
        assert_eq!(connack.reason_code, ReasonCode::Success);
        assert!(!connack.session_present, "{v}: no session yet");
        client.disconnect().await;

        let (client, connack) = RawClient::connect_with(broker.addr(), connect.clone()).await;
        assert!(
            connack.session_present,
            "{v}: the session was kept [MQTT-3.2.2-2]"
        );
        client.disconnect().await;

        // Clean start discards it [MQTT-3.2.2-1], [MQTT-3.1.2-4].
        let clean = starling_codec::Connect {
            clean_start: true,
            ..connect.clone()
        };
        let (client, connack) = RawClient::connect_with(broker.addr(), clean).await;
        assert!(!connack.session_present, "{v}: clean start");
        client.disconnect().await;
    }
}

#[tokio::test]
async fn mqtt_3_1_2_23_v5_session_expiry_zero_ends_the_session_at_disconnect() {
    let broker = TestBroker::start().await;
    let mut connect = connect_packet(ProtocolVersion::V5, "short-lived");
    connect.clean_start = false;
    let (client, _) = RawClient::connect_with(broker.addr(), connect.clone()).await;
    client.disconnect().await;
    let (_client, connack) = RawClient::connect_with(broker.addr(), connect).await;
    assert!(!connack.session_present, "expiry 0: no session survives");
}

#[tokio::test]
async fn mqtt_3_1_0_2_second_connect_is_a_protocol_error() {
    let broker = TestBroker::start().await;
    for v in versions() {
        let (mut client, _) = RawClient::mqtt_connect(broker.addr(), v, "twice", true).await;
        client
            .send(&Packet::Connect(Box::new(connect_packet(v, "twice"))))
            .await;
        client.expect_disconnect(ReasonCode::ProtocolError).await;
    }
}

#[tokio::test]
async fn mqtt_3_1_0_1_packets_before_connect_close_the_connection() {
    let broker = TestBroker::start().await;
    for v in versions() {
        let mut client = RawClient::connect(broker.addr(), v).await;
        client.send(&Packet::PingReq).await;
        assert_eq!(
            client.expect_closed().await,
            None,
            "{v}: no CONNACK, no DISCONNECT"
        );

        let mut client = RawClient::connect(broker.addr(), v).await;
        client
            .send(&Packet::Publish(starling_testkit::publish_packet(
                "t",
                b"x",
                QoS::AtMostOnce,
                false,
                None,
            )))
            .await;
        assert_eq!(client.expect_closed().await, None, "{v}");
    }
}

#[tokio::test]
async fn mqtt_3_1_4_connection_without_connect_is_closed_after_the_connect_timeout() {
    let broker =
        TestBroker::start_with(|cfg| cfg.mqtt.connect_timeout = Duration::from_secs(1)).await;
    let mut silent = RawClient::connect(broker.addr(), ProtocolVersion::V5).await;
    // A partial CONNECT does not count either.
    let mut partial = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1).await;
    partial.send_bytes(&[0x10, 0x20, 0x00, 0x04]).await;
    assert_eq!(silent.expect_closed().await, None);
    assert_eq!(partial.expect_closed().await, None);
}

#[tokio::test]
async fn mqtt_3_1_2_2_unsupported_protocol_level_gets_connack_1() {
    let broker = TestBroker::start().await;
    // CONNECT "MQTT" level 6, clean session, keep alive 0, client id "x".
    let bytes = [
        0x10, 0x0D, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x06, 0x02, 0x00, 0x00, 0x00, 0x01, b'x',
    ];
    let mut client = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1).await;
    client.send_bytes(&bytes).await;
    match client.recv().await {
        Packet::ConnAck(connack) => {
            assert_eq!(connack.reason_code, ReasonCode::UnsupportedProtocolVersion);
            assert!(!connack.session_present);
        }
        other => panic!("expected CONNACK 1, got {other:?}"),
    }
    assert_eq!(client.expect_closed().await, None, "[MQTT-3.1.2-2]");
}

#[tokio::test]
async fn mqtt_3_1_4_3_takeover_disconnects_the_old_connection() {
    let broker = TestBroker::start().await;
    for v in versions() {
        let id = format!("takeover-{v}");
        let (mut old, _) = RawClient::mqtt_connect(broker.addr(), v, &id, true).await;
        let (mut new, connack) = RawClient::mqtt_connect(broker.addr(), v, &id, true).await;
        assert!(!connack.session_present, "{v}: clean start");
        // 5.0: DISCONNECT 0x8E; 3.1.1: just closed [MQTT-3.1.4-3].
        old.expect_disconnect(ReasonCode::SessionTakenOver).await;
        new.ping().await;
    }
}

#[tokio::test]
async fn mqtt_3_1_4_3_takeover_resumes_the_session_with_its_subscriptions() {
    let broker = TestBroker::start().await;
    for v in versions() {
        let id = format!("resume-takeover-{v}");
        let topic = format!("takeover/{v}");
        let mut connect = connect_packet(v, &id);
        connect.clean_start = false;
        connect.properties.session_expiry_interval = v.is_v5().then_some(60);
        let (mut old, _) = RawClient::connect_with(broker.addr(), connect.clone()).await;
        old.subscribe(&topic, QoS::AtLeastOnce).await;

        let (mut new, connack) = RawClient::connect_with(broker.addr(), connect).await;
        assert_eq!(connack.reason_code, ReasonCode::Success);
        assert!(
            connack.session_present,
            "{v}: the session moved to the new connection"
        );
        old.expect_disconnect(ReasonCode::SessionTakenOver).await;

        let (mut publisher, _) = RawClient::mqtt_connect(broker.addr(), v, "pub", true).await;
        publisher
            .publish(&topic, b"after takeover", QoS::AtLeastOnce, false)
            .await;
        let msg = new.recv_and_ack().await;
        assert_eq!(&msg.payload[..], b"after takeover", "{v}");
        new.disconnect().await;
    }
}

#[tokio::test]
async fn mqtt_3_1_2_22_silent_client_is_closed_after_one_and_a_half_keep_alives() {
    let broker = TestBroker::start().await;
    for v in versions() {
        let mut connect = connect_packet(v, "sleepy");
        connect.keep_alive = 1;
        let (mut client, _) = RawClient::connect_with(broker.addr(), connect).await;
        // A PINGREQ is answered and resets the timer.
        client.ping().await;
        // 5.0: DISCONNECT 0x8D; 3.1.1: closed. Waits at most DEFAULT_TIMEOUT (5 s) for 1.5 s.
        client.expect_disconnect(ReasonCode::KeepAliveTimeout).await;
    }
}

#[tokio::test]
async fn mqtt_3_1_2_22_a_client_that_pings_in_time_stays_past_its_first_deadline() {
    let broker = TestBroker::start().await;
    let mut connect = connect_packet(ProtocolVersion::V5, "pinger");
    connect.keep_alive = 1;
    let (mut client, _) = RawClient::connect_with(broker.addr(), connect).await;
    // Pings every 0.6 s for 3 s: the first deadline (1.5 s) passes while the client is alive,
    // and the broker must reschedule it rather than close the connection.
    for _ in 0..5 {
        // The scenario, not synchronisation: wall time must pass the first deadline.
        tokio::time::sleep(Duration::from_millis(600)).await;
        client.ping().await;
    }
    // Then silence: closed with Keep Alive timeout.
    client.expect_disconnect(ReasonCode::KeepAliveTimeout).await;
}

#[tokio::test]
async fn mqtt_3_14_v5_shutdown_sends_server_shutting_down() {
    let broker = TestBroker::start().await;
    let (mut v5, _) =
        RawClient::mqtt_connect(broker.addr(), ProtocolVersion::V5, "five", true).await;
    let (mut v3, _) =
        RawClient::mqtt_connect(broker.addr(), ProtocolVersion::V3_1_1, "three", true).await;
    broker.shutdown().await;
    v5.expect_disconnect(ReasonCode::ServerShuttingDown).await;
    v3.expect_disconnect(ReasonCode::ServerShuttingDown).await;
}

#[tokio::test]
async fn mqtt_3_1_2_4_v5_session_expiry_set_on_disconnect_after_zero_is_a_protocol_error() {
    let broker = TestBroker::start().await;
    let (mut client, _) =
        RawClient::mqtt_connect(broker.addr(), ProtocolVersion::V5, "expiry0", true).await;
    let mut disconnect = starling_codec::Disconnect::default();
    disconnect.properties.session_expiry_interval = Some(60);
    client.send(&Packet::Disconnect(disconnect)).await;
    // [MQTT-3.14.2-2]: the server may answer with DISCONNECT 0x82; it must close.
    let answer = client.expect_closed().await;
    if let Some(d) = answer {
        assert_eq!(d.reason_code, ReasonCode::ProtocolError);
    }
}

#[tokio::test]
async fn mqtt_3_1_2_4_clean_start_discards_the_old_subscriptions() {
    let broker = TestBroker::start().await;
    for v in versions() {
        for old_online in [false, true] {
            let id = format!("discard-{v}-{old_online}");
            let topic = format!("discard/{v}/{old_online}");
            let mut connect = connect_packet(v, &id);
            connect.clean_start = false;
            connect.properties.session_expiry_interval = v.is_v5().then_some(60);
            let (mut old, _) = RawClient::connect_with(broker.addr(), connect.clone()).await;
            old.subscribe(&topic, QoS::AtLeastOnce).await;
            if !old_online {
                old.disconnect().await;
            }
            connect.clean_start = true;
            let (mut new, connack) = RawClient::connect_with(broker.addr(), connect).await;
            assert!(!connack.session_present, "{v}");
            new.subscribe(SENTINEL, QoS::AtLeastOnce).await;
            let (mut publisher, _) = RawClient::mqtt_connect(broker.addr(), v, "pub", true).await;
            publisher
                .publish(&topic, b"stale", QoS::AtLeastOnce, false)
                .await;
            // Not "stale": the sentinel the same publisher sent after it comes first.
            publisher
                .publish(SENTINEL, b"sentinel", QoS::AtLeastOnce, false)
                .await;
            new.expect_next_publish_on(SENTINEL).await;
        }
    }
}

#[tokio::test]
async fn mqtt_3_2_2_3_15_v5_response_information_only_when_requested_and_configured() {
    let broker = TestBroker::start_with(|cfg| {
        cfg.mqtt.response_information = Some("replies/".to_owned());
    })
    .await;
    for (requested, expected) in [(Some(1), Some("replies/")), (Some(0), None), (None, None)] {
        let mut connect = connect_packet(ProtocolVersion::V5, "asker");
        connect.properties.request_response_information = requested;
        let (_client, connack) = RawClient::connect_with(broker.addr(), connect).await;
        let info = connack
            .properties
            .response_information
            .as_deref()
            .map(str::to_owned);
        assert_eq!(info.as_deref(), expected, "requested={requested:?}");
    }
    // Not configured: nothing, even when asked.
    let plain = TestBroker::start().await;
    let mut connect = connect_packet(ProtocolVersion::V5, "asker");
    connect.properties.request_response_information = Some(1);
    let (_client, connack) = RawClient::connect_with(plain.addr(), connect).await;
    assert_eq!(connack.properties.response_information, None);
}

#[tokio::test]
async fn max_keepalive_is_server_keep_alive_for_5_0_and_refuses_3_x_beyond_it() {
    // The default cap (65535), which TestBroker turns off for other tests, and a small one.
    for cap in [u16::MAX, 100] {
        let broker = TestBroker::start_with(|cfg| cfg.mqtt.max_keepalive = Some(cap)).await;
        for keep_alive in [0, 30, cap, 101] {
            for v in starling_testkit::all_versions() {
                let connect = starling_codec::Connect {
                    keep_alive,
                    ..connect_packet(v, "ka")
                };
                let (client, connack) = RawClient::connect_with(broker.addr(), connect).await;
                let beyond = keep_alive == 0 || keep_alive > cap;
                if v.is_v5() {
                    assert_eq!(connack.reason_code, ReasonCode::Success, "{v} {keep_alive}");
                    let announced = beyond.then_some(cap);
                    assert_eq!(
                        connack.properties.server_keep_alive, announced,
                        "{v} {keep_alive} (cap {cap})"
                    );
                    client.disconnect().await;
                } else if beyond {
                    // Return code 2, identifier rejected, as Mosquitto answers.
                    assert_eq!(
                        connack.reason_code,
                        ReasonCode::ClientIdentifierNotValid,
                        "{v} {keep_alive} (cap {cap})"
                    );
                } else {
                    assert_eq!(connack.reason_code, ReasonCode::Success, "{v} {keep_alive}");
                    client.disconnect().await;
                }
            }
        }
    }
}
