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
}

impl Space {
    /// Every keyspace, in the order recovery scans them.
    pub(crate) const ALL: [Self; 7] = [
        Self::Sessions,
        Self::Subscriptions,
        Self::Queue,
        Self::Inflight,
        Self::AwaitingRel,
        Self::Retained,
        Self::Delayed,
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
        }
    }
}

/// The open database and a handle on each keyspace.
pub(crate) struct Engine {
    pub(crate) db: Database,
    spaces: Vec<Keyspace>,
}

/// The most one keyspace's memtable holds before it is written out (fjall's default is 64 MiB
/// each, 448 MiB for our seven): what the store adds to the broker's memory is these, the block
/// cache and the memtables being flushed, whatever the amount of data (a million queued
/// messages included). Kept in the keyspace's configuration when it is created.
const MEMTABLE_BYTES: u64 = 4 * 1024 * 1024;

impl Engine {
    /// Opens (or creates) the database in `path`.
    pub(crate) fn open(path: &Path, cache_bytes: u64) -> Result<Self, fjall::Error> {
        let db = Database::builder(path).cache_size(cache_bytes).open()?;
        let spaces = Space::ALL
            .iter()
            .map(|space| {
                db.keyspace(space.name(), || {
                    KeyspaceCreateOptions::default().max_memtable_size(MEMTABLE_BYTES)
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { db, spaces })
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
