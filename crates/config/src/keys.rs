//! Configuration keys as dotted paths: what changed between two configurations, which of those
//! changes the running broker can take without a restart, and which values are secrets.
//!
//! The management API reads and changes the configuration by root (`mqtt`, `session`, ...);
//! after a change or a reload it compares the old and new [`RawConfig`] key by key
//! ([`changed_keys`]) and answers which keys were applied and which need a restart
//! ([`applies_live`]). The list of live keys is here, next to the schema, so that adding a key
//! means deciding this too.

use std::collections::BTreeMap;

use crate::RawConfig;

/// Keys the running broker applies without a restart, as exact paths or `root.*` prefixes.
///
/// - `log.level`: the log filter is reloadable.
/// - The `mqtt.*` limits below and `rate_limit.messages`/`bytes` are read by each connection
///   when it connects: a change holds for connections made after it; connections already up
///   keep the values they negotiated (the spec has no way to renegotiate them).
/// - `mqtt.retain_available`, `mqtt.shared_subscription_available`, `delayed.enabled` and
///   the `topic_rewrite` and `auto_subscribe` lists are modules' (`/api/v5/modules`): a change
///   switches the module or replaces its rules, and is stored as the module's state.
///
/// Everything else (listeners, the store, sessions and queues, auth sources, topic limits the
/// router holds) is saved and reported as needing a restart.
pub const LIVE_KEYS: &[&str] = &[
    "log.level",
    "mqtt.max_packet_size",
    "mqtt.max_client_id_len",
    "mqtt.max_qos",
    "mqtt.wildcard_subscription_available",
    "mqtt.subscription_identifier_available",
    "mqtt.topic_alias_maximum",
    "mqtt.receive_maximum",
    "mqtt.max_awaiting_rel",
    "mqtt.keepalive_multiplier",
    "mqtt.server_keep_alive",
    "mqtt.strict_3_1_client_id",
    "mqtt.response_information",
    "mqtt.max_keepalive",
    "mqtt.max_user_properties",
    "mqtt.max_user_property_bytes",
    "mqtt.max_topic_alias_bytes",
    "mqtt.send_timeout",
    "mqtt.retain_available",
    "mqtt.shared_subscription_available",
    "delayed.enabled",
    "topic_rewrite",
    "auto_subscribe",
    "rate_limit.messages",
    "rate_limit.bytes",
];

/// Keys the API refuses to change: where the store lives and what the node is called are
/// what a restart finds its data by, so they change in the file only.
pub const FIXED_KEYS: &[&str] = &["node.data_dir", "node.name"];

/// Whether a change of `key` is applied by the running broker (see [`LIVE_KEYS`]).
pub fn applies_live(key: &str) -> bool {
    LIVE_KEYS.iter().any(|live| match live.strip_suffix(".*") {
        Some(root) => key.strip_prefix(root).is_some_and(|r| r.starts_with('.')),
        None => *live == key,
    })
}

/// Whether `key` names a secret (a password, a shared secret): its value is never shown.
pub fn is_secret(key: &str) -> bool {
    let leaf = key.rsplit('.').next().unwrap_or(key);
    leaf == "secret"
        || leaf == "password"
        || leaf.ends_with("_secret")
        || leaf.ends_with("_password")
}

/// What a redacted secret reads as.
pub const REDACTED: &str = "******";

/// `raw` as a TOML table: every key, defaults included.
pub fn to_table(raw: &RawConfig) -> toml::Table {
    // Every field of the schema is a TOML value (no maps with non-string keys, no bare
    // `None` at the top): serializing cannot fail for a deserialized RawConfig.
    toml::Table::try_from(raw).unwrap_or_default()
}

/// Every leaf of `table` by dotted path. Lists (listeners, authenticators, rules) are leaves:
/// their items have no stable names, so a list is changed and compared whole.
pub fn flatten(table: &toml::Table) -> BTreeMap<String, toml::Value> {
    fn walk(prefix: &str, table: &toml::Table, out: &mut BTreeMap<String, toml::Value>) {
        for (k, v) in table {
            let path = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            match v {
                toml::Value::Table(t) => walk(&path, t, out),
                other => {
                    out.insert(path, other.clone());
                }
            }
        }
    }
    let mut out = BTreeMap::new();
    walk("", table, &mut out);
    out
}

/// The keys whose values differ between `old` and `new`, in path order.
pub fn changed_keys(old: &RawConfig, new: &RawConfig) -> Vec<String> {
    let (a, b) = (flatten(&to_table(old)), flatten(&to_table(new)));
    let mut keys: Vec<String> = a
        .iter()
        .filter(|(k, v)| b.get(*k) != Some(v))
        .map(|(k, _)| k.clone())
        .collect();
    keys.extend(b.keys().filter(|k| !a.contains_key(*k)).cloned());
    keys.sort();
    keys
}

/// `table` with every secret (see [`is_secret`]) replaced by [`REDACTED`], in nested tables
/// and in the tables of lists too.
pub fn redact(table: &mut toml::Table) {
    fn value(key: &str, v: &mut toml::Value) {
        match v {
            toml::Value::Table(t) => redact(t),
            toml::Value::Array(items) => items.iter_mut().for_each(|i| value(key, i)),
            toml::Value::String(s) if is_secret(key) && !s.is_empty() => {
                *s = REDACTED.to_owned();
            }
            _ => {}
        }
    }
    for (k, v) in table.iter_mut() {
        value(k, v);
    }
}

/// `patch` merged into `base`: tables merge key by key, any other value replaces.
pub fn merge(base: &mut toml::Table, patch: toml::Table) {
    for (k, v) in patch {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(p)) => merge(b, p),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}
