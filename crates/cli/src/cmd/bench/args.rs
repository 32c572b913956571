//! The command line of `starling bench`, in the spirit of emqtt-bench.

use crate::cmd::client_opts::BrokerOpts;
use clap::{Args, Subcommand};
use starling_client::{ProtocolVersion, QoS};
use std::net::IpAddr;
use std::time::Duration;

/// `starling bench conn | pub | sub | pubsub`.
#[derive(Args, Debug)]
pub(crate) struct BenchArgs {
    #[command(subcommand)]
    pub(crate) mode: Box<Mode>,
}

/// What to run.
#[derive(Subcommand, Debug)]
pub(crate) enum Mode {
    /// Open -c connections and hold them for --duration (connect rate; broker RSS with --broker-pid).
    #[command(disable_help_flag = true)]
    Conn(ConnArgs),
    /// Run -c publishers.
    #[command(disable_help_flag = true)]
    Pub(PubArgs),
    /// Run -c subscribers; latency from the timestamp `starling bench pub` puts in each payload.
    #[command(disable_help_flag = true)]
    Sub(SubArgs),
    /// Subscribers, then publishers, in one process: fan-in, fan-out, pairs; reports loss too.
    #[command(disable_help_flag = true)]
    Pubsub(PubSubArgs),
    /// A trivial server on -h/-p that discards what it gets: how fast can the generator publish?
    #[command(disable_help_flag = true)]
    Sink(SinkArgs),
}

/// `starling bench sink`.
#[derive(Args, Debug)]
pub(crate) struct SinkArgs {
    #[command(flatten)]
    pub(crate) common: Common,
}

/// Options every mode shares.
#[derive(Args, Debug, Clone)]
pub(crate) struct Common {
    /// Broker address and transport: -h/-p or --url, --ssl, --ws, TLS files (as pub and sub).
    #[command(flatten)]
    pub(crate) broker: BrokerOpts,
    /// Protocol version: 3.1.1 or 5.
    #[arg(short = 'V', long = "protocol", default_value = "5", value_parser = parse_version)]
    pub(crate) version: ProtocolVersion,
    /// Milliseconds between two connects (0: as fast as --max-connecting allows).
    #[arg(short = 'i', long = "interval", default_value_t = 0)]
    pub(crate) connect_interval_ms: u64,
    /// Most handshakes in progress at once.
    #[arg(long, default_value_t = 100)]
    pub(crate) max_connecting: usize,
    /// Client id prefix; ids are `<prefix>_<role>_<n>`.
    #[arg(long, default_value = "bench")]
    pub(crate) prefix: String,
    /// Clean start (the default).
    #[arg(long, overrides_with = "no_clean")]
    clean: bool,
    /// Keep sessions (clean start off).
    #[arg(long, overrides_with = "clean")]
    no_clean: bool,
    /// Session expiry interval in seconds (5.0).
    #[arg(long)]
    pub(crate) session_expiry: Option<u32>,
    /// Keep alive in seconds.
    #[arg(short = 'k', long, default_value_t = 300)]
    pub(crate) keepalive: u16,
    /// User name.
    #[arg(short = 'u', long)]
    pub(crate) username: Option<String>,
    /// Password.
    #[arg(short = 'P', long)]
    pub(crate) password: Option<String>,
    /// Local source addresses, used round-robin (e.g. 127.0.0.2,127.0.0.3).
    #[arg(long, value_delimiter = ',')]
    pub(crate) ifaddr: Vec<IpAddr>,
    /// How long to publish (pub, pubsub) or hold connections (conn, sub), e.g. 10s, 1m.
    #[arg(short = 'd', long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub(crate) duration: Duration,
    /// Final summary as one JSON object on stdout.
    #[arg(long)]
    pub(crate) json: bool,
    /// Also report this broker process's CPU time and RSS (from /proc).
    #[arg(long)]
    pub(crate) broker_pid: Option<u32>,
}

impl Common {
    /// Clean start unless --no-clean.
    pub(crate) fn clean_start(&self) -> bool {
        self.clean || !self.no_clean
    }
}

