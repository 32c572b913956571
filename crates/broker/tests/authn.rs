//! The authentication chain at CONNECT: a Mosquitto password file, client certificates
//! (`x509`), `allow_anonymous`, the reason codes each refusal gets on 3.1.1 and 5.0, the
//! refusal counter, and a password file changed while the broker runs.

use starling_auth::password_file::hash_password;
use starling_client::{Client, ClientError, ClientOptions, TlsConfig, TlsOptions, TransportKind};
use starling_codec::{Connect, ProtocolVersion, ReasonCode};
use starling_config::{AuthnConfig, PeerVerify};
use starling_testkit::transports::{Front, TestPki};
use starling_testkit::{connect_packet, string, versions, RawClient, TestBroker};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

fn password_file(path: &Path, users: &[(&str, &str)]) {
    let text: String = users
        .iter()
        .map(|(user, password)| format!("{user}:{}\n", hash_password(password.as_bytes())))
        .collect();
    std::fs::write(path, text).expect("password file");
}

async fn connack(
    addr: SocketAddr,
    v: ProtocolVersion,
    username: Option<&str>,
    password: Option<&str>,
) -> ReasonCode {
    let connect = Connect {
        username: username.map(string),
        password: password.map(|p| bytes::Bytes::copy_from_slice(p.as_bytes())),
        ..connect_packet(v, "authn-client")
    };
    RawClient::connect_with(addr, connect).await.1.reason_code
}

/// 3.x has return codes 4 and 5 only; the test client reads them back as 0x86 and 0x87.
#[tokio::test]
async fn a_password_file_lets_in_its_users_and_refuses_the_rest() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("passwd");
    password_file(&path, &[("alice", "wonderland"), ("bob", "builder")]);
    let file = path.clone();
    let broker = TestBroker::start_with(move |cfg| {
        cfg.auth.authn = vec![AuthnConfig::PasswordFile { path: file }];
        cfg.auth.allow_anonymous = false;
        cfg.auth.failure_delay = Duration::from_millis(1);
        cfg.auth.max_failure_delay = Duration::from_millis(4);
    })
    .await;
    let addr = broker.addr();
    for v in versions() {
        let ok = connack(addr, v, Some("alice"), Some("wonderland")).await;
        assert_eq!(ok, ReasonCode::Success, "{v}");
        for (user, password) in [
            (Some("alice"), Some("wrong")),
            (Some("alice"), None),
            (Some("mallory"), Some("wonderland")),
        ] {
            let code = connack(addr, v, user, password).await;
            assert_eq!(code, ReasonCode::BadUserNameOrPassword, "{v} {user:?}");
        }
        let anonymous = connack(addr, v, None, None).await;
        assert_eq!(anonymous, ReasonCode::NotAuthorized, "{v}");
    }
    assert_eq!(broker.metrics().auth_failures.load(Ordering::Relaxed), 8);

    // The file changes while the broker runs: bob's password is new, alice is gone.
    password_file(&path, &[("bob", "rebuilt-it")]);
    broker.reload_auth();
    let v = ProtocolVersion::V5;
    assert_eq!(
        connack(addr, v, Some("bob"), Some("rebuilt-it")).await,
        ReasonCode::Success
    );
    let old = connack(addr, v, Some("bob"), Some("builder")).await;
    assert_eq!(old, ReasonCode::BadUserNameOrPassword);
    let gone = connack(addr, v, Some("alice"), Some("wonderland")).await;
    assert_eq!(gone, ReasonCode::BadUserNameOrPassword);

    // A broken file keeps the users in force.
    std::fs::write(&path, "bob:not-a-hash-and-longer-than-before\n").expect("write");
    broker.reload_auth();
    assert_eq!(
        connack(addr, v, Some("bob"), Some("rebuilt-it")).await,
        ReasonCode::Success
    );
}

#[tokio::test]
async fn allow_anonymous_lets_in_clients_without_a_username_only() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("passwd");
    password_file(&path, &[("alice", "wonderland")]);
    let broker = TestBroker::start_with(move |cfg| {
        cfg.auth.authn = vec![AuthnConfig::PasswordFile { path }];
        cfg.auth.failure_delay = Duration::from_millis(1);
        cfg.auth.max_failure_delay = Duration::from_millis(1);
    })
    .await;
    for v in versions() {
        assert_eq!(
            connack(broker.addr(), v, None, None).await,
            ReasonCode::Success
        );
        let stranger = connack(broker.addr(), v, Some("mallory"), Some("x")).await;
        assert_eq!(stranger, ReasonCode::BadUserNameOrPassword, "{v}");
    }
}

#[tokio::test]
async fn a_broker_does_not_start_on_a_bad_password_file_and_says_where() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("passwd");
    std::fs::write(&path, "alice:$7$101$bad\n").expect("write");
    let config = {
        let mut cfg = starling_config::Config::default();
        cfg.listeners.truncate(1);
        cfg.listeners[0].bind = SocketAddr::from(([127, 0, 0, 1], 0));
        cfg.node.data_dir = dir.path().join("data");
        cfg.auth.authn = vec![AuthnConfig::PasswordFile { path: path.clone() }];
        cfg
    };
    let error = match starling_broker::start(&config).await {
        Ok(_) => panic!("started on a bad password file"),
        Err(error) => error.to_string(),
    };
    assert!(
        error.contains(&path.display().to_string()) && error.contains("line 1"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x509_lets_in_clients_with_a_verified_certificate() {
    let pki = TestPki::generate();
    let mut listener = pki.listener(Front::Tls(true));
    if let Some(tls) = &mut listener.tls {
        tls.verify = PeerVerify::Optional;
    }
    let broker = TestBroker::start_with(|cfg| {
        cfg.listeners.push(listener);
        cfg.auth.authn = vec![AuthnConfig::X509];
        cfg.auth.allow_anonymous = false;
        cfg.auth.failure_delay = Duration::from_millis(1);
        cfg.auth.max_failure_delay = Duration::from_millis(1);
    })
    .await;
    let addr = broker.addrs()[1];
    let tls = |identity: bool| {
        TransportKind::Tls(
            TlsConfig::new(&TlsOptions {
                cafile: Some(pki.ca.clone()),
                cert: identity.then(|| pki.client_cert.clone()),
                key: identity.then(|| pki.client_key.clone()),
                ..TlsOptions::default()
            })
            .expect("TLS config"),
        )
    };
    let options = |transport| {
        let mut opts = ClientOptions::new(addr)
            .client_id("x509")
            .transport(transport)
            .server_name("localhost");
        opts.connect_timeout = Duration::from_secs(10);
        opts
    };
    let (client, _incoming) = Client::connect(&options(tls(true)))
        .await
        .expect("a client with a certificate gets in");
    client.disconnect().await.expect("disconnect");
    match Client::connect(&options(tls(false))).await {
        Err(ClientError::Refused(code)) => assert_eq!(code, ReasonCode::NotAuthorized),
        Err(other) => panic!("a client without a certificate got {other:?}"),
        Ok(_) => panic!("a client without a certificate got in"),
    }
    // The plain TCP listener has no certificates at all.
    assert_eq!(
        connack(broker.addr(), ProtocolVersion::V5, None, None).await,
        ReasonCode::NotAuthorized
    );
}
