//! The broker's own TLS, WebSocket, QUIC and PROXY-protocol listeners: what they accept (mutual
//! TLS, certificate names as identity, chosen versions and suites, reloaded certificates, the
//! client's real address) and what they refuse, each refusal counted while other connections
//! carry on. Certificates are made by the test (`TestPki`).
//!
//! Synchronisation: a refused connection is read until the broker closes it; every refusal is
//! counted before that close, so the counter can be read right after.

use futures_util::{SinkExt, StreamExt};
use starling_client::{
    Client, ClientOptions, Incoming, Message, QoS, TlsConfig, TlsOptions, TransportKind,
};
use starling_config::{ListenerConfig, ListenerKind, PeerCertField, TlsVersion};
use starling_testkit::transports::{Front, TestPki};
use starling_testkit::TestBroker;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls;

const WAIT: Duration = Duration::from_secs(10);

fn get(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

fn tls(cafile: &Path, identity: Option<(&PathBuf, &PathBuf)>) -> TlsConfig {
    TlsConfig::new(&TlsOptions {
        cafile: Some(cafile.to_owned()),
        cert: identity.map(|(c, _)| c.clone()),
        key: identity.map(|(_, k)| k.clone()),
        ..TlsOptions::default()
    })
    .expect("TLS config")
}

fn options(addr: SocketAddr, transport: TransportKind, id: &str) -> ClientOptions {
    let mut opts = ClientOptions::new(addr)
        .client_id(id)
        .transport(transport)
        .server_name("localhost");
    opts.connect_timeout = WAIT;
    opts
}

async fn recv(incoming: &mut Incoming) -> starling_client::Publish {
    match tokio::time::timeout(WAIT, incoming.recv()).await {
        Ok(Some(p)) => p,
        other => panic!("no message: {other:?}"),
    }
}

/// A subscriber to `topic` and a message published to it arrives.
async fn round_trip(addr: SocketAddr, transport: TransportKind, topic: &str) {
    let (sub, mut incoming) = Client::connect(&options(addr, transport.clone(), "rt-sub"))
        .await
        .expect("subscriber connects");
    sub.subscribe(topic, QoS::AtLeastOnce)
        .await
        .expect("suback");
    let (publ, _in) = Client::connect(&options(addr, transport, "rt-pub"))
        .await
        .expect("publisher connects");
    let message = Message::new(topic, b"over".to_vec(), QoS::AtLeastOnce).expect("message");
    publ.publish_confirmed(message).await.expect("puback");
    assert_eq!(recv(&mut incoming).await.payload.as_ref(), b"over");
    publ.disconnect().await.expect("disconnect");
    sub.disconnect().await.expect("disconnect");
}

/// A client on the broker's TCP listener subscribed to every `connected` event (keep the client:
/// the events stop with it).
async fn watch_connections(broker: &TestBroker) -> (Client, Incoming) {
    let (watcher, events) = Client::connect(&options(broker.addr(), TransportKind::Tcp, "watcher"))
        .await
        .expect("connect");
    watcher
        .subscribe("$SYS/brokers/+/clients/+/connected", QoS::AtMostOnce)
        .await
        .expect("suback");
    (watcher, events)
}

/// Reads `stream` until the broker closes it (end of stream or reset).
async fn until_closed(stream: &mut TcpStream) {
    let mut buf = [0u8; 4096];
    let closed = tokio::time::timeout(WAIT, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    });
    closed.await.expect("the broker closes the connection");
}

