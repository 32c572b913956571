//! Module changes made at run time, kept across restarts: each changed module is one JSON
//! record in the store's `admin` keyspace under `module/<name>` (whether it is on, and for
//! topic rewrite and auto-subscribe their rules), written and made durable before the change
//! is answered. At start they are read back before any listener opens and win over the
//! configuration file's values, as EMQX's run-time changes win over its file. A record that
//! cannot be read, or whose rules no longer compile (a limit changed in the file), is logged
//! and the file's values are used instead.

use super::ModuleName;
use crate::handle::AdminRecords;
use serde::{Deserialize, Serialize};
use starling_config::{AutoSubscribeTopic, RewriteRule};
use starling_core::Switches;
use tracing::warn;

/// The key prefix of module records.
const PREFIX: &[u8] = b"module/";

/// One module as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StoredModule {
    /// On or off.
    pub(crate) enabled: bool,
    /// Topic rewrite's rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) topic_rewrite: Option<Vec<RewriteRule>>,
    /// Auto-subscribe's topics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) auto_subscribe: Option<Vec<AutoSubscribeTopic>>,
}

/// Every stored module, read at start.
#[derive(Debug, Default)]
pub(crate) struct Stored(Vec<(ModuleName, StoredModule)>);

impl Stored {
    /// Takes the module records out of `records` (the rest stay for the API).
    pub(crate) fn take(records: &mut AdminRecords) -> Self {
        let mut out = Vec::new();
        records.retain(|(key, value)| {
            let Some(name) = key.strip_prefix(PREFIX) else {
                return true;
            };
            let name = String::from_utf8_lossy(name);
            match (
                ModuleName::parse(&name),
                serde_json::from_slice::<StoredModule>(value),
            ) {
                (Some(module), Ok(stored)) => out.push((module, stored)),
                (None, _) => warn!(module = %name, "a stored module change names no module; ignored"),
                (_, Err(error)) => {
                    warn!(module = %name, %error, "a stored module change is unreadable; the configuration's values are used")
                }
            }
            false
        });
        Self(out)
    }

    /// The stored state of `name`.
    pub(crate) fn get(&self, name: ModuleName) -> Option<&StoredModule> {
        self.0.iter().find(|(n, _)| *n == name).map(|(_, s)| s)
    }

    /// Sets the switches of the stored switch modules.
    pub(crate) fn apply_switches(&self, switches: &Switches) {
        for (name, stored) in &self.0 {
            if let Some(switch) = name.switch() {
                switches.set(switch, stored.enabled);
            }
        }
    }
}

/// The key of `name`'s record.
pub(crate) fn key(name: ModuleName) -> Vec<u8> {
    let mut key = PREFIX.to_vec();
    key.extend_from_slice(name.as_str().as_bytes());
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_records_are_taken_and_the_others_left() {
        let on = serde_json::to_vec(&StoredModule {
            enabled: false,
            topic_rewrite: None,
            auto_subscribe: None,
        })
        .expect("json");
        let mut records: AdminRecords = vec![
            (b"user/admin".to_vec(), b"{}".to_vec()),
            (key(ModuleName::Retainer), on),
            (b"module/nonesuch".to_vec(), b"{}".to_vec()),
            (key(ModuleName::Delayed), b"not json".to_vec()),
        ];
        let stored = Stored::take(&mut records);
        assert_eq!(records.len(), 1, "only the account is left for the API");
        assert_eq!(
            stored.get(ModuleName::Retainer).map(|s| s.enabled),
            Some(false)
        );
        assert!(stored.get(ModuleName::Delayed).is_none());
        let switches = Switches::new(|_| true);
        stored.apply_switches(&switches);
        assert!(!switches.is_on(starling_core::Switch::Retainer));
        assert!(switches.is_on(starling_core::Switch::Delayed));
    }
}
