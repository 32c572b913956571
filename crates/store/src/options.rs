//! How a store is opened: where, how often it fsyncs, how much it caches.

use std::path::PathBuf;
use std::time::Duration;

/// When the store forces its journal to stable storage.
///
/// Every [`Batch::commit`](crate::Batch::commit) hands its bytes to the operating system before
/// it returns (fjall's journal is written through a user-space buffer; the commit flushes that
/// buffer with `PersistMode::Buffer`), so a process that is killed (`kill -9`, a panic, an
/// OOM kill) loses nothing that was committed, in every mode. The modes differ on power loss or
/// an operating-system crash:
///
/// - [`Fsync::Always`]: nothing acknowledged is lost. A commit's [`Ticket`](crate::Ticket) is
///   durable only after an fsync that covers it; the broker acknowledges once
///   [`Store::when_durable`](crate::Store::when_durable) fires. Commits made while one fsync
///   runs are covered by the next one (group commit: many messages, one fsync).
/// - [`Fsync::Interval`]: the store fsyncs every interval and counts every commit as durable at
///   once, so up to one interval of acknowledged writes can be lost on power loss.
/// - [`Fsync::Never`]: the store never fsyncs on its own (only on [`Store::flush`](crate::Store::flush)
///   and when it closes); the operating system's writeback decides what survives a power loss
///   (on Linux, typically up to 30 s of writes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fsync {
    /// An fsync covers every commit before it counts as durable.
    Always,
    /// An fsync every interval; commits count as durable at once.
    Interval(Duration),
    /// No fsync but on flush and close; commits count as durable at once.
    Never,
}

/// The default block cache: 32 MiB.
pub const DEFAULT_CACHE_BYTES: u64 = 32 * 1024 * 1024;

/// Where and how to open a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// The data directory: it holds `LOCK`, the engine's files in `store/`, the durable
    /// watermark `durable-commit`, and any `damaged-<unix-seconds>/` directories set aside by
    /// recovery.
    pub dir: PathBuf,
    /// When to fsync.
    pub fsync: Fsync,
    /// The engine's block cache in bytes ([`DEFAULT_CACHE_BYTES`] by default).
    pub cache_bytes: u64,
    /// The size at which a keyspace's memtable is flushed to a table, in bytes; `None` for the
    /// store's default (4 MiB). It is recorded when a keyspace is created: a store opened
    /// again keeps the size it was created with. Small values make tests reach the engine's
    /// tables, flushes and compactions with little data.
    pub memtable_bytes: Option<u64>,
}

impl StoreOptions {
    /// Options for `dir` with [`Fsync::Always`] and the default cache.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            fsync: Fsync::Always,
            cache_bytes: DEFAULT_CACHE_BYTES,
            memtable_bytes: None,
        }
    }
}
