//! [`BuiltinAccess`]: the users and ACL rules of the `builtin` authenticator and authorization
//! source, managed at run time (the management API will call it).
//!
//! Every change is checked first (an error names the field and the problem), then written to
//! the store (`auth_users`, `auth_acl`; committed, so a `kill -9` loses nothing), then swapped
//! into the table the chains read, so a stored change is in force before the call returns and
//! a refused one changes nothing. Changes are made one at a time (a lock held for the store
//! write and the swap, never across an await); checks never wait for them. A rule change
//! bumps the rules' generation, so connected clients drop their cached decisions and their
//! next PUBLISH or delivery is judged by the new rules. A deleted or changed user keeps the
//! connections it has: the password is asked at CONNECT.
//!
//! Passwords are hashed (argon2id, tens of milliseconds) on a blocking thread: the methods
//! that hash are `async`. The same thread derives the user's SCRAM credentials (PBKDF2 with
//! the `scram` authenticator's `iterations`, for SCRAM-SHA-256 and SCRAM-SHA-512), the only
//! moment the plain password is known: a user stored before, and not given a password since,
//! has none and cannot use SCRAM.

use starling_auth::builtin::{
    check_hash, check_username, hash_password, BuiltinRules, BuiltinUsers, Permission, Rule,
    RuleAction, RuleError, UserEntry, UserError, Who,
};
use starling_auth::scram::{ScramAlgorithm, ScramCredential};
use starling_config::IpNet;
use starling_store::{
    AclAction, AclRuleRecord, AclWho, ScramRecord, Store, StoreError, UserRecord,
};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;
use tracing::warn;

/// Why a change to the `builtin` users or rules was refused.
#[derive(Debug, thiserror::Error)]
pub enum BuiltinError {
    /// A username or password it will not take.
    #[error(transparent)]
    User(#[from] UserError),
    /// A rule it will not take.
    #[error(transparent)]
    Rule(#[from] RuleError),
    /// `add_user` with a name that is taken.
    #[error("username: {0:?} exists already")]
    UserExists(String),
    /// No user of that name.
    #[error("username: no user {0:?}")]
    NoSuchUser(String),
    /// No rule of that id.
    #[error("id: no rule {0}")]
    NoSuchRule(u64),
    /// `auth.max_users` users are held.
    #[error("username: {0} users are held already (auth.max_users)")]
    TooManyUsers(usize),
    /// `auth.max_rules` rules are held.
    #[error("rule: {0} rules are held already (auth.max_rules)")]
    TooManyRules(usize),
    /// The store refused the write; nothing changed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The blocking thread that hashes the password failed (the runtime is shutting down).
    #[error("password: not hashed: {0}")]
    Hashing(String),
}

/// A `builtin` user as listed (never its hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltinUser {
    /// The username.
    pub username: String,
    /// Skips every ACL check.
    pub is_superuser: bool,
    /// When it was made.
    pub created_at: SystemTime,
}

/// The `builtin` users and rules, and their store.
pub struct BuiltinAccess {
    users: Arc<BuiltinUsers>,
    rules: Arc<BuiltinRules>,
    store: Store,
    /// PBKDF2 iterations of SCRAM credentials derived from now on.
    scram_iterations: u32,
    /// One change at a time: the store write and the swap.
    write: Mutex<()>,
}

impl std::fmt::Debug for BuiltinAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuiltinAccess")
            .field("users", &self.users.len())
            .field("rules", &self.rules.len())
            .finish_non_exhaustive()
    }
}

fn listed(username: &str, entry: &UserEntry) -> BuiltinUser {
    BuiltinUser {
        username: username.to_owned(),
        is_superuser: entry.superuser,
        created_at: entry.created_at,
    }
}

/// A password's argon2id hash and its SCRAM credentials.
type Hashed = (String, Vec<ScramCredential>);

async fn hash(password: &[u8], scram_iterations: u32) -> Result<Hashed, BuiltinError> {
    let password = zeroize::Zeroizing::new(password.to_vec());
    tokio::task::spawn_blocking(move || {
        let hash = hash_password(&password)?;
        Ok((
            hash,
            ScramCredential::derive_all(&password, scram_iterations),
        ))
    })
    .await
    .map_err(|error| BuiltinError::Hashing(error.to_string()))?
}

