//! Certificates for the transport tests: [`TestPki`] makes a CA and certificates at test time
//! (rcgen), and gives a [`crate::TestBroker`] TLS, WebSocket, WSS and QUIC listeners of its own
//! that use them ([`Front`]). Feature `transports`.

use crate::TestBroker;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, RevocationReason,
    RevokedCertParams, SerialNumber,
};
use starling_config::{CertFiles, ListenerConfig, ListenerKind, PeerVerify};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A CA, a server certificate for `localhost` and `127.0.0.1` and a client certificate, both
/// issued by the CA, and a second CA that issued neither: PEM files in a temporary directory
/// removed on drop.
pub struct TestPki {
    dir: PathBuf,
    /// The CA certificate.
    pub ca: PathBuf,
    /// Another CA's certificate (trusting it must fail).
    pub other_ca: PathBuf,
    /// The server certificate.
    pub server_cert: PathBuf,
    /// The server key.
    pub server_key: PathBuf,
    /// The client certificate (for mutual TLS).
    pub client_cert: PathBuf,
    /// The client key.
    pub client_key: PathBuf,
    /// A client certificate of the CA that expired in 2021, and its key.
    pub expired_cert: PathBuf,
    /// Its key.
    pub expired_key: PathBuf,
    /// A client certificate of the CA that [`TestPki::crl`] revokes, and its key.
    pub revoked_cert: PathBuf,
    /// Its key.
    pub revoked_key: PathBuf,
    /// A CRL of the CA revoking `revoked_cert`.
    pub crl: PathBuf,
}

fn ca(name: &str) -> (String, Issuer<'static, KeyPair>) {
    let mut params = CertificateParams::new(Vec::new()).expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let key = KeyPair::generate().expect("key");
    let cert = params.self_signed(&key).expect("CA certificate");
    (cert.pem(), Issuer::new(params, key))
}

fn leaf(
    names: &[&str],
    usage: ExtendedKeyUsagePurpose,
    issuer: &Issuer<'static, KeyPair>,
) -> (String, String) {
    leaf_with(names, usage, issuer, |_| {})
}

fn leaf_with(
    names: &[&str],
    usage: ExtendedKeyUsagePurpose,
    issuer: &Issuer<'static, KeyPair>,
    tweak: impl FnOnce(&mut CertificateParams),
) -> (String, String) {
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let mut params = CertificateParams::new(names.clone()).expect("params");
    tweak(&mut params);
    params
        .distinguished_name
        .push(DnType::CommonName, names[0].as_str());
    params.extended_key_usages = vec![usage];
    params.use_authority_key_identifier_extension = true;
    let key = KeyPair::generate().expect("key");
    let cert = params.signed_by(&key, issuer).expect("certificate");
    (cert.pem(), key.serialize_pem())
}

impl TestPki {
    /// Makes the certificates and writes them.
    pub fn generate() -> TestPki {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "starling-pki-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("temporary directory");
        let (ca_pem, issuer) = ca("Starling test CA");
        let (other_pem, _) = ca("Some other CA");
        let (server_cert, server_key) = leaf(
            &["localhost", "127.0.0.1"],
            ExtendedKeyUsagePurpose::ServerAuth,
            &issuer,
        );
        let (client_cert, client_key) = leaf(
            &["test-client"],
            ExtendedKeyUsagePurpose::ClientAuth,
            &issuer,
        );
        let (expired_cert, expired_key) = leaf_with(
            &["expired-client"],
            ExtendedKeyUsagePurpose::ClientAuth,
            &issuer,
            |p| {
                p.not_before = rcgen::date_time_ymd(2020, 1, 1);
                p.not_after = rcgen::date_time_ymd(2021, 1, 1);
            },
        );
        let (revoked_cert, revoked_key) = leaf_with(
            &["revoked-client"],
            ExtendedKeyUsagePurpose::ClientAuth,
            &issuer,
            |p| p.serial_number = Some(SerialNumber::from(4242u64)),
        );
        let crl = CertificateRevocationListParams {
            this_update: rcgen::date_time_ymd(2025, 1, 1),
            next_update: rcgen::date_time_ymd(2045, 1, 1),
            crl_number: SerialNumber::from(1u64),
            issuing_distribution_point: None,
            revoked_certs: vec![RevokedCertParams {
                serial_number: SerialNumber::from(4242u64),
                revocation_time: rcgen::date_time_ymd(2025, 6, 1),
                reason_code: Some(RevocationReason::KeyCompromise),
                invalidity_date: None,
            }],
            key_identifier_method: KeyIdMethod::Sha256,
        }
        .signed_by(&issuer)
        .expect("CRL")
        .pem()
        .expect("CRL PEM");
        let write = |name: &str, pem: &str| {
            let path = dir.join(name);
            std::fs::write(&path, pem).expect("write PEM");
            path
        };
        TestPki {
            ca: write("ca.pem", &ca_pem),
            other_ca: write("other-ca.pem", &other_pem),
            server_cert: write("server.pem", &server_cert),
            server_key: write("server.key", &server_key),
            client_cert: write("client.pem", &client_cert),
            client_key: write("client.key", &client_key),
            expired_cert: write("expired.pem", &expired_cert),
            expired_key: write("expired.key", &expired_key),
            revoked_cert: write("revoked.pem", &revoked_cert),
            revoked_key: write("revoked.key", &revoked_key),
            crl: write("ca.crl", &crl),
            dir,
        }
    }

    /// The directory of the files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for TestPki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A listener of the broker's own, with this PKI's server certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Front {
    /// TLS; with `true`, a client certificate issued by the CA is required.
    Tls(bool),
    /// WebSocket at `/mqtt`.
    Ws,
    /// WebSocket over TLS; `true` requires a client certificate.
    Wss(bool),
    /// QUIC; `true` requires a client certificate.
    Quic(bool),
}

impl TestPki {
    /// The configuration of a `front` listener on `127.0.0.1:0` serving this PKI's server
    /// certificate and trusting its CA for client certificates.
    pub fn listener(&self, front: Front) -> ListenerConfig {
        let (kind, mutual) = match front {
            Front::Tls(m) => (ListenerKind::Tls, m),
            Front::Ws => (ListenerKind::Ws, false),
            Front::Wss(m) => (ListenerKind::Wss, m),
            Front::Quic(m) => (ListenerKind::Quic, m),
        };
        let mut listener = ListenerConfig::new(kind, SocketAddr::from(([127, 0, 0, 1], 0)));
        if let Some(tls) = &mut listener.tls {
            tls.cert = Some(CertFiles {
                certfile: self.server_cert.clone(),
                keyfile: self.server_key.clone(),
            });
            tls.cacertfile = Some(self.ca.clone());
            tls.verify = if mutual {
                PeerVerify::Required
            } else {
                PeerVerify::None
            };
        }
        listener
    }

    /// A test broker with its TCP listener (first) and one listener per `fronts`, in order:
    /// `broker.addrs()[i + 1]` serves `fronts[i]`.
    pub async fn broker(&self, fronts: &[Front]) -> TestBroker {
        let listeners: Vec<ListenerConfig> = fronts.iter().map(|f| self.listener(*f)).collect();
        TestBroker::start_with(|config| config.listeners.extend(listeners)).await
    }
}
