//! Modules: features switched on and off, each with its config, while the broker runs.
//!
//! Five switch features that exist anyway (delayed publish, the retainer, shared and exclusive
//! subscriptions, `$SYS`); two add rules (topic rewrite, auto-subscribe). The switches are
//! atomics shared with every channel and the router (`starling_core::Switches`); the rules
//! are compiled here and handed to the router, which owns them (`RouterCmd::Modules`), so
//! reading either on the hot path takes no lock. [`Modules`] is what `BrokerHandle` changes
//! them through: one change at a time (an async mutex over the rules as configured).
//!
//! Turning a module off acts on new messages at once; what it holds (delayed and retained
//! messages, existing shared and exclusive subscriptions) is kept unless the change asks for
//! `clear` (delayed: every held message is dropped; retainer: every retained message outside
//! `$`-topics). A change is stored before it is answered and outlives a restart (`stored`).
//!
//! - `rewrite`: topic rewrite rules, compiled.
//! - `auto_subscribe`: auto-subscribe topics and their placeholders.
//! - `stored`: changes kept in the store, read back at start.

pub(crate) mod auto_subscribe;
pub(crate) mod rewrite;
pub(crate) mod stored;

use crate::handle::Stopped;
use crate::router::command::{ModuleOrder, RouterCmd};
use auto_subscribe::AutoSubscribe;
use rewrite::Rewriter;
use starling_config::{AutoSubscribeTopic, Config, ConfigError, RewriteRule};
use starling_core::{Switch, Switches};
use starling_topic::TopicLimits;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// A module's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModuleName {
    /// `delayed`: `$delayed/<seconds>/<topic>`.
    Delayed,
    /// `retainer`: retained messages are stored.
    Retainer,
    /// `shared_subscription`: `$share/` and `$queue/`.
    Shared,
    /// `exclusive_subscription`: `$exclusive/`.
    Exclusive,
    /// `sys`: `$SYS` statistics and client events.
    Sys,
    /// `topic_rewrite`.
    TopicRewrite,
    /// `auto_subscribe`.
    AutoSubscribe,
}

impl ModuleName {
    /// Every module, in the order they are listed.
    pub const ALL: [ModuleName; 7] = [
        ModuleName::Delayed,
        ModuleName::Retainer,
        ModuleName::Shared,
        ModuleName::Exclusive,
        ModuleName::Sys,
        ModuleName::TopicRewrite,
        ModuleName::AutoSubscribe,
    ];

    /// The name the API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            ModuleName::Delayed => "delayed",
            ModuleName::Retainer => "retainer",
            ModuleName::Shared => "shared_subscription",
            ModuleName::Exclusive => "exclusive_subscription",
            ModuleName::Sys => "sys",
            ModuleName::TopicRewrite => "topic_rewrite",
            ModuleName::AutoSubscribe => "auto_subscribe",
        }
    }

    /// The module called `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == name)
    }

    fn switch(self) -> Option<Switch> {
        Some(match self {
            ModuleName::Delayed => Switch::Delayed,
            ModuleName::Retainer => Switch::Retainer,
            ModuleName::Shared => Switch::Shared,
            ModuleName::Exclusive => Switch::Exclusive,
            ModuleName::Sys => Switch::Sys,
            ModuleName::TopicRewrite | ModuleName::AutoSubscribe => return None,
        })
    }
}

/// A module's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModuleConfig {
    /// Settings read from the configuration file, shown but not changed at run time.
    Settings(Vec<(&'static str, String)>),
    /// The topic rewrite rules, in order.
    TopicRewrite(Vec<RewriteRule>),
    /// The auto-subscribe topics.
    AutoSubscribe(Vec<AutoSubscribeTopic>),
}

/// One module as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleInfo {
    /// Which.
    pub name: ModuleName,
    /// On or off.
    pub enabled: bool,
    /// Its configuration.
    pub config: ModuleConfig,
}

