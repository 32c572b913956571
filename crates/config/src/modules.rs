//! `[[topic_rewrite]]` and `[[auto_subscribe]]`: the rules of the two modules that have them
//! (the other modules' initial state comes from existing keys: `delayed.enabled`,
//! `mqtt.retain_available`, `mqtt.shared_subscription_available`, `sys.interval` and
//! `sys.client_events`).
//!
//! What can be checked without the broker is checked here, naming the key; the broker
//! compiles each rule's regex (`topic_rewrite[i].re`) at start and when the API changes them,
//! with the same checks ([`check_rewrite`], [`check_auto_subscribe`]).

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;

/// Rewrite rules held at most.
pub const MAX_REWRITE_RULES: usize = 100;
/// Auto-subscribe topics held at most.
pub const MAX_AUTO_SUBSCRIBE: usize = 100;
/// The longest regex source accepted, in bytes.
pub const MAX_REGEX_LEN: usize = 1024;

/// Which packets a rewrite rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RewriteAction {
    /// The topic of PUBLISH (and of wills).
    Publish,
    /// The filter of SUBSCRIBE and UNSUBSCRIBE.
    Subscribe,
    /// Both.
    All,
}

/// One `[[topic_rewrite]]` rule (EMQX's shape): a topic or filter matching `source_topic`
/// whose text matches `re` becomes `dest_topic`, with `$1`... replaced by the captures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RewriteRule {
    /// `publish`, `subscribe` or `all`.
    pub action: RewriteAction,
    /// A topic filter the topic (or the filter, as text) must match.
    pub source_topic: String,
    /// A regular expression over the whole topic, with captures.
    pub re: String,
    /// The new topic; `$1`, `$2`... are the captures.
    pub dest_topic: String,
}

/// One `[[auto_subscribe]]` topic: subscribed for every client when it connects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoSubscribeTopic {
    /// The filter; `${clientid}` and `${username}` are replaced by the client's.
    pub topic: String,
    /// Maximum QoS of the subscription (0, 1 or 2).
    #[serde(default)]
    pub qos: u8,
    /// No Local.
    #[serde(default)]
    pub nl: bool,
    /// Retain As Published.
    #[serde(default)]
    pub rap: bool,
    /// Retain Handling (0: send retained messages, 1: only if new, 2: none).
    #[serde(default)]
    pub rh: u8,
}

/// The two modules' rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModulesConfig {
    /// `[[topic_rewrite]]`, in order: the first rule that matches applies.
    pub topic_rewrite: Vec<RewriteRule>,
    /// `[[auto_subscribe]]`.
    pub auto_subscribe: Vec<AutoSubscribeTopic>,
}

/// Checks rewrite rules (all but compiling the regex), naming `prefix[i].field`.
pub fn check_rewrite(rules: &[RewriteRule], prefix: &str) -> Result<(), ConfigError> {
    if rules.len() > MAX_REWRITE_RULES {
        return Err(ConfigError::invalid(
            prefix,
            format!("at most {MAX_REWRITE_RULES} rules, got {}", rules.len()),
        ));
    }
    for (i, rule) in rules.iter().enumerate() {
        let key = |field: &str| format!("{prefix}[{i}].{field}");
        for (field, value) in [
            ("source_topic", &rule.source_topic),
            ("re", &rule.re),
            ("dest_topic", &rule.dest_topic),
        ] {
            if value.is_empty() {
                return Err(ConfigError::invalid(key(field), "must not be empty"));
            }
        }
        if rule.re.len() > MAX_REGEX_LEN {
            return Err(ConfigError::invalid(
                key("re"),
                format!("at most {MAX_REGEX_LEN} bytes, got {}", rule.re.len()),
            ));
        }
    }
    Ok(())
}

/// Checks auto-subscribe topics, naming `prefix[i].field`.
pub fn check_auto_subscribe(
    topics: &[AutoSubscribeTopic],
    prefix: &str,
) -> Result<(), ConfigError> {
    if topics.len() > MAX_AUTO_SUBSCRIBE {
        return Err(ConfigError::invalid(
            prefix,
            format!("at most {MAX_AUTO_SUBSCRIBE} topics, got {}", topics.len()),
        ));
    }
    for (i, topic) in topics.iter().enumerate() {
        let key = |field: &str| format!("{prefix}[{i}].{field}");
        if topic.topic.is_empty() {
            return Err(ConfigError::invalid(key("topic"), "must not be empty"));
        }
        if topic.qos > 2 {
            let problem = format!("must be 0, 1 or 2, got {}", topic.qos);
            return Err(ConfigError::invalid(key("qos"), problem));
        }
        if topic.rh > 2 {
            let problem = format!("must be 0, 1 or 2, got {}", topic.rh);
            return Err(ConfigError::invalid(key("rh"), problem));
        }
    }
    Ok(())
}

/// `RawConfig`'s two lists, checked.
pub(crate) fn validate(
    topic_rewrite: Vec<RewriteRule>,
    auto_subscribe: Vec<AutoSubscribeTopic>,
) -> Result<ModulesConfig, ConfigError> {
    check_rewrite(&topic_rewrite, "topic_rewrite")?;
    check_auto_subscribe(&auto_subscribe, "auto_subscribe")?;
    Ok(ModulesConfig {
        topic_rewrite,
        auto_subscribe,
    })
}
