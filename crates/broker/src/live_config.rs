//! The running configuration: read, changed through the API, re-read from its sources.
//!
//! The binary owns where the configuration comes from (a file, `STARLING_*` variables) and
//! the log subscriber; it hands them over as a [`ConfigSource`]. Changes made through the API
//! are kept in `<data_dir>/configs/overrides.toml` (written whole, atomically), which the
//! binary layers between the file and the environment at every start: file, then saved
//! changes, then environment variables, each on top of the one before.
//!
//! A change is validated whole (the layered result must be a valid configuration) before
//! anything is saved or applied, so a refused change changes nothing. Then each changed key is
//! either applied at once ([`starling_config::keys::LIVE_KEYS`]: limits new connections
//! negotiate with, module switches and rules, the log level) or reported as needing a restart.

use std::path::{Path, PathBuf};

use starling_config::keys::{self, applies_live, changed_keys, FIXED_KEYS};
use starling_config::{Config, RawConfig};

use crate::handle::BrokerHandle;

/// Where the configuration comes from, as the binary layers it.
pub trait ConfigSource: Send + Sync + 'static {
    /// The merged table: the file (read again), then `overrides`, then the environment.
    fn layer(&self, overrides: &toml::Table) -> Result<toml::Table, String>;
    /// Puts a new `log.level` (already validated) in force.
    fn set_log_level(&self, level: &str) -> Result<(), String>;
}

/// The configuration at start, with the saved changes it was made from.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    /// The validated configuration.
    pub config: Config,
    /// The same, as written (every key, defaults included).
    pub raw: RawConfig,
    /// The changes saved through the API, as they were read.
    pub overrides: toml::Table,
}

/// What a change or a reload did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ConfigChange {
    /// Keys changed and in force now.
    pub applied: Vec<String>,
    /// Keys changed and saved, in force after a restart.
    pub restart_required: Vec<String>,
    /// Keys the change set but an environment variable overrides (the variable wins).
    pub overridden_by_env: Vec<String>,
    /// Every key that differs from what the broker started with and waits for a restart.
    pub pending_restart: Vec<String>,
}

/// Why a change was refused; nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum ConfigChangeError {
    /// The broker was started without a source (embedded in a test or another program).
    #[error("this broker was started without a configuration source: its configuration cannot be changed")]
    Unavailable,
    /// No such root.
    #[error("no configuration root named {0:?}")]
    UnknownRoot(String),
    /// The result is not a valid configuration (the message names the key).
    #[error("{0}")]
    Invalid(String),
    /// A key the API does not change.
    #[error(
        "{0} cannot be changed through the API: change it in the configuration file and restart"
    )]
    Fixed(String),
    /// The saved changes could not be written.
    #[error("saving the change to {path}: {error}")]
    Save {
        /// The overrides file.
        path: PathBuf,
        /// The OS error.
        error: std::io::Error,
    },
}

/// The file that holds the changes made through the API, under `data_dir`.
pub fn overrides_path(data_dir: &Path) -> PathBuf {
    data_dir.join("configs").join("overrides.toml")
}

/// Reads the configuration from `source`, with the changes saved under the data directory the
/// source names. A saved file that cannot be read or parsed is an error naming it.
pub fn load_config(source: &dyn ConfigSource) -> Result<LoadedConfig, String> {
    let first = validate(source.layer(&toml::Table::new())?, "the configuration")?;
    let path = overrides_path(&first.0.node.data_dir);
    let overrides = read_overrides(&path)?;
    if overrides.is_empty() {
        return Ok(LoadedConfig {
            config: first.0,
            raw: first.1,
            overrides,
        });
    }
    let origin = format!(
        "the configuration with the changes saved in {}",
        path.display()
    );
    let (config, raw) = validate(source.layer(&overrides)?, &origin)?;
    Ok(LoadedConfig {
        config,
        raw,
        overrides,
    })
}