/// A change to one module.
#[derive(Debug, Clone, Default)]
pub struct ModuleChange {
    /// On or off (`None`: as it is).
    pub enabled: Option<bool>,
    /// New rules (`topic_rewrite`, `auto_subscribe` only).
    pub config: Option<ModuleConfig>,
    /// Also drop what the module holds (`delayed`, `retainer`).
    pub clear: bool,
}

/// Why a module change was refused.
#[derive(Debug, thiserror::Error)]
pub enum ModuleError {
    /// No module has this name.
    #[error("no module named {0:?}")]
    Unknown(String),
    /// A value is not acceptable; `field` names it (`config[2].re`).
    #[error("{field}: {problem}")]
    Invalid {
        /// The field's path.
        field: String,
        /// What is wrong.
        problem: String,
    },
    /// The broker stopped.
    #[error(transparent)]
    Stopped(#[from] Stopped),
    /// The change is in force but could not be stored: it will not outlive a restart.
    #[error("the change is in force but could not be stored: {0}")]
    Store(String),
}

impl From<ConfigError> for ModuleError {
    fn from(e: ConfigError) -> Self {
        match e {
            ConfigError::Invalid { key, problem } => Self::Invalid {
                field: key,
                problem,
            },
            other => Self::Invalid {
                field: "config".into(),
                problem: other.to_string(),
            },
        }
    }
}

/// The rules as configured, and whether their modules are on.
#[derive(Debug)]
pub(crate) struct Rules {
    rewrite: Vec<RewriteRule>,
    rewrite_on: bool,
    auto: Vec<AutoSubscribeTopic>,
    auto_on: bool,
}

/// Every module's state, changed one change at a time.
#[derive(Debug)]
pub(crate) struct Modules {
    switches: Arc<Switches>,
    settings: Vec<(ModuleName, Vec<(&'static str, String)>)>,
    rules: tokio::sync::Mutex<Rules>,
    topic_limits: TopicLimits,
    store: starling_store::Store,
}

/// The switches' state at start, from the configuration's keys.
pub(crate) fn initial_switches(config: &Config) -> Switches {
    Switches::new(|switch| match switch {
        Switch::Delayed => config.delayed.enabled,
        Switch::Retainer => config.mqtt.retain_available,
        Switch::Shared => config.mqtt.shared_subscription_available,
        Switch::Exclusive => true,
        Switch::Sys => config.sys.interval.is_some() || config.sys.client_events,
    })
}

/// The rules in force at start (the stored ones where a change was stored and still
/// compiles, else the file's), compiled for the router. Errors name the file's keys.
pub(crate) fn compile(
    config: &Config,
    stored: &stored::Stored,
    limits: &TopicLimits,
) -> Result<(Arc<Rewriter>, Arc<AutoSubscribe>, Rules), ModuleError> {
    let modules = &config.modules;
    let mut rules = Rules {
        rewrite: modules.topic_rewrite.clone(),
        rewrite_on: true,
        auto: modules.auto_subscribe.clone(),
        auto_on: true,
    };
    let mut rewrite = Rewriter::compile(&rules.rewrite, "topic_rewrite")?;
    let mut auto = AutoSubscribe::compile(&rules.auto, "auto_subscribe", limits)?;
    let unusable = |name: ModuleName, error: ModuleError| {
        tracing::warn!(module = name.as_str(), %error, "the stored rules no longer compile; the configuration's are used");
    };
    if let Some(s) = stored.get(ModuleName::TopicRewrite) {
        let wanted = s
            .topic_rewrite
            .clone()
            .unwrap_or_else(|| rules.rewrite.clone());
        match Rewriter::compile(&wanted, "topic_rewrite") {
            Ok(compiled) => {
                (rewrite, rules.rewrite, rules.rewrite_on) = (compiled, wanted, s.enabled);
            }
            Err(error) => unusable(ModuleName::TopicRewrite, error),
        }
    }
    if let Some(s) = stored.get(ModuleName::AutoSubscribe) {
        let wanted = s
            .auto_subscribe
            .clone()
            .unwrap_or_else(|| rules.auto.clone());
        match AutoSubscribe::compile(&wanted, "auto_subscribe", limits) {
            Ok(compiled) => (auto, rules.auto, rules.auto_on) = (compiled, wanted, s.enabled),
            Err(error) => unusable(ModuleName::AutoSubscribe, error),
        }
    }
    if !rules.rewrite_on {
        rewrite = Rewriter::default();
    }
    if !rules.auto_on {
        auto = AutoSubscribe::default();
    }
    Ok((Arc::new(rewrite), Arc::new(auto), rules))
}

impl Modules {
    pub(crate) fn new(
        config: &Config,
        switches: Arc<Switches>,
        limits: TopicLimits,
        rules: Rules,
        store: starling_store::Store,
    ) -> Self {
        let opt = |v: Option<u64>| v.map_or("unlimited".to_owned(), |n| n.to_string());
        let sys_interval = config
            .sys
            .interval
            .map_or("off".to_owned(), |d| format!("{}s", d.as_secs()));
        let settings = vec![
            (
                ModuleName::Delayed,
                vec![
                    (
                        "max_messages",
                        opt(config.delayed.max_messages.map(u64::from)),
                    ),
                    ("max_bytes", opt(config.delayed.max_bytes)),
                ],
            ),
            (
                ModuleName::Retainer,
                vec![
                    (
                        "max_messages",
                        opt(config.retain.max_messages.map(u64::from)),
                    ),
                    ("max_bytes", opt(config.retain.max_bytes)),
                    (
                        "max_payload_size",
                        config.retain.max_payload_size.to_string(),
                    ),
                ],
            ),
            (
                ModuleName::Shared,
                vec![("strategy", format!("{:?}", config.shared.strategy))],
            ),
            (
                ModuleName::Sys,
                vec![
                    ("interval", sys_interval),
                    ("client_events", config.sys.client_events.to_string()),
                ],
            ),
        ];
        Self {
            switches,
            settings,
            rules: tokio::sync::Mutex::new(rules),
            topic_limits: limits,
            store,
        }
    }

    /// Every module.
    pub(crate) async fn list(&self) -> Vec<ModuleInfo> {
        let rules = self.rules.lock().await;
        ModuleName::ALL
            .into_iter()
            .map(|name| self.info(name, &rules))
            .collect()
    }

    fn info(&self, name: ModuleName, rules: &Rules) -> ModuleInfo {
        let (enabled, config) = match name {
            ModuleName::TopicRewrite => (
                rules.rewrite_on,
                ModuleConfig::TopicRewrite(rules.rewrite.clone()),
            ),
            ModuleName::AutoSubscribe => (
                rules.auto_on,
                ModuleConfig::AutoSubscribe(rules.auto.clone()),
            ),
            _ => {
                let settings = self
                    .settings
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, s)| s.clone())
                    .unwrap_or_default();
                let on = name.switch().is_some_and(|s| self.switches.is_on(s));
                (on, ModuleConfig::Settings(settings))
            }
        };
        ModuleInfo {
            name,
            enabled,
            config,
        }
    }

