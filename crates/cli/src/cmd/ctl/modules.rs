//! `modules list|show|enable|disable`: `/api/v5/modules`, the features switched on and off
//! while the broker runs. A change is stored and outlives a restart.

use clap::Subcommand;
use serde_json::{json, Value};

use super::client::{encode, Api, Query};
use super::error::CtlResult;
use super::table::{text, Column, Output};

/// `modules` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum ModulesCommand {
    /// Every module, on or off.
    List,
    /// One module with its configuration.
    Show {
        /// The module (`delayed`, `retainer`, `shared_subscription`, `exclusive_subscription`,
        /// `sys`, `topic_rewrite`, `auto_subscribe`).
        name: String,
    },
    /// Turn a module on.
    Enable {
        /// The module.
        name: String,
    },
    /// Turn a module off (what it holds is kept unless `--clear`).
    Disable {
        /// The module.
        name: String,
        /// Also drop what it holds (`delayed`: held messages; `retainer`: retained messages).
        #[arg(long)]
        clear: bool,
    },
}

const COLUMNS: &[Column] = &[
    ("NAME", |v| text(&v["name"])),
    ("ENABLED", |v| text(&v["enabled"])),
    ("CONFIG", |v| config_summary(&v["config"])),
];

/// The config in a table cell: the number of rules, or the settings as `k=v`.
fn config_summary(config: &Value) -> String {
    match config {
        Value::Array(items) => format!("{} entries", items.len()),
        Value::Object(settings) => settings
            .iter()
            .map(|(k, v)| format!("{k}={}", text(v)))
            .collect::<Vec<_>>()
            .join(" "),
        other => text(other),
    }
}

/// Runs a `modules` subcommand.
pub(crate) fn run(api: &Api, command: ModulesCommand, out: Output) -> CtlResult<()> {
    let path = |name: &str| format!("/api/v5/modules/{}", encode(name));
    match command {
        ModulesCommand::List => out.array(&api.get("/api/v5/modules", &Query::new())?, COLUMNS),
        ModulesCommand::Show { name } => {
            let module = api.get(&path(&name), &Query::new())?;
            if out.json {
                return out.raw(&module);
            }
            let mut shown = module.clone();
            if let Some(config) = module.get("config") {
                shown["config"] = Value::String(config.to_string());
            }
            out.record(&shown)
        }
        ModulesCommand::Enable { name } => {
            api.put(&path(&name), &json!({"enabled": true}))?;
            out.done(&format!("{name} is on"))
        }
        ModulesCommand::Disable { name, clear } => {
            api.put(&path(&name), &json!({"enabled": false, "clear": clear}))?;
            let kept = if clear {
                "cleared"
            } else {
                "what it holds is kept"
            };
            out.done(&format!("{name} is off ({kept})"))
        }
    }
}
