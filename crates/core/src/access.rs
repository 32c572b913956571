//! What one client may do with topics, as the broker's authorization sources decide: asked by
//! the [`Channel`](crate::Channel) at every PUBLISH (and the target of a delayed one),
//! SUBSCRIBE (the real filter of a shared or exclusive one) and delivery (live, retained,
//! stored, shared, `$SYS`), so no path skips it.
//!
//! The broker implements it for a connected client; the core only asks. Methods take
//! `&mut self` so an implementation can cache decisions for its one connection without a lock.

use starling_topic::{TopicFilter, TopicName};

/// A client's permissions.
pub trait Access: Send + std::fmt::Debug {
    /// May it publish to `topic`?
    fn may_publish(&mut self, topic: &TopicName) -> bool;
    /// May it subscribe with `filter`?
    fn may_subscribe(&mut self, filter: &TopicFilter) -> bool;
    /// May it receive a message on `topic`?
    fn may_read(&mut self, topic: &TopicName) -> bool;
}
