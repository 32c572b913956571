//! [`RetainedTree`]: topic name -> value (one retained message per topic), matched by filter
//! with a resumable cursor.
//!
//! # Why a tree, and why ordered
//!
//! A new subscription must get every retained message its filter matches, however many the
//! store holds, without the broker building one answer of them all. So matching is a walk that
//! can stop after any number of messages and resume later from a cursor of constant size: the
//! topic of the last message handed out.
//!
//! That needs a total order in which the walk visits topics, stable while the tree changes
//! between two steps. The tree is a trie of topic levels whose children are kept sorted
//! (`BTreeMap`), and the walk is depth-first pre-order: a node's own value, then its children in
//! level order. That visits topics in lexicographic order of their level sequences (`a` <
//! `a/b` < `a/c` < `b`). To resume after topic `t`, the walk descends only into branches that
//! can hold topics greater than `t`: along `t`'s own path it starts each child range at `t`'s
//! level, and every branch to the right of that path is taken whole. A message stored or
//! removed meanwhile is seen or not depending on which side of the cursor it falls, and no
//! message is visited twice.
//!
//! # Cost
//!
//! Matching follows the filter: an exact level is one map lookup, `+` visits the children of
//! one node, `#` a whole subtree. So `a/+/c` visits only the branches under `a`, and an exact
//! filter is one lookup per level, whatever the tree holds elsewhere. Depth is bounded by the
//! topic level limit, so the recursion is too.

use std::collections::BTreeMap;
use std::ops::{Bound, ControlFlow};

use crate::filter::TopicFilter;
use crate::name::TopicName;

/// One level of the tree: the value of the topic that ends here, and the children by level.
#[derive(Debug, Clone)]
struct Node<V> {
    value: Option<V>,
    children: BTreeMap<Box<str>, Node<V>>,
}

impl<V> Default for Node<V> {
    fn default() -> Self {
        Self {
            value: None,
            children: BTreeMap::new(),
        }
    }
}

impl<V> Node<V> {
    fn is_empty(&self) -> bool {
        self.value.is_none() && self.children.is_empty()
    }
}

/// Retained values by topic, matched by filter in a stable order (see the module docs).
#[derive(Debug, Clone)]
pub struct RetainedTree<V> {
    root: Node<V>,
    len: usize,
}

impl<V> Default for RetainedTree<V> {
    fn default() -> Self {
        Self {
            root: Node::default(),
            len: 0,
        }
    }
}

/// Where a walk stands relative to the cursor: `Tight(rest)` while the path walked so far equals
/// the cursor topic's first levels (`rest` are its levels still ahead), `Free` once the path is
/// past the cursor (everything below is greater).
#[derive(Clone, Copy)]
enum Side<'a> {
    Tight(&'a [&'a str]),
    Free,
}

impl<V> RetainedTree<V> {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of topics holding a value.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no topic holds a value.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Sets the value of `topic`, returning the one it replaces.
    pub fn insert(&mut self, topic: &TopicName, value: V) -> Option<V> {
        let mut node = &mut self.root;
        for level in topic.levels() {
            node = node.children.entry(level.into()).or_default();
        }
        let old = node.value.replace(value);
        if old.is_none() {
            self.len += 1;
        }
        old
    }

    /// The value of `topic`, if any.
    pub fn get(&self, topic: &str) -> Option<&V> {
        let mut node = &self.root;
        for level in topic.split('/') {
            node = node.children.get(level)?;
        }
        node.value.as_ref()
    }

    /// Removes the value of `topic`, pruning the levels left empty.
    pub fn remove(&mut self, topic: &str) -> Option<V> {
        let levels: Vec<&str> = topic.split('/').collect();
        let old = Self::remove_at(&mut self.root, &levels);
        if old.is_some() {
            self.len -= 1;
        }
        old
    }

    fn remove_at(node: &mut Node<V>, levels: &[&str]) -> Option<V> {
        let Some((first, rest)) = levels.split_first() else {
            return node.value.take();
        };
        let child = node.children.get_mut(*first)?;
        let old = Self::remove_at(child, rest);
        if child.is_empty() {
            node.children.remove(*first);
        }
        old
    }

    /// Visits, in topic order, the values whose topic matches `filter` and comes after the
    /// topic `after` (all of them when `None`), until `visit` breaks. Returns `Break` when
    /// `visit` did, `Continue` when the walk reached the end.
    ///
    /// A caller that stops early keeps the topic of the last value it took and passes it as
    /// `after` to continue: that is the whole cursor.
    pub fn for_each_match_after(
        &self,
        filter: &TopicFilter,
        after: Option<&str>,
        mut visit: impl FnMut(&V) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        let filter: Vec<&str> = filter.levels().collect();
        let bound: Vec<&str> = after.map(|t| t.split('/').collect()).unwrap_or_default();
        let side = match after {
            Some(_) => Side::Tight(&bound),
            None => Side::Free,
        };
        Self::walk(&self.root, &filter, side, true, &mut visit)
    }

    /// Matches the remaining filter levels `filter` below `node`.
    fn walk(
        node: &Node<V>,
        filter: &[&str],
        side: Side<'_>,
        at_root: bool,
        visit: &mut impl FnMut(&V) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        let Some((first, rest)) = filter.split_first() else {
            return Self::visit_own(node, side, visit);
        };
        match *first {
            "#" => {
                // `#` matches the parent level too (`a/#` matches `a`), but not at the root,
                // where there is no parent topic.
                if !at_root {
                    Self::visit_own(node, side, visit)?;
                }
                Self::for_children(node, side, at_root, |child, side| {
                    Self::subtree(child, side, visit)
                })
            }
            "+" => Self::for_children(node, side, at_root, |child, side| {
                Self::walk(child, rest, side, false, visit)
            }),
            level => {
                let Some(child) = node.children.get(level) else {
                    return ControlFlow::Continue(());
                };
                match side {
                    Side::Free => Self::walk(child, rest, Side::Free, false, visit),
                    Side::Tight(bound) => match bound.split_first() {
                        // The path is the cursor itself: everything below is greater.
                        None => Self::walk(child, rest, Side::Free, false, visit),
                        Some((b, _)) if level < *b => ControlFlow::Continue(()),
                        Some((b, more)) if level == *b => {
                            Self::walk(child, rest, Side::Tight(more), false, visit)
                        }
                        Some(_) => Self::walk(child, rest, Side::Free, false, visit),
                    },
                }
            }
        }
    }

