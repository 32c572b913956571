//! `clients list|show|kick|discard`: `/api/v5/clients`.

use clap::{Args, Subcommand, ValueEnum};
use serde_json::Value;

use super::client::{encode, Api, Query};
use super::error::CtlResult;
use super::page::{self, PageArgs};
use super::table::{emit, text, Column, Output};

/// `clients` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum ClientsCommand {
    /// List clients (connected, and offline sessions), in client-id order.
    List(ListArgs),
    /// One client's detail and subscriptions.
    Show {
        /// The client id.
        clientid: String,
    },
    /// Close a connected client's connection (DISCONNECT 0x98); its session stays.
    Kick {
        /// The client id.
        clientid: String,
    },
    /// Close the connection if there is one, and end the session: nothing of it is kept.
    Discard {
        /// The client id.
        clientid: String,
    },
}

/// A client's connection state, as the API names it.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub(crate) enum ConnState {
    /// Connected now.
    Connected,
    /// An offline session.
    Disconnected,
}

/// `clients list` filters.
#[derive(Args, Debug)]
pub(crate) struct ListArgs {
    /// Client ids holding this substring.
    #[arg(long)]
    like_clientid: Option<String>,
    /// Usernames holding this substring.
    #[arg(long)]
    like_username: Option<String>,
    /// The peer's IP address.
    #[arg(long)]
    ip: Option<std::net::IpAddr>,
    /// Protocol level: 3 (3.1), 4 (3.1.1) or 5.
    #[arg(long, value_parser = clap::value_parser!(u8).range(3..=5))]
    proto_ver: Option<u8>,
    /// Connected or not.
    #[arg(long, value_enum)]
    conn_state: Option<ConnState>,
    #[command(flatten)]
    page: PageArgs,
}

const COLUMNS: &[Column] = &[
    ("CLIENTID", |v| text(&v["clientid"])),
    ("USERNAME", |v| text(&v["username"])),
    ("STATE", state),
    ("PEER", peer),
    ("PROTO", proto),
    ("KEEPALIVE", |v| text(&v["keepalive"])),
    ("SUBS", |v| text(&v["subscriptions_cnt"])),
    ("CONNECTED_AT", |v| text(&v["connected_at"])),
];

fn state(v: &Value) -> String {
    match v["connected"].as_bool() {
        Some(true) => "connected".into(),
        _ => "disconnected".into(),
    }
}

fn peer(v: &Value) -> String {
    match (v["ip_address"].as_str(), v["port"].as_u64()) {
        (Some(ip), Some(port)) if ip.contains(':') => format!("[{ip}]:{port}"),
        (Some(ip), Some(port)) => format!("{ip}:{port}"),
        _ => "-".into(),
    }
}

fn proto(v: &Value) -> String {
    match v["proto_ver"].as_u64() {
        Some(3) => "3.1".into(),
        Some(4) => "3.1.1".into(),
        Some(5) => "5.0".into(),
        _ => "-".into(),
    }
}

/// Runs a `clients` subcommand.
pub(crate) fn run(api: &Api, command: ClientsCommand, out: Output) -> CtlResult<()> {
    match command {
        ClientsCommand::List(args) => list(api, &args, out),
        ClientsCommand::Show { clientid } => show(api, &clientid, out),
        ClientsCommand::Kick { clientid } => {
            api.post(
                &format!("/api/v5/clients/{}/kickout", encode(&clientid)),
                &Value::Null,
            )?;
            out.done(&format!("kicked out {clientid:?} (its session stays)"))
        }
        ClientsCommand::Discard { clientid } => {
            api.delete(&format!("/api/v5/clients/{}", encode(&clientid)))?;
            out.done(&format!("discarded {clientid:?} and its session"))
        }
    }
}

fn list(api: &Api, args: &ListArgs, out: Output) -> CtlResult<()> {
    let conn_state = args.conn_state.map(|s| match s {
        ConnState::Connected => "connected",
        ConnState::Disconnected => "disconnected",
    });
    let query = Query::new()
        .opt("like_clientid", args.like_clientid.as_ref())
        .opt("like_username", args.like_username.as_ref())
        .opt("ip_address", args.ip)
        .opt("proto_ver", args.proto_ver)
        .opt("conn_state", conn_state);
    let answer = page::fetch(api, "/api/v5/clients", query, &args.page)?;
    out.list(&answer, COLUMNS)
}

/// The client's fields, then its subscriptions (`--json`: the client's JSON only).
fn show(api: &Api, clientid: &str, out: Output) -> CtlResult<()> {
    let path = format!("/api/v5/clients/{}", encode(clientid));
    let client = api.get(&path, &Query::new())?;
    out.record(&client)?;
    if out.json {
        return Ok(());
    }
    let subscriptions = api.get(&format!("{path}/subscriptions"), &Query::new())?;
    emit("\n")?;
    out.array(&subscriptions, super::subscriptions::COLUMNS)
}
