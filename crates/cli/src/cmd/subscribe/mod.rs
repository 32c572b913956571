//! `starling sub`: connect, subscribe to the `-t` filters, print what arrives until `-C` messages,
//! the `-W` timeout, Ctrl-C, or the connection's end. Conventions of mosquitto_sub and MQTTX CLI.
//!
//! Exit codes: 0 after `-C` messages, on Ctrl-C, or when `-W` expires after at least one message
//! arrived (and `-C` was not given); [`TIMEOUT_EXIT`] (27, as mosquitto_sub) when `-W` expires
//! before any message arrived, or before the `-C` count was reached; 1 on any error (connection
//! refused or lost, every subscription refused).

mod output;

use crate::cmd::client_opts::{parse_qos, ConnectOpts};
use anyhow::{anyhow, bail, Context};
use clap::Args;
use output::Format;
use starling_client::{Client, ProtocolVersion, QoS, Subscription, SubscriptionOptions};
use starling_codec::{RetainHandling, Utf8String};
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

/// The exit code when `-W` expires first (mosquitto_sub's).
pub(crate) const TIMEOUT_EXIT: u8 = 27;

/// `starling sub`.
#[derive(Args, Debug)]
pub(crate) struct SubArgs {
    #[command(flatten)]
    pub(crate) connect: ConnectOpts,
    /// Topic filter to subscribe to (repeatable).
    #[arg(short = 't', long = "topic", required = true)]
    pub(crate) filters: Vec<String>,
    /// Maximum QoS of the subscriptions.
    #[arg(short = 'q', long, default_value = "0", value_parser = parse_qos)]
    pub(crate) qos: QoS,
    /// Exit after this many messages.
    #[arg(short = 'C', long)]
    pub(crate) count: Option<u64>,
    /// Exit after this many seconds (code 27 if no message, or fewer than -C, arrived).
    #[arg(short = 'W', long)]
    pub(crate) timeout: Option<u64>,
    /// Print the topic before the payload, and the 5.0 properties on indented lines.
    #[arg(short = 'v', long, conflicts_with = "json")]
    pub(crate) verbose: bool,
    /// Print one JSON object per line: topic, qos, retain, payload (UTF-8 or base64), properties.
    #[arg(long)]
    pub(crate) json: bool,
    /// Do not receive this client's own messages (5.0).
    #[arg(long)]
    pub(crate) no_local: bool,
    /// Keep the retain flag as published (5.0).
    #[arg(long)]
    pub(crate) retain_as_published: bool,
    /// Retained messages: 0 send at subscribe, 1 only if the subscription is new, 2 never (5.0).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=2))]
    pub(crate) retain_handling: u8,
    /// Print on stderr, once the SUBACK came, one line per filter: `subscribed to <filter>
    /// (granted QoS <n>)` (a refused filter is reported whether or not -d is given).
    #[arg(short = 'd', long)]
    pub(crate) debug: bool,
}

/// Runs `starling sub`.
pub(crate) fn run(args: SubArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(subscribe(args, &mut std::io::stdout()))
}

/// Subscribes as `args` say and writes the messages to `out`.
pub(crate) async fn subscribe(
    args: SubArgs,
    out: &mut (impl Write + Send),
) -> anyhow::Result<ExitCode> {
    let (client, mut incoming) = args.connect.connect("sub").await?;
    subscribe_all(&client, &args).await?;
    let format = match (args.json, args.verbose) {
        (true, _) => Format::Json,
        (false, true) => Format::Verbose,
        (false, false) => Format::Plain,
    };
    let deadline = args
        .timeout
        .map(|s| tokio::time::Instant::now() + Duration::from_secs(s));
    let mut received = 0u64;
    let ended = loop {
        if args.count.is_some_and(|c| received >= c) {
            break End::Count;
        }
        let message = tokio::select! {
            m = incoming.recv() => m,
            () = sleep_until(deadline) => break End::Timeout,
            _ = tokio::signal::ctrl_c() => break End::Interrupted,
        };
        let Some(message) = message else {
            break End::Lost;
        };
        output::write(out, format, &message).context("writing to stdout")?;
        out.flush().context("writing to stdout")?;
        received += 1;
    };
    if ended == End::Lost {
        return match incoming.finish().await {
            Err(e) => Err(anyhow!("connection lost: {e}")),
            Ok(()) => Err(anyhow!("connection lost")),
        };
    }
    client
        .disconnect()
        .await
        .map_err(|e| anyhow!("disconnecting failed: {e}"))?;
    let timed_out = ended == End::Timeout && (args.count.is_some() || received == 0);
    Ok(match timed_out {
        true => ExitCode::from(TIMEOUT_EXIT),
        false => ExitCode::SUCCESS,
    })
}

/// Why the receive loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Count,
    Timeout,
    Interrupted,
    Lost,
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Sends one SUBSCRIBE with every filter; reports each refused one on stderr; fails if all are.
async fn subscribe_all(client: &Client, args: &SubArgs) -> anyhow::Result<()> {
    let v5 = args.connect.version == ProtocolVersion::V5;
    let options = SubscriptionOptions {
        qos: args.qos,
        no_local: v5 && args.no_local,
        retain_as_published: v5 && args.retain_as_published,
        retain_handling: match args.retain_handling {
            1 if v5 => RetainHandling::SendIfNew,
            2 if v5 => RetainHandling::DoNotSend,
            _ => RetainHandling::SendAtSubscribe,
        },
    };
    let subscriptions = args
        .filters
        .iter()
        .map(|f| {
            let filter = Utf8String::from_bytes(bytes::Bytes::copy_from_slice(f.as_bytes()))
                .map_err(|e| anyhow!("invalid topic filter {f:?}: {e}"))?;
            Ok(Subscription { filter, options })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let suback = client
        .subscribe_many(subscriptions)
        .await
        .map_err(|e| anyhow!("subscribing failed: {e}"))?;
    let mut refused = 0;
    for (filter, code) in args.filters.iter().zip(&suback.reason_codes) {
        if !code.is_success() {
            refused += 1;
            eprintln!(
                "starling: subscription to {filter} refused: {} (0x{:02X})",
                code.description(),
                code.as_u8()
            );
        } else if args.debug {
            // A success reason code is the granted QoS (0x00, 0x01 or 0x02).
            eprintln!("subscribed to {filter} (granted QoS {})", code.as_u8());
        }
    }
    if refused == args.filters.len() {
        bail!("every subscription was refused");
    }
    Ok(())
}
