//! ACL rules compiled into a trie over topic levels, so that a check costs O(topic levels)
//! whatever the number of rules.
//!
//! Each rule's filter is inserted level by level, as the subscription trie does. A level may
//! also be a *template* naming the client: exactly `%u` (its username), exactly `%c` (its client
//! id), or text around them (`dev-%c`). Templates are matched at check time by comparing the
//! topic's level with the principal's name, so one trie serves every client: no per-client
//! compilation, and patterns cost the same as plain rules.
//!
//! A rule that ends at a node is kept there as a [`Grant`] per action: the one with the lowest
//! rank wins (the source decides ranks: the ACL file puts denials first, as Mosquitto does).
//! A check collects the best grant over every matching path.
//!
//! Rules whose topic is taken literally (the `builtin` source's `eq`) are kept apart, in a map
//! from the exact string to its grants: one lookup per check.
//!
//! Matching follows MQTT's filter rules: `+` is one level, `#` the rest including nothing
//! (`a/#` matches `a`), and a filter that starts with a wildcard does not match a topic that
//! starts with `$` ([MQTT-4.7.2-1]), so `#` never grants `$SYS/...`.

use super::{Action, Grant, Principal};
use std::collections::HashMap;

/// The best grant per action among the rules that end at one place.
#[derive(Debug, Clone, Copy, Default)]
struct Grants {
    publish: Option<Grant>,
    subscribe: Option<Grant>,
}

impl Grants {
    fn add(&mut self, grant: Grant, publish: bool, subscribe: bool) {
        if publish {
            Grant::keep_best(&mut self.publish, grant);
        }
        if subscribe {
            Grant::keep_best(&mut self.subscribe, grant);
        }
    }

    fn get(&self, action: Action) -> Option<Grant> {
        match action {
            Action::Publish => self.publish,
            Action::Subscribe | Action::Read => self.subscribe,
        }
    }
}

/// A level that names the client.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(Box<str>),
    Username,
    ClientId,
}

/// A level mixing text with `%u` / `%c`, e.g. `dev-%c`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Template(Vec<Part>);

impl Template {
    /// The level for `who`; `None` when it names a username the client does not have.
    fn matches(&self, level: &str, who: &Principal) -> bool {
        let mut rest = level;
        for part in &self.0 {
            let text = match part {
                Part::Text(text) => &**text,
                Part::Username => match who.username.as_deref() {
                    Some(name) => name,
                    None => return false,
                },
                Part::ClientId => &who.client_id,
            };
            match rest.strip_prefix(text) {
                Some(after) => rest = after,
                None => return false,
            }
        }
        rest.is_empty()
    }
}

#[derive(Debug, Default)]
struct Node {
    literal: HashMap<Box<str>, Node>,
    plus: Option<Box<Node>>,
    /// A level that is exactly `%u`.
    username: Option<Box<Node>>,
    /// A level that is exactly `%c`.
    client_id: Option<Box<Node>>,
    /// Levels mixing text and names; few in practice, so a list.
    templates: Vec<(Template, Node)>,
    /// Rules whose filter ends here.
    here: Grants,
    /// Rules whose filter ends with `#` here: this level and everything below.
    rest: Grants,
}

/// Compiled ACL rules.
#[derive(Debug, Default)]
pub struct AclTrie {
    root: Node,
    /// Rules matched literally: topic (or filter) -> grants.
    exact: HashMap<Box<str>, Grants>,
    rules: usize,
}

/// How one level of a rule's filter is read.
enum Level<'a> {
    Literal(&'a str),
    Plus,
    Hash,
    Username,
    ClientId,
    Template(Template),
}

fn level_of(level: &str, templates: bool) -> Level<'_> {
    match level {
        "+" => Level::Plus,
        "#" => Level::Hash,
        "%u" if templates => Level::Username,
        "%c" if templates => Level::ClientId,
        _ if templates && (level.contains("%u") || level.contains("%c")) => {
            Level::Template(parse_template(level))
        }
        _ => Level::Literal(level),
    }
}

