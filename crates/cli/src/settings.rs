//! Layered configuration: the file, then the changes saved through the management API, then
//! `STARLING_*` environment variables.
//!
//! The schema, defaults and validation live in `starling-config`; this module only merges
//! sources into one `toml::Table` and hands it over. Precedence, lowest first: built-in
//! defaults, the file (if any), the saved changes (`<data_dir>/configs/overrides.toml`, read
//! by `starling_broker::load_config`), then the environment.
//!
//! An environment variable `STARLING_<SECTION>__<KEY>` sets `<section>.<key>`: the name after
//! the prefix is split on `__` and lowercased. A numeric segment indexes a list, so
//! `STARLING_LISTENER__0__BIND` sets the first listener's `bind`; the index may be one past the
//! end to add a listener. The value is read as a TOML value when it is one (`2048`, `true`,
//! `1.5`, `"quoted"`, `[1, 2]`), otherwise as a plain string (`10s`, `0.0.0.0:1883`, `info`);
//! if the TOML reading does not fit the key's type, the plain string is tried too.
//! Variables are applied in a fixed order (by path, list indexes numerically), each checked as
//! it is applied, so an unknown key or a wrong type is reported naming the variable.
//! A `STARLING_*` variable without `__` is not a key path and is left alone (`STARLING_CONFIG`
//! is the config file's path, `STARLING_LOG` the log filter, and other tools use the prefix too).

use std::cmp::Ordering;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use starling_config::{ConfigError, RawConfig};
use toml::{Table, Value};

/// The prefix of variables that set configuration keys.
const PREFIX: &str = "STARLING_";

/// The configuration from the file at `path` (if any) overridden by the `STARLING_*` variables
/// in `env` (pass `std::env::vars()`), validated.
#[cfg(test)]
pub(crate) fn load(
    path: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
) -> anyhow::Result<starling_config::Config> {
    let sources = Sources::new(path.map(Path::to_path_buf), env.into_iter().collect());
    let table = sources.layer(&Table::new())?;
    let origin = sources.origin();
    starling_config::Config::from_table(table, &origin)
        .with_context(|| format!("invalid configuration ({origin})"))
}

/// Where `starling start` reads its configuration: a file (or none) and the environment, taken
/// once at start. Between them go the changes saved through the management API
/// (`starling_broker::live_config`), so the environment still wins.
#[derive(Debug, Clone)]
pub(crate) struct Sources {
    path: Option<PathBuf>,
    env: Vec<(String, String)>,
}

impl Sources {
    pub(crate) fn new(path: Option<PathBuf>, env: Vec<(String, String)>) -> Self {
        Self { path, env }
    }

    /// The file (read again), then `saved`, then the environment, as one table; an unknown
    /// key or a wrong type names the file's line or the variable.
    pub(crate) fn layer(&self, saved: &Table) -> anyhow::Result<Table> {
        let mut table = match &self.path {
            Some(path) => read_file(path)?,
            None => Table::new(),
        };
        starling_config::keys::merge(&mut table, saved.clone());
        for o in &overrides(self.env.iter().cloned())? {
            apply(&mut table, o)?;
        }
        Ok(table)
    }

    /// What the configuration was read from, for messages.
    pub(crate) fn origin(&self) -> String {
        let vars = overrides(self.env.iter().cloned()).is_ok_and(|o| !o.is_empty());
        match (&self.path, vars) {
            (Some(p), false) => p.display().to_string(),
            (Some(p), true) => format!("{} and STARLING_* environment variables", p.display()),
            (None, false) => "built-in defaults".to_owned(),
            (None, true) => "built-in defaults and STARLING_* environment variables".to_owned(),
        }
    }
}

/// The file's table, checked against the schema so that its errors cite the file's lines.
fn read_file(path: &Path) -> anyhow::Result<Table> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read configuration file {origin}"))?;
    RawConfig::parse_str(&text, &origin)?;
    Ok(text.parse::<Table>()?)
}

/// One `STARLING_*` variable, split into its key path.
#[derive(Debug)]
struct Override {
    /// The variable's name, for error messages.
    var: String,
    /// The lowercased segments of the name after the prefix.
    path: Vec<String>,
    /// The variable's value as given.
    value: String,
}

/// The `STARLING_*` variables of `env` that set keys, in application order.
fn overrides(env: impl IntoIterator<Item = (String, String)>) -> anyhow::Result<Vec<Override>> {
    let mut out = Vec::new();
    for (var, value) in env {
        let Some(rest) = var.strip_prefix(PREFIX) else {
            continue;
        };
        if !rest.contains("__") {
            // Not a key path (e.g. STARLING_LOG, or a test harness's STARLING_BIN): not ours.
            continue;
        }
        let path: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
        if path.iter().any(String::is_empty) {
            bail!(
                "{var}: a configuration variable names a section and a key separated by `__`, \
                 like STARLING_MQTT__MAX_PACKET_SIZE"
            );
        }
        out.push(Override { var, path, value });
    }
    out.sort_by(|a, b| compare_paths(&a.path, &b.path));
    Ok(out)
}

