//! The node: `status` (health, and with credentials the node's facts), `listeners`,
//! `stats` (gauges) and `metrics` (counters).

use serde_json::{json, Value};
use std::time::Duration;

use super::client::{Api, Query};
use super::error::CtlResult;
use super::table::{emit, text, Column, Output, Table};

/// `status`: `GET /api/v5/status?format=json` (no login needed), and `GET /api/v5/nodes`
/// when there are credentials. `--json` prints `{"status": ..., "nodes": [...]}` (`nodes`
/// only with credentials).
pub(crate) fn status(api: &Api, out: Output) -> CtlResult<()> {
    let health = api.get("/api/v5/status", &Query::new().opt("format", Some("json")))?;
    let nodes = if api.has_credentials() {
        Some(api.get("/api/v5/nodes", &Query::new())?)
    } else {
        None
    };
    if out.json {
        let mut all = json!({ "status": health });
        if let Some(nodes) = nodes {
            all["nodes"] = nodes;
        }
        return out.raw(&all);
    }
    emit(&format!(
        "{} is {} (version {})\n",
        text(&health["node"]),
        text(&health["status"]),
        text(&health["version"])
    ))?;
    for node in nodes
        .as_ref()
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        emit(&node_facts(node).render())?;
    }
    Ok(())
}

/// One node's facts as `name: value` lines, in units people read.
fn node_facts(n: &Value) -> Table {
    let uptime = n["uptime"]
        .as_u64()
        .map(|s| humantime::format_duration(Duration::from_secs(s)).to_string());
    let load = ["load1", "load5", "load15"]
        .iter()
        .map(|k| n[*k].as_f64().map_or("-".to_owned(), |l| format!("{l:.2}")))
        .collect::<Vec<_>>()
        .join(" ");
    let rows = [
        ("uptime", uptime.unwrap_or_else(|| "-".into())),
        ("started at", text(&n["started_at"])),
        ("connections", text(&n["connections"])),
        ("sessions", text(&n["sessions"])),
        ("memory used", bytes(&n["memory_used"])),
        ("memory total", bytes(&n["memory_total"])),
        ("cpu seconds", text(&n["cpu_seconds"])),
        ("load", load),
        ("cpus", text(&n["cpus"])),
        ("os", text(&n["os"])),
    ];
    let mut table = Table::new(&[]);
    for (name, value) in rows {
        table.row(vec![format!("  {name}:"), value]);
    }
    table
}

/// A byte count in MiB, or GiB from 1 GiB (`-` when unknown).
fn bytes(v: &Value) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    match v.as_u64() {
        None => "-".into(),
        Some(b) if b as f64 >= 1024.0 * MIB => format!("{:.1} GiB", b as f64 / (1024.0 * MIB)),
        Some(b) => format!("{:.1} MiB", b as f64 / MIB),
    }
}

/// `listeners [list|start ID|stop ID|restart ID]`.
#[derive(clap::Args, Debug)]
pub(crate) struct ListenersArgs {
    #[command(subcommand)]
    action: Option<ListenerAction>,
}

/// What `listeners` does; nothing: list them.
#[derive(clap::Subcommand, Debug)]
pub(crate) enum ListenerAction {
    /// The listeners and their state (the default).
    List,
    /// Accept connections again (a TCP listener binds its address anew).
    Start {
        /// `<type>:<name>`, as `listeners` shows it (`tcp:default`).
        id: String,
    },
    /// Stop accepting new connections; open ones stay.
    Stop {
        /// `<type>:<name>`, as `listeners` shows it (`tcp:default`).
        id: String,
    },
    /// Stop, then start.
    Restart {
        /// `<type>:<name>`, as `listeners` shows it (`tcp:default`).
        id: String,
    },
}

/// `listeners`: `GET /api/v5/listeners`, or `PUT /api/v5/listeners/{id}/{action}`.
pub(crate) fn listeners(api: &Api, args: &ListenersArgs, out: Output) -> CtlResult<()> {
    let (id, verb, done) = match &args.action {
        None | Some(ListenerAction::List) => return list_listeners(api, out),
        Some(ListenerAction::Start { id }) => (id, "start", "started"),
        Some(ListenerAction::Stop { id }) => (id, "stop", "stopped"),
        Some(ListenerAction::Restart { id }) => (id, "restart", "restarted"),
    };
    let path = format!("/api/v5/listeners/{}/{verb}", super::client::encode(id));
    let answer = api.put(&path, &serde_json::Value::Null)?;
    if out.json {
        return out.raw(&answer);
    }
    out.done(&format!("listener {id} {done}"))
}

fn list_listeners(api: &Api, out: Output) -> CtlResult<()> {
    const COLUMNS: &[Column] = &[
        ("ID", |v| text(&v["id"])),
        ("TYPE", |v| text(&v["type"])),
        ("BIND", |v| text(&v["bind"])),
        ("RUNNING", |v| text(&v["running"])),
        ("MAX_CONNECTIONS", |v| text(&v["max_connections"])),
    ];
    out.array(&api.get("/api/v5/listeners", &Query::new())?, COLUMNS)
}

/// `stats` and `metrics`: an object of names and numbers, as a two-column table.
pub(crate) fn counters(api: &Api, path: &str, out: Output) -> CtlResult<()> {
    let answer = api.get(path, &Query::new())?;
    if out.json {
        return out.raw(&answer);
    }
    let mut table = Table::new(&["NAME", "VALUE"]);
    for (name, value) in answer.as_object().into_iter().flatten() {
        table.row(vec![name.clone(), text(value)]);
    }
    emit(&table.render())
}

const ALARM_COLUMNS: &[Column] = &[
    ("NAME", |v| text(&v["name"])),
    ("ACTIVE", |v| text(&v["activated"])),
    ("SINCE", |v| text(&v["activate_at"])),
    ("UNTIL", |v| text(&v["deactivate_at"])),
    ("MESSAGE", |v| text(&v["message"])),
];

/// `alarms`: `GET /api/v5/alarms`, the active ones first.
pub(crate) fn alarms(api: &Api, out: Output) -> CtlResult<()> {
    let answer = api.get("/api/v5/alarms", &Query::new())?;
    out.list(&answer, ALARM_COLUMNS)
}
