//! The authorization chain: every `[[auth.authz]]` source in order (`acl_file`, `builtin`, and
//! `jwt`/`http`: the rules the client's credentials carried); the first with a matching rule
//! decides, else `no_match`.
//!
//! Without a `jwt` or `http` source in the chain, rules carried by credentials are asked
//! before every source (as EMQX does); with one, where it stands.

use crate::acl::{AclFile, AclFileError, AclTrie, Action, Decision, Principal};
use crate::authn::AllowedBy;
use crate::builtin::BuiltinRules;
use crate::reload::{Reloadable, Reloaded};
use starling_config::{AuthConfig, AuthzConfig};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

enum Source {
    AclFile(Reloadable<AclFile>),
    Builtin(Arc<BuiltinRules>),
    /// The rules credentials from this authenticator carried.
    Carried(AllowedBy),
}

/// Rules a client's credentials carried (`Authenticated::acl`), and who issued them.
#[derive(Debug, Clone, Copy)]
pub struct Carried<'a> {
    /// The authenticator that let the client in.
    pub by: AllowedBy,
    /// Its rules.
    pub rules: &'a AclTrie,
}

/// What every client may do with topics, for the whole broker; shared by all connections.
pub struct Authorizer {
    sources: Vec<Source>,
    no_match_allows: bool,
    /// Bumped when rules change, so that decisions cached by connections are dropped.
    generation: AtomicU64,
}

impl std::fmt::Debug for Authorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authorizer")
            .field("sources", &self.sources.len())
            .field("no_match_allows", &self.no_match_allows)
            .finish()
    }
}

impl Authorizer {
    /// The configured sources, loaded; `None` when there are none (then nothing is checked).
    /// A `builtin` source gets an empty table of its own (see [`Authorizer::load_with`]).
    pub fn load(config: &AuthConfig) -> Result<Option<Authorizer>, AclFileError> {
        Self::load_with(config, &Arc::new(BuiltinRules::new(config.max_rules)))
    }

    /// The configured sources, loaded; a `builtin` one asks `rules`.
    pub fn load_with(
        config: &AuthConfig,
        rules: &Arc<BuiltinRules>,
    ) -> Result<Option<Authorizer>, AclFileError> {
        if config.authz.is_empty() {
            return Ok(None);
        }
        let mut sources = Vec::with_capacity(config.authz.len());
        for source in &config.authz {
            sources.push(match source {
                AuthzConfig::Builtin => Source::Builtin(Arc::clone(rules)),
                AuthzConfig::AclFile { path } => {
                    Source::AclFile(Reloadable::load(path, AclFile::load)?)
                }
                AuthzConfig::JwtClaims => Source::Carried(AllowedBy::Jwt),
                AuthzConfig::HttpRules => Source::Carried(AllowedBy::Http),
            });
        }
        Ok(Some(Authorizer {
            sources,
            no_match_allows: config.no_match_allows,
            generation: AtomicU64::new(0),
        }))
    }

    /// Whether `who` may do `action` on `topic` (a filter for [`Action::Subscribe`]: the
    /// real filter of a shared or exclusive subscription).
    pub fn allows(&self, who: &Principal, action: Action, topic: &str) -> bool {
        self.allows_with(who, action, topic, None)
    }

    /// Whether the chain places the rules credentials carry (a `jwt` or `http` source).
    pub fn places_carried(&self) -> bool {
        self.sources.iter().any(|s| matches!(s, Source::Carried(_)))
    }

    /// As [`Authorizer::allows`], with the rules `who`'s credentials carried asked where the
    /// chain's `jwt` or `http` source stands (when it is the one that issued them).
    pub fn allows_with(
        &self,
        who: &Principal,
        action: Action,
        topic: &str,
        carried: Option<Carried<'_>>,
    ) -> bool {
        for source in &self.sources {
            let decision = match source {
                Source::AclFile(file) => file.get().check(who, action, topic),
                Source::Builtin(rules) => rules.check(who, action, topic),
                Source::Carried(by) => match carried {
                    Some(c) if c.by == *by => match c.rules.check(who, action, topic) {
                        Some(grant) if grant.allow => Decision::Allow,
                        Some(_) => Decision::Deny,
                        None => Decision::NoMatch,
                    },
                    _ => Decision::NoMatch,
                },
            };
            match decision {
                Decision::Allow => return true,
                Decision::Deny => return false,
                Decision::NoMatch => {}
            }
        }
        self.no_match_allows
    }

