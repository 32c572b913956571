//! The server side of TLS: [`ServerTls`] builds a rustls server configuration from a listener's
//! `[listener.tls]` (versions, cipher suites, client certificates required or optional, CRLs),
//! accepts connections with it, and rebuilds it when its files change (polled every
//! `reload_interval`) or on demand (SIGHUP). Connections in progress keep the configuration they
//! started with; a reload that fails keeps the old one and says why.

use super::client::{certificates, pem_reason};
use super::peer::PeerNames;
use crate::counters::NetCounters;
use crate::NetError;
use arc_swap::ArcSwap;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateRevocationListDer, PrivateKeyDer};
use starling_config::{PeerVerify, TlsConfig, TlsVersion};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::rustls::crypto::{ring, CryptoProvider};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{self, RootCertStore, ServerConfig, SupportedProtocolVersion};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// Where a listener's certificate, key and client CA come from once defaults are applied.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// Certificate chain.
    pub certfile: PathBuf,
    /// Private key.
    pub keyfile: PathBuf,
    /// CAs trusted for client certificates.
    pub cacertfile: PathBuf,
}

/// A TLS listener's configuration, reloadable.
pub struct ServerTls {
    settings: TlsConfig,
    files: TlsFiles,
    alpn: Vec<Vec<u8>>,
    current: ArcSwap<ServerConfig>,
    /// Modification times of every file at the last (re)load.
    stamps: Mutex<Vec<Option<SystemTime>>>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

/// An accepted TLS connection.
pub struct TlsAccepted<S> {
    /// The stream.
    pub stream: TlsStream<S>,
    /// The names of the client's certificate, when it showed a verified one.
    pub peer_names: Option<PeerNames>,
}

/// Why a TLS handshake failed, as counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsRefusal {
    /// The client's certificate was refused (or missing while required).
    BadCertificate,
    /// The client does not speak TLS.
    NotTls,
    /// Any other failure.
    Failed,
}

impl ServerTls {
    /// Loads the files and builds the configuration; `alpn` lists the protocols offered (QUIC
    /// needs `mqtt`; TCP listeners offer none, so any client is accepted).
    pub fn new(settings: &TlsConfig, files: TlsFiles, alpn: &[&str]) -> Result<Self, NetError> {
        let alpn: Vec<Vec<u8>> = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
        let config = build(settings, &files, &alpn)?;
        let tls = Self {
            stamps: Mutex::new(Vec::new()),
            settings: settings.clone(),
            files,
            alpn,
            current: ArcSwap::from_pointee(config),
        };
        *tls.stamps.lock().unwrap_or_else(|e| e.into_inner()) = tls.stamps_now();
        Ok(tls)
    }

    /// The files in use.
    pub fn files(&self) -> &TlsFiles {
        &self.files
    }

    /// The configuration new connections get.
    pub fn config(&self) -> Arc<ServerConfig> {
        self.current.load_full()
    }

    /// Rebuilds the configuration if a file changed since the last load (or always, with
    /// `force`). `Ok(true)`: a new configuration is in use.
    pub fn reload(&self, force: bool) -> Result<bool, NetError> {
        let now = self.stamps_now();
        let mut stamps = self.stamps.lock().unwrap_or_else(|e| e.into_inner());
        if !force && *stamps == now {
            return Ok(false);
        }
        // Remembered even when the build fails: a broken file is reported once, not every poll.
        *stamps = now;
        let config = build(&self.settings, &self.files, &self.alpn)?;
        self.current.store(Arc::new(config));
        Ok(true)
    }

    fn stamps_now(&self) -> Vec<Option<SystemTime>> {
        let mut paths = vec![&self.files.certfile, &self.files.keyfile];
        if self.settings.verify != PeerVerify::None {
            paths.push(&self.files.cacertfile);
        }
        paths.extend(&self.settings.crlfiles);
        paths
            .into_iter()
            .map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
            .collect()
    }

    /// The server handshake on `stream`; a failure is counted and logged at debug level.
    pub async fn accept<S>(
        &self,
        stream: S,
        peer: SocketAddr,
        counters: &NetCounters,
    ) -> Result<TlsAccepted<S>, TlsRefusal>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        // Fallible: on failure the stream comes back, so it is closed only after the failure
        // is counted (a test that sees the close can read the counter).
        match TlsAcceptor::from(self.config())
            .accept(stream)
            .into_fallible()
            .await
        {
            Ok(stream) => {
                let peer_names = stream
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|chain| chain.first())
                    .map(PeerNames::of);
                Ok(TlsAccepted { stream, peer_names })
            }
            Err((error, stream)) => {
                let refusal = classify(&error);
                let counter = match refusal {
                    TlsRefusal::BadCertificate => &counters.tls_bad_certificate,
                    TlsRefusal::NotTls => &counters.tls_not_tls,
                    TlsRefusal::Failed => &counters.tls_handshake_failed,
                };
                NetCounters::bump(counter);
                tracing::debug!(%peer, ?refusal, %error, "TLS handshake failed");
                drop(stream);
                Err(refusal)
            }
        }
    }
}

/// Sorts a handshake error into the counters' causes.
pub fn classify(error: &std::io::Error) -> TlsRefusal {
    match error
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
    {
        Some(rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented) => {
            TlsRefusal::BadCertificate
        }
        Some(rustls::Error::InvalidMessage(
            rustls::InvalidMessage::InvalidContentType
            | rustls::InvalidMessage::UnknownProtocolVersion
            | rustls::InvalidMessage::MessageTooLarge,
        )) => TlsRefusal::NotTls,
        _ => TlsRefusal::Failed,
    }
}

