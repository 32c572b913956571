//! The client side of TLS: [`TlsOptions`] (files and flags, as a command line gives them) become a [`TlsConfig`]
//! (a rustls client configuration on the `ring` provider, built once and shared by every
//! connection), and the client side of the handshake with the server's name for SNI and
//! certificate verification.

use crate::NetError;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::{self, CryptoProvider};
use tokio_rustls::rustls::{self, ClientConfig, DigitallySignedStruct, RootCertStore};
use tokio_rustls::TlsConnector;

/// Where the trust and the client's identity come from (mosquitto's `--cafile`, `--cert`,
/// `--key`, `--insecure`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// PEM file of the CA certificates to trust; `None`: the system's trust store.
    pub cafile: Option<PathBuf>,
    /// PEM file of the client certificate chain, for mutual TLS (needs `key`).
    pub cert: Option<PathBuf>,
    /// PEM file of the client private key (PKCS#8, PKCS#1 or SEC1), for mutual TLS.
    pub key: Option<PathBuf>,
    /// **Dangerous**: accept any server certificate, whoever issued it and whatever name it
    /// carries. The connection is encrypted but not authenticated: anyone on the path can
    /// impersonate the server. For tests and self-signed lab setups only.
    pub insecure: bool,
    /// ALPN protocols to offer (e.g. `mqtt`), in order of preference; empty offers none.
    pub alpn: Vec<String>,
    /// Never resume a TLS session: every connection makes a full handshake (to measure
    /// handshakes; clients resume by default).
    pub no_resumption: bool,
}

/// A rustls client configuration, cheap to clone: build it once with [`TlsConfig::new`] and
/// use it for every connection.
#[derive(Clone)]
pub struct TlsConfig {
    config: Arc<ClientConfig>,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("alpn", &self.config.alpn_protocols.len())
            .field(
                "client_auth",
                &self.config.client_auth_cert_resolver.has_certs(),
            )
            .finish_non_exhaustive()
    }
}

impl TlsConfig {
    /// Loads the files of `opts` and builds the configuration. Without a CA file the system's
    /// trust store is used (an error if it holds no certificate).
    pub fn new(opts: &TlsOptions) -> Result<Self, NetError> {
        let provider = Arc::new(crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| NetError::TlsConfig(e.to_string()))?;
        let builder = if opts.insecure {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider)))
        } else {
            builder.with_root_certificates(roots(opts.cafile.as_deref())?)
        };
        let mut config = match (&opts.cert, &opts.key) {
            (None, None) => builder.with_no_client_auth(),
            (Some(cert), Some(key)) => {
                let chain = certificates(cert, "client certificate file")?;
                let key = PrivateKeyDer::from_pem_file(key).map_err(|e| NetError::TlsFile {
                    what: "client key file",
                    path: key.clone(),
                    reason: pem_reason(e, "private key"),
                })?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| NetError::TlsConfig(format!("client certificate: {e}")))?
            }
            (Some(_), None) => {
                return Err(NetError::TlsConfig(
                    "a client certificate needs its private key (--key)".into(),
                ))
            }
            (None, Some(_)) => {
                return Err(NetError::TlsConfig(
                    "a client private key needs its certificate (--cert)".into(),
                ))
            }
        };
        config.alpn_protocols = opts.alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
        if opts.no_resumption {
            config.resumption = rustls::client::Resumption::disabled();
        }
        Ok(Self::from_rustls(Arc::new(config)))
    }

    /// Wraps a rustls configuration built by the caller.
    pub fn from_rustls(config: Arc<ClientConfig>) -> Self {
        Self { config }
    }

    /// The rustls configuration.
    pub fn rustls(&self) -> &Arc<ClientConfig> {
        &self.config
    }
}

/// The CA certificates of `cafile`, or the system's.
fn roots(cafile: Option<&Path>) -> Result<RootCertStore, NetError> {
    let mut store = RootCertStore::empty();
    match cafile {
        Some(path) => {
            for cert in certificates(path, "CA file")? {
                store.add(cert).map_err(|e| NetError::TlsFile {
                    what: "CA file",
                    path: path.to_owned(),
                    reason: format!("unusable certificate: {e}"),
                })?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = store.add_parsable_certificates(found.certs);
            if added == 0 {
                let why = found
                    .errors
                    .first()
                    .map_or_else(String::new, |e| format!(" ({e})"));
                return Err(NetError::TlsConfig(format!(
                    "no CA certificate in the system's trust store{why}: give one with --cafile"
                )));
            }
        }
    }
    Ok(store)
}

/// Every certificate in the PEM file `path`; an error if there is none.
pub(crate) fn certificates(
    path: &Path,
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, NetError> {
    let file_error = |reason: String| NetError::TlsFile {
        what,
        path: path.to_owned(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| file_error(pem_reason(e, "certificate")))?;
    if certs.is_empty() {
        return Err(file_error("no PEM certificate in it".into()));
    }
    Ok(certs)
}

pub(crate) fn pem_reason(error: rustls_pki_types::pem::Error, what: &str) -> String {
    use rustls_pki_types::pem::Error;
    match error {
        Error::Io(e) => e.to_string(),
        Error::NoItemsFound => format!("no PEM {what} in it"),
        other => format!("not valid PEM: {other:?}"),
    }
}

/// The TLS client handshake over `stream` with `server_name` (a DNS name or an IP address),
/// bounded by the caller. `server` names the peer in errors (`host:port`).
pub async fn handshake<S>(
    config: &TlsConfig,
    server_name: &str,
    server: &str,
    stream: S,
) -> Result<TlsStream<S>, NetError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let name = ServerName::try_from(server_name.to_owned())
        .map_err(|_| NetError::InvalidServerName(server_name.to_owned()))?;
    TlsConnector::from(Arc::clone(&config.config))
        .connect(name, stream)
        .await
        .map_err(|e| tls_failure(server, e))
}

/// A TLS handshake error in words: rustls' reason when there is one.
pub fn tls_failure(server: &str, error: std::io::Error) -> NetError {
    let reason = match error
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
    {
        Some(e) => e.to_string(),
        None if error.kind() == std::io::ErrorKind::UnexpectedEof => {
            "the server closed the connection (is it a TLS port?)".to_string()
        }
        None => error.to_string(),
    };
    NetError::Tls {
        server: server.to_owned(),
        reason,
    }
}

/// `--insecure`: any certificate is accepted; the handshake signatures are still checked, so
/// the server must hold the key of the certificate it shows.
#[derive(Debug)]
struct AcceptAnyCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
