//! Topic rewrite (EMQX's): rules `{action, source_topic, re, dest_topic}`, tried in order.
//!
//! A PUBLISH topic (rules with action `publish` or `all`) or a SUBSCRIBE/UNSUBSCRIBE filter
//! (`subscribe` or `all`) is rewritten by the first rule whose `source_topic` filter matches it
//! and whose regex `re` matches its text: it becomes `dest_topic` with `$1`, `$2`... (or
//! `${1}`) replaced by the captures. A filter is matched against `source_topic` level by level
//! as text (`x/#` matches the filter `x/+/y`, `+` matches one level whatever it holds). What
//! the rewrite makes must still be a valid topic name (or filter); when it is not, the
//! original is kept.
//!
//! Regexes are compiled once, each capped by `RegexBuilder::size_limit`, and rules are capped
//! in number (`starling_config::MAX_REWRITE_RULES`), so one topic costs at most that many
//! bounded regex runs; with no rules the router skips all of it (`Rewriter::is_empty`).

use super::ModuleError;
use regex::{Regex, RegexBuilder};
use starling_config::{RewriteAction, RewriteRule};
use starling_topic::TopicFilter;

/// The compiled size a rule's regex may reach (bytes of the regex crate's program).
const REGEX_SIZE_LIMIT: usize = 256 * 1024;

/// The compiled rules.
#[derive(Debug, Default)]
pub(crate) struct Rewriter {
    rules: Vec<Compiled>,
}

#[derive(Debug)]
struct Compiled {
    action: RewriteAction,
    source: TopicFilter,
    re: Regex,
    dest: String,
}

impl Rewriter {
    /// Checks and compiles `rules`; errors name `prefix[i].field`.
    pub(crate) fn compile(rules: &[RewriteRule], prefix: &str) -> Result<Self, ModuleError> {
        starling_config::check_rewrite(rules, prefix)?;
        let mut compiled = Vec::with_capacity(rules.len());
        for (i, rule) in rules.iter().enumerate() {
            let invalid = |field: &str, problem: String| ModuleError::Invalid {
                field: format!("{prefix}[{i}].{field}"),
                problem,
            };
            let source = TopicFilter::new(&rule.source_topic)
                .map_err(|e| invalid("source_topic", format!("{e}: {:?}", rule.source_topic)))?;
            let re = RegexBuilder::new(&rule.re)
                .size_limit(REGEX_SIZE_LIMIT)
                .build()
                .map_err(|e| invalid("re", e.to_string()))?;
            compiled.push(Compiled {
                action: rule.action,
                source,
                re,
                dest: rule.dest_topic.clone(),
            });
        }
        Ok(Self { rules: compiled })
    }

    /// No rules: nothing to do, and the router does not look.
    pub(crate) fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The new name of a PUBLISH topic, if a rule rewrites it.
    pub(crate) fn publish(&self, topic: &str) -> Option<String> {
        self.apply(topic, RewriteAction::Publish)
    }

    /// The new filter of a SUBSCRIBE or UNSUBSCRIBE, if a rule rewrites it.
    pub(crate) fn subscribe(&self, filter: &str) -> Option<String> {
        self.apply(filter, RewriteAction::Subscribe)
    }

    fn apply(&self, text: &str, wanted: RewriteAction) -> Option<String> {
        self.rules
            .iter()
            .filter(|r| r.action == wanted || r.action == RewriteAction::All)
            .filter(|r| levels_match(&r.source, text))
            .find_map(|r| {
                let captures = r.re.captures(text)?;
                let mut out = String::new();
                captures.expand(&r.dest, &mut out);
                Some(out)
            })
    }
}

/// Whether `filter` matches `text` taken level by level as literal text (a topic, or a filter
/// whose wildcards are matched as ordinary levels). `$` topics are not matched by a leading
/// wildcard ([MQTT-4.7.2-1]).
fn levels_match(filter: &TopicFilter, text: &str) -> bool {
    let raw = filter.as_str();
    if text.starts_with('$') && (raw.starts_with('+') || raw.starts_with('#')) {
        return false;
    }
    let mut levels = text.split('/');
    for f in filter.levels() {
        match (f, levels.next()) {
            ("#", _) => return true,
            ("+", Some(_)) => {}
            (f, Some(l)) if f == l => {}
            _ => return false,
        }
    }
    levels.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(action: RewriteAction, source: &str, re: &str, dest: &str) -> RewriteRule {
        RewriteRule {
            action,
            source_topic: source.into(),
            re: re.into(),
            dest_topic: dest.into(),
        }
    }

    #[test]
    fn the_first_matching_rule_rewrites_with_captures() {
        let rules = [
            rule(RewriteAction::Publish, "x/#", "^x/(.+)/z$", "z/$1"),
            rule(RewriteAction::All, "x/#", "^x/(.+)$", "y/$1"),
        ];
        let rw = Rewriter::compile(&rules, "config").expect("valid");
        assert_eq!(rw.publish("x/a/z").as_deref(), Some("z/a"));
        assert_eq!(rw.publish("x/a").as_deref(), Some("y/a"));
        assert_eq!(rw.subscribe("x/a/z").as_deref(), Some("y/a/z"));
        assert_eq!(rw.subscribe("x/#").as_deref(), Some("y/#"));
        assert_eq!(rw.publish("w/a"), None);
        assert_eq!(rw.publish("x"), None, "x/# matches x, the regex does not");
        assert!(Rewriter::default().is_empty());
    }

    #[test]
    fn levels_are_matched_as_text() {
        let f = |s: &str| TopicFilter::new(s).expect("filter");
        assert!(levels_match(&f("a/+"), "a/+"));
        assert!(levels_match(&f("a/+"), "a/b"));
        assert!(!levels_match(&f("a/+"), "a/b/c"));
        assert!(levels_match(&f("#"), "a"));
        assert!(!levels_match(&f("#"), "$SYS/a"));
    }

    #[test]
    fn bad_rules_are_refused_naming_the_field() {
        let field = |rules: &[RewriteRule]| match Rewriter::compile(rules, "config") {
            Err(ModuleError::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        let bad_re = rule(RewriteAction::All, "x/#", "(", "y");
        assert_eq!(field(&[bad_re]), "config[0].re");
        let bad_source = rule(RewriteAction::All, "x/#/y", "x", "y");
        assert_eq!(field(&[bad_source]), "config[0].source_topic");
        let huge = rule(RewriteAction::All, "x/#", "\\w{1000}\\w{1000}", "y");
        assert_eq!(field(&[huge]), "config[0].re", "over the size limit");
        let ok = rule(RewriteAction::All, "x/#", "x", "y");
        assert_eq!(field(&vec![ok; 101]), "config");
    }
}
