//! Traces seen from outside: a trace on a client id writes that client's CONNECT, CONNACK,
//! SUBSCRIBE, PUBLISH in and out, acks and DISCONNECT, and nobody else's; a trace on a topic
//! filter writes only the PUBLISHes whose topic it matches. Each step waits for an ack or
//! for the broker to close; stopping the trace waits until everything queued is written.

use starling_broker::{BrokerHandle, NewTrace, PayloadEncode, TraceTarget};
use starling_codec::QoS;
use starling_testkit::{ProtocolVersion, RawClient, TestBroker};

async fn client(broker: &TestBroker, id: &str) -> RawClient {
    RawClient::mqtt_connect(broker.addr(), ProtocolVersion::V5, id, true)
        .await
        .0
}

async fn start(handle: &BrokerHandle, name: &str, target: TraceTarget, encode: PayloadEncode) {
    let new = NewTrace {
        name: name.into(),
        target,
        start_at: None,
        end_at: None,
        payload_encode: encode,
    };
    handle.start_trace(new).await.expect("the trace starts");
}

/// Stops the trace and reads its file, line by line.
async fn stop_and_read(handle: &BrokerHandle, name: &str) -> Vec<String> {
    handle.stop_trace(name).await.expect("stops");
    let (bytes, size) = handle.read_trace(name, 0, 1 << 20).await.expect("reads");
    assert_eq!(bytes.len() as u64, size);
    String::from_utf8(bytes)
        .expect("text")
        .lines()
        .map(str::to_owned)
        .collect()
}

fn find<'a>(lines: &'a [String], what: &str) -> &'a str {
    lines
        .iter()
        .find(|l| l.contains(what))
        .unwrap_or_else(|| panic!("no line with {what:?} in {lines:#?}"))
}

#[tokio::test]
async fn a_client_id_trace_records_its_connection_from_connect_to_close() {
    let broker = TestBroker::start().await;
    let handle = broker.running().handle();
    start(
        &handle,
        "dev",
        TraceTarget::ClientId("dev".into()),
        PayloadEncode::Text,
    )
    .await;
    let mut dev = client(&broker, "dev").await;
    let mut other = client(&broker, "other").await;
    dev.subscribe("t/#", QoS::AtLeastOnce).await;
    other
        .publish("t/1", b"hello", QoS::AtLeastOnce, false)
        .await;
    let got = dev.recv_and_ack().await;
    assert_eq!(&got.payload[..], b"hello");
    dev.publish("x/y", b"two", QoS::ExactlyOnce, false).await;
    dev.ping().await; // the PUBACK above was read before this
    dev.disconnect().await;
    other.disconnect().await;

    let lines = stop_and_read(&handle, "dev").await;
    let connect = find(&lines, "CONNECT proto=5.0");
    assert!(connect.contains(" dev@127.0.0.1:"), "{connect}");
    assert!(connect.contains(" in CONNECT"), "{connect}");
    assert!(
        connect.contains("clean_start=true keep_alive=0"),
        "{connect}"
    );
    // An RFC 3339 time in UTC first.
    let time = connect.split(' ').next().unwrap_or_default();
    assert!(humantime::parse_rfc3339(time).is_ok(), "{time}");
    assert!(find(&lines, "out CONNACK").contains("reason=0x00"));
    assert!(find(&lines, "in SUBSCRIBE").contains("\"t/#\" qos=1 nl=0 rap=0 rh=0"));
    assert!(find(&lines, "out SUBACK").contains("reasons=[0x01]"));
    let delivered = find(&lines, "out PUBLISH");
    assert!(delivered.contains("topic=\"t/1\" qos=1"), "{delivered}");
    assert!(delivered.contains("payload=\"hello\""), "{delivered}");
    find(&lines, "in PUBACK packet_id=");
    let sent = find(&lines, "in PUBLISH");
    assert!(sent.contains("topic=\"x/y\" qos=2") && sent.contains("payload=\"two\""));
    find(&lines, "out PUBREC");
    find(&lines, "in PUBREL");
    find(&lines, "out PUBCOMP");
    find(&lines, "in DISCONNECT reason=0x00");
    find(&lines, "- CLOSED by the client's DISCONNECT");
    assert!(
        lines.iter().all(|l| !l.contains("other@")),
        "another client's events: {lines:#?}"
    );
    assert!(lines.iter().all(|l| !l.contains("PINGREQ")));
}

