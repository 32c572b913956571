//! The connection options `starling pub` and `starling sub` share (mosquitto_pub/sub and MQTTX CLI
//! conventions), turning them into [`ClientOptions`], and connecting with errors in words.
//!
//! `-h` is the host, as in mosquitto; the commands therefore disable clap's `-h` help and offer
//! `--help` only. [`BrokerOpts`] (where the broker is, and over which transport) is shared with
//! `starling bench`.

use anyhow::{anyhow, bail, Context};
use bytes::Bytes;
use clap::{ArgAction, Args};
use starling_client::{
    Client, ClientError, ClientOptions, Incoming, LastWill, ProtocolVersion, QoS, TlsConfig,
    TlsOptions, TransportKind, DEFAULT_WS_PATH,
};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Where the broker is and how to reach it: `-h`/`-p`, `--url`, TLS and WebSocket options.
/// Shared by `pub`, `sub` and `bench`.
#[derive(Args, Debug, Clone)]
pub(crate) struct BrokerOpts {
    /// Print help.
    #[arg(long, action = ArgAction::Help)]
    help: Option<bool>,
    /// Broker host name or address.
    #[arg(short = 'h', long, default_value = "127.0.0.1")]
    pub(crate) host: String,
    /// Broker port [default: 1883; 8883 with TLS, 8083 with --ws, 8084 with both].
    #[arg(short = 'p', long)]
    pub(crate) port: Option<u16>,
    /// Broker URL, overriding -h and -p: mqtt://host[:1883], mqtts://host[:8883],
    /// ws://host[:8083][/path], wss://host[:8084][/path] (WebSocket path default /mqtt;
    /// quic:// is not supported yet).
    #[arg(long)]
    pub(crate) url: Option<String>,
    /// TLS with -h/-p (implied by --cafile, --cert, --key and --insecure).
    #[arg(long, visible_alias = "tls", conflicts_with = "url")]
    pub(crate) ssl: bool,
    /// WebSocket with -h/-p (over TLS with --ssl).
    #[arg(long, conflicts_with = "url")]
    pub(crate) ws: bool,
    /// WebSocket path with --ws.
    #[arg(long, default_value = DEFAULT_WS_PATH, conflicts_with = "url")]
    pub(crate) ws_path: String,
    #[command(flatten)]
    pub(crate) tls: TlsOpts,
}

/// Options of the connection to the broker.
#[derive(Args, Debug, Clone)]
pub(crate) struct ConnectOpts {
    #[command(flatten)]
    pub(crate) broker: BrokerOpts,
    /// Client id (default: a random `starling-<cmd>-<hex>`).
    #[arg(short = 'i', long = "id")]
    pub(crate) client_id: Option<String>,
    /// User name.
    #[arg(short = 'u', long)]
    pub(crate) username: Option<String>,
    /// Password.
    #[arg(short = 'P', long)]
    pub(crate) password: Option<String>,
    /// Keep alive in seconds (0: off; a broker with a keep-alive cap, as Starling and Mosquitto
    /// have by default, refuses 0 from 3.x clients).
    #[arg(short = 'k', long, default_value_t = 60)]
    pub(crate) keepalive: u16,
    /// Protocol version: 3.1, 3.1.1 or 5 (also mqttv31, mqttv311, mqttv5).
    #[arg(short = 'V', long = "protocol-version", default_value = "5", value_parser = parse_version)]
    pub(crate) version: ProtocolVersion,
    /// Keep the session: clean start off (clean session off in 3.x).
    #[arg(short = 'c', long)]
    pub(crate) no_clean: bool,
    /// Session expiry interval in seconds (5.0).
    #[arg(short = 'x', long)]
    pub(crate) session_expiry: Option<u32>,
    /// User property key=value (5.0, repeatable): sent in CONNECT, and by pub on each PUBLISH.
    #[arg(short = 'D', long = "user-property", value_parser = parse_user_property)]
    pub(crate) user_properties: Vec<(String, String)>,
    #[command(flatten)]
    pub(crate) will: WillOpts,
}