    /// Every value of `node`'s subtree, in order.
    fn subtree(
        node: &Node<V>,
        side: Side<'_>,
        visit: &mut impl FnMut(&V) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        Self::visit_own(node, side, visit)?;
        Self::for_children(node, side, false, |child, side| {
            Self::subtree(child, side, visit)
        })
    }

    /// The node's own value, unless the walk is still on the cursor's path (then it is the
    /// cursor or one of its prefixes, both already visited).
    fn visit_own(
        node: &Node<V>,
        side: Side<'_>,
        visit: &mut impl FnMut(&V) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        match (&node.value, side) {
            (Some(value), Side::Free) => visit(value),
            _ => ControlFlow::Continue(()),
        }
    }

    /// Calls `each` for the children of `node` that can hold topics after the cursor, in level
    /// order, with their side of it. At the root, topics starting with `$` are skipped: a
    /// wildcard first level does not match them ([MQTT-4.7.2-1]).
    fn for_children(
        node: &Node<V>,
        side: Side<'_>,
        at_root: bool,
        mut each: impl FnMut(&Node<V>, Side<'_>) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        let (start, bound_rest) = match side {
            Side::Tight([b, more @ ..]) => (Bound::Included(*b), Some((*b, more))),
            Side::Tight([]) | Side::Free => (Bound::Unbounded, None),
        };
        for (level, child) in node.children.range::<str, _>((start, Bound::Unbounded)) {
            if at_root && level.starts_with('$') {
                continue;
            }
            let child_side = match bound_rest {
                Some((b, more)) if &**level == b => Side::Tight(more),
                _ => Side::Free,
            };
            each(child, child_side)?;
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(topics: &[&str]) -> RetainedTree<String> {
        let mut t = RetainedTree::new();
        for topic in topics {
            t.insert(&TopicName::new(topic).expect("topic"), (*topic).to_owned());
        }
        t
    }

    fn all(t: &RetainedTree<String>, filter: &str, after: Option<&str>) -> Vec<String> {
        let mut out = Vec::new();
        let _ = t.for_each_match_after(&TopicFilter::new(filter).expect("filter"), after, |v| {
            out.push(v.clone());
            ControlFlow::Continue(())
        });
        out
    }

    /// Takes `step` at a time, resuming from the last topic taken, as the broker does.
    fn in_steps(t: &RetainedTree<String>, filter: &str, step: usize) -> Vec<String> {
        let filter = TopicFilter::new(filter).expect("filter");
        let mut out: Vec<String> = Vec::new();
        loop {
            let mut taken = 0;
            let after = out.last().cloned();
            let flow = t.for_each_match_after(&filter, after.as_deref(), |v| {
                out.push(v.clone());
                taken += 1;
                if taken == step {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            });
            if flow.is_continue() {
                return out;
            }
        }
    }

    const TOPICS: &[&str] = &[
        "a", "a/b", "a/b/c", "a/c", "a/c/c", "b", "b/x/c", "$SYS/up", "/lead", "a//c",
    ];

    #[test]
    fn matches_like_the_reference_in_topic_order() {
        let t = tree(TOPICS);
        for filter in [
            "#", "a/#", "a/+", "a/+/c", "+", "+/+", "$SYS/#", "a", "/+", "+/x/#",
        ] {
            let f = TopicFilter::new(filter).expect("filter");
            let mut want: Vec<String> = TOPICS
                .iter()
                .filter(|n| f.matches(&TopicName::new(n).expect("topic")))
                .map(|s| (*s).to_owned())
                .collect();
            want.sort_by(|x, y| x.split('/').cmp(y.split('/')));
            assert_eq!(all(&t, filter, None), want, "filter {filter}");
            for step in 1..4 {
                assert_eq!(
                    in_steps(&t, filter, step),
                    want,
                    "filter {filter} step {step}"
                );
            }
        }
    }

    #[test]
    fn a_cursor_survives_changes_between_steps() {
        let mut t = tree(&["a/1", "a/2", "a/3"]);
        let mut first = Vec::new();
        let f = TopicFilter::new("a/+").expect("filter");
        let _ = t.for_each_match_after(&f, None, |v| {
            first.push(v.clone());
            ControlFlow::Break(())
        });
        assert_eq!(first, ["a/1"]);
        t.remove("a/2");
        t.insert(&TopicName::new("a/0").expect("topic"), "a/0".into());
        t.insert(&TopicName::new("a/4").expect("topic"), "a/4".into());
        assert_eq!(all(&t, "a/+", Some("a/1")), ["a/3", "a/4"]);
        assert_eq!(t.len(), 4);
    }

    #[test]
    fn remove_prunes_and_counts() {
        let mut t = tree(&["x/y/z", "x"]);
        assert_eq!(t.remove("x/y/z").as_deref(), Some("x/y/z"));
        assert!(t.remove("x/y/z").is_none());
        assert!(t.root.children["x"].children.is_empty(), "pruned");
        assert_eq!(t.len(), 1);
        assert_eq!(t.get("x").map(String::as_str), Some("x"));
    }
}
