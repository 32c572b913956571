//! The connection options `starling pub` and `starling sub` share (mosquitto_pub/sub and MQTTX CLI
//! conventions), turning them into [`ClientOptions`], and connecting with errors in words.
//!
//! `-h` is the host, as in mosquitto; the commands therefore disable clap's `-h` help and offer
//! `--help` only.

use anyhow::{anyhow, bail, Context};
use bytes::Bytes;
use clap::{ArgAction, Args};
use starling_client::{
    Client, ClientError, ClientOptions, Incoming, LastWill, ProtocolVersion, QoS,
};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Options of the connection to the broker.
#[derive(Args, Debug, Clone)]
pub(crate) struct ConnectOpts {
    /// Print help.
    #[arg(long, action = ArgAction::Help)]
    help: Option<bool>,
    /// Broker host name or address.
    #[arg(short = 'h', long, default_value = "127.0.0.1")]
    pub(crate) host: String,
    /// Broker port.
    #[arg(short = 'p', long, default_value_t = 1883)]
    pub(crate) port: u16,
    /// Broker URL, mqtt://host[:port] (overrides -h and -p; mqtts, ws, wss and quic: not yet).
    #[arg(long)]
    pub(crate) url: Option<String>,
    /// Client id (default: a random `starling-<cmd>-<hex>`).
    #[arg(short = 'i', long = "id")]
    pub(crate) client_id: Option<String>,
    /// User name.
    #[arg(short = 'u', long)]
    pub(crate) username: Option<String>,
    /// Password.
    #[arg(short = 'P', long)]
    pub(crate) password: Option<String>,
    /// Keep alive in seconds (0: off).
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
    #[command(flatten)]
    pub(crate) tls: TlsOpts,
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

/// TLS options: accepted, refused until the transports land.
#[derive(Args, Debug, Clone)]
pub(crate) struct TlsOpts {
    /// CA certificates file (TLS: not supported yet).
    #[arg(long)]
    pub(crate) cafile: Option<PathBuf>,
    /// Client certificate file (TLS: not supported yet).
    #[arg(long)]
    pub(crate) cert: Option<PathBuf>,
    /// Client private key file (TLS: not supported yet).
    #[arg(long)]
    pub(crate) key: Option<PathBuf>,
    /// Do not verify the server certificate (TLS: not supported yet).
    #[arg(long)]
    pub(crate) insecure: bool,
}

impl TlsOpts {
    fn requested(&self) -> bool {
        self.cafile.is_some() || self.cert.is_some() || self.key.is_some() || self.insecure
    }
}

impl ConnectOpts {
    /// The host and port to connect to, from `--url` or `-h`/`-p`.
    pub(crate) fn endpoint(&self) -> anyhow::Result<(String, u16)> {
        if self.tls.requested() {
            bail!(
                "TLS not supported yet (--cafile, --cert, --key, --insecure): use mqtt:// over TCP"
            );
        }
        match &self.url {
            None => Ok((self.host.clone(), self.port)),
            Some(url) => parse_url(url),
        }
    }

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
        let (host, port) = self.endpoint()?;
        let addrs = resolve(&host, port).await?;
        let mut last = None;
        for addr in addrs {
            match Client::connect(&self.client_options(addr, role)).await {
                Ok(connected) => return Ok(connected),
                // Another address of the same name may work (e.g. localhost: ::1, then 127.0.0.1).
                Err(e @ ClientError::Connect { .. }) => last = Some(e),
                Err(e) => return Err(connect_error(e)),
            }
        }
        Err(last.map_or_else(|| anyhow!("cannot resolve host {host:?}"), connect_error))
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
        other => anyhow!(other),
    }
}

fn parse_url(url: &str) -> anyhow::Result<(String, u16)> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| anyhow!("invalid --url {url:?}: expected mqtt://host[:port]"))?;
    match scheme {
        "mqtt" | "tcp" => {}
        "mqtts" | "ssl" | "tls" | "ws" | "wss" | "quic" => {
            bail!("{scheme}:// is not supported yet: only mqtt:// (TCP) for now")
        }
        _ => bail!("invalid --url {url:?}: unknown scheme {scheme:?}"),
    }
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() {
        bail!("invalid --url {url:?}: no host");
    }
    if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6
            .split_once(']')
            .ok_or_else(|| anyhow!("invalid --url {url:?}: unclosed ["))?;
        let port = match after.strip_prefix(':') {
            Some(p) => parse_port(url, p)?,
            None => 1883,
        };
        return Ok((host.to_string(), port));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => Ok((host.to_string(), parse_port(url, port)?)),
        None => Ok((authority.to_string(), 1883)),
    }
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

    #[test]
    fn urls() {
        let ok = |u: &str| parse_url(u).expect(u);
        assert_eq!(ok("mqtt://example.org"), ("example.org".into(), 1883));
        assert_eq!(ok("mqtt://127.0.0.1:1884"), ("127.0.0.1".into(), 1884));
        assert_eq!(ok("mqtt://[::1]:1885/"), ("::1".into(), 1885));
        for u in ["mqtts://h", "ws://h:8083/mqtt", "wss://h", "quic://h"] {
            let e = parse_url(u).expect_err(u).to_string();
            assert!(e.contains("not supported yet"), "{e}");
        }
        assert!(parse_url("http://h").is_err());
        assert!(parse_url("mqtt://h:x").is_err());
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
