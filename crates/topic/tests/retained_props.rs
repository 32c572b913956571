//! Property tests: the retained tree against a naive model (a map of topics filtered with
//! `TopicFilter::matches`), including walks cut into steps with changes between the steps.

use std::collections::BTreeMap;
use std::ops::ControlFlow;

use proptest::prelude::*;
use starling_topic::{RetainedTree, TopicFilter, TopicName};

const LEVELS: &[&str] = &["a", "b", "", "$SYS", "c"];

fn topic() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(LEVELS), 1..5).prop_filter_map("valid", |l| {
        TopicName::new(&l.join("/")).ok().map(|_| l.join("/"))
    })
}

fn filter() -> impl Strategy<Value = TopicFilter> {
    let level = prop::sample::select(&["a", "b", "", "$SYS", "+", "+"][..]);
    (prop::collection::vec(level, 0..4), any::<bool>()).prop_filter_map("valid", |(mut l, h)| {
        if h {
            l.push("#");
        }
        TopicFilter::new(&l.join("/")).ok()
    })
}

/// Topic order: lexicographic over levels.
fn key(topic: &str) -> Vec<String> {
    topic.split('/').map(str::to_owned).collect()
}

proptest! {
    #[test]
    fn stepwise_walks_see_every_match_once_in_order(
        initial in prop::collection::vec(topic(), 0..30),
        filter in filter(),
        step in 1usize..5,
        changes in prop::collection::vec((topic(), any::<bool>()), 0..20),
    ) {
        let mut tree = RetainedTree::new();
        let mut model: BTreeMap<Vec<String>, String> = BTreeMap::new();
        for t in &initial {
            tree.insert(&TopicName::new(t).expect("topic"), t.clone());
            model.insert(key(t), t.clone());
        }
        prop_assert_eq!(tree.len(), model.len());
        let mut seen: Vec<String> = Vec::new();
        let touched: Vec<String> = changes.iter().map(|(t, _)| t.clone()).collect();
        let mut changes = changes.into_iter();
        loop {
            let after = seen.last().cloned();
            let mut taken = 0;
            let flow = tree.for_each_match_after(&filter, after.as_deref(), |v| {
                seen.push(v.clone());
                taken += 1;
                if taken == step { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
            });
            if flow.is_continue() {
                break;
            }
            // Change the tree between two steps, as other clients would.
            if let Some((t, insert)) = changes.next() {
                if insert {
                    tree.insert(&TopicName::new(&t).expect("topic"), t.clone());
                    model.insert(key(&t), t);
                } else {
                    tree.remove(&t);
                    model.remove(&key(&t));
                }
            }
        }
        // Strictly increasing: nothing twice, in topic order.
        for pair in seen.windows(2) {
            prop_assert!(key(&pair[0]) < key(&pair[1]), "{:?}", seen);
        }
        // Every topic seen matches, and every matching topic that was there from the start and
        // never changed was seen.
        for t in &seen {
            prop_assert!(filter.matches(&TopicName::new(t).expect("topic")));
        }
        for t in initial.iter().filter(|t| !touched.contains(t)) {
            if filter.matches(&TopicName::new(t).expect("topic")) {
                prop_assert!(seen.contains(t), "missed {} in {:?}", t, seen);
            }
        }
        prop_assert_eq!(tree.len(), model.len());
    }
}
