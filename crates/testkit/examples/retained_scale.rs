//! Measures retained delivery at scale against a running broker (figures, not a test).
//!
//! ```text
//! starling start &   # or any broker
//! cargo run --release -p starling-testkit --example retained_scale -- \
//!     <port> <broker pid> <count> wildcard|exact|attack
//! ```
//!
//! Each scenario first stores `count` retained messages of 100 bytes (`r/<i % 1000>/<i>`), then:
//! - `wildcard`: `SUBSCRIBE #` and the time until the last retained message arrived;
//! - `exact`: 200 exact subscriptions, the time from SUBSCRIBE to its retained message;
//! - `attack`: 300 x `SUBSCRIBE #` in one write from a client that never reads, for 10 s.
//!
//! It prints the broker's peak resident memory (VmHWM of `/proc/<pid>/status`) at the end.

use starling_codec::{Packet, ProtocolVersion, QoS};
use starling_testkit::{publish_packet, subscribe_packet, wire, Event, RawClient};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

fn status(pid: u32, key: &str) -> String {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .map(|v| v.trim().to_owned())
        .unwrap_or_default()
}

async fn fill(addr: SocketAddr, count: usize) {
    let start = Instant::now();
    let (mut publisher, _) = RawClient::mqtt_connect(addr, ProtocolVersion::V5, "fill", true).await;
    let payload = [b'x'; 100];
    let mut i = 0;
    while i < count {
        let end = (i + 10_000).min(count);
        let packets: Vec<Packet> = (i..end)
            .map(|n| {
                let topic = format!("r/{}/{n}", n % 1000);
                Packet::Publish(publish_packet(
                    &topic,
                    &payload,
                    QoS::AtMostOnce,
                    true,
                    None,
                ))
            })
            .collect();
        publisher
            .send_bytes(&wire(&packets, ProtocolVersion::V5))
            .await;
        publisher.ping().await; // keep the router's inbox from running far ahead
        i = end;
    }
    println!("stored {count} retained messages in {:?}", start.elapsed());
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, port, pid, count, scenario] = args.as_slice() else {
        panic!("usage: retained_scale <port> <pid> <count> wildcard|exact|attack");
    };
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("port");
    let pid: u32 = pid.parse().expect("pid");
    let count: usize = count.parse().expect("count");
    fill(addr, count).await;
    println!("broker RSS after filling: {}", status(pid, "VmRSS:"));
    match scenario.as_str() {
        "wildcard" => {
            let (mut sub, _) =
                RawClient::mqtt_connect(addr, ProtocolVersion::V5, "all", true).await;
            let start = Instant::now();
            sub.send(&Packet::Subscribe(subscribe_packet(
                1,
                &[("#", QoS::AtMostOnce)],
            )))
            .await;
            let mut got = 0;
            while got < count {
                match sub.next_event(Duration::from_secs(60)).await {
                    Event::Packet(Packet::Publish(_)) => got += 1,
                    Event::Packet(_) => {}
                    other => panic!("after {got}: {other:?}"),
                }
            }
            println!(
                "SUBSCRIBE #: {count} retained messages in {:?}",
                start.elapsed()
            );
        }
        "exact" => {
            let (mut sub, _) =
                RawClient::mqtt_connect(addr, ProtocolVersion::V5, "one", true).await;
            let mut times = Vec::new();
            for k in 0..200u16 {
                let n = (usize::from(k) * 4999) % count;
                let topic = format!("r/{}/{n}", n % 1000);
                let start = Instant::now();
                sub.send(&Packet::Subscribe(subscribe_packet(
                    k + 1,
                    &[(&topic, QoS::AtMostOnce)],
                )))
                .await;
                loop {
                    if let Packet::Publish(p) = sub.recv().await {
                        assert_eq!(p.topic.as_str(), topic);
                        break;
                    }
                }
                times.push(start.elapsed());
            }
            times.sort();
            println!(
                "exact SUBSCRIBE to its retained message: median {:?}, p99 {:?}",
                times[times.len() / 2],
                times[times.len() * 99 / 100]
            );
        }
        "attack" => {
            let (mut attacker, _) =
                RawClient::mqtt_connect(addr, ProtocolVersion::V5, "amp", true).await;
            let subs: Vec<Packet> = (1..=300)
                .map(|i| Packet::Subscribe(subscribe_packet(i, &[("#", QoS::AtMostOnce)])))
                .collect();
            attacker.send_bytes(&wire(&subs, ProtocolVersion::V5)).await;
            // The scenario: the attacker never reads; watch the broker for 10 s.
            for s in 1..=10 {
                tokio::time::sleep(Duration::from_secs(1)).await;
                println!("after {s} s: broker RSS {}", status(pid, "VmRSS:"));
            }
            let (mut other, _) =
                RawClient::mqtt_connect(addr, ProtocolVersion::V5, "other", true).await;
            let start = Instant::now();
            other.ping().await;
            println!(
                "another client's round trip meanwhile: {:?}",
                start.elapsed()
            );
            drop(attacker);
        }
        other => panic!("unknown scenario {other}"),
    }
    println!("broker peak RSS (VmHWM): {}", status(pid, "VmHWM:"));
}