impl BuiltinAccess {
    /// The handle on `builtin`'s tables (the ones the chains ask), written through to `store`.
    pub(crate) fn new(builtin: &starling_auth::Builtin, store: Store) -> Self {
        Self {
            users: Arc::clone(&builtin.users),
            rules: Arc::clone(&builtin.rules),
            store,
            scram_iterations: builtin.scram_iterations,
            write: Mutex::new(()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.write.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Puts back what the store kept; a record that does not check (or is past a cap) is
    /// logged and left out.
    pub(crate) fn restore(&self, users: Vec<UserRecord>, rules: Vec<AclRuleRecord>) {
        let _write = self.lock();
        for user in users {
            let checked =
                check_username(&user.username).and_then(|()| check_hash(&user.password_hash));
            if let Err(error) = checked {
                warn!(%error, username = user.username, "a stored builtin user was not restored");
            } else if self.users.len() >= self.users.max() {
                warn!(
                    username = user.username,
                    "auth.max_users reached: a stored user was not restored"
                );
            } else {
                self.users.put(&user.username, entry_of(&user));
            }
        }
        let mut kept = Vec::with_capacity(rules.len().min(self.rules.max()));
        for record in rules {
            let rule = rule_of(&record);
            match rule.validate() {
                Err(error) => {
                    warn!(%error, id = record.id, "a stored builtin rule was not restored")
                }
                Ok(()) if kept.len() >= self.rules.max() => {
                    warn!(
                        id = record.id,
                        "auth.max_rules reached: a stored rule was not restored"
                    )
                }
                Ok(()) => kept.push((record.id, rule)),
            }
        }
        self.rules.restore(kept);
    }

    /// Every user, by name (without hashes).
    pub fn users(&self) -> Vec<BuiltinUser> {
        self.users
            .list()
            .iter()
            .map(|(name, entry)| listed(name, entry))
            .collect()
    }

    /// The user `username`, if there is one.
    pub fn user(&self, username: &str) -> Option<BuiltinUser> {
        self.users
            .get(username)
            .map(|entry| listed(username, &entry))
    }

    /// Adds a user, its password hashed (argon2id) on a blocking thread. Refused if the name
    /// is taken, too long or empty, the password empty or over 1 KiB, or `auth.max_users`
    /// users are held.
    pub async fn add_user(
        &self,
        username: &str,
        password: &[u8],
        superuser: bool,
    ) -> Result<BuiltinUser, BuiltinError> {
        check_username(username)?;
        self.room_for(username)?;
        let (hash, scram) = hash(password, self.scram_iterations).await?;
        let _write = self.lock();
        // Checked again: another change may have come while the password was hashed.
        self.room_for(username)?;
        let record = UserRecord {
            username: username.to_owned(),
            password_hash: hash,
            is_superuser: superuser,
            created_at: SystemTime::now(),
            scram: scram.iter().map(scram_record).collect(),
        };
        self.put_user(&record)?;
        Ok(listed(username, &entry_of(&record)))
    }

    fn room_for(&self, username: &str) -> Result<(), BuiltinError> {
        if self.users.get(username).is_some() {
            return Err(BuiltinError::UserExists(username.to_owned()));
        }
        if self.users.len() >= self.users.max() {
            return Err(BuiltinError::TooManyUsers(self.users.max()));
        }
        Ok(())
    }

    fn put_user(&self, record: &UserRecord) -> Result<(), BuiltinError> {
        let mut batch = self.store.batch();
        batch.put_auth_user(record);
        batch.commit()?;
        self.users.put(&record.username, entry_of(record));
        Ok(())
    }

    /// Changes a user's password (hashed on a blocking thread) and/or superuser flag; `None`
    /// keeps it.
    pub async fn update_user(
        &self,
        username: &str,
        password: Option<&[u8]>,
        superuser: Option<bool>,
    ) -> Result<BuiltinUser, BuiltinError> {
        let known = || {
            self.users
                .get(username)
                .ok_or_else(|| BuiltinError::NoSuchUser(username.to_owned()))
        };
        known()?;
        let hashed = match password {
            Some(password) => Some(hash(password, self.scram_iterations).await?),
            None => None,
        };
        let _write = self.lock();
        let current = known()?;
        let (password_hash, scram) =
            hashed.unwrap_or_else(|| (current.hash.to_string(), current.scram.to_vec()));
        let record = UserRecord {
            username: username.to_owned(),
            password_hash,
            is_superuser: superuser.unwrap_or(current.superuser),
            created_at: current.created_at,
            scram: scram.iter().map(scram_record).collect(),
        };
        self.put_user(&record)?;
        Ok(listed(username, &entry_of(&record)))
    }

    /// Deletes a user (its connections stay; it cannot connect again).
    pub fn delete_user(&self, username: &str) -> Result<(), BuiltinError> {
        let _write = self.lock();
        if self.users.get(username).is_none() {
            return Err(BuiltinError::NoSuchUser(username.to_owned()));
        }
        let mut batch = self.store.batch();
        batch.delete_auth_user(username);
        batch.commit()?;
        self.users.remove(username);
        Ok(())
    }

    /// Every rule with its id, by id: the order of precedence (the lowest id that matches
    /// decides).
    pub fn rules(&self) -> Vec<(u64, Rule)> {
        self.rules.list()
    }

    /// Adds a rule after every other (it gets the next id, so it takes precedence over none
    /// of them); returns its id.
    pub fn add_rule(&self, rule: Rule) -> Result<u64, BuiltinError> {
        rule.validate()?;
        let _write = self.lock();
        if self.rules.len() >= self.rules.max() {
            return Err(BuiltinError::TooManyRules(self.rules.max()));
        }
        let id = self.rules.next_id();
        self.put_rule(id, rule)?;
        Ok(id)
    }

    /// Replaces rule `id` (it keeps its place in the order).
    pub fn update_rule(&self, id: u64, rule: Rule) -> Result<(), BuiltinError> {
        rule.validate()?;
        let _write = self.lock();
        if self.rules.get(id).is_none() {
            return Err(BuiltinError::NoSuchRule(id));
        }
        self.put_rule(id, rule)
    }

    fn put_rule(&self, id: u64, rule: Rule) -> Result<(), BuiltinError> {
        let mut batch = self.store.batch();
        batch.put_auth_rule(&record_of(id, &rule));
        batch.commit()?;
        self.rules.put(id, rule);
        Ok(())
    }

    /// Deletes rule `id`.
    pub fn delete_rule(&self, id: u64) -> Result<(), BuiltinError> {
        let _write = self.lock();
        if self.rules.get(id).is_none() {
            return Err(BuiltinError::NoSuchRule(id));
        }
        let mut batch = self.store.batch();
        batch.delete_auth_rule(id);
        batch.commit()?;
        self.rules.remove(id);
        Ok(())
    }
}

fn entry_of(user: &UserRecord) -> UserEntry {
    let scram: Vec<ScramCredential> = user
        .scram
        .iter()
        .filter_map(|record| {
            let credential = ScramAlgorithm::from_name(&record.mechanism).map(|algorithm| {
                ScramCredential {
                    algorithm,
                    salt: record.salt.clone(),
                    iterations: record.iterations,
                    stored_key: record.stored_key.clone(),
                    server_key: record.server_key.clone(),
                }
            });
            let kept = credential.filter(ScramCredential::is_well_formed);
            if kept.is_none() {
                warn!(
                    username = user.username,
                    mechanism = record.mechanism,
                    "a stored SCRAM credential is damaged: left out (the user cannot use that mechanism until its password is set again)"
                );
            }
            kept
        })
        .collect();
    UserEntry {
        hash: user.password_hash.as_str().into(),
        superuser: user.is_superuser,
        created_at: user.created_at,
        scram: scram.into(),
    }
}

fn scram_record(credential: &ScramCredential) -> ScramRecord {
    ScramRecord {
        mechanism: credential.algorithm.name().to_owned(),
        salt: credential.salt.clone(),
        iterations: credential.iterations,
        stored_key: credential.stored_key.clone(),
        server_key: credential.server_key.clone(),
    }
}

fn record_of(id: u64, rule: &Rule) -> AclRuleRecord {
    AclRuleRecord {
        id,
        who: match &rule.who {
            Who::All => AclWho::All,
            Who::Username(name) => AclWho::Username(name.clone()),
            Who::ClientId(client_id) => AclWho::ClientId(client_id.clone()),
            Who::Address(ip) => AclWho::Address(*ip),
            Who::Network(net) => AclWho::Network {
                addr: net.addr,
                prefix: net.prefix,
            },
        },
        action: match rule.action {
            RuleAction::Publish => AclAction::Publish,
            RuleAction::Subscribe => AclAction::Subscribe,
            RuleAction::All => AclAction::All,
        },
        allow: rule.permission == Permission::Allow,
        topic: rule.topic.clone(),
        eq: rule.eq,
    }
}

fn rule_of(record: &AclRuleRecord) -> Rule {
    Rule {
        who: match &record.who {
            AclWho::All => Who::All,
            AclWho::Username(name) => Who::Username(name.clone()),
            AclWho::ClientId(client_id) => Who::ClientId(client_id.clone()),
            AclWho::Address(ip) => Who::Address(*ip),
            AclWho::Network { addr, prefix } => Who::Network(IpNet {
                addr: *addr,
                prefix: *prefix,
            }),
        },
        action: match record.action {
            AclAction::Publish => RuleAction::Publish,
            AclAction::Subscribe => RuleAction::Subscribe,
            AclAction::All => RuleAction::All,
        },
        permission: if record.allow {
            Permission::Allow
        } else {
            Permission::Deny
        },
        topic: record.topic.clone(),
        eq: record.eq,
    }
}
