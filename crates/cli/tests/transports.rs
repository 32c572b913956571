//! `starling pub`, `sub` and `bench` over TLS, WebSocket, WebSocket over TLS and QUIC: the built
//! binary against an in-process broker's own listeners (certificates made at test time).

use starling_testkit::transports::{Front, TestPki};
use std::process::Output;

mod common;

use common::{command, finish, ok, spawn_subscribed};

async fn run(args: &[&str]) -> Output {
    finish(command(args).spawn().expect("spawn")).await
}

/// `sub` then `pub` with the same connection arguments; checks the message arrives. `pub` starts
/// once `sub -d` has reported its SUBACK.
async fn round_trip(connection: &[&str]) {
    let mut args = vec!["sub", "-t", "tr/#", "-C", "1", "-W", "15", "-d"];
    args.extend_from_slice(connection);
    let child = spawn_subscribed(command(&args), 1).await;
    let mut args = vec!["pub", "-t", "tr/x", "-m", "over the wire", "-q", "1"];
    args.extend_from_slice(connection);
    ok(&run(&args).await);
    assert_eq!(
        ok(&finish(child).await),
        "over the wire\n",
        "{connection:?}"
    );
}

fn path(p: &std::path::Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtts_with_cafile_insecure_and_client_certificate() {
    let pki = TestPki::generate();
    let broker = pki.broker(&[Front::Tls(false), Front::Tls(true)]).await;
    let tls = broker.addrs()[1];
    let mutual = broker.addrs()[2];
    let url = format!("mqtts://localhost:{}", tls.port());
    round_trip(&["--url", &url, "--cafile", path(&pki.ca)]).await;
    round_trip(&["--url", &url, "--insecure"]).await;
    // -h/-p with --cafile means TLS, as with mosquitto_pub.
    let port = tls.port().to_string();
    round_trip(&["-h", "127.0.0.1", "-p", &port, "--cafile", path(&pki.ca)]).await;

    let url = format!("mqtts://localhost:{}", mutual.port());
    round_trip(&[
        "--url",
        &url,
        "--cafile",
        path(&pki.ca),
        "--cert",
        path(&pki.client_cert),
        "--key",
        path(&pki.client_key),
    ])
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_failures_are_told_in_words() {
    let pki = TestPki::generate();
    let broker = pki.broker(&[Front::Tls(false)]).await;
    let tls = broker.addrs()[1];
    let url = format!("mqtts://localhost:{}", tls.port());
    let out = run(&[
        "pub",
        "-t",
        "x",
        "-m",
        "y",
        "--url",
        &url,
        "--cafile",
        path(&pki.other_ca),
    ])
    .await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let want = format!(
        "TLS handshake with localhost:{} failed: invalid peer certificate: UnknownIssuer",
        tls.port()
    );
    assert!(stderr.contains(&want), "{stderr}");

    let missing = pki.dir().join("nope.pem");
    let out = run(&[
        "pub",
        "-t",
        "x",
        "-m",
        "y",
        "--url",
        &url,
        "--cafile",
        path(&missing),
    ])
    .await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("CA file {}", missing.display())),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_and_websocket_over_tls() {
    let pki = TestPki::generate();
    let broker = pki.broker(&[Front::Ws, Front::Wss(false)]).await;
    let ws = broker.addrs()[1];
    let wss = broker.addrs()[2];
    let url = format!("ws://127.0.0.1:{}/mqtt", ws.port());
    round_trip(&["--url", &url]).await;
    let port = ws.port().to_string();
    round_trip(&["-p", &port, "--ws"]).await;

    let url = format!("wss://localhost:{}", wss.port());
    round_trip(&["--url", &url, "--cafile", path(&pki.ca)]).await;

    let url = format!("ws://127.0.0.1:{}/other", ws.port());
    let out = run(&["pub", "-t", "x", "-m", "y", "--url", &url]).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("HTTP 404 Not Found"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_over_tls_and_websocket() {
    let pki = TestPki::generate();
    let broker = pki.broker(&[Front::Tls(true), Front::Ws]).await;
    let tls = broker.addrs()[1];
    let ws = broker.addrs()[2];
    let tls_port = tls.port().to_string();
    let ws_url = format!("ws://127.0.0.1:{}", ws.port());
    let runs: [Vec<&str>; 2] = [
        vec![
            "-h",
            "127.0.0.1",
            "-p",
            &tls_port,
            "--ssl",
            "--cafile",
            path(&pki.ca),
            "--cert",
            path(&pki.client_cert),
            "--key",
            path(&pki.client_key),
        ],
        vec!["--url", &ws_url],
    ];
    for connection in runs {
        let mut args = vec![
            "bench",
            "pubsub",
            "--pubs",
            "2",
            "--subs",
            "2",
            "-t",
            "b/%i",
            "--sub-topic",
            "b/#",
            "-q",
            "1",
            "-L",
            "200",
            "-d",
            "20s",
            "--json",
        ];
        args.extend_from_slice(&connection);
        let out = ok(&run(&args).await);
        let summary: serde_json::Value = serde_json::from_str(out.trim()).expect("JSON summary");
        assert_eq!(summary["published"], 200, "{connection:?}: {summary}");
        assert_eq!(summary["received"], 400, "{connection:?}: {summary}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quic_pub_sub_and_bench() {
    let pki = TestPki::generate();
    let broker = pki.broker(&[Front::Quic(false)]).await;
    let url = format!("quic://localhost:{}", broker.addrs()[1].port());
    round_trip(&["--url", &url, "--cafile", path(&pki.ca)]).await;
    let args = [
        "bench",
        "pubsub",
        "--pubs",
        "2",
        "--subs",
        "2",
        "-t",
        "b/%i",
        "--sub-topic",
        "b/#",
        "-q",
        "1",
        "-L",
        "200",
        "-d",
        "20s",
        "--json",
        "--url",
        &url,
        "--cafile",
        path(&pki.ca),
    ];
    let out = ok(&run(&args).await);
    let summary: serde_json::Value = serde_json::from_str(out.trim()).expect("JSON summary");
    assert_eq!(summary["published"], 200, "{summary}");
    assert_eq!(summary["received"], 400, "{summary}");
}
