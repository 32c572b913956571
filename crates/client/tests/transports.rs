//! The client over TLS, WebSocket, WebSocket over TLS and QUIC, against an in-process broker's
//! own listeners, with certificates made at test time.

use starling_client::{
    Client, ClientError, ClientOptions, Incoming, Message, QoS, TlsConfig, TlsOptions,
    TransportKind,
};
use starling_testkit::transports::{Front, TestPki};
use starling_testkit::TestBroker;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

fn tls(pki: &TestPki, cafile: Option<&PathBuf>, insecure: bool, mutual: bool) -> TlsConfig {
    let opts = TlsOptions {
        cafile: cafile.cloned(),
        cert: mutual.then(|| pki.client_cert.clone()),
        key: mutual.then(|| pki.client_key.clone()),
        insecure,
        alpn: Vec::new(),
        no_resumption: false,
    };
    TlsConfig::new(&opts).expect("TLS config")
}

fn options(addr: SocketAddr, transport: TransportKind, id: &str) -> ClientOptions {
    ClientOptions::new(addr)
        .client_id(id)
        .transport(transport)
        .server_name("localhost")
}

async fn recv(incoming: &mut Incoming) -> starling_client::Publish {
    match tokio::time::timeout(Duration::from_secs(5), incoming.recv()).await {
        Ok(Some(p)) => p,
        other => panic!("no message: {other:?}"),
    }
}

/// Subscribes and publishes at QoS 1 over `transport`, plus a message larger than one read.
async fn round_trip(addr: SocketAddr, transport: TransportKind) {
    let (sub, mut incoming) = Client::connect(&options(addr, transport.clone(), "sub"))
        .await
        .expect("subscriber connects");
    sub.subscribe("t/#", QoS::AtLeastOnce)
        .await
        .expect("suback");
    let (publ, _in) = Client::connect(&options(addr, transport, "pub"))
        .await
        .expect("publisher connects");
    let big = vec![7u8; 200_000];
    for payload in [b"hello".to_vec(), big] {
        let message = Message::new("t/x", payload.clone(), QoS::AtLeastOnce).expect("message");
        publ.publish_confirmed(message).await.expect("puback");
        let got = recv(&mut incoming).await;
        assert_eq!(got.topic.as_str(), "t/x");
        assert_eq!(got.payload.as_ref(), payload.as_slice());
    }
    publ.disconnect().await.expect("disconnect");
    sub.disconnect().await.expect("disconnect");
}

#[tokio::test]
async fn tls_with_the_ca_file() {
    let pki = TestPki::generate();
    let broker = pki.broker(&[Front::Tls(false)]).await;
    let proxy = broker.addrs()[1];
    round_trip(
        proxy,
        TransportKind::Tls(tls(&pki, Some(&pki.ca), false, false)),
    )
    .await;
}

#[tokio::test]
async fn tls_with_another_ca_fails_in_words() {
    let pki = TestPki::generate();
    let broker = pki.broker(&[Front::Tls(false)]).await;
    let proxy = broker.addrs()[1];
    let transport = TransportKind::Tls(tls(&pki, Some(&pki.other_ca), false, false));
    let err = Client::connect(&options(proxy, transport, "c"))
        .await
        .err()
        .expect("must fail");
    let text = err.to_string();
    assert!(matches!(err, ClientError::Tls { .. }), "{err:?}");
    assert_eq!(
        text,
        format!(
            "TLS handshake with localhost:{} failed: invalid peer certificate: UnknownIssuer",
            proxy.port()
        )
    );
}

#[tokio::test]
async fn tls_checks_the_server_name() {
    let pki = TestPki::generate();
    let broker = pki.broker(&[Front::Tls(false)]).await;
    let proxy = broker.addrs()[1];
    let transport = TransportKind::Tls(tls(&pki, Some(&pki.ca), false, false));
    let opts = options(proxy, transport.clone(), "c").server_name("example.org");
    let err = Client::connect(&opts).await.err().expect("must fail");
    assert!(
        err.to_string().contains("invalid peer certificate"),
        "{err}"
    );
    // The IP address is in the certificate too.
    let mut opts = options(proxy, transport, "c");
    opts.server_name = None;
    let (client, _in) = Client::connect(&opts).await.expect("by IP address");
    client.disconnect().await.expect("disconnect");
}

#[tokio::test]
async fn tls_insecure_accepts_an_unknown_issuer() {
    let pki = TestPki::generate();
    let broker = pki.broker(&[Front::Tls(false)]).await;
    let proxy = broker.addrs()[1];
    let transport = TransportKind::Tls(tls(&pki, Some(&pki.other_ca), true, false));
    round_trip(proxy, transport).await;
}

#[tokio::test]
async fn mutual_tls() {
    let pki = TestPki::generate();
    let broker = pki.broker(&[Front::Tls(true)]).await;
    let proxy = broker.addrs()[1];
    round_trip(
        proxy,
        TransportKind::Tls(tls(&pki, Some(&pki.ca), false, true)),
    )
    .await;
    // Without a client certificate the server ends the handshake.
    let transport = TransportKind::Tls(tls(&pki, Some(&pki.ca), false, false));
    let err = Client::connect(&options(proxy, transport, "c"))
        .await
        .err()
        .expect("must fail");
    assert!(matches!(err, ClientError::Tls { .. }), "{err:?}");
    assert!(err.to_string().contains("CertificateRequired"), "{err}");
}

