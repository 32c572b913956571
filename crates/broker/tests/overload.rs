//! Overload protection: above a watermark new connections are refused with Server busy while
//! connected clients carry on; the check is run on demand (`check_overload`), so the test
//! does not wait for the periodic one.

use starling_codec::{ProtocolVersion, QoS, ReasonCode};
use starling_config::{MemoryWatermark, OverloadConfig};
use starling_testkit::{connect_packet, versions, RawClient, TestBroker};
use std::sync::atomic::Ordering;
use std::time::Duration;

#[tokio::test]
async fn over_the_memory_watermark_new_connections_are_refused_and_the_others_carry_on() {
    let broker = TestBroker::start_with(|c| {
        c.overload = Some(OverloadConfig {
            // Any broker is over one byte of memory.
            memory_high: Some(MemoryWatermark::Bytes(1)),
            run_queue_high: None,
            check_interval: Duration::from_secs(3600),
        });
    })
    .await;
    let v = ProtocolVersion::V5;
    let (mut sub, _) = RawClient::mqtt_connect(broker.addr(), v, "before", true).await;
    sub.subscribe("load/x", QoS::AtLeastOnce).await;
    broker.running().check_overload();
    assert_eq!(broker.metrics().overload_active.load(Ordering::Relaxed), 1);
    for v in versions() {
        let (_c, connack) = RawClient::connect_with(broker.addr(), connect_packet(v, "late")).await;
        // 3.x: return code 3, server unavailable.
        let busy = if v.is_v5() {
            ReasonCode::ServerBusy
        } else {
            ReasonCode::ServerUnavailable
        };
        assert_eq!(connack.reason_code, busy, "{v}");
    }
    // The connected client is still served, QoS 1 included.
    sub.publish("load/x", b"still here", QoS::AtLeastOnce, false)
        .await;
    assert_eq!(sub.recv_publish().await.payload.as_ref(), b"still here");
    assert_eq!(broker.metrics().overload_refused.load(Ordering::Relaxed), 2);
}

#[tokio::test]
async fn without_overload_clients_get_in() {
    let broker = TestBroker::start().await;
    broker.running().check_overload();
    assert_eq!(broker.metrics().overload_active.load(Ordering::Relaxed), 0);
    RawClient::mqtt_connect(broker.addr(), ProtocolVersion::V5, "in", true).await;
}
