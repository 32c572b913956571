//! `starling-topic`: MQTT topic names, topic filters, the special prefixes of EMQX-class brokers,
//! and the subscription trie that maps a published topic to its subscribers.
//!
//! It owns validation (each error cites its spec clause) and matching. It must not depend on
//! tokio or on any other starling crate: it is pure data structures, used by `core` and `broker`.
//!
//! Map of modules:
//! - `error`: [`TopicError`] and [`TopicLimits`];
//! - `name`: [`TopicName`], the topic of a PUBLISH;
//! - `filter`: [`TopicFilter`], the filter of a SUBSCRIBE, and the naive reference matcher;
//! - `target`: [`SubscriptionTarget`], reading `$share/`, `$queue/` and `$exclusive/`;
//! - `delayed`: [`DelayedPublish`], reading `$delayed/<seconds>/<topic>`;
//! - `trie`: [`SubscriptionTrie`], filter -> (key -> value), with an iterative matcher.

mod delayed;
mod error;
mod filter;
mod name;
mod target;
mod trie;

pub use delayed::{DelayedPublish, MAX_DELAY_SECS};
pub use error::{TopicError, TopicLimits};
pub use filter::TopicFilter;
pub use name::TopicName;
pub use target::SubscriptionTarget;
pub use trie::{MatchScratch, SubscriptionTrie};
