//! A token's `acl` claim, as EMQX reads it, compiled into an [`AclTrie`].
//!
//! Two forms are read:
//!
//! - EMQX 5's list, first match wins: each rule gets its index as its rank.
//!
//!   ```json
//!   "acl": [
//!     {"permission": "allow", "action": "publish", "topic": "t/%c/#"},
//!     {"permission": "deny", "action": "all", "topic": "#"}
//!   ]
//!   ```
//!
//!   `permission` is `allow` or `deny`, `action` `publish`, `subscribe` (which also covers
//!   receiving) or `all`.
//! - EMQX 4's map, every rule an allow: `"acl": {"pub": [...], "sub": [...], "all": [...]}`.
//!
//! Topics are MQTT filters whose levels may name the client: `%u` / `%c`, or EMQX's
//! `${username}` / `${clientid}`, matched when a rule is checked. Anything else (another
//! field in a rule, such as EMQX's `qos` and `retain` conditions, EMQX's `eq ` prefix, a
//! filter that is not valid, more than [`MAX_RULES`] rules) makes the whole claim, and so the
//! token, refused: dropping a rule or a condition could grant more than the issuer meant.

use crate::acl::{AclTrie, Grant};
use serde_json::{Map, Value};

/// The most rules one token may carry.
pub(crate) const MAX_RULES: usize = 256;

/// Why an `acl` claim was refused (for the debug log).
#[derive(Debug, thiserror::Error)]
pub(crate) enum AclClaimError {
    #[error("more than {MAX_RULES} rules")]
    TooManyRules,
    #[error("must be a list of rules or a map of pub/sub/all")]
    NotAList,
    #[error("rule {0}: must be an object")]
    NotAnObject(usize),
    #[error("rule {0}: unsupported field {1:?}")]
    UnsupportedField(usize, String),
    #[error("rule {0}: permission must be \"allow\" or \"deny\"")]
    Permission(usize),
    #[error("rule {0}: action must be \"publish\", \"subscribe\" or \"all\"")]
    Action(usize),
    #[error("rule {0}: topic must be a valid topic filter")]
    Topic(usize),
    #[error("unsupported key {0:?} (pub, sub or all)")]
    UnsupportedKey(String),
}

/// The rules of an `acl` claim; `None` when it has none.
pub(crate) fn compile(claim: &Value) -> Result<Option<AclTrie>, AclClaimError> {
    let mut trie = AclTrie::default();
    match claim {
        Value::Array(rules) => list(rules, &mut trie)?,
        Value::Object(map) => old_map(map, &mut trie)?,
        _ => return Err(AclClaimError::NotAList),
    }
    Ok((!trie.is_empty()).then_some(trie))
}

/// EMQX 5's list of rules.
fn list(rules: &[Value], trie: &mut AclTrie) -> Result<(), AclClaimError> {
    if rules.len() > MAX_RULES {
        return Err(AclClaimError::TooManyRules);
    }
    for (i, rule) in rules.iter().enumerate() {
        let Value::Object(rule) = rule else {
            return Err(AclClaimError::NotAnObject(i));
        };
        if let Some(field) = rule
            .keys()
            .find(|k| !matches!(k.as_str(), "permission" | "action" | "topic"))
        {
            return Err(AclClaimError::UnsupportedField(i, field.clone()));
        }
        let allow = match rule.get("permission").and_then(Value::as_str) {
            Some("allow") => true,
            Some("deny") => false,
            _ => return Err(AclClaimError::Permission(i)),
        };
        let (publish, subscribe) = match rule.get("action").and_then(Value::as_str) {
            Some("publish") => (true, false),
            Some("subscribe") => (false, true),
            Some("all") => (true, true),
            _ => return Err(AclClaimError::Action(i)),
        };
        let filter = rule
            .get("topic")
            .and_then(Value::as_str)
            .and_then(filter)
            .ok_or(AclClaimError::Topic(i))?;
        // At most MAX_RULES: the rank fits.
        let grant = Grant {
            rank: i as u64,
            allow,
        };
        trie.insert(&filter, true, grant, publish, subscribe);
    }
    Ok(())
}

/// EMQX 4's map: `pub`, `sub` and `all` lists of topics, all allowed.
fn old_map(map: &Map<String, Value>, trie: &mut AclTrie) -> Result<(), AclClaimError> {
    let mut rules = Vec::new();
    for (key, topics) in map {
        let (publish, subscribe) = match key.as_str() {
            "pub" => (true, false),
            "sub" => (false, true),
            "all" => (true, true),
            other => return Err(AclClaimError::UnsupportedKey(other.to_owned())),
        };
        let Value::Array(topics) = topics else {
            return Err(AclClaimError::NotAList);
        };
        for topic in topics {
            if rules.len() == MAX_RULES {
                return Err(AclClaimError::TooManyRules);
            }
            let i = rules.len();
            let filter = topic
                .as_str()
                .and_then(filter)
                .ok_or(AclClaimError::Topic(i))?;
            rules.push((filter, publish, subscribe));
        }
    }
    for (i, (filter, publish, subscribe)) in rules.iter().enumerate() {
        let grant = Grant {
            rank: i as u64,
            allow: true,
        };
        trie.insert(filter, true, grant, *publish, *subscribe);
    }
    Ok(())
}

/// A rule's topic as a filter for the trie: EMQX's placeholders as `%u` / `%c`; `None` if it
/// is not a valid filter or uses EMQX's `eq ` (literal) prefix, which the trie cannot honour.
fn filter(topic: &str) -> Option<String> {
    if topic.starts_with("eq ") {
        return None;
    }
    let filter = topic
        .replace("${username}", "%u")
        .replace("${clientid}", "%c");
    starling_topic::TopicFilter::new(&filter).ok()?;
    Some(filter)
}
