//! The subscription trie: topic filter -> (subscriber key -> subscription value).
//!
//! # Shape
//!
//! A filter is a path of levels from the root: `sport/+/#` is root -> `sport` -> `+` -> `#`. Each
//! node of the path is an element of one arena (`Vec<Node>`) named by a `u32` id; freed ids go on
//! a free list and are reused, so a million filters cost a million small nodes in one allocation
//! rather than a million boxed trees, and dropping the trie is flat. A node holds:
//!
//! - its exact children in a hash map from level string (`Box<str>`) to id, itself boxed and
//!   absent on leaves, which are most nodes;
//! - two separate slots for its `+` child and its `#` child, so wildcards cost no hashing;
//! - its parent id, so removal can prune upwards without a path stack;
//! - the subscriptions of the filter that ends here ([`Entries`]: a vector while small, a map
//!   when large).
//!
//! # Matching
//!
//! Matching a topic is a depth-first walk with an explicit stack of `(node, offset)` pairs, where
//! `offset` is the byte position of the next topic level to consume (or "none left"). Popping
//! a pair at a node:
//!
//! 1. if the node has a `#` child, all of its subscriptions match: `#` takes the remaining
//!    levels, and when none remain it takes the parent level too (`sport/#` matches `sport`);
//! 2. if no level remains, the node's own subscriptions match;
//! 3. otherwise the next level is cut from the topic and the `+` child and the exact child for
//!    that level (one hash lookup) are pushed with the offset of the level after.
//!
//! At the root, for a topic starting with `$`, steps 1 and the `+` half of 3 are skipped
//! ([MQTT-4.7.2-1]). A node is reached at most once per topic (its depth fixes the offset), so
//! each matching filter is visited exactly once. Each pop pushes at most two pairs, so the stack
//! never grows past the number of levels plus one; it lives in a [`MatchScratch`] that is reused
//! (per thread, or passed by the caller), so a match allocates nothing in the steady state and
//! there is no recursion. The cost is one hash lookup per level per live branch, independent of
//! the number of filters that do not share a prefix with the topic.
//!
//! # Duplicates
//!
//! A key subscribed with several filters that all match a topic (`a/+` and `a/#`) is visited once
//! per matching filter, with that filter's value. Deduplication (and choosing, say, the highest
//! QoS) is the caller's job: the broker merges per client.

mod entries;
mod matcher;

use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, RandomState};

use crate::filter::TopicFilter;
use entries::Entries;
pub use matcher::MatchScratch;

/// Id of a node in the arena.
type NodeId = u32;
/// "No node" in a `+`, `#` or parent slot.
const NIL: NodeId = NodeId::MAX;
/// The root is node 0 and is never freed.
const ROOT: NodeId = 0;

/// Exact children of a node. std's SipHash `RandomState` keeps level strings chosen by clients
/// from forcing collisions.
type Children = HashMap<Box<str>, NodeId, RandomState>;

struct Node<K, V> {
    children: Option<Box<Children>>,
    entries: Entries<K, V>,
    parent: NodeId,
    plus: NodeId,
    hash: NodeId,
}

impl<K, V> Node<K, V> {
    fn new(parent: NodeId) -> Self {
        Self {
            children: None,
            entries: Entries::default(),
            parent,
            plus: NIL,
            hash: NIL,
        }
    }

    fn child(&self, level: &str) -> NodeId {
        match level {
            "+" => self.plus,
            "#" => self.hash,
            _ => self
                .children
                .as_ref()
                .and_then(|c| c.get(level).copied())
                .unwrap_or(NIL),
        }
    }
}

/// Filter -> (key -> value): every subscription of the broker, indexed for matching topics.
///
/// `K` is the subscriber key (a client id, a share-group id), `V` the per-subscription data
/// (options). See the module documentation for the algorithm.
pub struct SubscriptionTrie<K, V> {
    nodes: Vec<Node<K, V>>,
    free: Vec<NodeId>,
    subscriptions: usize,
    filters: usize,
}

impl<K: Eq + Hash + Clone, V> Default for SubscriptionTrie<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K, V> fmt::Debug for SubscriptionTrie<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubscriptionTrie")
            .field("subscriptions", &self.subscriptions)
            .field("filters", &self.filters)
            .field("nodes", &(self.nodes.len() - self.free.len()))
            .finish()
    }
}

impl<K: Eq + Hash + Clone, V> SubscriptionTrie<K, V> {
    /// An empty trie (just the root node).
    pub fn new() -> Self {
        Self {
            nodes: vec![Node::new(NIL)],
            free: Vec::new(),
            subscriptions: 0,
            filters: 0,
        }
    }

