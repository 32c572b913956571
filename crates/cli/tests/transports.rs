//! `starling pub`, `sub` and `bench` over TLS, WebSocket and WebSocket over TLS: the built binary
//! against a proxy (certificates made at test time) in front of an in-process broker.

use starling_testkit::transports::{Front, Proxy, TestPki};
use starling_testkit::TestBroker;
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
    let broker = TestBroker::start().await;
    let pki = TestPki::generate();
    let tls = Proxy::start(Front::Tls(pki.server_config(false)), broker.addr()).await;
    let url = format!("mqtts://localhost:{}", tls.addr().port());
    round_trip(&["--url", &url, "--cafile", path(&pki.ca)]).await;
    round_trip(&["--url", &url, "--insecure"]).await;
    // -h/-p with --cafile means TLS, as with mosquitto_pub.
    let port = tls.addr().port().to_string();
    round_trip(&["-h", "127.0.0.1", "-p", &port, "--cafile", path(&pki.ca)]).await;

    let mutual = Proxy::start(Front::Tls(pki.server_config(true)), broker.addr()).await;
    let url = format!("mqtts://localhost:{}", mutual.addr().port());
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
    let broker = TestBroker::start().await;
    let pki = TestPki::generate();
    let tls = Proxy::start(Front::Tls(pki.server_config(false)), broker.addr()).await;
    let url = format!("mqtts://localhost:{}", tls.addr().port());
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
        tls.addr().port()
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

    let out = run(&["sub", "-t", "x", "--url", "quic://localhost"]).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("quic:// is not supported yet"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_and_websocket_over_tls() {
    let broker = TestBroker::start().await;
    let pki = TestPki::generate();
    let ws = Proxy::start(Front::Ws, broker.addr()).await;
    let url = format!("ws://127.0.0.1:{}/mqtt", ws.addr().port());
    round_trip(&["--url", &url]).await;
    let port = ws.addr().port().to_string();
    round_trip(&["-p", &port, "--ws"]).await;
    assert!(ws
        .upgrades()
        .iter()
        .all(|u| u.subprotocol.as_deref() == Some("mqtt")));

    let wss = Proxy::start(Front::Wss(pki.server_config(false)), broker.addr()).await;
    let url = format!("wss://localhost:{}", wss.addr().port());
    round_trip(&["--url", &url, "--cafile", path(&pki.ca)]).await;

    let url = format!("ws://127.0.0.1:{}/other", ws.addr().port());
    let out = run(&["pub", "-t", "x", "-m", "y", "--url", &url]).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("HTTP 404 Not Found"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_over_tls_and_websocket() {
    let broker = TestBroker::start().await;
    let pki = TestPki::generate();
    let tls = Proxy::start(Front::Tls(pki.server_config(true)), broker.addr()).await;
    let ws = Proxy::start(Front::Ws, broker.addr()).await;
    let tls_port = tls.addr().port().to_string();
    let ws_url = format!("ws://127.0.0.1:{}", ws.addr().port());
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