#[tokio::test]
async fn tls_to_a_plain_port_fails_in_words() {
    let broker = TestBroker::start().await;
    let pki = TestPki::generate();
    let transport = TransportKind::Tls(tls(&pki, Some(&pki.ca), false, false));
    let err = Client::connect(&options(broker.addr(), transport, "c"))
        .await
        .err()
        .expect("must fail");
    assert!(matches!(err, ClientError::Tls { .. }), "{err:?}");
}

#[test]
fn bad_tls_files_fail_in_words() {
    let pki = TestPki::generate();
    let missing = pki.dir().join("missing.pem");
    let err = TlsConfig::new(&TlsOptions {
        cafile: Some(missing.clone()),
        ..TlsOptions::default()
    })
    .expect_err("missing file");
    assert!(
        err.to_string()
            .starts_with(&format!("CA file {}: ", missing.display())),
        "{err}"
    );
    let err = TlsConfig::new(&TlsOptions {
        cafile: Some(pki.server_key.clone()),
        ..TlsOptions::default()
    })
    .expect_err("a key is no certificate");
    assert!(err.to_string().contains("no PEM certificate"), "{err}");
    let err = TlsConfig::new(&TlsOptions {
        cafile: Some(pki.ca.clone()),
        cert: Some(pki.client_cert.clone()),
        ..TlsOptions::default()
    })
    .expect_err("certificate without key");
    assert!(err.to_string().contains("--key"), "{err}");
    let err = TlsConfig::new(&TlsOptions {
        cafile: Some(pki.ca.clone()),
        cert: Some(pki.client_cert.clone()),
        key: Some(pki.server_key.clone()),
        ..TlsOptions::default()
    })
    .expect_err("a key of another certificate");
    assert!(
        matches!(err, starling_client::NetError::TlsConfig(_)),
        "{err:?}"
    );
}

#[tokio::test]
async fn websocket_offers_the_mqtt_subprotocol() {
    let pki = TestPki::generate();
    let broker = pki.broker(&[Front::Ws]).await;
    let proxy = broker.addrs()[1];
    let path = "/mqtt".to_string();
    round_trip(proxy, TransportKind::Ws { path }).await;
    // The broker refuses an upgrade without the mqtt subprotocol: none was refused.
    let refused = &broker.metrics().transport.ws_upgrade_refused;
    assert_eq!(refused.load(std::sync::atomic::Ordering::Relaxed), 0);
}

#[tokio::test]
async fn websocket_refused_upgrade_says_the_status() {
    let pki = TestPki::generate();
    let broker = pki.broker(&[Front::Ws]).await;
    let proxy = broker.addrs()[1];
    let path = "/elsewhere".to_string();
    let err = Client::connect(&options(proxy, TransportKind::Ws { path }, "c"))
        .await
        .err()
        .expect("must fail");
    assert_eq!(
        err.to_string(),
        format!(
            "WebSocket upgrade at ws://localhost:{}/elsewhere failed: the server answered \
             HTTP 404 Not Found instead of switching protocols",
            proxy.port()
        )
    );
}

#[tokio::test]
async fn websocket_over_tls() {
    let pki = TestPki::generate();
    let broker = pki.broker(&[Front::Wss(true)]).await;
    let proxy = broker.addrs()[1];
    let transport = TransportKind::Wss {
        path: "/mqtt".into(),
        tls: tls(&pki, Some(&pki.ca), false, true),
    };
    round_trip(proxy, transport).await;
    let transport = TransportKind::Wss {
        path: "/mqtt".into(),
        tls: tls(&pki, Some(&pki.other_ca), false, true),
    };
    let err = Client::connect(&options(proxy, transport, "c"))
        .await
        .err()
        .expect("must fail");
    assert!(err.to_string().contains("UnknownIssuer"), "{err}");
}

#[tokio::test]
async fn quic_with_the_ca_file_and_a_client_certificate() {
    let pki = TestPki::generate();
    let broker = pki.broker(&[Front::Quic(false), Front::Quic(true)]).await;
    let transport = TransportKind::Quic(tls(&pki, Some(&pki.ca), false, false));
    round_trip(broker.addrs()[1], transport).await;
    let transport = TransportKind::Quic(tls(&pki, Some(&pki.ca), false, true));
    round_trip(broker.addrs()[2], transport).await;
    let transport = TransportKind::Quic(tls(&pki, Some(&pki.other_ca), false, false));
    let err = Client::connect(&options(broker.addrs()[1], transport, "c"))
        .await
        .err()
        .expect("must fail");
    assert!(matches!(err, ClientError::Quic { .. }), "{err:?}");
    assert!(err.to_string().contains("UnknownIssuer"), "{err}");
}
