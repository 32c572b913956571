//! `starling pub` and `starling sub`, the built binary, against an in-process broker.

use starling_testkit::TestBroker;
use std::process::Output;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

mod common;

use common::{finish, ok, spawn_subscribed, stderr};

const TIMEOUT_EXIT: i32 = 27;

fn command(broker_port: u16, args: &[&str]) -> Command {
    let mut command = common::command(args);
    command.args(["-p", &broker_port.to_string()]);
    command
}

async fn run(broker: &TestBroker, args: &[&str]) -> Output {
    finish(command(broker.addr().port(), args).spawn().expect("spawn")).await
}

/// Starts `starling sub -d` and returns once it reports (on stderr) the SUBACK for its
/// `filters` filters.
async fn sub(broker: &TestBroker, args: &[&str], filters: usize) -> Child {
    let args: Vec<&str> = ["sub"].iter().chain(args).copied().collect();
    let mut command = command(broker.addr().port(), &args);
    command.args(["-W", "15", "-d"]);
    spawn_subscribed(command, filters).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_at_every_qos_on_3_1_1_and_5() {
    let broker = TestBroker::start().await;
    for version in ["3.1.1", "5"] {
        for qos in ["0", "1", "2"] {
            let topic = format!("rt/{version}/{qos}");
            let payload = format!("hello {version} q{qos}");
            let child = sub(
                &broker,
                &["-V", version, "-q", qos, "-t", "rt/#", "-C", "1"],
                1,
            )
            .await;
            let published = run(
                &broker,
                &[
                    "pub", "-V", version, "-q", qos, "-t", &topic, "-m", &payload,
                ],
            )
            .await;
            ok(&published);
            let got = finish(child).await;
            assert_eq!(ok(&got), format!("{payload}\n"), "{version} QoS {qos}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verbose_and_json_show_topic_and_properties() {
    let broker = TestBroker::start().await;
    let verbose = sub(&broker, &["-t", "p/#", "-v", "-C", "1"], 1).await;
    let json = sub(&broker, &["-t", "p/#", "--json", "-C", "2", "-q", "1"], 1).await;
    let published = run(
        &broker,
        &[
            "pub",
            "-t",
            "p/1",
            "-m",
            "text",
            "-q",
            "1",
            "-D",
            "k=v",
            "-D",
            "k=w",
            "--content-type",
            "text/plain",
            "--response-topic",
            "p/reply",
            "--correlation-data",
            "c1",
            "--message-expiry",
            "60",
        ],
    )
    .await;
    ok(&published);
    let file = std::env::temp_dir().join(format!("starling-pub-sub-{}", std::process::id()));
    std::fs::write(&file, [0xff, 0x00, 0x01]).expect("write payload file");
    let path = file.to_string_lossy().into_owned();
    ok(&run(&broker, &["pub", "-t", "p/bin", "-f", &path]).await);
    let _ = std::fs::remove_file(&file);

    let verbose = ok(&finish(verbose).await);
    let lines: Vec<&str> = verbose.lines().collect();
    assert_eq!(lines.first().copied(), Some("p/1 text"), "{verbose}");
    for want in [
        "  content-type: text/plain",
        "  response-topic: p/reply",
        "  correlation-data: c1",
        "  user-property: k=v",
        "  user-property: k=w",
    ] {
        assert!(lines.contains(&want), "{want:?} missing in {verbose}");
    }
    assert!(verbose.contains("  message-expiry-interval: "), "{verbose}");

    let json = ok(&finish(json).await);
    let objects: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(objects.len(), 2, "{json}");
    let text = &objects[0];
    assert_eq!(text["topic"], "p/1");
    assert_eq!(text["qos"], 1);
    assert_eq!(text["retain"], false);
    assert_eq!(text["payload"], "text");
    assert_eq!(text["payload_encoding"], "utf-8");
    let properties = &text["properties"];
    assert_eq!(properties["content_type"], "text/plain");
    assert_eq!(properties["response_topic"], "p/reply");
    assert_eq!(properties["correlation_data"], "c1");
    assert_eq!(
        properties["user_properties"],
        serde_json::json!([["k", "v"], ["k", "w"]])
    );
    let binary = &objects[1];
    assert_eq!(binary["topic"], "p/bin");
    assert_eq!(binary["payload"], "/wAB");
    assert_eq!(binary["payload_encoding"], "base64");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn count_and_timeout_bound_the_subscriber() {
    let broker = TestBroker::start().await;
    // -W with nothing arriving: exit 27, about when asked.
    let start = Instant::now();
    let idle = run(&broker, &["sub", "-t", "none", "-W", "1"]).await;
    assert_eq!(idle.status.code(), Some(TIMEOUT_EXIT), "{}", stderr(&idle));
    assert!(start.elapsed() < Duration::from_secs(8));
    // -C 2 with 3 published: exactly 2 printed, exit 0.
    let child = sub(&broker, &["-t", "c", "-C", "2"], 1).await;
    let published = run(
        &broker,
        &["pub", "-t", "c", "-m", "m", "--repeat", "3", "-q", "1"],
    )
    .await;
    ok(&published);
    assert_eq!(ok(&finish(child).await), "m\nm\n");
    // -W expiring before -C is reached: what came is printed, exit 27.
    let child = spawn_subscribed(
        command(
            broker.addr().port(),
            &["sub", "-t", "d", "-C", "5", "-W", "2", "-d"],
        ),
        1,
    )
    .await;
    ok(&run(&broker, &["pub", "-t", "d", "-m", "one"]).await);
    let short = finish(child).await;
    assert_eq!(
        short.status.code(),
        Some(TIMEOUT_EXIT),
        "{}",
        stderr(&short)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retained_message_reaches_a_later_subscriber() {
    let broker = TestBroker::start().await;
    ok(&run(
        &broker,
        &["pub", "-t", "r/1", "-m", "kept", "-r", "-q", "1"],
    )
    .await);
    let got = ok(&run(
        &broker,
        &["sub", "-t", "r/#", "--json", "-C", "1", "-W", "10"],
    )
    .await);
    let object: serde_json::Value = serde_json::from_str(got.trim()).expect("JSON");
    assert_eq!(object["payload"], "kept");
    assert_eq!(object["retain"], true);
    let skipped = run(
        &broker,
        &["sub", "-t", "r/#", "--retain-handling", "2", "-W", "1"],
    )
    .await;
    assert_eq!(skipped.status.code(), Some(TIMEOUT_EXIT));
    assert_eq!(skipped.stdout, b"");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connect_and_subscribe_are_explained() {
    let broker = TestBroker::start_with(|cfg| cfg.mqtt.max_client_id_len = 23).await;
    let long_id = "x".repeat(40);
    for version in ["3.1.1", "5"] {
        let refused = run(
            &broker,
            &["pub", "-V", version, "-i", &long_id, "-t", "a", "-m", "x"],
        )
        .await;
        assert_eq!(refused.status.code(), Some(1));
        assert!(
            stderr(&refused).contains("refused the connection: client identifier not valid"),
            "{version}: {}",
            stderr(&refused)
        );
    }
    let suback = run(&broker, &["sub", "-t", "a/#/b", "-t", "ok", "-W", "1"]).await;
    assert!(
        stderr(&suback).contains("subscription to a/#/b refused: topic filter invalid (0x8F)"),
        "{}",
        stderr(&suback)
    );
    assert_eq!(suback.status.code(), Some(TIMEOUT_EXIT));
    let all = run(&broker, &["sub", "-t", "a/#/b", "-W", "1"]).await;
    assert_eq!(all.status.code(), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_broker_and_bad_ca_file_fail_clearly() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let output = finish(
        command(port, &["pub", "-t", "a", "-m", "x"])
            .spawn()
            .expect("spawn"),
    )
    .await;
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output).trim(),
        format!("starling: cannot connect to 127.0.0.1:{port}: connection refused")
    );
    let tls_url = format!("mqtts://127.0.0.1:{port}");
    let wss_url = format!("wss://127.0.0.1:{port}/mqtt");
    for (args, want) in [
        (
            ["sub", "--url", &tls_url, "-t", "a"],
            format!("cannot connect to 127.0.0.1:{port}: connection refused"),
        ),
        (
            ["sub", "--url", &wss_url, "-t", "a"],
            format!("cannot connect to 127.0.0.1:{port}: connection refused"),
        ),
        (
            ["sub", "--cafile", "/nonexistent/ca.pem", "-t", "a"],
            "CA file /nonexistent/ca.pem: No such file or directory".to_string(),
        ),
    ] {
        let output = finish(command(port, &args).spawn().expect("spawn")).await;
        assert_eq!(output.status.code(), Some(1));
        assert!(stderr(&output).contains(&want), "{}", stderr(&output));
    }
}