    /// Applies `change` to `name`; the module as it is after.
    pub(crate) async fn set(
        &self,
        name: ModuleName,
        change: ModuleChange,
        router: &mpsc::Sender<RouterCmd>,
    ) -> Result<ModuleInfo, ModuleError> {
        let mut rules = self.rules.lock().await;
        match name {
            ModuleName::TopicRewrite | ModuleName::AutoSubscribe => {
                self.set_rules(name, change, &mut rules, router).await?;
            }
            _ => {
                if change.config.is_some() {
                    return Err(invalid(
                        "config",
                        format!("{} has no settings to change at run time", name.as_str()),
                    ));
                }
                if change.clear && !matches!(name, ModuleName::Delayed | ModuleName::Retainer) {
                    return Err(invalid("clear", format!("{} holds nothing", name.as_str())));
                }
                if let (Some(on), Some(switch)) = (change.enabled, name.switch()) {
                    self.switches.set(switch, on);
                }
                if change.clear {
                    clear(name, router).await?;
                }
            }
        }
        let info = self.info(name, &rules);
        // Under the lock: records are written in the order the changes were made.
        self.save(&info).await?;
        Ok(info)
    }

    /// Stores `info` (see `stored`), durable before it returns.
    async fn save(&self, info: &ModuleInfo) -> Result<(), ModuleError> {
        let record = stored::StoredModule {
            enabled: info.enabled,
            topic_rewrite: match &info.config {
                ModuleConfig::TopicRewrite(rules) => Some(rules.clone()),
                _ => None,
            },
            auto_subscribe: match &info.config {
                ModuleConfig::AutoSubscribe(topics) => Some(topics.clone()),
                _ => None,
            },
        };
        let value = serde_json::to_vec(&record).map_err(|e| ModuleError::Store(e.to_string()))?;
        crate::handle::save_admin(&self.store, stored::key(info.name), Some(value))
            .await
            .map_err(|e| ModuleError::Store(e.to_string()))
    }

