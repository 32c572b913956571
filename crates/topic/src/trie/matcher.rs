//! Matching a topic against the trie: an iterative walk over a reusable stack.

use std::cell::Cell;
use std::hash::Hash;

use super::{NodeId, SubscriptionTrie, NIL, ROOT};
use crate::name::TopicName;

/// Offset meaning "every level of the topic has been consumed".
const DONE: usize = usize::MAX;

/// The reusable stack of a match walk. Keep one per thread (or per router shard) and pass it to
/// [`SubscriptionTrie::for_each_match_with`] so matching allocates nothing once it has grown.
#[derive(Debug, Default)]
pub struct MatchScratch {
    stack: Vec<(NodeId, usize)>,
}

impl MatchScratch {
    /// An empty scratch; it grows to the deepest topic matched and keeps that capacity.
    pub const fn new() -> Self {
        Self { stack: Vec::new() }
    }
}

thread_local! {
    static SCRATCH: Cell<MatchScratch> = const { Cell::new(MatchScratch::new()) };
}

impl<K: Eq + Hash + Clone, V> SubscriptionTrie<K, V> {
    /// Calls `visit` for every (key, value) whose filter matches `topic`.
    ///
    /// A key with several matching filters is visited once per filter (see the module docs).
    /// Uses a per-thread [`MatchScratch`], so it allocates nothing in the steady state; a nested
    /// call from inside `visit` works and uses a fresh scratch.
    pub fn for_each_match(&self, topic: &TopicName, visit: impl FnMut(&K, &V)) {
        SCRATCH.with(|cell| {
            let mut scratch = cell.take();
            self.for_each_match_with(topic, &mut scratch, visit);
            cell.set(scratch);
        });
    }

    /// [`for_each_match`](Self::for_each_match) with a caller-provided scratch stack.
    pub fn for_each_match_with(
        &self,
        topic: &TopicName,
        scratch: &mut MatchScratch,
        mut visit: impl FnMut(&K, &V),
    ) {
        let topic = topic.as_str();
        let system = topic.starts_with('$');
        let stack = &mut scratch.stack;
        stack.clear();
        stack.push((ROOT, 0));
        while let Some((id, pos)) = stack.pop() {
            let node = &self.nodes[id as usize];
            let wildcards = !(system && id == ROOT);
            if wildcards && node.hash != NIL {
                self.nodes[node.hash as usize].entries.for_each(&mut visit);
            }
            if pos == DONE {
                node.entries.for_each(&mut visit);
                continue;
            }
            let rest = &topic[pos..];
            let (level, next) = match rest.find('/') {
                Some(at) => (&rest[..at], pos + at + 1),
                None => (rest, DONE),
            };
            if wildcards && node.plus != NIL {
                stack.push((node.plus, next));
            }
            if let Some(&child) = node.children.as_ref().and_then(|c| c.get(level)) {
                stack.push((child, next));
            }
        }
    }
}
