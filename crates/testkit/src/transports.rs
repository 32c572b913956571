//! TLS and WebSocket in front of a [`crate::TestBroker`] (which speaks plain TCP), for the tests
//! of the client's transports: [`TestPki`] makes a CA and certificates at test time (rcgen), and
//! [`Proxy`] terminates TLS and/or WebSocket on 127.0.0.1:0 and forwards the bytes to the
//! broker. Feature `transports`.

use futures_util::{SinkExt, StreamExt};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{self, RootCertStore, ServerConfig};
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::Message;

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
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let mut params = CertificateParams::new(names.clone()).expect("params");
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
            dir,
        }
    }

    /// The directory of the files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A rustls server configuration with the server certificate; with `client_auth`, the
    /// client must show a certificate issued by the CA.
    pub fn server_config(&self, client_auth: bool) -> Arc<ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .expect("protocol versions");
        let builder = if client_auth {
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(&self.ca).expect("CA") {
                roots.add(cert.expect("CA")).expect("CA");
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .expect("client verifier");
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let chain = CertificateDer::pem_file_iter(&self.server_cert)
            .expect("server certificate")
            .collect::<Result<Vec<_>, _>>()
            .expect("server certificate");
        let key = PrivateKeyDer::from_pem_file(&self.server_key).expect("server key");
        Arc::new(builder.with_single_cert(chain, key).expect("server config"))
    }
}

impl Drop for TestPki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What a [`Proxy`] accepts.
#[derive(Clone)]
pub enum Front {
    /// TLS.
    Tls(Arc<ServerConfig>),
    /// WebSocket at the path `/mqtt` (any other path is answered 404).
    Ws,
    /// WebSocket over TLS.
    Wss(Arc<ServerConfig>),
}

/// What the proxy saw of one WebSocket upgrade request.
#[derive(Debug, Clone)]
pub struct Upgrade {
    /// The request path.
    pub path: String,
    /// The `Sec-WebSocket-Protocol` header, if any.
    pub subprotocol: Option<String>,
}

/// A TLS and/or WebSocket front on 127.0.0.1:0 forwarding to a TCP backend (the broker).
/// Stops on drop.
pub struct Proxy {
    addr: SocketAddr,
    upgrades: Arc<Mutex<Vec<Upgrade>>>,
    task: JoinHandle<()>,
}

impl Proxy {
    /// Starts a proxy for `front` in front of `backend`.
    pub async fn start(front: Front, backend: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let upgrades = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&upgrades);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let front = front.clone();
                let seen = Arc::clone(&seen);
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(backend).await else {
                        return;
                    };
                    match front {
                        Front::Tls(config) => {
                            if let Ok(tls) = TlsAcceptor::from(config).accept(client).await {
                                pipe(tls, server).await;
                            }
                        }
                        Front::Ws => ws_pipe(client, server, seen).await,
                        Front::Wss(config) => {
                            if let Ok(tls) = TlsAcceptor::from(config).accept(client).await {
                                ws_pipe(tls, server, seen).await;
                            }
                        }
                    }
                });
            }
        });
        Proxy {
            addr,
            upgrades,
            task,
        }
    }

    /// The address to connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The WebSocket upgrade requests seen so far.
    pub fn upgrades(&self) -> Vec<Upgrade> {
        self.upgrades.lock().expect("lock").clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn pipe<S: AsyncRead + AsyncWrite + Unpin>(mut client: S, mut server: TcpStream) {
    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
    let _ = client.shutdown().await;
}

/// Accepts the upgrade at `/mqtt` (selecting the `mqtt` subprotocol when offered), then
/// forwards binary messages to the broker and the broker's bytes as binary messages.
async fn ws_pipe<S: AsyncRead + AsyncWrite + Unpin>(
    client: S,
    mut server: TcpStream,
    seen: Arc<Mutex<Vec<Upgrade>>>,
) {
    #[allow(clippy::result_large_err)] // the callback's type is tungstenite's
    let callback = |request: &Request, mut response: Response| {
        let subprotocol = request
            .headers()
            .get("sec-websocket-protocol")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let path = request.uri().path().to_owned();
        seen.lock().expect("lock").push(Upgrade {
            path: path.clone(),
            subprotocol: subprotocol.clone(),
        });
        if path != "/mqtt" {
            let mut refused = ErrorResponse::new(Some("no such path".into()));
            *refused.status_mut() = StatusCode::NOT_FOUND;
            return Err(refused);
        }
        if subprotocol.is_some_and(|s| s.split(',').any(|p| p.trim() == "mqtt")) {
            response
                .headers_mut()
                .insert("sec-websocket-protocol", HeaderValue::from_static("mqtt"));
        }
        Ok(response)
    };
    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(client, callback).await else {
        return;
    };
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        tokio::select! {
            message = ws.next() => match message {
                Some(Ok(Message::Binary(data))) => {
                    if server.write_all(&data).await.is_err() {
                        break;
                    }
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                _ => break,
            },
            read = server.read(&mut buf) => match read {
                Ok(n) if n > 0 => {
                    let data = buf[..n].to_vec();
                    if ws.send(Message::Binary(data.into())).await.is_err() {
                        break;
                    }
                }
                _ => break,
            },
        }
    }
    let _ = ws.close(None).await;
}