    /// Changes with every reload that changed rules, and every change of `builtin` rules.
    pub fn generation(&self) -> u64 {
        let builtin: u64 = self
            .sources
            .iter()
            .map(|source| match source {
                Source::Builtin(rules) => rules.generation(),
                Source::AclFile(_) | Source::Carried(_) => 0,
            })
            .fold(0, u64::wrapping_add);
        self.generation
            .load(Ordering::Acquire)
            .wrapping_add(builtin)
    }

    /// Rules across the sources, as loaded now.
    pub fn rules(&self) -> usize {
        self.sources
            .iter()
            .map(|source| match source {
                Source::AclFile(file) => file.get().len(),
                Source::Builtin(rules) => rules.len(),
                Source::Carried(_) => 0,
            })
            .sum()
    }

    /// Loads again every source whose file changed; a file that fails keeps its old rules.
    pub fn reload(&self) -> Vec<Reloaded<AclFileError>> {
        let mut done = Vec::new();
        for source in &self.sources {
            let reloaded = match source {
                Source::AclFile(file) => file.reload(AclFile::load, AclFile::len),
                Source::Builtin(_) | Source::Carried(_) => None,
            };
            if let Some(reloaded) = reloaded {
                if reloaded.outcome.is_ok() {
                    self.generation.fetch_add(1, Ordering::AcqRel);
                }
                done.push(reloaded);
            }
        }
        done
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const ACL: &str = "user alice\ntopic readwrite shared/#\ntopic deny up/#\n";
    const RULES: &str = r#"[{"permission": "allow", "action": "all", "topic": "up/#"},
                            {"permission": "deny", "action": "all", "topic": "shared/#"}]"#;

    /// The chain of `kinds`, with a `jwt` authenticator and an ACL file.
    fn chain(kinds: &[&str]) -> (Authorizer, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let acl = dir.path().join("acl");
        std::fs::write(&acl, ACL).unwrap();
        let mut text =
            String::from("[[auth.authn]]\nkind = \"jwt\"\nalgorithm = \"HS256\"\nsecret = \"s\"\n");
        for kind in kinds {
            text.push_str(&format!("[[auth.authz]]\nkind = {kind:?}\n"));
            if *kind == "acl_file" {
                text.push_str(&format!("path = {:?}\n", acl.display().to_string()));
            }
        }
        let config = starling_config::parse_str(&text, "test").unwrap();
        (Authorizer::load(&config.auth).unwrap().unwrap(), dir)
    }

    #[test]
    fn carried_rules_are_asked_where_their_source_stands() {
        let rules = crate::jwt::acl::compile(&serde_json::from_str(RULES).unwrap())
            .unwrap()
            .unwrap();
        let alice = Principal::new(Some("alice".to_owned()), "c1", None);
        let carried = Some(Carried {
            by: AllowedBy::Jwt,
            rules: &rules,
        });
        let ask = |a: &Authorizer, topic| a.allows_with(&alice, Action::Publish, topic, carried);
        // The token's rules first: they decide both topics.
        let (jwt_first, _d1) = chain(&["jwt", "acl_file"]);
        assert!(jwt_first.places_carried());
        assert!(ask(&jwt_first, "up/1") && !ask(&jwt_first, "shared/1"));
        // The file first: it decides both, the other way round.
        let (file_first, _d2) = chain(&["acl_file", "jwt"]);
        assert!(!ask(&file_first, "up/1") && ask(&file_first, "shared/1"));
        // Rules from another authenticator are not the jwt source's.
        let from_http = Some(Carried {
            by: AllowedBy::Http,
            rules: &rules,
        });
        assert!(!jwt_first.allows_with(&alice, Action::Publish, "up/1", from_http));
        let (plain, _d3) = chain(&["acl_file"]);
        assert!(!plain.places_carried());
    }

    #[test]
    fn a_jwt_or_http_source_needs_its_authenticator() {
        let text = "[[auth.authz]]\nkind = \"http\"\n";
        let error = starling_config::parse_str(text, "test")
            .unwrap_err()
            .to_string();
        assert!(error.contains("auth.authz[0].kind"), "{error}");
        assert!(error.contains("[[auth.authn]] kind = \"http\""), "{error}");
    }
}
