//! `starling-store`: the broker's durable state, so that nothing a client was told is safe is
//! lost on `kill -9` or a power cut.
//!
//! It owns the on-disk form of persistent sessions and their subscriptions, each session's
//! queued deliveries, outgoing inflight packet ids, incoming QoS 2 packet ids awaiting PUBREL,
//! retained messages, delayed messages and wills (inside the session record), bans, and the
//! users and ACL rules of the `builtin` authenticator and authorization source. The engine is
//! fjall 3 (a journal plus LSM trees, chosen by measuring the queue workload in
//! `bench/store-engines`); one database lives in `<dir>/store`.
//!
//! It depends on `starling-core`, `starling-codec` and `starling-topic` for the types it
//! stores, and must not depend on tokio or on the broker: it is synchronous, and the broker
//! learns that a write is durable through a callback ([`Store::when_durable`]), not a future.
//!
//! # Durability
//!
//! A [`Batch`] commits atomically and returns a [`Ticket`]; the ticket becomes durable after
//! the fsync that covers it (group commit: one fsync covers every commit before it). What is
//! lost, by [`Fsync`] mode:
//!
//! | mode | `kill -9` | power loss / OS crash |
//! |---|---|---|
//! | [`Fsync::Always`] | nothing | nothing acknowledged (ack on [`Store::when_durable`]) |
//! | [`Fsync::Interval`]`(d)` | nothing | up to `d` of acknowledged writes |
//! | [`Fsync::Never`] | nothing | what the OS had not written back (Linux: ~30 s) |
//!
//! `kill -9` loses nothing in any mode because fjall writes its journal through an 8 KiB
//! user-space buffer, and every commit here flushes that buffer to the OS
//! (`PersistMode::Buffer`) before it returns; the page cache outlives the process.
//!
//! # Keys
//!
//! Per-client keyspaces (`sessions`, `subscriptions`, `queue`, `inflight`, `awaiting_rel`) key
//! by `u16` length + client id, then the subscription target, the sequence (`u64` BE) or the
//! packet id (`u16` BE); `retained` keys by topic; `delayed` by fire-at (ms, `u64` BE) + id;
//! `banned` by kind + name; `auth_users` by username; `auth_acl` by rule id (`u64` BE).
//!
//! # Modules
//!
//! - `store`: [`Store`] — open, tickets, the reads of a returning session, stats;
//! - `batch`: [`Batch`] — buffered writes, committed atomically;
//! - `sync`: tickets and the `store-sync` group-commit thread;
//! - `active_journal`: the fsync of the newest journal that leaves fjall's journal lock free;
//! - `recovery`: [`Recovered`] — reading everything back at open, removing damage;
//! - `damage`: [`Damage`] — what recovery set aside; moving an unopenable store aside;
//! - `journal`: cutting off a journal batch that fails its check (a torn write), not the
//!   whole store;
//! - `watermark`: how far the journal is known to be on disk, so that a journal cut short is
//!   counted ([`Damage::lost_commits`]), not silently lost;
//! - `record`: the hand-written binary format of every value ([`SessionRecord`]);
//! - `key`: key layout; `engine`: the fjall database and its keyspaces;
//! - `dir`: creating the data directory durably and fsyncing it;
//! - `lock`: the data directory's `LOCK`; `options`: [`StoreOptions`], [`Fsync`];
//! - `error`: [`StoreError`], [`RecordError`].

mod active_journal;
mod batch;
mod damage;
mod dir;
mod engine;
mod error;
mod journal;
mod key;
mod lock;
mod options;
mod record;
mod recovery;
mod store;
mod sync;
mod watermark;

pub use batch::Batch;
pub use damage::{Damage, KeyspaceCounts};
pub use error::{RecordError, StoreError};
pub use options::{Fsync, StoreOptions, DEFAULT_CACHE_BYTES};
pub use record::{
    AclAction, AclRuleRecord, AclWho, BanKind, BanRecord, ScramRecord, SessionRecord, UserRecord,
};
pub use recovery::{Recovered, RecoveredSession};
pub use store::{InflightRecord, Store, StoreStats};
pub use sync::Ticket;

#[cfg(test)]
mod tests;