fn read_overrides(path: &Path) -> Result<toml::Table, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => text
            .parse::<toml::Table>()
            .map_err(|e| format!("{}: {}", path.display(), e.to_string().trim_end())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(toml::Table::new()),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

fn validate(table: toml::Table, origin: &str) -> Result<(Config, RawConfig), String> {
    let raw = RawConfig::from_table(table, origin).map_err(|e| e.to_string())?;
    let config = raw.clone().validate().map_err(|e| e.to_string())?;
    Ok((config, raw))
}

/// Writes `table` to `path` whole: a temporary file, synced, renamed over the old one, the
/// directory synced, so a crash leaves the old file or the new one, never a torn one.
fn save_overrides(path: &Path, table: &toml::Table) -> std::io::Result<()> {
    use std::io::Write as _;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = path.with_extension("toml.tmp");
    let text = format!(
        "# Configuration changes made through the management API (PUT /api/v5/configs/<root>).\n\
         # Layered on the configuration file at start; environment variables still win.\n\
         # Written by the broker: edit it only while the broker is stopped.\n\n{}",
        toml::to_string(table).map_err(std::io::Error::other)?
    );
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

/// The live state kept by the handle once a source is attached.
pub(crate) struct LiveConfig {
    source: Box<dyn ConfigSource>,
    path: PathBuf,
    state: tokio::sync::Mutex<State>,
}

struct State {
    /// What the broker started with: what a restart-only key runs with until a restart.
    started: RawConfig,
    /// The configuration as its sources say now.
    raw: RawConfig,
    /// The changes saved through the API.
    overrides: toml::Table,
}

impl LiveConfig {
    pub(crate) fn new(source: Box<dyn ConfigSource>, loaded: &LoadedConfig) -> Self {
        Self {
            path: overrides_path(&loaded.config.node.data_dir),
            source,
            state: tokio::sync::Mutex::new(State {
                started: loaded.raw.clone(),
                raw: loaded.raw.clone(),
                overrides: loaded.overrides.clone(),
            }),
        }
    }
}

/// The names of the configuration's roots (`node`, `listener`, `mqtt`, ...).
pub fn config_roots() -> Vec<String> {
    keys::to_table(&RawConfig::default())
        .keys()
        .cloned()
        .collect()
}

impl BrokerHandle {
    /// Gives the broker its configuration's sources, so it can be changed and reloaded.
    pub fn attach_config(&self, source: Box<dyn ConfigSource>, loaded: &LoadedConfig) {
        let _ = self.live_config_cell().set(LiveConfig::new(source, loaded));
    }

    fn live(&self) -> Result<&LiveConfig, ConfigChangeError> {
        self.live_config_cell()
            .get()
            .ok_or(ConfigChangeError::Unavailable)
    }

    /// The configuration as its sources say now (with changes that wait for a restart), every
    /// key, secrets replaced by `******`.
    pub async fn running_config(&self) -> Result<toml::Table, ConfigChangeError> {
        let live = self.live()?;
        let mut table = keys::to_table(&live.state.lock().await.raw);
        keys::redact(&mut table);
        Ok(table)
    }

    /// Sets the keys of `value` under `root` (a table merges key by key; a list, such as
    /// `listener`, replaces), validates the whole, saves it and applies what can be applied.
    pub async fn change_config(
        &self,
        root: &str,
        value: toml::Value,
    ) -> Result<ConfigChange, ConfigChangeError> {
        let live = self.live()?;
        if !config_roots().iter().any(|r| r == root) {
            return Err(ConfigChangeError::UnknownRoot(root.to_owned()));
        }
        let mut state = live.state.lock().await;
        let mut patch = toml::Table::new();
        patch.insert(root.to_owned(), value);
        let current = keys::to_table(&state.raw);
        let mut patched = current.clone();
        keys::merge(&mut patched, patch);
        // Secrets come back from GET redacted: sent back unchanged, they keep their value.
        let patched = restore_redacted(&patched, &current);
        let mut root_patch = toml::Table::new();
        if let Some(v) = patched.get(root) {
            root_patch.insert(root.to_owned(), v.clone());
        }
        // The change itself must make a valid configuration: checked before the environment
        // is layered on, so an error names the key changed, not a variable applied after it.
        let (_, checked) =
            validate(patched.clone(), "the change").map_err(ConfigChangeError::Invalid)?;
        // serde reads a struct from a list too (`"mqtt": [1]` would set its first key): every
        // key given must be a key of the result.
        let leaves = keys::flatten(&keys::to_table(&checked));
        let given = keys::flatten(&root_patch);
        if let Some(k) = given.keys().find(|k| !leaves.contains_key(*k)) {
            return Err(ConfigChangeError::Invalid(format!(
                "{k}: not a key of the configuration (a section is given as an object of keys)"
            )));
        }
        // The saved changes hold only what differs from the file (and the environment), so a
        // key set back to the file's value leaves the file in charge of it again.
        let baseline = live
            .source
            .layer(&toml::Table::new())
            .and_then(|t| validate(t, "the configuration"))
            .map_err(ConfigChangeError::Invalid)?;
        let mut overrides = state.overrides.clone();
        keys::merge(&mut overrides, root_patch.clone());
        let overrides = minimal(&overrides, &keys::to_table(&baseline.1));
        let layered = live
            .source
            .layer(&overrides)
            .map_err(ConfigChangeError::Invalid)?;
        let (config, raw) =
            validate(layered, "the changed configuration").map_err(ConfigChangeError::Invalid)?;
        let changed = changed_keys(&state.raw, &raw);
        if let Some(fixed) = changed.iter().find(|k| FIXED_KEYS.contains(&k.as_str())) {
            return Err(ConfigChangeError::Fixed(fixed.clone()));
        }
        let now = keys::flatten(&keys::to_table(&raw));
        let overridden_by_env = given
            .into_iter()
            .filter(|(k, v)| now.get(k).is_some_and(|n| n != v) && !keys::is_secret(k))
            .map(|(k, _)| k)
            .collect();
        save_overrides(&live.path, &overrides).map_err(|error| ConfigChangeError::Save {
            path: live.path.clone(),
            error,
        })?;
        let mut change = self.apply_changed(live, &config, &changed).await;
        change.overridden_by_env = overridden_by_env;
        change.pending_restart = pending(&state.started, &raw);
        state.raw = raw;
        state.overrides = overrides;
        tracing::info!(root, applied = ?change.applied, restart_required = ?change.restart_required, "configuration changed through the API");
        Ok(change)
    }

    /// Reads the file (and the saved changes) again and applies what changed.
    pub async fn reload_config(&self) -> Result<ConfigChange, ConfigChangeError> {
        let live = self.live()?;
        let mut state = live.state.lock().await;
        let overrides = read_overrides(&live.path).map_err(ConfigChangeError::Invalid)?;
        let layered = live
            .source
            .layer(&overrides)
            .map_err(ConfigChangeError::Invalid)?;
        let (config, raw) =
            validate(layered, "the configuration").map_err(ConfigChangeError::Invalid)?;
        let changed = changed_keys(&state.raw, &raw);
        let mut change = self.apply_changed(live, &config, &changed).await;
        change.pending_restart = pending(&state.started, &raw);
        state.raw = raw;
        state.overrides = overrides;
        tracing::info!(applied = ?change.applied, restart_required = ?change.restart_required, "configuration reloaded");
        Ok(change)
    }

    /// Puts the live keys among `changed` in force; sorts `changed` into applied and not.
    async fn apply_changed(
        &self,
        live: &LiveConfig,
        config: &Config,
        changed: &[String],
    ) -> ConfigChange {
        let mut change = ConfigChange::default();
        let mut limits = false;
        for key in changed {
            if !applies_live(key) {
                change.restart_required.push(key.clone());
                continue;
            }
            let done = match key.as_str() {
                "log.level" => live.source.set_log_level(&config.log.level),
                "mqtt.retain_available" => {
                    self.switch("retainer", config.mqtt.retain_available).await
                }
                "mqtt.shared_subscription_available" => {
                    self.switch(
                        "shared_subscription",
                        config.mqtt.shared_subscription_available,
                    )
                    .await
                }
                "delayed.enabled" => self.switch("delayed", config.delayed.enabled).await,
                "topic_rewrite" => {
                    let rules =
                        crate::ModuleConfig::TopicRewrite(config.modules.topic_rewrite.clone());
                    self.module_rules("topic_rewrite", rules).await
                }
                "auto_subscribe" => {
                    let topics =
                        crate::ModuleConfig::AutoSubscribe(config.modules.auto_subscribe.clone());
                    self.module_rules("auto_subscribe", topics).await
                }
                _ => {
                    limits = true;
                    Ok(())
                }
            };
            match done {
                Ok(()) => change.applied.push(key.clone()),
                Err(e) => {
                    tracing::warn!(key, error = %e, "a configuration change could not be applied; it holds after a restart");
                    change.restart_required.push(key.clone());
                }
            }
        }
        if limits {
            self.swap_limits(config);
        }
        change
    }

    async fn switch(&self, module: &str, enabled: bool) -> Result<(), String> {
        let change = crate::ModuleChange {
            enabled: Some(enabled),
            config: None,
            clear: false,
        };
        self.set_module(module, change)
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }

    async fn module_rules(&self, module: &str, rules: crate::ModuleConfig) -> Result<(), String> {
        let change = crate::ModuleChange {
            enabled: None,
            config: Some(rules),
            clear: false,
        };
        self.set_module(module, change)
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }
}

/// Keys that differ from the start and wait for a restart.
fn pending(started: &RawConfig, now: &RawConfig) -> Vec<String> {
    changed_keys(started, now)
        .into_iter()
        .filter(|k| !applies_live(k))
        .collect()
}

/// `patched` with every value that reads `******` where `current` has a secret put back to
/// the current value (a client that sends back what GET showed does not set the password to
/// six asterisks).
fn restore_redacted(patched: &toml::Table, current: &toml::Table) -> toml::Table {
    let mut out = patched.clone();
    for (k, v) in out.iter_mut() {
        if let (toml::Value::String(s), Some(old)) = (&*v, current.get(k)) {
            if s == keys::REDACTED {
                *v = old.clone();
                continue;
            }
        }
        match (v, current.get(k)) {
            (toml::Value::Table(t), Some(toml::Value::Table(c))) => *t = restore_redacted(t, c),
            (toml::Value::Array(items), Some(toml::Value::Array(c))) => {
                for (item, old) in items.iter_mut().zip(c) {
                    if let (toml::Value::Table(t), toml::Value::Table(o)) = (&*item, old) {
                        *item = toml::Value::Table(restore_redacted(t, o));
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// The part of `patch` that differs from `base`, so the overrides file holds what was
/// changed, not every default of the root.
fn minimal(patch: &toml::Table, base: &toml::Table) -> toml::Table {
    let mut out = toml::Table::new();
    for (k, v) in patch {
        match (v, base.get(k)) {
            (toml::Value::Table(p), Some(toml::Value::Table(b))) => {
                let inner = minimal(p, b);
                if !inner.is_empty() {
                    out.insert(k.clone(), toml::Value::Table(inner));
                }
            }
            (v, Some(b)) if v == b => {}
            (v, _) => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> toml::Table {
        text.parse().unwrap()
    }

    #[test]
    fn minimal_keeps_only_what_differs() {
        let base = table("[mqtt]\nmax_qos = 2\nmax_packet_size = 10\n[log]\nlevel = 'info'\n");
        let patch = table("[mqtt]\nmax_qos = 1\nmax_packet_size = 10\n");
        assert_eq!(minimal(&patch, &base), table("[mqtt]\nmax_qos = 1\n"));
    }

    #[test]
    fn a_redacted_secret_sent_back_keeps_its_value() {
        let current = table("[api]\ndefault_password = 'hunter2'\nbind = 'a'\n");
        let patched = table("[api]\ndefault_password = '******'\nbind = 'b'\n");
        let restored = restore_redacted(&patched, &current);
        assert_eq!(
            restored,
            table("[api]\ndefault_password = 'hunter2'\nbind = 'b'\n")
        );
    }
}
