//! `publish`: one message through the API (`POST /api/v5/publish`), sent by the broker as
//! itself (no ACL applies; `$SYS` topics are refused).

use clap::Args;
use serde_json::json;

use super::client::Api;
use super::error::CtlResult;
use super::table::{text, Output};

/// `publish` options.
#[derive(Args, Debug)]
pub(crate) struct PublishArgs {
    /// The topic (`$delayed/<seconds>/<topic>` delays it).
    #[arg(short, long)]
    topic: String,
    /// The payload, as text (empty when absent).
    #[arg(short, long, default_value = "")]
    message: String,
    /// QoS.
    #[arg(short, long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=2))]
    qos: u8,
    /// Retain it.
    #[arg(short, long)]
    retain: bool,
}

/// Publishes.
pub(crate) fn run(api: &Api, args: &PublishArgs, out: Output) -> CtlResult<()> {
    let body = json!({
        "topic": args.topic,
        "payload": args.message,
        "qos": args.qos,
        "retain": args.retain,
    });
    let answer = api.post("/api/v5/publish", &body)?;
    if out.json {
        return out.raw(&answer);
    }
    out.done(&format!(
        "published to {:?} (id {})",
        args.topic,
        text(&answer["id"])
    ))
}
