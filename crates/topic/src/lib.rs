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
//! - `trie`: [`SubscriptionTrie`], filter -> (key -> value), with an iterative matcher;
//! - `retained`: [`RetainedTree`], topic -> value, matched by filter with a resumable cursor.
//!
//! ```
//! use starling_topic::{SubscriptionTarget, SubscriptionTrie, TopicFilter, TopicLimits, TopicName};
//!
//! let mut trie = SubscriptionTrie::new();
//! trie.insert(&TopicFilter::new("sensors/+/temp").unwrap(), "alice", 1u8);
//! trie.insert(&TopicFilter::new("#").unwrap(), "bob", 0u8);
//! let mut hits = Vec::new();
//! trie.for_each_match(&TopicName::new("sensors/7/temp").unwrap(), |who, _| hits.push(*who));
//! hits.sort();
//! assert_eq!(hits, ["alice", "bob"]);
//! // [MQTT-4.7.2-1]: a filter starting with a wildcard does not match `$` topics.
//! let mut sys = 0;
//! trie.for_each_match(&TopicName::new("$SYS/uptime").unwrap(), |_, _| sys += 1);
//! assert_eq!(sys, 0);
//!
//! let shared = SubscriptionTarget::parse("$share/workers/jobs/#", &TopicLimits::default()).unwrap();
//! assert_eq!(shared.filter().as_str(), "jobs/#");
//! ```

mod delayed;
mod error;
mod filter;
mod name;
mod retained;
mod target;
mod trie;

pub use delayed::{DelayedPublish, MAX_DELAY_SECS};
pub use error::{TopicError, TopicLimits};
pub use filter::TopicFilter;
pub use name::TopicName;
pub use retained::RetainedTree;
pub use target::SubscriptionTarget;
pub use trie::{MatchScratch, SubscriptionTrie};