/// The will message.
#[derive(Args, Debug, Clone)]
pub(crate) struct WillOpts {
    /// Will topic (the will is sent if the connection ends without DISCONNECT).
    #[arg(long)]
    pub(crate) will_topic: Option<String>,
    /// Will payload.
    #[arg(long, requires = "will_topic", default_value = "")]
    pub(crate) will_payload: String,
    /// Will QoS.
    #[arg(long, requires = "will_topic", default_value = "0", value_parser = parse_qos)]
    pub(crate) will_qos: QoS,
    /// Will retain flag.
    #[arg(long, requires = "will_topic")]
    pub(crate) will_retain: bool,
    /// Will delay interval in seconds (5.0).
    #[arg(long, requires = "will_topic")]
    pub(crate) will_delay: Option<u32>,
}

/// TLS options, as mosquitto_pub/sub name them.
#[derive(Args, Debug, Clone)]
pub(crate) struct TlsOpts {
    /// CA certificates file (PEM) to verify the broker with [default: the system's].
    #[arg(long)]
    pub(crate) cafile: Option<PathBuf>,
    /// Client certificate file (PEM), for mutual TLS (with --key).
    #[arg(long, requires = "key")]
    pub(crate) cert: Option<PathBuf>,
    /// Client private key file (PEM), for mutual TLS (with --cert).
    #[arg(long, requires = "cert")]
    pub(crate) key: Option<PathBuf>,
    /// Do not verify the broker's certificate (DANGEROUS: anyone on the path can pose as the
    /// broker; for tests and self-signed setups only).
    #[arg(long)]
    pub(crate) insecure: bool,
    /// Make a full TLS handshake on every connection (no session resumption), e.g. to measure
    /// handshakes with `bench conn`.
    #[arg(long)]
    pub(crate) no_tls_resume: bool,
}

impl TlsOpts {
    fn requested(&self) -> bool {
        self.cafile.is_some()
            || self.cert.is_some()
            || self.key.is_some()
            || self.insecure
            || self.no_tls_resume
    }

    fn options(&self) -> TlsOptions {
        TlsOptions {
            cafile: self.cafile.clone(),
            cert: self.cert.clone(),
            key: self.key.clone(),
            insecure: self.insecure,
            alpn: Vec::new(),
            no_resumption: self.no_tls_resume,
        }
    }
}

/// How the connection is carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    /// TCP.
    Mqtt,
    /// TLS.
    Mqtts,
    /// WebSocket.
    Ws,
    /// WebSocket over TLS.
    Wss,
    /// QUIC (UDP), ALPN `mqtt`.
    Quic,
}

impl Scheme {
    fn default_port(self) -> u16 {
        match self {
            Scheme::Mqtt => 1883,
            Scheme::Mqtts => 8883,
            Scheme::Ws => 8083,
            Scheme::Wss => 8084,
            Scheme::Quic => 14567,
        }
    }

    fn tls(self) -> bool {
        matches!(self, Scheme::Mqtts | Scheme::Wss | Scheme::Quic)
    }

    fn name(self) -> &'static str {
        match self {
            Scheme::Mqtt => "mqtt",
            Scheme::Mqtts => "mqtts",
            Scheme::Ws => "ws",
            Scheme::Wss => "wss",
            Scheme::Quic => "quic",
        }
    }
}

/// The broker's address and transport, from `--url` or `-h`/`-p` and the flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    pub(crate) scheme: Scheme,
    pub(crate) host: String,
    pub(crate) port: u16,
    /// The WebSocket path.
    pub(crate) path: String,
}