/// The crypto provider with the configured cipher suites (IANA names, as rustls spells them:
/// `TLS13_AES_128_GCM_SHA256`, `TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`).
fn provider(ciphers: &[String]) -> Result<CryptoProvider, NetError> {
    let mut provider = ring::default_provider();
    if ciphers.is_empty() {
        return Ok(provider);
    }
    let name = |s: &rustls::SupportedCipherSuite| format!("{:?}", s.suite());
    let mut chosen = Vec::new();
    for wanted in ciphers {
        match provider
            .cipher_suites
            .iter()
            .find(|s| name(s).eq_ignore_ascii_case(wanted))
        {
            Some(suite) => chosen.push(*suite),
            None => {
                let known: Vec<String> = provider.cipher_suites.iter().map(name).collect();
                return Err(NetError::TlsConfig(format!(
                    "unknown cipher suite {wanted:?}; this build has {}",
                    known.join(", ")
                )));
            }
        }
    }
    provider.cipher_suites = chosen;
    Ok(provider)
}

fn build(
    settings: &TlsConfig,
    files: &TlsFiles,
    alpn: &[Vec<u8>],
) -> Result<ServerConfig, NetError> {
    let provider = Arc::new(provider(&settings.ciphers)?);
    let versions: Vec<&'static SupportedProtocolVersion> = settings
        .versions
        .iter()
        .map(|v| match v {
            TlsVersion::V1_2 => &rustls::version::TLS12,
            TlsVersion::V1_3 => &rustls::version::TLS13,
        })
        .collect();
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&versions)
        .map_err(|e| NetError::TlsConfig(format!("versions and cipher suites: {e}")))?;
    let builder = match settings.verify {
        PeerVerify::None => builder.with_no_client_auth(),
        verify => {
            let mut roots = RootCertStore::empty();
            for cert in certificates(&files.cacertfile, "CA file")? {
                roots.add(cert).map_err(|e| NetError::TlsFile {
                    what: "CA file",
                    path: files.cacertfile.clone(),
                    reason: format!("unusable certificate: {e}"),
                })?;
            }
            let mut crls = Vec::new();
            for path in &settings.crlfiles {
                for crl in CertificateRevocationListDer::pem_file_iter(path).map_err(|e| {
                    NetError::TlsFile {
                        what: "CRL file",
                        path: path.clone(),
                        reason: pem_reason(e, "CRL"),
                    }
                })? {
                    crls.push(crl.map_err(|e| NetError::TlsFile {
                        what: "CRL file",
                        path: path.clone(),
                        reason: pem_reason(e, "CRL"),
                    })?);
                }
            }
            let mut verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                    .with_crls(crls);
            if verify == PeerVerify::Optional {
                verifier = verifier.allow_unauthenticated();
            }
            let verifier = verifier
                .build()
                .map_err(|e| NetError::TlsConfig(format!("client verification: {e}")))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let chain = certificates(&files.certfile, "certificate file")?;
    let key = PrivateKeyDer::from_pem_file(&files.keyfile).map_err(|e| NetError::TlsFile {
        what: "key file",
        path: files.keyfile.clone(),
        reason: pem_reason(e, "private key"),
    })?;
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|e| NetError::TlsConfig(format!("certificate and key: {e}")))?;
    config.alpn_protocols = alpn.to_vec();
    Ok(config)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    /// Copies `from` over `to` and gives it the modification time `secs` (file times are coarse:
    /// two writes in a row may get the same one).
    fn put(from: &std::path::Path, to: &std::path::Path, secs: u64) {
        std::fs::copy(from, to).unwrap();
        let file = std::fs::File::options().write(true).open(to).unwrap();
        file.set_modified(UNIX_EPOCH + Duration::from_secs(secs))
            .unwrap();
    }

    #[test]
    fn a_changed_file_is_reloaded_and_a_broken_one_keeps_the_old_configuration() {
        let dir = tempfile::tempdir().unwrap();
        let first = crate::tls::ensure_default_certs(&dir.path().join("a")).unwrap();
        let second = crate::tls::ensure_default_certs(&dir.path().join("b")).unwrap();
        let files = TlsFiles {
            certfile: dir.path().join("server.pem"),
            keyfile: dir.path().join("server.key"),
            cacertfile: first.ca.clone(),
        };
        put(&first.cert, &files.certfile, 1_000);
        put(&first.key, &files.keyfile, 1_000);
        let tls = ServerTls::new(&TlsConfig::default(), files.clone(), &[]).unwrap();
        assert!(!tls.reload(false).unwrap(), "nothing changed");

        let before = tls.config();
        put(&second.cert, &files.certfile, 2_000);
        put(&second.key, &files.keyfile, 2_000);
        assert!(tls.reload(false).unwrap(), "new files");
        assert!(!Arc::ptr_eq(&before, &tls.config()));

        let current = tls.config();
        std::fs::write(&files.keyfile, "not a key").unwrap();
        let file = std::fs::File::options()
            .write(true)
            .open(&files.keyfile)
            .unwrap();
        file.set_modified(UNIX_EPOCH + Duration::from_secs(3_000))
            .unwrap();
        let err = tls.reload(false).unwrap_err().to_string();
        assert!(err.contains("key file"), "{err}");
        assert!(
            Arc::ptr_eq(&current, &tls.config()),
            "the old configuration stays"
        );
        // Reported once per change, not at every poll.
        assert!(!tls.reload(false).unwrap());
    }
}