/// A TLS handshake with `config` that the broker refuses (during the handshake, or right after
/// it for a TLS 1.3 client certificate); returns once the broker closed the socket.
async fn refused_tls(addr: SocketAddr, config: Arc<rustls::ClientConfig>) {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let connecting = tokio_rustls::TlsConnector::from(config).connect(name, tcp);
    match connecting.into_fallible().await {
        Ok(mut stream) => {
            // TLS 1.3: the client's certificate is judged after the client finished; the
            // refusal comes as an alert instead of an answer.
            let _ = stream.write_all(&connect_bytes()).await;
            let _ = stream.flush().await;
            let mut buf = [0u8; 64];
            let answer = tokio::time::timeout(WAIT, stream.read(&mut buf)).await;
            assert!(
                !matches!(answer, Ok(Ok(n)) if n > 0),
                "the broker answered a refused client"
            );
            let (mut tcp, _) = stream.into_inner();
            until_closed(&mut tcp).await;
        }
        Err((_, mut tcp)) => until_closed(&mut tcp).await,
    }
}

/// An MQTT 3.1.1 CONNECT, client id `raw`.
fn connect_bytes() -> Vec<u8> {
    let mut v = vec![0x10, 15, 0, 4, b'M', b'Q', b'T', b'T', 4, 2, 0, 0, 0, 3];
    v.extend_from_slice(b"raw");
    v
}

