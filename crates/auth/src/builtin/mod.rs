//! The `builtin` authenticator and authorization source: users and ACL rules that the broker
//! keeps in its store and changes at run time (the management API), instead of files.
//!
//! - `users`: [`BuiltinUsers`], username -> argon2id hash, superuser flag and SCRAM
//!   credentials, and the hashing;
//! - `rule`: [`Rule`], one ACL rule as the API gives it (whom, what, allow or deny, the topic,
//!   `eq`), and its checks;
//! - `rules`: [`BuiltinRules`], the rules compiled per principal group into tries.
//!
//! Both tables are filled by the broker (from the store at start, then by its handle) and
//! read by the chains here without a lock. They exist whether or not `[auth]` names
//! `builtin`: then they can be managed, but nothing asks them.
//!
//! Caps: `auth.max_users` (100,000) users, `auth.max_rules` (100,000) rules, usernames up to
//! [`MAX_USERNAME`] bytes, passwords up to [`MAX_PASSWORD`], rule topics up to
//! [`MAX_RULE_TOPIC`]. The broker's handle enforces them.

mod rule;
mod rules;
mod users;

#[cfg(test)]
mod tests;

pub use rule::{Permission, Rule, RuleAction, RuleError, Who, MAX_RULE_TOPIC};
pub use rules::BuiltinRules;
pub use users::{
    check_hash, check_username, hash_password, verify_password, BuiltinUsers, UserEntry, UserError,
    MAX_PASSWORD, MAX_USERNAME,
};

use crate::authn::{AllowedBy, Authenticated, Outcome, Refusal};
use crate::Credentials;
use starling_config::AuthConfig;
use std::sync::Arc;

/// The `builtin` users and rules, shared by the chains and the broker's handle.
#[derive(Debug, Clone)]
pub struct Builtin {
    /// The users.
    pub users: Arc<BuiltinUsers>,
    /// The ACL rules.
    pub rules: Arc<BuiltinRules>,
    /// PBKDF2 iterations of the SCRAM credentials derived when a password is set (the
    /// `scram` authenticator's `iterations`, 4096 without one).
    pub scram_iterations: u32,
}

impl Builtin {
    /// Empty tables with `[auth]`'s caps.
    pub fn new(config: &AuthConfig) -> Self {
        Self {
            users: Arc::new(BuiltinUsers::new(config.max_users)),
            rules: Arc::new(BuiltinRules::new(config.max_rules)),
            scram_iterations: config
                .authn
                .iter()
                .find_map(|authn| match authn {
                    starling_config::AuthnConfig::Scram(scram) => Some(scram.iterations),
                    _ => None,
                })
                .unwrap_or(starling_config::ScramConfig::default().iterations),
        }
    }
}

/// The `builtin` authenticator's answer: a username it does not have is not its business.
/// Blocking (argon2).
pub(crate) fn authenticate(users: &BuiltinUsers, credentials: &Credentials) -> Outcome {
    let Some(username) = &credentials.username else {
        return Outcome::Pass;
    };
    let password = credentials.password.as_deref().unwrap_or_default();
    match users.verify(username, password) {
        Some((true, superuser)) => Outcome::Allow(Authenticated {
            superuser,
            ..Authenticated::by(AllowedBy::Builtin)
        }),
        Some((false, _)) => Outcome::Deny(Refusal::BadCredentials),
        None => Outcome::Pass,
    }
}
