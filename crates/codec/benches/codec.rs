//! Hot-path benchmarks: a 64-byte QoS 1 PUBLISH (decode and encode, 3.1.1 and 5.0) and CONNECT
//! decode. Run with `cargo bench -p starling-codec`.

use bytes::{Bytes, BytesMut};
use divan::{black_box, Bencher};
use starling_codec::*;

fn main() {
    divan::main();
}

fn publish() -> Packet {
    Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtLeastOnce,
        retain: false,
        topic: Utf8String::from_static("sensors/building-1/floor-2/temp"),
        packet_id: PacketId::new(42),
        properties: Properties::default(),
        payload: Bytes::from_static(&[0x5A; 64]),
    })
}

fn connect() -> Packet {
    Packet::Connect(Box::new(Connect {
        protocol: ProtocolVersion::V5,
        clean_start: true,
        keep_alive: 60,
        client_id: Utf8String::from_static("bench-client-0001"),
        will: Some(Will {
            qos: QoS::AtLeastOnce,
            retain: false,
            topic: Utf8String::from_static("clients/bench-client-0001/status"),
            payload: Bytes::from_static(b"offline"),
            properties: Properties::default(),
        }),
        username: Some(Utf8String::from_static("user")),
        password: Some(Bytes::from_static(b"secret")),
        properties: Properties {
            session_expiry_interval: Some(3600),
            receive_maximum: Some(100),
            ..Properties::default()
        },
    }))
}

fn bytes_of(p: &Packet, v: ProtocolVersion) -> Bytes {
    let mut buf = BytesMut::new();
    encode(p, v, &mut buf).expect("bench packet encodes");
    buf.freeze()
}

const VERSIONS: [ProtocolVersion; 2] = [ProtocolVersion::V3_1_1, ProtocolVersion::V5];

#[divan::bench(args = VERSIONS)]
fn decode_publish_qos1_64b(bencher: Bencher, v: ProtocolVersion) {
    let wire = bytes_of(&publish(), v);
    let opts = DecodeOptions::new(Some(v));
    bencher
        .with_inputs(|| BytesMut::from(&wire[..]))
        .bench_local_refs(|buf| black_box(decode(buf, &opts)));
}

#[divan::bench(args = VERSIONS)]
fn encode_publish_qos1_64b(bencher: Bencher, v: ProtocolVersion) {
    let p = publish();
    let mut buf = BytesMut::with_capacity(4096);
    bencher.bench_local(|| {
        buf.clear();
        encode(black_box(&p), v, &mut buf).expect("encodes");
        black_box(buf.len())
    });
}

#[divan::bench(args = VERSIONS)]
fn encoded_len_publish_qos1_64b(bencher: Bencher, v: ProtocolVersion) {
    let p = publish();
    bencher.bench_local(|| encoded_len(black_box(&p), v));
}

#[divan::bench]
fn decode_connect_v5_before_connect(bencher: Bencher) {
    let wire = bytes_of(&connect(), ProtocolVersion::V5);
    let opts = DecodeOptions::new(None);
    bencher
        .with_inputs(|| BytesMut::from(&wire[..]))
        .bench_local_refs(|buf| black_box(decode(buf, &opts)));
}

/// 100 PUBLISH packets back to back in one read buffer, as a connection sees them: the buffer
/// is promoted to shared storage once, then each packet is a reference-counted slice.
#[divan::bench(args = VERSIONS)]
fn decode_publish_qos1_64b_stream_of_100(bencher: Bencher, v: ProtocolVersion) {
    let wire = bytes_of(&publish(), v);
    let mut all = BytesMut::new();
    for _ in 0..100 {
        all.extend_from_slice(&wire);
    }
    let opts = DecodeOptions::new(Some(v));
    bencher
        .counter(divan::counter::ItemsCount::new(100usize))
        .with_inputs(|| all.clone())
        .bench_local_refs(|buf| {
            while let Ok(Some(p)) = decode(buf, &opts) {
                black_box(p);
            }
        });
}