fn client_config(
    pki: &TestPki,
    identity: Option<(&PathBuf, &PathBuf)>,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_file_iter(&pki.ca).expect("CA") {
        roots.add(cert.expect("CA")).expect("CA");
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(versions)
    .expect("versions")
    .with_root_certificates(roots);
    Arc::new(match identity {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = rustls::pki_types::CertificateDer::pem_file_iter(cert)
                .expect("cert")
                .collect::<Result<Vec<_>, _>>()
                .expect("cert");
            let key = rustls::pki_types::PrivateKeyDer::from_pem_file(key).expect("key");
            builder.with_client_auth_cert(chain, key).expect("identity")
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_expired_revoked_and_missing_client_certificates_are_refused_and_counted() {
    let pki = TestPki::generate();
    let mut listener = pki.listener(Front::Tls(true));
    if let Some(tls) = &mut listener.tls {
        tls.crlfiles = vec![pki.crl.clone()];
    }
    let broker = TestBroker::start_with(|c| c.listeners.push(listener)).await;
    let addr = broker.addrs()[1];
    let counters = &broker.metrics().transport;
    // A client that stays connected through all of it.
    let good = TransportKind::Tls(tls(&pki.ca, Some((&pki.client_cert, &pki.client_key))));
    let (bystander, mut seen) = Client::connect(&options(addr, good.clone(), "bystander"))
        .await
        .expect("a valid client certificate is accepted");
    bystander
        .subscribe("still/here", QoS::AtLeastOnce)
        .await
        .expect("suback");

    let tls13: &[&'static rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];
    let tls12: &[&'static rustls::SupportedProtocolVersion] = &[&rustls::version::TLS12];
    let cases = [
        (Some((&pki.expired_cert, &pki.expired_key)), tls13),
        (Some((&pki.revoked_cert, &pki.revoked_key)), tls13),
        // A server certificate is not for client authentication.
        (Some((&pki.server_cert, &pki.server_key)), tls12),
        (Some((&pki.revoked_cert, &pki.revoked_key)), tls12),
        (None, tls13),
    ];
    for (n, (identity, versions)) in cases.into_iter().enumerate() {
        refused_tls(addr, client_config(&pki, identity, versions)).await;
        assert_eq!(get(&counters.tls_bad_certificate), n as u64 + 1, "case {n}");
    }
    assert_eq!(get(&counters.tls_handshake_failed), 0);

    let message = Message::new("still/here", b"yes".to_vec(), QoS::AtLeastOnce).expect("msg");
    bystander.publish_confirmed(message).await.expect("puback");
    assert_eq!(recv(&mut seen).await.payload.as_ref(), b"yes");
    round_trip(addr, good, "t/mutual").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_mqtt_on_the_tls_port_a_stalled_handshake_and_no_shared_version_are_counted() {
    let pki = TestPki::generate();
    let mut listener = pki.listener(Front::Tls(false));
    listener.handshake_timeout = Duration::from_millis(300);
    if let Some(tls) = &mut listener.tls {
        tls.versions = vec![TlsVersion::V1_3];
    }
    let broker = TestBroker::start_with(|c| c.listeners.push(listener)).await;
    let addr = broker.addrs()[1];
    let counters = &broker.metrics().transport;

    let mut plain = TcpStream::connect(addr).await.expect("connect");
    plain.write_all(&connect_bytes()).await.expect("write");
    until_closed(&mut plain).await;
    assert_eq!(get(&counters.tls_not_tls), 1);

    // Connected, then silent: closed at the handshake timeout.
    let mut silent = TcpStream::connect(addr).await.expect("connect");
    until_closed(&mut silent).await;
    assert_eq!(get(&counters.handshake_timeouts), 1);

    refused_tls(addr, client_config(&pki, None, &[&rustls::version::TLS12])).await;
    assert_eq!(get(&counters.tls_handshake_failed), 1);

    round_trip(addr, TransportKind::Tls(tls(&pki.ca, None)), "t/tls13").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chosen_cipher_suite_is_used_and_an_unknown_one_stops_the_start() {
    let pki = TestPki::generate();
    let mut listener = pki.listener(Front::Tls(false));
    if let Some(tls) = &mut listener.tls {
        tls.ciphers = vec!["TLS13_CHACHA20_POLY1305_SHA256".into()];
    }
    let broker = TestBroker::start_with(|c| c.listeners.push(listener.clone())).await;
    let tcp = TcpStream::connect(broker.addrs()[1])
        .await
        .expect("connect");
    let config = client_config(&pki, None, &[&rustls::version::TLS13]);
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let stream = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .expect("handshake");
    let suite = stream.get_ref().1.negotiated_cipher_suite().expect("suite");
    assert_eq!(
        format!("{:?}", suite.suite()),
        "TLS13_CHACHA20_POLY1305_SHA256"
    );

    if let Some(tls) = &mut listener.tls {
        tls.ciphers = vec!["TLS_NO_SUCH_SUITE".into()];
    }
    listener.name = Some("secure".into());
    let mut config = broker.config().clone();
    config.listeners = vec![listener];
    let data = tempfile::tempdir().expect("dir");
    config.node.data_dir = data.path().to_owned();
    let err = starling_broker::start(&config)
        .await
        .err()
        .expect("refused");
    let text = err.to_string();
    assert!(text.starts_with("listener secure: "), "{text}");
    assert!(
        text.contains("unknown cipher suite \"TLS_NO_SUCH_SUITE\""),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_that_cannot_bind_is_named() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr");
    let mut config = starling_config::Config::default();
    let data = tempfile::tempdir().expect("dir");
    config.node.data_dir = data.path().to_owned();
    config.listeners = vec![ListenerConfig::new(ListenerKind::Ws, addr)];
    let err = starling_broker::start(&config)
        .await
        .err()
        .expect("refused");
    assert!(
        err.to_string()
            .starts_with(&format!("listener ws:{addr}: cannot listen on {addr}")),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_certificate_names_become_username_and_client_id() {
    let pki = TestPki::generate();
    let mut listener = pki.listener(Front::Tls(true));
    if let Some(tls) = &mut listener.tls {
        tls.peer_cert_as_clientid = PeerCertField::Cn;
        tls.peer_cert_as_username = PeerCertField::San;
    }
    let broker = TestBroker::start_with(|c| {
        c.sys.client_events = true;
        c.listeners.push(listener);
    })
    .await;
    let (_watcher, mut events) = watch_connections(&broker).await;
    let transport = TransportKind::Tls(tls(&pki.ca, Some((&pki.client_cert, &pki.client_key))));
    let (client, _in) = Client::connect(&options(broker.addrs()[1], transport, "claimed-id"))
        .await
        .expect("connect");
    // It sent an id of its own: not told (libmosquitto refuses an Assigned Client Identifier
    // then). One that sends none is told the certificate's.
    assert!(client
        .connack()
        .properties
        .assigned_client_identifier
        .is_none());
    let transport = TransportKind::Tls(tls(&pki.ca, Some((&pki.client_cert, &pki.client_key))));
    let (second, _in2) = Client::connect(&options(broker.addrs()[1], transport, ""))
        .await
        .expect("connect");
    let assigned = second
        .connack()
        .properties
        .assigned_client_identifier
        .clone();
    assert_eq!(assigned.as_deref(), Some("test-client"));
    let event = recv(&mut events).await;
    assert!(
        event
            .topic
            .as_str()
            .ends_with("/clients/test-client/connected"),
        "{}",
        event.topic.as_str()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reloaded_certificate_serves_new_connections() {
    let old = TestPki::generate();
    let new = TestPki::generate();
    let dir = tempfile::tempdir().expect("dir");
    let (cert, key) = (dir.path().join("server.pem"), dir.path().join("server.key"));
    std::fs::copy(&old.server_cert, &cert).expect("copy");
    std::fs::copy(&old.server_key, &key).expect("copy");
    let mut listener = old.listener(Front::Tls(false));
    if let Some(tls) = &mut listener.tls {
        tls.cert = Some(starling_config::CertFiles {
            certfile: cert.clone(),
            keyfile: key.clone(),
        });
        tls.reload_interval = None;
    }
    let broker = TestBroker::start_with(|c| c.listeners.push(listener)).await;
    let addr = broker.addrs()[1];
    let (kept, _in) = Client::connect(&options(
        addr,
        TransportKind::Tls(tls(&old.ca, None)),
        "kept",
    ))
    .await
    .expect("the first certificate");
    std::fs::copy(&new.server_cert, &cert).expect("copy");
    std::fs::copy(&new.server_key, &key).expect("copy");
    broker.reload_tls();
    round_trip(addr, TransportKind::Tls(tls(&new.ca, None)), "t/new").await;
    let err = Client::connect(&options(
        addr,
        TransportKind::Tls(tls(&old.ca, None)),
        "old",
    ))
    .await
    .err()
    .expect("the old CA no longer matches");
    // Both test CAs have the same name: the old one is found, and its signature does not fit.
    assert!(
        err.to_string().contains("invalid peer certificate"),
        "{err}"
    );
    // The connection made before the reload goes on.
    kept.subscribe("k", QoS::AtLeastOnce).await.expect("suback");
}

/// An HTTP upgrade request for `path` offering `protocol`; the status line of the answer.
async fn upgrade(addr: SocketAddr, path: &str, protocol: Option<&str>) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let protocol =
        protocol.map_or_else(String::new, |p| format!("Sec-WebSocket-Protocol: {p}\r\n"));
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{protocol}\r\n"
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    let read = tokio::time::timeout(WAIT, async {
        while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    });
    read.await.expect("an answer");
    let text = String::from_utf8_lossy(&answer);
    text.lines().next().unwrap_or("").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_refusals_wrong_path_no_subprotocol_text_and_oversize_frames() {
    let pki = TestPki::generate();
    let mut listener = pki.listener(Front::Ws);
    if let Some(ws) = &mut listener.ws {
        ws.max_frame_size = 1024;
    }
    let broker = TestBroker::start_with(|c| c.listeners.push(listener)).await;
    let addr = broker.addrs()[1];
    let counters = &broker.metrics().transport;

    assert!(upgrade(addr, "/elsewhere", Some("mqtt"))
        .await
        .contains("404"));
    assert!(upgrade(addr, "/mqtt", None).await.contains("400"));
    assert!(upgrade(addr, "/mqtt", Some("chat")).await.contains("400"));
    assert_eq!(get(&counters.ws_upgrade_refused), 3);
    // MQTT 3.1's subprotocol is taken too.
    assert!(upgrade(addr, "/mqtt", Some("mqttv3.1"))
        .await
        .contains("101"));

    let url = format!("ws://127.0.0.1:{}/mqtt", addr.port());
    for (message, counter) in [
        (
            tokio_tungstenite::tungstenite::Message::Text("hello".into()),
            &counters.ws_text_frames,
        ),
        (
            tokio_tungstenite::tungstenite::Message::Binary(vec![0u8; 4096].into()),
            &counters.ws_oversize_frames,
        ),
    ] {
        let mut request =
            tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
                url.as_str(),
            )
            .expect("request");
        request
            .headers_mut()
            .insert("sec-websocket-protocol", "mqtt".parse().expect("header"));
        let tcp = TcpStream::connect(addr).await.expect("connect");
        let (mut ws, _) = tokio_tungstenite::client_async(request, tcp)
            .await
            .expect("upgrade");
        ws.send(message).await.expect("send");
        let closed =
            tokio::time::timeout(WAIT, async { while let Some(Ok(_)) = ws.next().await {} });
        closed.await.expect("the broker closes the connection");
        // The close frame may come before the socket closes; the count precedes both.
        assert_eq!(get(counter), 1);
    }

    // MQTT packets split across frames and sharing frames: the client sends one frame per
    // write, and a 200 kB message spans many reads.
    round_trip(
        addr,
        TransportKind::Ws {
            path: "/mqtt".into(),
        },
        "t/ws",
    )
    .await;
}

/// Opens a TCP connection, sends `header`, then runs the MQTT handshake over it.
async fn proxied(addr: SocketAddr, header: &[u8], id: &str) -> Result<Client, String> {
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    tcp.write_all(header).await.expect("write");
    let opts = options(addr, TransportKind::Tcp, id);
    Client::connect_with(tcp, &opts)
        .await
        .map(|(client, _)| client)
        .map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_protocol_gives_the_real_address_and_bad_headers_are_refused() {
    let mut listener =
        ListenerConfig::new(ListenerKind::Tcp, SocketAddr::from(([127, 0, 0, 1], 0)));
    listener.proxy_protocol = Some(Duration::from_secs(5));
    let broker = TestBroker::start_with(|c| {
        c.sys.client_events = true;
        c.listeners.push(listener);
    })
    .await;
    let addr = broker.addrs()[1];
    let counters = &broker.metrics().transport;
    let (_watcher, mut events) = watch_connections(&broker).await;

    let _v1 = proxied(
        addr,
        b"PROXY TCP4 203.0.113.9 10.0.0.1 5555 1883\r\n",
        "via-v1",
    )
    .await
    .expect("v1");
    let event = recv(&mut events).await;
    let payload = String::from_utf8_lossy(&event.payload).into_owned();
    assert!(
        payload.contains("\"ipaddress\":\"203.0.113.9\""),
        "{payload}"
    );

    let v2 = ppp::v2::Builder::with_addresses(
        ppp::v2::Version::Two | ppp::v2::Command::Proxy,
        ppp::v2::Protocol::Stream,
        (
            "[2001:db8::7]:4000".parse::<SocketAddr>().expect("addr"),
            "[2001:db8::1]:1883".parse::<SocketAddr>().expect("addr"),
        ),
    )
    .build()
    .expect("v2 header");
    let _v2 = proxied(addr, &v2, "via-v2").await.expect("v2");
    let event = recv(&mut events).await;
    let payload = String::from_utf8_lossy(&event.payload).into_owned();
    assert!(
        payload.contains("\"ipaddress\":\"2001:db8::7\""),
        "{payload}"
    );

    for (n, bad) in [&connect_bytes()[..], b"PROXY TCP4 bogus\r\n"]
        .into_iter()
        .enumerate()
    {
        let mut tcp = TcpStream::connect(addr).await.expect("connect");
        tcp.write_all(bad).await.expect("write");
        until_closed(&mut tcp).await;
        assert_eq!(get(&counters.proxy_header_bad), n as u64 + 1);
    }
}

/// An upgrade request with extra `headers`; the status line of the answer.
async fn upgrade_with(addr: SocketAddr, headers: &str) -> (String, TcpStream) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let request = format!(
        "GET /mqtt HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: mqtt\r\n{headers}\r\n"
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    let mut byte = [0u8; 1];
    // Byte by byte, so that nothing after the answer's headers is taken.
    while !answer.ends_with(b"\r\n\r\n") {
        match tokio::time::timeout(WAIT, stream.read(&mut byte)).await {
            Ok(Ok(1)) => answer.push(byte[0]),
            _ => break,
        }
    }
    let text = String::from_utf8_lossy(&answer);
    (text.lines().next().unwrap_or("").to_owned(), stream)
}

/// A masked binary WebSocket frame carrying `payload`.
fn ws_frame(payload: &[u8]) -> Vec<u8> {
    let mask = [7, 1, 9, 3];
    let mut frame = vec![0x82, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_origin_check_and_forwarded_address_from_a_trusted_proxy() {
    let pki = TestPki::generate();
    let mut listener = pki.listener(Front::Ws);
    if let Some(ws) = &mut listener.ws {
        ws.allowed_origins = vec!["https://app.example".into()];
        ws.trusted_proxies = vec![starling_config::IpNet::parse("127.0.0.0/8").expect("net")];
    }
    let broker = TestBroker::start_with(|c| {
        c.sys.client_events = true;
        c.listeners.push(listener);
    })
    .await;
    let addr = broker.addrs()[1];
    let (status, _) = upgrade_with(addr, "Origin: https://evil.example\r\n").await;
    assert!(status.contains("403"), "{status}");
    let (status, _) = upgrade_with(addr, "").await;
    assert!(status.contains("403"), "no Origin: {status}");
    assert_eq!(get(&broker.metrics().transport.ws_upgrade_refused), 2);

    let (_watcher, mut events) = watch_connections(&broker).await;
    let headers = "Origin: https://app.example\r\nX-Forwarded-For: 198.51.100.23, 127.0.0.9\r\n";
    let (status, mut ws) = upgrade_with(addr, headers).await;
    assert!(status.contains("101"), "{status}");
    ws.write_all(&ws_frame(&connect_bytes()))
        .await
        .expect("CONNECT");
    let mut connack = [0u8; 6];
    tokio::time::timeout(WAIT, ws.read_exact(&mut connack))
        .await
        .expect("CONNACK in time")
        .expect("CONNACK");
    assert_eq!(
        connack,
        [0x82, 4, 0x20, 2, 0, 0],
        "a binary frame holding CONNACK"
    );
    let event = recv(&mut events).await;
    let payload = String::from_utf8_lossy(&event.payload).into_owned();
    assert!(
        payload.contains("\"ipaddress\":\"198.51.100.23\""),
        "{payload}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn optional_client_certificates_let_clients_without_one_in() {
    let pki = TestPki::generate();
    let mut listener = pki.listener(Front::Tls(true));
    if let Some(tls) = &mut listener.tls {
        tls.verify = starling_config::PeerVerify::Optional;
    }
    let broker = TestBroker::start_with(|c| c.listeners.push(listener)).await;
    let addr = broker.addrs()[1];
    round_trip(addr, TransportKind::Tls(tls(&pki.ca, None)), "t/anon").await;
    let good = TransportKind::Tls(tls(&pki.ca, Some((&pki.client_cert, &pki.client_key))));
    round_trip(addr, good, "t/cert").await;
    // A certificate that is shown is still checked.
    let expired = Some((&pki.expired_cert, &pki.expired_key));
    refused_tls(
        addr,
        client_config(&pki, expired, &[&rustls::version::TLS13]),
    )
    .await;
    assert_eq!(get(&broker.metrics().transport.tls_bad_certificate), 1);
}