impl BrokerOpts {
    /// Where to connect and how.
    pub(crate) fn endpoint(&self) -> anyhow::Result<Endpoint> {
        let endpoint = match &self.url {
            Some(url) => parse_url(url)?,
            None => {
                let scheme = match (self.ssl || self.tls.requested(), self.ws) {
                    (false, false) => Scheme::Mqtt,
                    (true, false) => Scheme::Mqtts,
                    (false, true) => Scheme::Ws,
                    (true, true) => Scheme::Wss,
                };
                Endpoint {
                    scheme,
                    host: self.host.clone(),
                    port: self.port.unwrap_or(scheme.default_port()),
                    path: self.ws_path.clone(),
                }
            }
        };
        if self.tls.requested() && !endpoint.scheme.tls() {
            bail!(
                "--cafile, --cert, --key and --insecure are TLS options: use mqtts://, wss:// or quic://, \
                 not {}://",
                endpoint.scheme.name()
            );
        }
        Ok(endpoint)
    }

    /// The transport for `endpoint`, with the TLS files loaded (once: clones share them).
    pub(crate) fn transport(&self, endpoint: &Endpoint) -> anyhow::Result<TransportKind> {
        let tls = || TlsConfig::new(&self.tls.options()).map_err(|e| connect_error(e.into()));
        Ok(match endpoint.scheme {
            Scheme::Mqtt => TransportKind::Tcp,
            Scheme::Mqtts => TransportKind::Tls(tls()?),
            Scheme::Ws => TransportKind::Ws {
                path: endpoint.path.clone(),
            },
            Scheme::Wss => TransportKind::Wss {
                path: endpoint.path.clone(),
                tls: tls()?,
            },
            Scheme::Quic => TransportKind::Quic(tls()?),
        })
    }
}

impl ConnectOpts {
    /// Builds the client options for `addr`; `role` names the default client id.
    pub(crate) fn client_options(&self, addr: SocketAddr, role: &str) -> ClientOptions {
        let mut opts = ClientOptions::new(addr)
            .version(self.version)
            .clean_start(!self.no_clean)
            .keep_alive(Duration::from_secs(self.keepalive.into()))
            .client_id(self.client_id.clone().unwrap_or_else(|| random_id(role)));
        opts.session_expiry = self.session_expiry;
        opts.username = self.username.clone();
        opts.password = self.password.clone().map(Bytes::from);
        opts.user_properties = self.user_properties.clone();
        opts.will = self.will.will_topic.as_ref().map(|topic| LastWill {
            topic: topic.clone(),
            payload: Bytes::from(self.will.will_payload.clone()),
            qos: self.will.will_qos,
            retain: self.will.will_retain,
            delay_interval: self.will.will_delay,
        });
        opts
    }

    /// Connects, with an error in words on failure.
    pub(crate) async fn connect(&self, role: &str) -> anyhow::Result<(Client, Incoming)> {
        let endpoint = self.broker.endpoint()?;
        let transport = self.broker.transport(&endpoint)?;
        let addrs = resolve(&endpoint.host, endpoint.port).await?;
        let mut last = None;
        for addr in addrs {
            let opts = self
                .client_options(addr, role)
                .transport(transport.clone())
                .server_name(endpoint.host.clone());
            match Client::connect(&opts).await {
                Ok(connected) => return Ok(connected),
                // Another address of the same name may work (e.g. localhost: ::1, then 127.0.0.1).
                Err(e @ ClientError::Connect { .. }) => last = Some(e),
                Err(ClientError::Io(e)) => {
                    let reason = match e.raw_os_error() {
                        Some(_) => e.kind().to_string(),
                        None => e.to_string(),
                    };
                    bail!(
                        "the connection to {addr} failed during the MQTT handshake: {reason}{}",
                        hint(endpoint.scheme)
                    )
                }
                Err(ClientError::ConnectionClosed) => bail!(
                    "{addr} closed the connection during the MQTT handshake{}",
                    hint(endpoint.scheme)
                ),
                Err(e) => return Err(connect_error(e)),
            }
        }
        Err(last.map_or_else(
            || anyhow!("cannot resolve host {:?}", endpoint.host),
            connect_error,
        ))
    }
}