fn parse_template(level: &str) -> Template {
    let mut parts = Vec::new();
    let mut text = String::new();
    let mut chars = level.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if c == '%' {
            let name = match chars.peek() {
                Some((_, 'u')) => Some(Part::Username),
                Some((_, 'c')) => Some(Part::ClientId),
                _ => None,
            };
            if let Some(name) = name {
                chars.next();
                if !text.is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut text).into()));
                }
                parts.push(name);
                continue;
            }
        }
        text.push(c);
    }
    if !text.is_empty() {
        parts.push(Part::Text(text.into()));
    }
    Template(parts)
}

impl AclTrie {
    /// Adds a rule. `filter` is a valid MQTT topic filter; with `templates`, levels holding
    /// `%u` / `%c` name the client (Mosquitto's `pattern` lines), otherwise they are literal
    /// text (its `topic` lines).
    pub fn insert(
        &mut self,
        filter: &str,
        templates: bool,
        grant: Grant,
        publish: bool,
        subscribe: bool,
    ) {
        let mut node = &mut self.root;
        for level in filter.split('/') {
            node = match level_of(level, templates) {
                Level::Hash => {
                    node.rest.add(grant, publish, subscribe);
                    self.rules += 1;
                    return;
                }
                Level::Literal(text) => node.literal.entry(text.into()).or_default(),
                Level::Plus => node.plus.get_or_insert_with(Box::default),
                Level::Username => node.username.get_or_insert_with(Box::default),
                Level::ClientId => node.client_id.get_or_insert_with(Box::default),
                Level::Template(template) => {
                    let at = match node.templates.iter().position(|(t, _)| *t == template) {
                        Some(at) => at,
                        None => {
                            node.templates.push((template, Node::default()));
                            node.templates.len() - 1
                        }
                    };
                    &mut node.templates[at].1
                }
            };
        }
        node.here.add(grant, publish, subscribe);
        self.rules += 1;
    }

    /// Adds a rule that matches only `topic` itself, character for character: a PUBLISH to
    /// that topic name, or a SUBSCRIBE with that very filter (`+` and `#` are plain text).
    pub fn insert_exact(&mut self, topic: &str, grant: Grant, publish: bool, subscribe: bool) {
        self.exact
            .entry(topic.into())
            .or_default()
            .add(grant, publish, subscribe);
        self.rules += 1;
    }

    /// Rules inserted.
    pub fn len(&self) -> usize {
        self.rules
    }

    /// True when no rule was inserted.
    pub fn is_empty(&self) -> bool {
        self.rules == 0
    }

    /// The best grant for `who` doing `action` on `topic`: a topic name for
    /// [`Action::Publish`] and [`Action::Read`], a subscription's filter for
    /// [`Action::Subscribe`] (granted only by rules whose filter covers all of it).
    pub fn check(&self, who: &Principal, action: Action, topic: &str) -> Option<Grant> {
        let mut best = None;
        if action != Action::Read {
            if let Some(grants) = self.exact.get(topic) {
                if let Some(grant) = grants.get(action) {
                    best = Some(grant);
                }
            }
        }
        let filter = action == Action::Subscribe;
        let dollar = topic.starts_with('$');
        walk(
            &self.root,
            topic.split('/'),
            Ctx {
                who,
                action,
                filter,
                dollar_at_root: dollar,
            },
            true,
            &mut best,
        );
        best
    }
}

#[derive(Clone, Copy)]
struct Ctx<'a> {
    who: &'a Principal,
    action: Action,
    filter: bool,
    dollar_at_root: bool,
}

