//! The `builtin` authenticator's users: username -> argon2id hash, superuser flag and SCRAM
//! credentials (`scram`).
//!
//! The table is split into [`SHARDS`] maps, each behind an [`ArcSwap`]: a check loads one
//! shard without a lock, and a change copies only the shard it touches (a few hundred entries
//! at the 100,000-user cap) and swaps it in. Changes come one at a time from the broker's
//! handle, which writes the store first.
//!
//! Hashes are argon2id with OWASP's 7 MiB, 5 passes, one lane (the same strength as the
//! crate's default of 19 MiB and 2 passes, for a third of the memory: a broker keeps the pages
//! of the largest hash it ever ran, so the smaller one is what it costs) and a random 16-byte
//! salt, kept as PHC strings (`$argon2id$v=19$m=7168,t=5,p=1$...`); a hash made with other
//! parameters verifies with its own. Hashing and verifying block for tens of milliseconds, so
//! they run on a blocking thread, and at most [`HashGate`]'s number of them at once (the
//! CPUs): a flood of CONNECTs queues there instead of taking the broker's memory. The
//! management API's accounts and API keys hash with the same functions.

use arc_swap::ArcSwap;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};

/// The longest username the `builtin` authenticator stores, in bytes.
pub const MAX_USERNAME: usize = 256;
/// The longest password it hashes, in bytes (1 KiB).
pub const MAX_PASSWORD: usize = 1024;
/// How many maps the table is split into.
const SHARDS: usize = 64;

/// A username or password the `builtin` authenticator will not take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserError {
    /// The username is empty.
    #[error("username: must not be empty")]
    EmptyUsername,
    /// The username is longer than [`MAX_USERNAME`].
    #[error("username: {0} bytes, at most {MAX_USERNAME}")]
    UsernameTooLong(usize),
    /// The password is longer than [`MAX_PASSWORD`].
    #[error("password: {0} bytes, at most {MAX_PASSWORD}")]
    PasswordTooLong(usize),
    /// The password is empty.
    #[error("password: must not be empty")]
    EmptyPassword,
    /// A stored hash is not an argon2id PHC string, or hashing failed.
    #[error("password hash: {0}")]
    Hash(String),
}

/// Checks a username's length.
pub fn check_username(username: &str) -> Result<(), UserError> {
    match username.len() {
        0 => Err(UserError::EmptyUsername),
        n if n > MAX_USERNAME => Err(UserError::UsernameTooLong(n)),
        _ => Ok(()),
    }
}

/// Hashes `password` with argon2id and a random salt, as a PHC string. Blocking (tens of
/// milliseconds): call it from a blocking thread.
pub fn hash_password(password: &[u8]) -> Result<String, UserError> {
    match password.len() {
        0 => return Err(UserError::EmptyPassword),
        n if n > MAX_PASSWORD => return Err(UserError::PasswordTooLong(n)),
        _ => {}
    }
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    let _slot = GATE.enter();
    hasher()
        .hash_password(password, &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| UserError::Hash(error.to_string()))
}

/// argon2id at OWASP's m = 7 MiB, t = 5, p = 1.
fn hasher() -> Argon2<'static> {
    match argon2::Params::new(7 * 1024, 5, 1, None) {
        Ok(params) => Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params),
        // Unreachable: the parameters are within argon2's ranges.
        Err(_) => Argon2::default(),
    }
}

/// Checks that `hash` is an argon2id PHC string this build can verify against.
pub fn check_hash(hash: &str) -> Result<(), UserError> {
    let parsed = PasswordHash::new(hash).map_err(|error| UserError::Hash(error.to_string()))?;
    if parsed.algorithm.as_str() != "argon2id" {
        return Err(UserError::Hash(format!(
            "{} is not argon2id",
            parsed.algorithm
        )));
    }
    if parsed.hash.is_none() || parsed.salt.is_none() {
        return Err(UserError::Hash("no salt or no hash".to_owned()));
    }
    argon2::Params::try_from(&parsed)
        .map(|_| ())
        .map_err(|error| UserError::Hash(error.to_string()))
}

/// Whether `password` matches `hash` (false for a hash that does not parse). Blocking.
pub fn verify_password(hash: &str, password: &[u8]) -> bool {
    if password.len() > MAX_PASSWORD {
        return false;
    }
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let _slot = GATE.enter();
    Argon2::default().verify_password(password, &parsed).is_ok()
}