#[tokio::test]
async fn a_topic_trace_records_only_the_publishes_it_matches() {
    let broker = TestBroker::start().await;
    let handle = broker.running().handle();
    let filter = starling_topic::TopicFilter::new("t/+").expect("filter");
    start(
        &handle,
        "topic",
        TraceTarget::Topic(filter),
        PayloadEncode::Hex,
    )
    .await;
    let mut sub = client(&broker, "sub").await;
    sub.subscribe("#", QoS::AtMostOnce).await;
    let mut publisher = client(&broker, "pub").await;
    publisher
        .publish("t/1", b"\x01\x02", QoS::AtLeastOnce, false)
        .await;
    publisher
        .publish("u/1", b"no", QoS::AtLeastOnce, false)
        .await;
    sub.expect_next_publish_on("t/1").await;
    sub.expect_next_publish_on("u/1").await;

    let lines = stop_and_read(&handle, "topic").await;
    assert_eq!(lines.len(), 2, "{lines:#?}");
    let sent = find(&lines, "pub@127.0.0.1");
    assert!(sent.contains(" in PUBLISH topic=\"t/1\" qos=1"), "{sent}");
    assert!(sent.contains("payload_bytes=2 payload=0102"), "{sent}");
    let delivered = find(&lines, "sub@127.0.0.1");
    assert!(
        delivered.contains(" out PUBLISH topic=\"t/1\" qos=0"),
        "{delivered}"
    );
}

#[tokio::test]
async fn an_address_trace_covers_every_client_from_it_and_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_owned();
    let broker = TestBroker::start_with(|c| c.node.data_dir = data.clone()).await;
    let handle = broker.running().handle();
    let ip = "127.0.0.1".parse().expect("ip");
    start(
        &handle,
        "lo",
        TraceTarget::Address(ip),
        PayloadEncode::Hidden,
    )
    .await;
    let mut a = client(&broker, "a").await;
    a.publish("p", b"secret", QoS::AtLeastOnce, false).await;
    a.disconnect().await;
    handle.read_trace("lo", 0, 0).await.expect("flushed");
    drop(handle);
    broker.shutdown().await;

    let broker = TestBroker::start_with(|c| c.node.data_dir = data.clone()).await;
    let handle = broker.running().handle();
    let listed = handle.traces().await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].name, "lo");
    // Still running after the restart: a new client is traced into the same file.
    let b = client(&broker, "b").await;
    b.disconnect().await;
    let lines = stop_and_read(&handle, "lo").await;
    let publish = find(&lines, "a@127.0.0.1");
    assert!(
        lines.iter().any(|l| l.contains("b@127.0.0.1")),
        "{lines:#?}"
    );
    let publish_line = lines
        .iter()
        .find(|l| l.contains("in PUBLISH"))
        .expect("publish line");
    assert!(publish_line.ends_with("payload_bytes=6"), "{publish_line}");
    assert!(!publish.is_empty());
    assert!(lines.iter().all(|l| !l.contains("secret")));
}

#[tokio::test]
async fn a_file_stops_growing_at_its_cap_and_the_trace_says_it_is_full() {
    let broker = TestBroker::start_with(|c| {
        c.trace.max_file_size = 1024;
        c.trace.payload_max = 200;
    })
    .await;
    let handle = broker.running().handle();
    start(
        &handle,
        "cap",
        TraceTarget::ClientId("big".into()),
        PayloadEncode::Text,
    )
    .await;
    let mut big = client(&broker, "big").await;
    for _ in 0..10 {
        big.publish("p", [b'x'; 500], QoS::AtLeastOnce, false).await;
    }
    let (bytes, size) = handle.read_trace("cap", 0, 1 << 20).await.expect("reads");
    assert!(size <= 1024, "{size} bytes");
    let text = String::from_utf8(bytes).expect("text");
    // Whole lines only, each payload cut to 200 bytes.
    assert!(text.ends_with('\n'), "{text}");
    let publish = find(
        &text.lines().map(str::to_owned).collect::<Vec<_>>(),
        "in PUBLISH",
    )
    .to_owned();
    assert!(publish.contains(&format!("payload=\"{}\" cut=true", "x".repeat(200))));
    let listed = handle.traces().await;
    assert!(listed[0].full, "{listed:?}");
    assert_eq!(listed[0].dropped, 0);
}