/// A broker that drops the MQTT handshake may expect another transport.
fn hint(scheme: Scheme) -> &'static str {
    match scheme {
        Scheme::Mqtt => " (is it a TLS or WebSocket port? see --url)",
        _ => "",
    }
}

/// `cannot connect to 127.0.0.1:1884: connection refused` rather than the OS error's wording.
pub(crate) fn connect_error(error: ClientError) -> anyhow::Error {
    match error {
        ClientError::Connect { addr, source } => match source.raw_os_error() {
            Some(_) => anyhow!("cannot connect to {addr}: {}", source.kind()),
            None => anyhow!("cannot connect to {addr}: {source}"),
        },
        ClientError::Refused(code) => anyhow!(
            "the broker refused the connection: {} (0x{:02X})",
            code.description(),
            code.as_u8()
        ),
        // The message only: a wrapped error's source already is in it.
        other => anyhow!("{other}"),
    }
}

fn parse_url(url: &str) -> anyhow::Result<Endpoint> {
    let (scheme, rest) = url.split_once("://").ok_or_else(|| {
        anyhow!("invalid --url {url:?}: expected mqtt://, mqtts://, ws://, wss:// or quic://host[:port]")
    })?;
    let scheme = match scheme {
        "mqtt" | "tcp" => Scheme::Mqtt,
        "mqtts" | "ssl" | "tls" => Scheme::Mqtts,
        "ws" => Scheme::Ws,
        "wss" => Scheme::Wss,
        "quic" => Scheme::Quic,
        _ => bail!("invalid --url {url:?}: unknown scheme {scheme:?}"),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.is_empty() {
        bail!("invalid --url {url:?}: no host");
    }
    let path = match (scheme, path) {
        (Scheme::Ws | Scheme::Wss, "") => DEFAULT_WS_PATH.to_string(),
        (Scheme::Ws | Scheme::Wss, p) => p.to_string(),
        _ => String::new(),
    };
    let default_port = scheme.default_port();
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6
            .split_once(']')
            .ok_or_else(|| anyhow!("invalid --url {url:?}: unclosed ["))?;
        let port = match after.strip_prefix(':') {
            Some(p) => parse_port(url, p)?,
            None => default_port,
        };
        (host.to_string(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host.to_string(), parse_port(url, port)?),
            None => (authority.to_string(), default_port),
        }
    };
    Ok(Endpoint {
        scheme,
        host,
        port,
        path,
    })
}

fn parse_port(url: &str, port: &str) -> anyhow::Result<u16> {
    port.parse()
        .map_err(|_| anyhow!("invalid --url {url:?}: bad port {port:?}"))
}

async fn resolve(host: &str, port: u16) -> anyhow::Result<Vec<SocketAddr>> {
    let addrs: Vec<_> = tokio::net::lookup_host((host, port))
        .await
        .with_context(|| format!("cannot resolve host {host:?}"))?
        .collect();
    if addrs.is_empty() {
        bail!("cannot resolve host {host:?}: no address");
    }
    Ok(addrs)
}

fn random_id(role: &str) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    format!("starling-{role}-{:08x}", hasher.finish() as u32)
}

/// Parses `-V`.
pub(crate) fn parse_version(s: &str) -> Result<ProtocolVersion, String> {
    match s {
        "5" | "5.0" | "mqttv5" => Ok(ProtocolVersion::V5),
        "3.1.1" | "4" | "311" | "mqttv311" => Ok(ProtocolVersion::V3_1_1),
        "3.1" | "3" | "31" | "mqttv31" => Ok(ProtocolVersion::V3_1),
        _ => Err(format!("unknown protocol version {s:?} (3.1, 3.1.1 or 5)")),
    }
}

