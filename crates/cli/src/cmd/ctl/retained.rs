//! `retained list|show|delete`: `/api/v5/mqtt/retainer/...`. A topic in a path is
//! percent-encoded (`a/b` as `a%2Fb`); a payload travels as base64 and is shown as text
//! when it is printable UTF-8.

use base64::Engine as _;
use clap::{Args, Subcommand};
use serde_json::Value;

use super::client::{encode, Api, Query};
use super::error::CtlResult;
use super::page::{self, PageArgs};
use super::table::{emit, text, Column, Output, Table};

/// `retained` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum RetainedCommand {
    /// List retained messages, in topic order.
    List(ListArgs),
    /// The message retained on a topic, with its payload.
    Show {
        /// The topic.
        topic: String,
    },
    /// Remove the message retained on a topic (nothing is delivered).
    Delete {
        /// The topic.
        topic: String,
    },
}

/// `retained list` options.
#[derive(Args, Debug)]
pub(crate) struct ListArgs {
    /// Only topics matching this filter (`#` when absent).
    #[arg(long)]
    topic: Option<String>,
    #[command(flatten)]
    page: PageArgs,
}

const COLUMNS: &[Column] = &[
    ("TOPIC", |v| text(&v["topic"])),
    ("QOS", |v| text(&v["qos"])),
    ("SIZE", |v| text(&v["payload_size"])),
    ("FROM", |v| text(&v["from_clientid"])),
    ("EXPIRES_AT", |v| text(&v["expires_at"])),
];

/// Runs a `retained` subcommand.
pub(crate) fn run(api: &Api, command: RetainedCommand, out: Output) -> CtlResult<()> {
    match command {
        RetainedCommand::List(args) => {
            let query = Query::new().opt("topic", args.topic.as_ref());
            let answer = page::fetch(api, "/api/v5/mqtt/retainer/messages", query, &args.page)?;
            out.list(&answer, COLUMNS)
        }
        RetainedCommand::Show { topic } => {
            let path = format!("/api/v5/mqtt/retainer/message/{}", encode(&topic));
            let message = api.get(&path, &Query::new())?;
            if out.json {
                return out.raw(&message);
            }
            emit(&message_lines(&message).render())
        }
        RetainedCommand::Delete { topic } => {
            api.delete(&format!("/api/v5/mqtt/retainer/message/{}", encode(&topic)))?;
            out.done(&format!("deleted the message retained on {topic:?}"))
        }
    }
}

/// Every field, the payload decoded when it reads as text.
fn message_lines(message: &Value) -> Table {
    let mut table = Table::new(&[]);
    for (name, value) in message.as_object().into_iter().flatten() {
        if name == "payload" {
            let (label, shown) = payload(value.as_str().unwrap_or_default());
            table.row(vec![format!("{label}:"), shown]);
        } else {
            table.row(vec![format!("{name}:"), text(value)]);
        }
    }
    table
}

/// (`payload`, the text) when the base64 decodes to printable UTF-8, else
/// (`payload (base64)`, the base64).
fn payload(encoded: &str) -> (&'static str, String) {
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .filter(|s| !s.chars().any(|c| c.is_control() && c != '\n' && c != '\t'));
    match decoded {
        Some(text) => ("payload", text),
        None => ("payload (base64)", encoded.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_is_shown_as_text_only_when_it_is_printable() {
        assert_eq!(payload("aGk="), ("payload", "hi".to_owned()));
        assert_eq!(payload("AQID"), ("payload (base64)", "AQID".to_owned()));
    }
}