/// Publishing options.
#[derive(Args, Debug, Clone)]
pub(crate) struct PublishOpts {
    /// Topic; `%i` is the publisher's number (from 1), `%c` its client id.
    #[arg(short = 't', long, default_value = "bench/%i")]
    pub(crate) topic: String,
    /// Payload size in bytes (at least 8 carry the send timestamp).
    #[arg(short = 's', long = "size", default_value_t = 64)]
    pub(crate) size: usize,
    /// QoS of the publishes.
    #[arg(short = 'q', long, default_value = "0", value_parser = parse_qos)]
    pub(crate) qos: QoS,
    /// Milliseconds between two publishes of one client (fractions allowed); default: no pause.
    #[arg(short = 'I', long = "pub-interval", conflicts_with = "rate")]
    pub(crate) interval_ms: Option<f64>,
    /// Total rate in messages per second, shared by all publishers.
    #[arg(short = 'R', long)]
    pub(crate) rate: Option<f64>,
    /// Stop after this many messages in total.
    #[arg(short = 'L', long)]
    pub(crate) count: Option<u64>,
    /// Most unacknowledged QoS 1/2 messages per publisher.
    #[arg(long, default_value_t = 1024)]
    pub(crate) inflight: u16,
    /// Set the retain flag.
    #[arg(short = 'r', long)]
    pub(crate) retain: bool,
}

impl PublishOpts {
    /// Messages per second for each of `publishers`, or `None` for as fast as possible.
    pub(crate) fn rate_per_client(&self, publishers: usize) -> Option<f64> {
        match (self.rate, self.interval_ms) {
            (Some(total), _) => Some(total / publishers.max(1) as f64),
            (None, Some(ms)) if ms > 0.0 => Some(1000.0 / ms),
            _ => None,
        }
    }
}

/// `starling bench conn`.
#[derive(Args, Debug)]
pub(crate) struct ConnArgs {
    #[command(flatten)]
    pub(crate) common: Common,
    /// Number of connections.
    #[arg(short = 'c', long, default_value_t = 1000)]
    pub(crate) clients: usize,
}

/// `starling bench pub`.
#[derive(Args, Debug)]
pub(crate) struct PubArgs {
    #[command(flatten)]
    pub(crate) common: Common,
    #[command(flatten)]
    pub(crate) publish: PublishOpts,
    /// Number of publishers.
    #[arg(short = 'c', long, default_value_t = 1)]
    pub(crate) clients: usize,
}

/// `starling bench sub`.
#[derive(Args, Debug)]
pub(crate) struct SubArgs {
    #[command(flatten)]
    pub(crate) common: Common,
    /// Number of subscribers.
    #[arg(short = 'c', long, default_value_t = 1)]
    pub(crate) clients: usize,
    /// Topic filter; `%i` is the subscriber's number (from 1), `%c` its client id.
    #[arg(short = 't', long, default_value = "bench/#")]
    pub(crate) topic: String,
    /// Maximum QoS of the subscription.
    #[arg(short = 'q', long, default_value = "0", value_parser = parse_qos)]
    pub(crate) qos: QoS,
}

/// `starling bench pubsub`.
#[derive(Args, Debug)]
pub(crate) struct PubSubArgs {
    #[command(flatten)]
    pub(crate) common: Common,
    #[command(flatten)]
    pub(crate) publish: PublishOpts,
    /// Number of publishers.
    #[arg(long, default_value_t = 1)]
    pub(crate) pubs: usize,
    /// Number of subscribers (connected and subscribed before publishing starts).
    #[arg(long, default_value_t = 1)]
    pub(crate) subs: usize,
    /// Subscribers' topic filter (placeholders as for -t); default: the publish topic.
    #[arg(long)]
    pub(crate) sub_topic: Option<String>,
    /// Subscription QoS; default: the publish QoS.
    #[arg(long, value_parser = parse_qos)]
    pub(crate) sub_qos: Option<QoS>,
    /// Closed loop: publishers pause while more than this many deliveries per route (publisher
    /// x matching subscriber) are outstanding, summed over all routes (0: open loop).
    #[arg(long, default_value_t = 10)]
    pub(crate) window: u64,
}

fn parse_version(s: &str) -> Result<ProtocolVersion, String> {
    match s {
        "3.1.1" | "4" | "311" => Ok(ProtocolVersion::V3_1_1),
        "5" | "5.0" => Ok(ProtocolVersion::V5),
        "3.1" | "3" => Ok(ProtocolVersion::V3_1),
        _ => Err(format!("unknown protocol version {s:?} (3.1, 3.1.1 or 5)")),
    }
}

fn parse_qos(s: &str) -> Result<QoS, String> {
    s.parse::<u8>()
        .ok()
        .and_then(QoS::from_bits)
        .ok_or_else(|| format!("QoS must be 0, 1 or 2, not {s:?}"))
}