/// Parses `-q`.
pub(crate) fn parse_qos(s: &str) -> Result<QoS, String> {
    s.parse::<u8>()
        .ok()
        .and_then(QoS::from_bits)
        .ok_or_else(|| format!("QoS must be 0, 1 or 2, not {s:?}"))
}

/// Parses `-D key=value`.
pub(crate) fn parse_user_property(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("a user property is key=value, not {s:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(scheme: Scheme, host: &str, port: u16, path: &str) -> Endpoint {
        Endpoint {
            scheme,
            host: host.into(),
            port,
            path: path.into(),
        }
    }

    #[test]
    fn urls() {
        let ok = |u: &str| parse_url(u).expect(u);
        assert_eq!(
            ok("mqtt://example.org"),
            endpoint(Scheme::Mqtt, "example.org", 1883, "")
        );
        assert_eq!(
            ok("mqtt://127.0.0.1:1884"),
            endpoint(Scheme::Mqtt, "127.0.0.1", 1884, "")
        );
        assert_eq!(
            ok("mqtt://[::1]:1885/"),
            endpoint(Scheme::Mqtt, "::1", 1885, "")
        );
        assert_eq!(ok("mqtts://h"), endpoint(Scheme::Mqtts, "h", 8883, ""));
        assert_eq!(ok("ws://h"), endpoint(Scheme::Ws, "h", 8083, "/mqtt"));
        assert_eq!(ok("ws://h:80/x/y"), endpoint(Scheme::Ws, "h", 80, "/x/y"));
        assert_eq!(
            ok("wss://[::1]"),
            endpoint(Scheme::Wss, "::1", 8084, "/mqtt")
        );
        assert_eq!(ok("quic://h"), endpoint(Scheme::Quic, "h", 14567, ""));
        assert!(parse_url("http://h").is_err());
        assert!(parse_url("mqtt://h:x").is_err());
    }

    #[derive(clap::Parser)]
    #[command(disable_help_flag = true)]
    struct Cli {
        #[command(flatten)]
        broker: BrokerOpts,
    }

    fn flags(line: &str) -> anyhow::Result<Endpoint> {
        use clap::Parser;
        let cli = Cli::try_parse_from(std::iter::once("x").chain(line.split_whitespace()))?;
        cli.broker.endpoint()
    }

    #[test]
    fn flags_choose_the_transport_and_its_port() {
        let ok = |l: &str| flags(l).expect(l);
        assert_eq!(ok(""), endpoint(Scheme::Mqtt, "127.0.0.1", 1883, "/mqtt"));
        assert_eq!(ok("--cafile ca.pem -h b").scheme, Scheme::Mqtts);
        assert_eq!(ok("--cafile ca.pem -h b").port, 8883);
        assert_eq!(ok("--insecure -p 9000").port, 9000);
        assert_eq!(ok("--ssl").port, 8883);
        assert_eq!(ok("--ws").port, 8083);
        assert_eq!(
            ok("--ws --tls --ws-path /m"),
            endpoint(Scheme::Wss, "127.0.0.1", 8084, "/m")
        );
        assert_eq!(ok("--url wss://b --cafile c").scheme, Scheme::Wss);
        let e = flags("--url mqtt://b --cafile c").expect_err("TLS file on TCP");
        assert!(e.to_string().contains("TLS options"), "{e}");
        assert!(flags("--url mqtt://b --ws").is_err());
        assert!(flags("--cert c").is_err(), "--cert needs --key");
    }

    #[test]
    fn versions_and_properties() {
        assert_eq!(parse_version("mqttv311"), Ok(ProtocolVersion::V3_1_1));
        assert_eq!(parse_version("5"), Ok(ProtocolVersion::V5));
        assert!(parse_version("6").is_err());
        assert_eq!(
            parse_user_property("a=b=c"),
            Ok(("a".to_string(), "b=c".to_string()))
        );
        assert!(parse_user_property("ab").is_err());
    }
}