/// At most as many argon2 computations at once as there are CPUs.
struct HashGate {
    busy: Mutex<usize>,
    freed: Condvar,
}

static GATE: HashGate = HashGate {
    busy: Mutex::new(0),
    freed: Condvar::new(),
};

struct Slot;

impl HashGate {
    fn enter(&'static self) -> Slot {
        let max = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut busy = self.busy.lock().unwrap_or_else(PoisonError::into_inner);
        while *busy >= max {
            busy = self
                .freed
                .wait(busy)
                .unwrap_or_else(PoisonError::into_inner);
        }
        *busy += 1;
        Slot
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut busy = GATE.busy.lock().unwrap_or_else(PoisonError::into_inner);
        *busy = busy.saturating_sub(1);
        GATE.freed.notify_one();
    }
}

/// One user as the authenticator holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserEntry {
    /// The argon2id PHC string.
    pub hash: Arc<str>,
    /// Skips every ACL check.
    pub superuser: bool,
    /// When the user was made.
    pub created_at: std::time::SystemTime,
    /// SCRAM credentials, one per mechanism, derived when the password was last set; empty
    /// for a user stored before SCRAM existed (it cannot use SCRAM until its password is set
    /// again).
    pub scram: Arc<[crate::scram::ScramCredential]>,
}

type Shard = HashMap<Box<str>, UserEntry>;

/// The `builtin` users, read without a lock.
pub struct BuiltinUsers {
    shards: Box<[ArcSwap<Shard>]>,
    len: AtomicUsize,
    max: usize,
}

impl std::fmt::Debug for BuiltinUsers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuiltinUsers")
            .field("len", &self.len())
            .field("max", &self.max)
            .finish()
    }
}

fn shard_of(username: &str) -> usize {
    // A fixed hasher: the shard of a name is the same in every process (nothing depends on
    // it but balance).
    let hash = BuildHasherDefault::<DefaultHasher>::default().hash_one(username);
    (hash % SHARDS as u64) as usize
}

impl BuiltinUsers {
    /// An empty table of at most `max` users.
    pub fn new(max: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| ArcSwap::default()).collect(),
            len: AtomicUsize::new(0),
            max,
        }
    }

    /// The most users it holds.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Users held.
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    /// True when it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The user `username`, if there is one.
    pub fn get(&self, username: &str) -> Option<UserEntry> {
        self.shards[shard_of(username)]
            .load()
            .get(username)
            .cloned()
    }

    /// Adds or replaces `username`. The caller serialises changes (one writer at a time) and
    /// checks the cap; this only keeps the count.
    pub fn put(&self, username: &str, entry: UserEntry) {
        let shard = &self.shards[shard_of(username)];
        let mut next = Shard::clone(&shard.load());
        if next.insert(username.into(), entry).is_none() {
            self.len.fetch_add(1, Ordering::AcqRel);
        }
        shard.store(Arc::new(next));
    }

    /// Removes `username`; false if it was not there. Changes are serialised by the caller.
    pub fn remove(&self, username: &str) -> bool {
        let shard = &self.shards[shard_of(username)];
        let mut next = Shard::clone(&shard.load());
        let removed = next.remove(username).is_some();
        if removed {
            self.len.fetch_sub(1, Ordering::AcqRel);
            shard.store(Arc::new(next));
        }
        removed
    }

    /// Every user, sorted by name.
    pub fn list(&self) -> Vec<(String, UserEntry)> {
        let mut all: Vec<(String, UserEntry)> = self
            .shards
            .iter()
            .flat_map(|shard| {
                let shard = shard.load();
                shard
                    .iter()
                    .map(|(name, entry)| (name.to_string(), entry.clone()))
                    .collect::<Vec<_>>()
            })
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// The authenticator's answer for `username` / `password`: `None` for a name it does not
    /// know (the next authenticator decides), else whether the password is right and whether
    /// the user is a superuser. Blocking (argon2): call it from a blocking thread.
    pub fn verify(&self, username: &str, password: &[u8]) -> Option<(bool, bool)> {
        let user = self.get(username)?;
        Some((verify_password(&user.hash, password), user.superuser))
    }
}