    async fn set_rules(
        &self,
        name: ModuleName,
        change: ModuleChange,
        rules: &mut Rules,
        router: &mpsc::Sender<RouterCmd>,
    ) -> Result<(), ModuleError> {
        if change.clear {
            return Err(invalid("clear", format!("{} holds nothing", name.as_str())));
        }
        let mut rewrite = rules.rewrite.clone();
        let mut auto = rules.auto.clone();
        match change.config {
            None => {}
            Some(ModuleConfig::TopicRewrite(new)) if name == ModuleName::TopicRewrite => {
                rewrite = new;
            }
            Some(ModuleConfig::AutoSubscribe(new)) if name == ModuleName::AutoSubscribe => {
                auto = new;
            }
            Some(_) => return Err(invalid("config", "not this module's kind of config")),
        }
        let (mut rewrite_on, mut auto_on) = (rules.rewrite_on, rules.auto_on);
        let order = if name == ModuleName::TopicRewrite {
            rewrite_on = change.enabled.unwrap_or(rewrite_on);
            let compiled = Rewriter::compile(&rewrite, "config")?;
            ModuleOrder::Rewrite(Arc::new(if rewrite_on {
                compiled
            } else {
                Rewriter::default()
            }))
        } else {
            auto_on = change.enabled.unwrap_or(auto_on);
            let compiled = AutoSubscribe::compile(&auto, "config", &self.topic_limits)?;
            ModuleOrder::AutoSubscribe(Arc::new(if auto_on {
                compiled
            } else {
                AutoSubscribe::default()
            }))
        };
        router
            .send(RouterCmd::Modules(order))
            .await
            .map_err(|_| Stopped)?;
        *rules = Rules {
            rewrite,
            rewrite_on,
            auto,
            auto_on,
        };
        Ok(())
    }
}

fn invalid(field: &str, problem: impl Into<String>) -> ModuleError {
    ModuleError::Invalid {
        field: field.into(),
        problem: problem.into(),
    }
}

/// Drops what `name` holds, a bounded batch per router turn until nothing is left.
async fn clear(name: ModuleName, router: &mpsc::Sender<RouterCmd>) -> Result<(), Stopped> {
    loop {
        let (tx, rx) = oneshot::channel();
        let order = match name {
            ModuleName::Delayed => ModuleOrder::ClearDelayed(tx),
            _ => ModuleOrder::ClearRetained(tx),
        };
        router
            .send(RouterCmd::Modules(order))
            .await
            .map_err(|_| Stopped)?;
        let more = rx.await.map_err(|_| Stopped)?;
        if !more {
            return Ok(());
        }
    }
}
