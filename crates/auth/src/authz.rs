//! The authorization chain: every `[[auth.authz]]` source in order (`acl_file`, `builtin`);
//! the first with a matching rule decides, else `no_match`.

use crate::acl::{AclFile, AclFileError, Action, Decision, Principal};
use crate::builtin::BuiltinRules;
use crate::reload::{Reloadable, Reloaded};
use starling_config::{AuthConfig, AuthzConfig};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

enum Source {
    AclFile(Reloadable<AclFile>),
    Builtin(Arc<BuiltinRules>),
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
        for source in &self.sources {
            let decision = match source {
                Source::AclFile(file) => file.get().check(who, action, topic),
                Source::Builtin(rules) => rules.check(who, action, topic),
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
                Source::AclFile(_) => 0,
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
            })
            .sum()
    }

    /// Loads again every source whose file changed; a file that fails keeps its old rules.
    pub fn reload(&self) -> Vec<Reloaded<AclFileError>> {
        let mut done = Vec::new();
        for source in &self.sources {
            let reloaded = match source {
                Source::AclFile(file) => file.reload(AclFile::load, AclFile::len),
                Source::Builtin(_) => None,
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
