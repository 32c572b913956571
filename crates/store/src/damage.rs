//! What recovery found wrong, and setting a store the engine cannot open aside.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::engine::Space;
use crate::error::StoreError;

/// A count per keyspace.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyspaceCounts {
    /// In `sessions`.
    pub sessions: u64,
    /// In `subscriptions`.
    pub subscriptions: u64,
    /// In `queue`.
    pub queue: u64,
    /// In `inflight`.
    pub inflight: u64,
    /// In `awaiting_rel`.
    pub awaiting_rel: u64,
    /// In `retained`.
    pub retained: u64,
    /// In `delayed`.
    pub delayed: u64,
    /// In `banned`.
    pub banned: u64,
    /// In `admin`.
    pub admin: u64,
    /// In `auth_users`.
    pub auth_users: u64,
    /// In `auth_acl`.
    pub auth_acl: u64,
}

impl KeyspaceCounts {
    /// The sum over every keyspace.
    pub fn total(&self) -> u64 {
        self.sessions
            + self.subscriptions
            + self.queue
            + self.inflight
            + self.awaiting_rel
            + self.retained
            + self.delayed
            + self.banned
            + self.admin
            + self.auth_users
            + self.auth_acl
    }

    pub(crate) fn add(&mut self, space: Space) {
        let n = match space {
            Space::Sessions => &mut self.sessions,
            Space::Subscriptions => &mut self.subscriptions,
            Space::Queue => &mut self.queue,
            Space::Inflight => &mut self.inflight,
            Space::AwaitingRel => &mut self.awaiting_rel,
            Space::Retained => &mut self.retained,
            Space::Delayed => &mut self.delayed,
            Space::Banned => &mut self.banned,
            Space::Admin => &mut self.admin,
            Space::AuthUsers => &mut self.auth_users,
            Space::AuthAcl => &mut self.auth_acl,
        };
        *n += 1;
    }
}

/// What recovery set aside. Everything counted here was removed from the store (or, for
/// `moved_aside`, moved out of it; for `lost_commits`, found missing) and logged at warn or
/// error level.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Damage {
    /// Records whose key or value did not decode, per keyspace.
    pub damaged: KeyspaceCounts,
    /// Per-client records whose session record is missing, per keyspace.
    pub orphans: KeyspaceCounts,
    /// Where the engine's files were moved when the engine could not open them (a fresh,
    /// empty store was opened in their place).
    pub moved_aside: Option<PathBuf>,
    /// How many bytes were moved aside: the engine's files (`moved_aside`) and the journal
    /// tails cut off (`journal_tails`).
    pub moved_aside_bytes: u64,
    /// Journal tails cut off because their first batch failed its check (a torn write at a
    /// power cut, or damage), each saved to `damaged-<unix-seconds>/<journal>.from-<offset>`;
    /// the rest of the store was kept. A batch lost this way that an fsync had covered is
    /// also counted in `lost_commits`.
    pub journal_tails: Vec<PathBuf>,
    /// Durable commits the engine did not bring back: the store's watermark (see the
    /// `watermark` module) says an fsync covered them, but the journal ends before them
    /// (truncated, or unreadable from some point on, so the engine dropped the rest). What they
    /// held is gone and cannot be moved aside; each counts as one record set aside.
    pub lost_commits: u64,
}

impl Damage {
    /// True when recovery found nothing wrong.
    pub fn is_clean(&self) -> bool {
        self.records_set_aside() == 0 && self.moved_aside.is_none() && self.journal_tails.is_empty()
    }

    /// Records removed at open (damaged and orphans), and durable commits lost (one each).
    pub fn records_set_aside(&self) -> u64 {
        self.damaged.total() + self.orphans.total() + self.lost_commits
    }
}

/// A new directory name `dir/damaged-<unix-seconds>[-n]/` (not created).
pub(crate) fn aside_path(dir: &Path) -> PathBuf {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut target = dir.join(format!("damaged-{secs}"));
    let mut n = 1;
    while target.exists() {
        target = dir.join(format!("damaged-{secs}-{n}"));
        n += 1;
    }
    target
}

/// Moves `store` into `dir/damaged-<unix-seconds>[-n]/` and returns the new path and the
/// bytes it holds.
pub(crate) fn move_aside(dir: &Path, store: &Path) -> Result<(PathBuf, u64), StoreError> {
    let target = aside_path(dir);
    let bytes = dir_bytes(store);
    std::fs::rename(store, &target).map_err(|source| StoreError::Io {
        what: "move damaged store aside to",
        path: target.clone(),
        source,
    })?;
    Ok((target, bytes))
}

/// The total size of the files under `path` (what can be read of it).
pub(crate) fn dir_bytes(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&entry.path()),
            Ok(_) => entry.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}
