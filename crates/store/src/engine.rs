//! The fjall database and its keyspaces.

use std::path::Path;

use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};

/// One keyspace of the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Space {
    /// Client id -> session record.
    Sessions,
    /// Client id + subscription target -> options and identifier.
    Subscriptions,
    /// Client id + sequence -> queued delivery.
    Queue,
    /// Client id + sequence -> packet id and released flag.
    Inflight,
    /// Client id + packet id -> nothing (incoming QoS 2 awaiting PUBREL).
    AwaitingRel,
    /// Topic -> retained message.
    Retained,
    /// Fire-at + id -> delayed message.
    Delayed,
    /// Kind + name -> ban (`record::ban`).
    Banned,
    /// The management API's own records (dashboard users, API keys), opaque here: the admin
    /// crate encodes keys and values.
    Admin,
    /// Username -> built-in user (`record::builtin`).
    AuthUsers,
    /// Rule id (`u64` BE) -> built-in ACL rule (`record::builtin`).
    AuthAcl,
}

impl Space {
    /// Every keyspace, in the order recovery scans them.
    pub(crate) const ALL: [Self; 11] = [
        Self::Sessions,
        Self::Subscriptions,
        Self::Queue,
        Self::Inflight,
        Self::AwaitingRel,
        Self::Retained,
        Self::Delayed,
        Self::Banned,
        Self::Admin,
        Self::AuthUsers,
        Self::AuthAcl,
    ];

    /// The keyspace's name on disk and in logs.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Sessions => "sessions",
            Self::Subscriptions => "subscriptions",
            Self::Queue => "queue",
            Self::Inflight => "inflight",
            Self::AwaitingRel => "awaiting_rel",
            Self::Retained => "retained",
            Self::Delayed => "delayed",
            Self::Banned => "banned",
            Self::Admin => "admin",
            Self::AuthUsers => "auth_users",
            Self::AuthAcl => "auth_acl",
        }
    }
}

/// The keyspace of the store's own bookkeeping (not scanned by recovery): it holds only
/// [`COMMIT_MARK`].
const META: &str = "meta";

/// The key under which every commit writes its number (`u64` BE, counted across restarts), in
/// the `meta` keyspace: the number read back at open says how far the journal was read (see
/// the `watermark` module).
pub(crate) const COMMIT_MARK: &[u8] = b"commit";

/// The open database and a handle on each keyspace.
pub(crate) struct Engine {
    pub(crate) db: Database,
    spaces: Vec<Keyspace>,
    meta: Keyspace,
}

/// The most one keyspace's memtable holds before it is written out (fjall's default is 64 MiB
/// each, 640 MiB for our ten): what the store adds to the broker's memory is these, the block
/// cache and the memtables being flushed, whatever the amount of data (a million queued
/// messages included). Kept in the keyspace's configuration when it is created.
const MEMTABLE_BYTES: u64 = 4 * 1024 * 1024;

impl Engine {
    /// Opens (or creates) the database in `path`; keyspaces created now get memtables of
    /// `memtable_bytes` ([`MEMTABLE_BYTES`] when `None`). Then fsyncs `path` and the
    /// directories in it: fjall 3 creates a keyspace's directory (`keyspaces/<id>`) without
    /// fsyncing its parent, so a power cut after the first start could lose every keyspace
    /// (found by the power-cut test, `crates/powercut`).
    pub(crate) fn open(
        path: &Path,
        cache_bytes: u64,
        memtable_bytes: Option<u64>,
    ) -> Result<Self, fjall::Error> {
        let db = Database::builder(path).cache_size(cache_bytes).open()?;
        let create = || {
            KeyspaceCreateOptions::default()
                .max_memtable_size(memtable_bytes.unwrap_or(MEMTABLE_BYTES))
        };
        let spaces = Space::ALL
            .iter()
            .map(|space| db.keyspace(space.name(), create))
            .collect::<Result<Vec<_>, _>>()?;
        let meta = db.keyspace(META, create)?;
        sync_dirs(path)?;
        Ok(Self { db, spaces, meta })
    }

    /// The `meta` keyspace, where every commit writes [`COMMIT_MARK`].
    pub(crate) fn meta(&self) -> &Keyspace {
        &self.meta
    }

    /// The number of the last commit read back (0 for a store that has none); `None` when
    /// the mark does not decode.
    pub(crate) fn commit_mark(&self) -> Result<Option<u64>, fjall::Error> {
        Ok(match self.meta.get(COMMIT_MARK)? {
            None => Some(0),
            Some(bytes) => <[u8; 8]>::try_from(&bytes[..]).ok().map(u64::from_be_bytes),
        })
    }

    /// The handle of `space`.
    pub(crate) fn ks(&self, space: Space) -> &Keyspace {
        // `spaces` is built from `Space::ALL`, whose order is the enum's.
        &self.spaces[space as usize]
    }

    /// An fsync of the journal.
    pub(crate) fn sync(&self) -> Result<(), fjall::Error> {
        self.db.persist(PersistMode::SyncAll)
    }
}

/// fsyncs `path` and every directory directly in it.
fn sync_dirs(path: &Path) -> std::io::Result<()> {
    crate::dir::sync(path)?;
    for entry in std::fs::read_dir(path)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            crate::dir::sync(&entry.path())?;
        }
    }
    Ok(())
}
