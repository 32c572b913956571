//! `starling pub`: connect, publish one message (or `--repeat` of them), wait for the broker's
//! acknowledgments (QoS 1/2), disconnect cleanly. Conventions of mosquitto_pub and MQTTX CLI.

use crate::cmd::client_opts::{parse_qos, ConnectOpts};
use anyhow::{anyhow, bail, Context};
use bytes::Bytes;
use clap::{ArgGroup, Args};
use starling_client::{Message, ProtocolVersion, QoS};
use starling_codec::{Properties, Utf8String};
use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

/// `starling pub`.
#[derive(Args, Debug)]
#[command(group(ArgGroup::new("source").required(true).args(["message", "file", "stdin", "null_message"])))]
pub(crate) struct PubArgs {
    #[command(flatten)]
    pub(crate) connect: ConnectOpts,
    /// Topic to publish to.
    #[arg(short = 't', long)]
    pub(crate) topic: String,
    /// The message.
    #[arg(short = 'm', long)]
    pub(crate) message: Option<String>,
    /// Send the contents of a file as the message.
    #[arg(short = 'f', long)]
    pub(crate) file: Option<PathBuf>,
    /// Read the message from stdin (all of it, as one message).
    #[arg(short = 's', long)]
    pub(crate) stdin: bool,
    /// Send an empty (null) message.
    #[arg(short = 'n', long)]
    pub(crate) null_message: bool,
    /// QoS.
    #[arg(short = 'q', long, default_value = "0", value_parser = parse_qos)]
    pub(crate) qos: QoS,
    /// Set the retain flag.
    #[arg(short = 'r', long)]
    pub(crate) retain: bool,
    /// Message expiry interval in seconds (5.0).
    #[arg(long)]
    pub(crate) message_expiry: Option<u32>,
    /// Response topic (5.0).
    #[arg(long)]
    pub(crate) response_topic: Option<String>,
    /// Correlation data (5.0).
    #[arg(long)]
    pub(crate) correlation_data: Option<String>,
    /// Content type (5.0).
    #[arg(long)]
    pub(crate) content_type: Option<String>,
    /// Mark the payload as UTF-8 (payload format indicator 1, 5.0).
    #[arg(long)]
    pub(crate) payload_format_utf8: bool,
    /// Publish the message this many times in all.
    #[arg(long, default_value_t = 1)]
    pub(crate) repeat: u64,
    /// Milliseconds between two publishes with --repeat.
    #[arg(long, default_value_t = 0)]
    pub(crate) repeat_delay: u64,
}

/// Runs `starling pub`.
pub(crate) fn run(args: PubArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(publish(args))
}

/// Publishes as `args` say; returns once the broker acknowledged and the DISCONNECT went out.
pub(crate) async fn publish(args: PubArgs) -> anyhow::Result<()> {
    let message = message(&args)?;
    let (client, incoming) = args.connect.connect("pub").await?;
    let drain = tokio::spawn(drain(incoming));
    for i in 0..args.repeat {
        if i > 0 && args.repeat_delay > 0 {
            tokio::time::sleep(Duration::from_millis(args.repeat_delay)).await;
        }
        let code = client
            .publish_confirmed(message.clone())
            .await
            .map_err(|e| anyhow!("publishing to {:?} failed: {e}", args.topic))?;
        if !code.is_success() {
            bail!(
                "the broker refused the message on {:?}: {} (0x{:02X})",
                args.topic,
                code.description(),
                code.as_u8()
            );
        }
    }
    client
        .disconnect()
        .await
        .map_err(|e| anyhow!("disconnecting failed: {e}"))?;
    match drain.await {
        Ok(result) => result.map_err(|e| anyhow!("the connection ended badly: {e}")),
        Err(_) => Ok(()),
    }
}

async fn drain(
    mut incoming: starling_client::Incoming,
) -> Result<(), starling_client::ClientError> {
    while incoming.recv().await.is_some() {}
    incoming.finish().await
}

fn message(args: &PubArgs) -> anyhow::Result<Message> {
    let payload = payload(args)?;
    let mut message = Message::new(&args.topic, payload, args.qos)
        .map_err(|e| anyhow!("invalid topic {:?}: {e}", args.topic))?;
    message.retain = args.retain;
    if args.connect.version == ProtocolVersion::V5 {
        let properties = properties(args)?;
        if properties != Properties::default() {
            message.properties = Some(Box::new(properties));
        }
    }
    Ok(message)
}

fn payload(args: &PubArgs) -> anyhow::Result<Bytes> {
    if let Some(m) = &args.message {
        return Ok(Bytes::from(m.clone()));
    }
    if let Some(path) = &args.file {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        return Ok(Bytes::from(bytes));
    }
    if args.stdin {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .context("reading stdin")?;
        return Ok(Bytes::from(bytes));
    }
    Ok(Bytes::new())
}

fn properties(args: &PubArgs) -> anyhow::Result<Properties> {
    let user_properties = args
        .connect
        .user_properties
        .iter()
        .map(|(k, v)| Ok((utf8(k)?, utf8(v)?)))
        .collect::<anyhow::Result<_>>()?;
    Ok(Properties {
        payload_format_indicator: args.payload_format_utf8.then_some(1),
        message_expiry_interval: args.message_expiry,
        content_type: args.content_type.as_deref().map(utf8).transpose()?,
        response_topic: args.response_topic.as_deref().map(utf8).transpose()?,
        correlation_data: args.correlation_data.clone().map(Bytes::from),
        user_properties,
        ..Properties::default()
    })
}

fn utf8(s: &str) -> anyhow::Result<Utf8String> {
    Utf8String::from_bytes(Bytes::copy_from_slice(s.as_bytes()))
        .map_err(|e| anyhow!("invalid string {s:?}: {e}"))
}
