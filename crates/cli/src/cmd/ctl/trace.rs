//! `trace start|stop|list|delete|download`: `/api/v5/trace`, the traces that write one
//! client id's, address's or topic filter's events to a file on the broker.

use clap::{ArgGroup, Args, Subcommand, ValueEnum};
use serde_json::{json, Value};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::client::{encode, Api, Query};
use super::error::{CtlError, CtlResult};
use super::table::{emit, text, Column, Output};

/// `trace` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum TraceCommand {
    /// Start a trace on a client id, a topic filter or a peer address.
    Start(StartArgs),
    /// Stop a trace now (its file stays, to download).
    Stop {
        /// The trace.
        name: String,
    },
    /// List the traces.
    List,
    /// Delete a trace and its file.
    Delete {
        /// The trace.
        name: String,
    },
    /// Download a trace's file (to stdout, or to -o FILE).
    Download {
        /// The trace.
        name: String,
        /// Write it to this file rather than stdout.
        #[arg(short, long)]
        output: Option<std::path::PathBuf>,
    },
}

/// How payloads are written.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub(crate) enum Encode {
    /// As text.
    Text,
    /// As hexadecimal.
    Hex,
    /// Only their size.
    Hidden,
}

/// `trace start` options.
#[derive(Args, Debug)]
#[command(group(ArgGroup::new("target").required(true).args(["clientid", "topic", "ip"])))]
pub(crate) struct StartArgs {
    /// Its name: 1 to 64 letters, digits, _ or -.
    name: String,
    /// Trace this client id.
    #[arg(long)]
    clientid: Option<String>,
    /// Trace PUBLISH packets on topics this filter matches.
    #[arg(long)]
    topic: Option<String>,
    /// Trace clients from this IP address.
    #[arg(long)]
    ip: Option<String>,
    /// How long it runs, from now (`10m`, `1h`).
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// How payloads are written.
    #[arg(long, value_enum, default_value = "text")]
    payload_encode: Encode,
}

const COLUMNS: &[Column] = &[
    ("NAME", |v| text(&v["name"])),
    ("TYPE", |v| text(&v["type"])),
    ("TARGET", |v| {
        let kind = v["type"].as_str().unwrap_or_default();
        text(&v[kind])
    }),
    ("STATUS", |v| text(&v["status"])),
    ("START", |v| text(&v["start_at"])),
    ("END", |v| text(&v["end_at"])),
    ("SIZE", |v| {
        let sizes = v["log_size"].as_object();
        sizes
            .map(|m| m.values().filter_map(Value::as_u64).sum::<u64>())
            .unwrap_or(0)
            .to_string()
    }),
    ("DROPPED", |v| text(&v["dropped"])),
];

/// Runs a `trace` subcommand.
pub(crate) fn run(api: &Api, command: TraceCommand, out: Output) -> CtlResult<()> {
    match command {
        TraceCommand::Start(args) => start(api, &args, out),
        TraceCommand::Stop { name } => {
            let trace = api.put(&format!("/api/v5/trace/{}/stop", encode(&name)), &json!({}))?;
            if out.json {
                return out.raw(&trace);
            }
            out.done(&format!("stopped trace {name:?}"))
        }
        TraceCommand::List => {
            let answer = api.get("/api/v5/trace", &Query::new())?;
            out.array(&answer, COLUMNS)
        }
        TraceCommand::Delete { name } => {
            api.delete(&format!("/api/v5/trace/{}", encode(&name)))?;
            out.done(&format!("deleted trace {name:?}"))
        }
        TraceCommand::Download { name, output } => {
            let file = api.get_text(&format!("/api/v5/trace/{}/download", encode(&name)))?;
            match output {
                Some(path) => {
                    std::fs::write(&path, file).map_err(|e| {
                        CtlError::Local(format!("cannot write {}: {e}", path.display()))
                    })?;
                    Ok(())
                }
                None => emit(&file),
            }
        }
    }
}

fn start(api: &Api, args: &StartArgs, out: Output) -> CtlResult<()> {
    let (kind, field, value) = match (&args.clientid, &args.topic, &args.ip) {
        (Some(id), _, _) => ("clientid", "clientid", id),
        (_, Some(topic), _) => ("topic", "topic", topic),
        (_, _, Some(ip)) => ("ip_address", "ip_address", ip),
        _ => return Err(CtlError::Usage("give --clientid, --topic or --ip".into())),
    };
    let end = SystemTime::now()
        .checked_add(args.duration)
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .ok_or_else(|| CtlError::Usage("--duration is too long".into()))?;
    let encode = match args.payload_encode {
        Encode::Text => "text",
        Encode::Hex => "hex",
        Encode::Hidden => "hidden",
    };
    let mut body = json!({
        "name": args.name,
        "type": kind,
        "end_at": end.as_secs(),
        "payload_encode": encode,
    });
    body[field] = Value::String(value.clone());
    let trace = api.post("/api/v5/trace", &body)?;
    if out.json {
        return out.raw(&trace);
    }
    out.done(&format!(
        "started trace {:?} on {kind} {value:?} until {}",
        args.name,
        text(&trace["end_at"])
    ))
}
