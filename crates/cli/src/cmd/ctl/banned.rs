//! `banned list|add|delete`: `/api/v5/banned`, by client id, username or peer address
//! (an address or a network).

use clap::{Args, Subcommand, ValueEnum};
use serde_json::{json, Value};

use super::client::{encode, Api, Query};
use super::error::CtlResult;
use super::page::{self, PageArgs};
use super::table::{text, Column, Output};

/// `banned` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum BannedCommand {
    /// List the bans in force.
    List(PageArgs),
    /// Ban a client id, a username, or an address or network (banning a connected client
    /// id closes its connection).
    Add(AddArgs),
    /// Lift a ban.
    Delete {
        /// What the ban is on.
        #[arg(value_enum)]
        kind: BanKind,
        /// Whom.
        who: String,
    },
}

/// What a ban is on, as the API names it.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub(crate) enum BanKind {
    /// A client id.
    Clientid,
    /// A username.
    Username,
    /// An IP address or a network (`10.0.0.0/8`).
    Peerhost,
}

impl BanKind {
    fn name(self) -> &'static str {
        match self {
            BanKind::Clientid => "clientid",
            BanKind::Username => "username",
            BanKind::Peerhost => "peerhost",
        }
    }
}

/// `banned add` options.
#[derive(Args, Debug)]
pub(crate) struct AddArgs {
    /// What the ban is on.
    #[arg(long = "as", value_enum, value_name = "KIND")]
    kind: BanKind,
    /// Whom: a client id, a username, an IP address or a network.
    #[arg(long)]
    who: String,
    /// Why (shown in the list).
    #[arg(long)]
    reason: Option<String>,
    /// When it ends (RFC 3339, e.g. 2030-01-01T00:00:00Z); never when absent.
    #[arg(long, value_parser = rfc3339)]
    until: Option<String>,
}

/// Checks an RFC 3339 time on the command line (a bad one is exit code 2).
pub(crate) fn rfc3339(text: &str) -> Result<String, String> {
    humantime::parse_rfc3339_weak(text)
        .map(|_| text.to_owned())
        .map_err(|e| format!("not an RFC 3339 time (2030-01-01T00:00:00Z): {e}"))
}

const COLUMNS: &[Column] = &[
    ("AS", |v| text(&v["as"])),
    ("WHO", |v| text(&v["who"])),
    ("REASON", |v| text(&v["reason"])),
    ("BY", |v| text(&v["by"])),
    ("AT", |v| text(&v["at"])),
    ("UNTIL", |v| text(&v["until"])),
];

/// Runs a `banned` subcommand.
pub(crate) fn run(api: &Api, command: BannedCommand, out: Output) -> CtlResult<()> {
    match command {
        BannedCommand::List(page) => {
            let answer = page::fetch(api, "/api/v5/banned", Query::new(), &page)?;
            out.list(&answer, COLUMNS)
        }
        BannedCommand::Add(args) => {
            let mut body = json!({"as": args.kind.name(), "who": args.who, "by": "ctl"});
            if let Some(reason) = args.reason {
                body["reason"] = Value::String(reason);
            }
            if let Some(until) = args.until {
                body["until"] = Value::String(until);
            }
            let ban = api.post("/api/v5/banned", &body)?;
            if out.json {
                return out.raw(&ban);
            }
            out.done(&format!("banned {} {:?}", args.kind.name(), args.who))
        }
        BannedCommand::Delete { kind, who } => {
            api.delete(&format!("/api/v5/banned/{}/{}", kind.name(), encode(&who)))?;
            out.done(&format!("lifted the ban on {} {who:?}", kind.name()))
        }
    }
}