/// Orders key paths segment by segment, numeric segments by value, so list entries are added in order.
fn compare_paths(a: &[String], b: &[String]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let ord = match (x.parse::<usize>(), y.parse::<usize>()) {
            (Ok(x), Ok(y)) => x.cmp(&y),
            _ => x.cmp(y),
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    a.len().cmp(&b.len())
}

/// Sets the override's key in `table`, and checks the result still fits the schema.
fn apply(table: &mut Table, o: &Override) -> anyhow::Result<()> {
    let parsed = parse_value(&o.value);
    let plain = Value::String(o.value.clone());
    let mut candidates = vec![parsed.clone()];
    if parsed != plain {
        candidates.push(plain);
    }
    let mut first_error = None;
    for value in candidates {
        let mut candidate = table.clone();
        set_in(&mut candidate, &o.path, value)
            .map_err(|problem| anyhow::anyhow!("{}: {problem}", o.var))?;
        match RawConfig::from_table(candidate.clone(), "environment") {
            Ok(_) => {
                *table = candidate;
                return Ok(());
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    let message = match first_error {
        Some(ConfigError::Syntax { message, .. }) => message,
        Some(other) => other.to_string(),
        None => String::new(),
    };
    bail!("{}={:?}: {}", o.var, o.value, message.replace('\n', " "))
}

/// `raw` as a TOML value if it is exactly one (dates excepted), else as a string.
fn parse_value(raw: &str) -> Value {
    match format!("v = {raw}").parse::<Table>() {
        Ok(mut t) if t.len() == 1 => match t.remove("v") {
            Some(Value::Datetime(_)) | None => Value::String(raw.to_owned()),
            Some(v) => v,
        },
        _ => Value::String(raw.to_owned()),
    }
}

/// Puts `value` at `path` (at least one segment) in `table`.
fn set_in(table: &mut Table, path: &[String], value: Value) -> Result<(), String> {
    let Some((first, rest)) = path.split_first() else {
        return Err("names no key".to_owned());
    };
    let child = table
        .entry(first.clone())
        .or_insert_with(|| empty_container(rest));
    set(child, rest, value)
}

/// Puts `value` at `path` under `node`, creating tables and list entries on the way.
fn set(node: &mut Value, path: &[String], value: Value) -> Result<(), String> {
    let Some((first, rest)) = path.split_first() else {
        *node = value;
        return Ok(());
    };
    let child = match node {
        Value::Table(t) => t
            .entry(first.clone())
            .or_insert_with(|| empty_container(rest)),
        Value::Array(a) => {
            let i: usize = first
                .parse()
                .map_err(|_| format!("`{first}` must be a list index here"))?;
            if i == a.len() {
                a.push(empty_container(rest));
            }
            let len = a.len();
            a.get_mut(i)
                .ok_or_else(|| format!("index {i} is past the end of a list of {len}"))?
        }
        _ => return Err(format!("`{first}` is below a key that is not a section")),
    };
    set(child, rest, value)
}

/// What a missing key becomes when `rest` still has to be walked below it.
fn empty_container(rest: &[String]) -> Value {
    match rest.first() {
        Some(seg) if seg.parse::<usize>().is_ok() => Value::Array(Vec::new()),
        _ => Value::Table(Table::new()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use starling_config::{Config, ListenerKind};

    use super::*;

    fn env(vars: &[(&str, &str)]) -> Vec<(String, String)> {
        vars.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// A file with `text`, unique to `name`, in the temporary directory.
    fn file(name: &str, text: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!(
            "starling-settings-{}-{name}.toml",
            std::process::id()
        ));
        std::fs::write(&path, text).unwrap();
        path
    }

    fn err(path: Option<&Path>, vars: &[(&str, &str)]) -> String {
        format!("{:#}", load(path, env(vars)).unwrap_err())
    }

    #[test]
    fn nothing_given_is_the_defaults() {
        let c = load(
            None,
            env(&[("PATH", "/bin"), ("STARLING_CONFIG", "x.toml")]),
        )
        .unwrap();
        assert_eq!(c, Config::default());
    }

    #[test]
    fn file_then_environment() {
        let path = file("layers", "[mqtt]\nmax_packet_size = 4096\nmax_qos = 1\n");
        let c = load(
            Some(&path),
            env(&[
                ("STARLING_MQTT__MAX_PACKET_SIZE", "2048"),
                ("STARLING_MQTT__RETAIN_AVAILABLE", "false"),
                ("STARLING_MQTT__KEEPALIVE_MULTIPLIER", "2.5"),
                ("STARLING_MQTT__CONNECT_TIMEOUT", "5s"),
                ("STARLING_LOG__LEVEL", "debug"),
                ("STARLING_SESSION__QUEUE_OVERFLOW", "\"disconnect\""),
            ]),
        )
        .unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(c.mqtt.max_packet_size, 2048);
        assert_eq!(c.mqtt.max_qos, 1);
        assert!(!c.mqtt.retain_available);
        assert!((c.mqtt.keepalive_multiplier - 2.5).abs() < f64::EPSILON);
        assert_eq!(c.mqtt.connect_timeout, Duration::from_secs(5));
        assert_eq!(c.log.level, "debug");
        assert_eq!(
            c.session.queue_overflow,
            starling_config::QueueOverflow::Disconnect
        );
    }

    #[test]
    fn a_number_is_a_string_where_a_string_is_wanted() {
        let c = load(None, env(&[("STARLING_NODE__NAME", "1234")])).unwrap();
        assert_eq!(c.node.name, "1234");
    }

    #[test]
    fn listener_elements_by_index() {
        let c = load(
            None,
            env(&[
                ("STARLING_LISTENER__1__BIND", "127.0.0.1:1884"),
                ("STARLING_LISTENER__0__BIND", "127.0.0.1:1883"),
                ("STARLING_LISTENER__1__NAME", "second"),
            ]),
        )
        .unwrap();
        assert_eq!(c.listeners.len(), 2);
        assert_eq!(c.listeners[0].bind, "127.0.0.1:1883".parse().unwrap());
        assert_eq!(c.listeners[0].kind, ListenerKind::Tcp);
        assert_eq!(c.listeners[1].bind, "127.0.0.1:1884".parse().unwrap());
        assert_eq!(c.listeners[1].name.as_deref(), Some("second"));
    }

    #[test]
    fn listener_override_keeps_the_files_other_keys() {
        let path = file(
            "listener",
            "[[listener]]\nbind = \"127.0.0.1:1\"\nmax_connections = 5\n",
        );
        let c = load(
            Some(&path),
            env(&[("STARLING_LISTENER__0__BIND", "127.0.0.1:2")]),
        )
        .unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(c.listeners.len(), 1);
        assert_eq!(c.listeners[0].bind, "127.0.0.1:2".parse().unwrap());
        assert_eq!(c.listeners[0].max_connections, 5);
    }

    #[test]
    fn listener_index_past_the_end_names_the_variable() {
        let e = err(None, &[("STARLING_LISTENER__2__BIND", "127.0.0.1:1")]);
        assert!(e.contains("STARLING_LISTENER__2__BIND"), "{e}");
        assert!(e.contains("past the end"), "{e}");
    }

    #[test]
    fn unknown_key_names_the_variable() {
        let e = err(None, &[("STARLING_MQTT__MAX_PACKET_SISE", "1")]);
        assert!(e.contains("STARLING_MQTT__MAX_PACKET_SISE"), "{e}");
        assert!(e.contains("max_packet_sise"), "{e}");
    }

    #[test]
    fn unknown_section_names_the_variable() {
        let e = err(None, &[("STARLING_MQTTT__MAX_QOS", "1")]);
        assert!(e.contains("STARLING_MQTTT__MAX_QOS"), "{e}");
        assert!(e.contains("mqttt"), "{e}");
    }

    #[test]
    fn wrong_type_names_the_variable() {
        let e = err(None, &[("STARLING_MQTT__RETAIN_AVAILABLE", "maybe")]);
        assert!(e.contains("STARLING_MQTT__RETAIN_AVAILABLE"), "{e}");
    }

    #[test]
    fn a_variable_without_a_key_path_is_ignored_and_an_empty_segment_refused() {
        let config = load(None, env(&[("STARLING_MQTT", "1"), ("STARLING_BIN", "/x")]));
        assert_eq!(config.expect("ignored"), Config::default());
        let e = err(None, &[("STARLING_MQTT__", "1")]);
        assert!(e.contains("STARLING_MQTT__:"), "{e}");
    }

    #[test]
    fn a_bad_value_from_the_environment_names_the_key() {
        let e = err(None, &[("STARLING_MQTT__MAX_QOS", "3")]);
        assert!(
            e.contains("mqtt.max_qos: must be between 0 and 2, got 3"),
            "{e}"
        );
    }

    #[test]
    fn a_missing_file_is_named() {
        let e = err(Some(Path::new("/nonexistent/starling.toml")), &[]);
        assert!(e.contains("/nonexistent/starling.toml"), "{e}");
    }

    #[test]
    fn a_bad_file_is_named_with_the_key() {
        let path = file("bad", "[mqtt]\nmax_qoss = 1\n");
        let e = err(Some(&path), &[]);
        std::fs::remove_file(&path).unwrap();
        assert!(e.contains(&path.display().to_string()), "{e}");
        assert!(e.contains("max_qoss"), "{e}");
    }

    #[test]
    fn values_parse_as_toml_or_string() {
        assert_eq!(parse_value("2048"), Value::Integer(2048));
        assert_eq!(parse_value("true"), Value::Boolean(true));
        assert_eq!(parse_value("\"a b\""), Value::String("a b".into()));
        assert_eq!(parse_value("10s"), Value::String("10s".into()));
        assert_eq!(
            parse_value("0.0.0.0:1883"),
            Value::String("0.0.0.0:1883".into())
        );
        assert_eq!(
            parse_value("1979-05-27"),
            Value::String("1979-05-27".into())
        );
        assert_eq!(parse_value("1\nx = 2"), Value::String("1\nx = 2".into()));
    }
}