fn walk<'t, I>(node: &Node, mut levels: I, ctx: Ctx<'_>, root: bool, best: &mut Option<Grant>)
where
    I: Iterator<Item = &'t str> + Clone,
{
    // A wildcard as the first level does not match a topic starting with `$`.
    let wildcards = !(root && ctx.dollar_at_root);
    if wildcards {
        if let Some(grant) = node.rest.get(ctx.action) {
            Grant::keep_best(best, grant);
        }
    }
    let Some(level) = levels.next() else {
        if let Some(grant) = node.here.get(ctx.action) {
            Grant::keep_best(best, grant);
        }
        return;
    };
    if ctx.filter && level == "#" {
        // Only a `#` rule covers a `#` subscription: seen above.
        return;
    }
    if wildcards {
        if let Some(plus) = &node.plus {
            walk(plus, levels.clone(), ctx, false, best);
        }
    }
    if ctx.filter && level == "+" {
        // A `+` subscription is covered by `+` or `#` rules only, not by a literal or a name.
        return;
    }
    if let Some(child) = node.literal.get(level) {
        walk(child, levels.clone(), ctx, false, best);
    }
    if let Some(child) = &node.username {
        if ctx.who.username.as_deref() == Some(level) {
            walk(child, levels.clone(), ctx, false, best);
        }
    }
    if let Some(child) = &node.client_id {
        if *ctx.who.client_id == *level {
            walk(child, levels.clone(), ctx, false, best);
        }
    }
    for (template, child) in &node.templates {
        if template.matches(level, ctx.who) {
            walk(child, levels.clone(), ctx, false, best);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(username: Option<&str>, client_id: &str) -> Principal {
        Principal::new(username.map(str::to_owned), client_id, None)
    }

    fn allow(rank: u64) -> Grant {
        Grant { rank, allow: true }
    }

    fn deny(rank: u64) -> Grant {
        Grant { rank, allow: false }
    }

    fn decision(trie: &AclTrie, who: &Principal, action: Action, topic: &str) -> Option<bool> {
        trie.check(who, action, topic).map(|g| g.allow)
    }

    #[test]
    fn wildcards_match_as_mqtt_filters_do() {
        let mut trie = AclTrie::default();
        trie.insert("a/+/c", false, allow(1), true, true);
        trie.insert("b/#", false, allow(2), true, true);
        let w = who(None, "c1");
        for (topic, expect) in [
            ("a/x/c", Some(true)),
            ("a/x/d", None),
            ("a/x/c/d", None),
            ("b", Some(true)),
            ("b/x/y", Some(true)),
            ("bb", None),
        ] {
            assert_eq!(
                decision(&trie, &w, Action::Publish, topic),
                expect,
                "{topic}"
            );
        }
    }

    #[test]
    fn the_lowest_rank_wins_whatever_the_path() {
        let mut trie = AclTrie::default();
        trie.insert("a/#", false, allow(5), true, true);
        trie.insert("a/secret/#", false, deny(0), true, true);
        let w = who(None, "c1");
        assert_eq!(decision(&trie, &w, Action::Read, "a/open"), Some(true));
        assert_eq!(decision(&trie, &w, Action::Read, "a/secret/x"), Some(false));
        // The subscription is covered by the allow; the deny covers only part of it, so it is
        // granted, and deliveries from the denied part are refused one by one.
        assert_eq!(decision(&trie, &w, Action::Subscribe, "a/#"), Some(true));
        assert_eq!(
            decision(&trie, &w, Action::Subscribe, "a/secret/#"),
            Some(false)
        );
        assert_eq!(
            decision(&trie, &w, Action::Subscribe, "a/secret/+"),
            Some(false)
        );
    }

    #[test]
    fn a_subscription_is_granted_only_by_rules_covering_all_of_it() {
        let mut trie = AclTrie::default();
        trie.insert("a/b", false, allow(1), false, true);
        trie.insert("x/+/z", false, allow(1), false, true);
        let w = who(None, "c1");
        assert_eq!(decision(&trie, &w, Action::Subscribe, "a/b"), Some(true));
        assert_eq!(decision(&trie, &w, Action::Subscribe, "a/+"), None);
        assert_eq!(decision(&trie, &w, Action::Subscribe, "a/#"), None);
        assert_eq!(decision(&trie, &w, Action::Subscribe, "x/+/z"), Some(true));
        assert_eq!(decision(&trie, &w, Action::Subscribe, "x/y/z"), Some(true));
        assert_eq!(decision(&trie, &w, Action::Subscribe, "x/#"), None);
        assert_eq!(decision(&trie, &w, Action::Subscribe, "+/+/z"), None);
    }

    #[test]
    fn wildcards_at_the_root_do_not_reach_dollar_topics() {
        let mut trie = AclTrie::default();
        trie.insert("#", false, allow(1), true, true);
        trie.insert("+/x", false, allow(1), true, true);
        let w = who(None, "c1");
        assert_eq!(
            decision(&trie, &w, Action::Read, "$SYS/broker/uptime"),
            None
        );
        assert_eq!(decision(&trie, &w, Action::Read, "$SYS/x"), None);
        assert_eq!(decision(&trie, &w, Action::Subscribe, "$SYS/#"), None);
        assert_eq!(decision(&trie, &w, Action::Read, "any/x"), Some(true));
        trie.insert("$SYS/#", false, allow(1), false, true);
        assert_eq!(
            decision(&trie, &w, Action::Read, "$SYS/broker/uptime"),
            Some(true)
        );
    }

    #[test]
    fn templates_name_the_client_and_only_in_patterns() {
        let mut trie = AclTrie::default();
        trie.insert("users/%u/#", true, allow(1), true, true);
        trie.insert("dev/%c", true, allow(1), true, true);
        trie.insert("box/dev-%c-%u", true, allow(1), true, true);
        trie.insert("lit/%u", false, allow(1), true, true);
        let alice = who(Some("alice"), "c1");
        let anon = who(None, "c2");
        assert_eq!(
            decision(&trie, &alice, Action::Publish, "users/alice/x"),
            Some(true)
        );
        assert_eq!(
            decision(&trie, &alice, Action::Publish, "users/bob/x"),
            None
        );
        assert_eq!(decision(&trie, &anon, Action::Publish, "users//x"), None);
        assert_eq!(
            decision(&trie, &alice, Action::Publish, "dev/c1"),
            Some(true)
        );
        assert_eq!(decision(&trie, &alice, Action::Publish, "dev/c2"), None);
        assert_eq!(
            decision(&trie, &alice, Action::Publish, "box/dev-c1-alice"),
            Some(true)
        );
        assert_eq!(
            decision(&trie, &alice, Action::Publish, "box/dev-c1-bob"),
            None
        );
        assert_eq!(decision(&trie, &alice, Action::Publish, "lit/alice"), None);
        assert_eq!(
            decision(&trie, &alice, Action::Publish, "lit/%u"),
            Some(true)
        );
        // A `+` subscription is not covered by a rule naming one client.
        assert_eq!(
            decision(&trie, &alice, Action::Subscribe, "users/+/x"),
            None
        );
        assert_eq!(
            decision(&trie, &alice, Action::Subscribe, "users/alice/+"),
            Some(true)
        );
    }

    #[test]
    fn actions_are_separate() {
        let mut trie = AclTrie::default();
        trie.insert("w", false, allow(1), true, false);
        trie.insert("r", false, allow(1), false, true);
        let w = who(None, "c");
        assert_eq!(decision(&trie, &w, Action::Publish, "w"), Some(true));
        assert_eq!(decision(&trie, &w, Action::Read, "w"), None);
        assert_eq!(decision(&trie, &w, Action::Publish, "r"), None);
        assert_eq!(decision(&trie, &w, Action::Read, "r"), Some(true));
        assert_eq!(decision(&trie, &w, Action::Subscribe, "r"), Some(true));
    }
}