    /// Inserts or replaces the subscription of `key` to `filter`; returns the previous value.
    ///
    /// # Panics
    ///
    /// When the trie would need more than `u32::MAX - 1` nodes.
    pub fn insert(&mut self, filter: &TopicFilter, key: K, value: V) -> Option<V> {
        let mut id = ROOT;
        for level in filter.levels() {
            id = self.child_or_insert(id, level);
        }
        let entries = &mut self.nodes[id as usize].entries;
        let was_empty = entries.is_empty();
        let previous = entries.insert(key, value);
        if previous.is_none() {
            self.subscriptions += 1;
            self.filters += usize::from(was_empty);
        }
        previous
    }

    /// Removes the subscription of `key` to `filter`; returns its value. Nodes left with no
    /// subscriptions and no children are freed.
    pub fn remove(&mut self, filter: &TopicFilter, key: &K) -> Option<V> {
        let id = self.find(filter)?;
        let entries = &mut self.nodes[id as usize].entries;
        let value = entries.remove(key)?;
        self.subscriptions -= 1;
        if entries.is_empty() {
            self.filters -= 1;
            self.prune(id, filter);
        }
        Some(value)
    }

    /// The value of the subscription of `key` to `filter`, if any.
    pub fn get(&self, filter: &TopicFilter, key: &K) -> Option<&V> {
        let id = self.find(filter)?;
        self.nodes[id as usize].entries.get(key)
    }

    /// Number of (filter, key) subscriptions.
    pub fn subscriptions(&self) -> usize {
        self.subscriptions
    }

    /// Number of distinct filters with at least one subscription.
    pub fn filters(&self) -> usize {
        self.filters
    }

    /// True when there are no subscriptions.
    pub fn is_empty(&self) -> bool {
        self.subscriptions == 0
    }

    /// Number of live nodes, the root included (diagnostics: an empty trie has exactly 1).
    pub fn node_count(&self) -> usize {
        self.nodes.len() - self.free.len()
    }

    /// The node at the end of `filter`'s path, if the path exists.
    fn find(&self, filter: &TopicFilter) -> Option<NodeId> {
        let mut id = ROOT;
        for level in filter.levels() {
            id = self.nodes[id as usize].child(level);
            if id == NIL {
                return None;
            }
        }
        Some(id)
    }

    fn child_or_insert(&mut self, parent: NodeId, level: &str) -> NodeId {
        let existing = self.nodes[parent as usize].child(level);
        if existing != NIL {
            return existing;
        }
        let id = self.alloc(parent);
        let node = &mut self.nodes[parent as usize];
        match level {
            "+" => node.plus = id,
            "#" => node.hash = id,
            _ => {
                node.children
                    .get_or_insert_with(Box::default)
                    .insert(level.into(), id);
            }
        }
        id
    }

    fn alloc(&mut self, parent: NodeId) -> NodeId {
        if let Some(id) = self.free.pop() {
            self.nodes[id as usize] = Node::new(parent);
            return id;
        }
        let id = NodeId::try_from(self.nodes.len())
            .ok()
            .filter(|&id| id != NIL)
            .expect("subscription trie exceeds u32 node ids");
        self.nodes.push(Node::new(parent));
        id
    }

    /// Frees `id` and its ancestors while they hold nothing; `filter` names the edges upwards.
    fn prune(&mut self, mut id: NodeId, filter: &TopicFilter) {
        let mut levels = filter.as_str().rsplit('/');
        while id != ROOT {
            let node = &self.nodes[id as usize];
            let vacant = node.entries.is_empty()
                && node.plus == NIL
                && node.hash == NIL
                && node.children.as_ref().is_none_or(|c| c.is_empty());
            if !vacant {
                return;
            }
            let parent_id = node.parent;
            let parent = &mut self.nodes[parent_id as usize];
            match levels.next() {
                Some("+") => parent.plus = NIL,
                Some("#") => parent.hash = NIL,
                Some(level) => remove_child(&mut parent.children, level),
                None => return,
            }
            // Drop the node's allocations now; the slot is reused by `alloc`.
            self.nodes[id as usize] = Node::new(NIL);
            self.free.push(id);
            id = parent_id;
        }
    }
}

fn remove_child(children: &mut Option<Box<Children>>, level: &str) {
    let Some(map) = children else { return };
    map.remove(level);
    if map.is_empty() {
        *children = None;
    } else if map.capacity() > 64 && map.len() * 4 < map.capacity() {
        map.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests;
