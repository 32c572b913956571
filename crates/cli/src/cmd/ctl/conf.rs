//! `conf show|set|reload`: `/api/v5/configs`, the running configuration. `set` changes one key
//! (validated by the broker, applied live or saved for a restart, as the answer says);
//! `reload` re-reads the configuration file, as SIGHUP does.

use clap::Subcommand;
use serde_json::{Map, Value};

use super::client::{encode, Api, Query};
use super::error::{CtlError, CtlResult};
use super::table::{emit, Output};

/// `conf` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum ConfCommand {
    /// The running configuration as `key = value` lines (secrets as `******`), or one root
    /// (`mqtt`, `session`, `log`, `listener`, ...).
    Show {
        /// A top-level section.
        root: Option<String>,
    },
    /// Sets one key, e.g. `conf set mqtt.max_qos 1` or `conf set log.level debug`. The value
    /// is read as JSON when it is JSON (`1`, `true`, `"text"`, `[...]`), else as a string.
    Set {
        /// The key, as a dotted path (`<root>.<key>`; a root alone replaces a list).
        key: String,
        /// The new value.
        value: String,
    },
    /// Re-reads the configuration file (and the saved changes); applies what can be applied
    /// live and lists what needs a restart.
    Reload,
}

/// Runs a `conf` subcommand.
pub(crate) fn run(api: &Api, command: ConfCommand, out: Output) -> CtlResult<()> {
    match command {
        ConfCommand::Show { root } => {
            let path = match &root {
                Some(root) => format!("/api/v5/configs/{}", encode(root)),
                None => "/api/v5/configs".to_owned(),
            };
            let config = api.get(&path, &Query::new())?;
            if out.json {
                return out.raw(&config);
            }
            let mut lines = Vec::new();
            flatten(root.as_deref().unwrap_or(""), &config, &mut lines);
            emit(&lines.join(""))
        }
        ConfCommand::Set { key, value } => {
            let mut path = key.split('.');
            let root = path.next().unwrap_or_default().to_owned();
            let rest: Vec<&str> = path.collect();
            if root.is_empty() || rest.iter().any(|s| s.is_empty()) {
                return Err(CtlError::Usage(format!(
                    "{key:?} is not a key: give a dotted path such as mqtt.max_qos"
                )));
            }
            let value = serde_json::from_str(&value).unwrap_or(Value::String(value));
            let body = rest.iter().rev().fold(value, |inner, k| {
                let mut m = Map::new();
                m.insert((*k).to_owned(), inner);
                Value::Object(m)
            });
            let answer = api.put(&format!("/api/v5/configs/{}", encode(&root)), &body)?;
            report(&answer, out)
        }
        ConfCommand::Reload => {
            let answer = api.post("/api/v5/configs/reload", &Value::Null)?;
            report(&answer, out)
        }
    }
}

/// What a change did, for people: the keys applied, the keys waiting for a restart.
fn report(answer: &Value, out: Output) -> CtlResult<()> {
    if out.json {
        return out.raw(answer);
    }
    let keys = |name: &str| -> Vec<String> {
        answer[name]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|k| k.as_str().map(str::to_owned))
            .collect()
    };
    let mut text = String::new();
    let (applied, restart, env) = (
        keys("applied"),
        keys("restart_required"),
        keys("overridden_by_env"),
    );
    if applied.is_empty() && restart.is_empty() {
        text.push_str("nothing changed\n");
    }
    if !applied.is_empty() {
        text.push_str(&format!("applied: {}\n", applied.join(", ")));
    }
    if !restart.is_empty() {
        text.push_str(&format!(
            "saved, in force after a restart: {}\n",
            restart.join(", ")
        ));
    }
    if !env.is_empty() {
        text.push_str(&format!(
            "overridden by STARLING_* environment variables (they win): {}\n",
            env.join(", ")
        ));
    }
    emit(&text)
}

/// `key = value` lines, one per leaf; lists as JSON on one line.
fn flatten(prefix: &str, value: &Value, lines: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&path, v, lines);
            }
        }
        other => lines.push(format!("{prefix} = {other}\n")),
    }
}
