//! Property tests: the trie against the naive matcher `TopicFilter::matches`.

use std::collections::BTreeMap;

use proptest::prelude::*;
use starling_topic::{SubscriptionTrie, TopicFilter, TopicName};

/// Levels that topics are built from: empty levels, `$` levels and repeats make collisions likely.
const TOPIC_LEVELS: &[&str] = &["a", "b", "", "$SYS", "$x"];

fn topic() -> impl Strategy<Value = TopicName> {
    prop::collection::vec(prop::sample::select(TOPIC_LEVELS), 1..5)
        .prop_filter_map("a topic is not empty", |levels| {
            TopicName::new(&levels.join("/")).ok()
        })
}

fn filter() -> impl Strategy<Value = TopicFilter> {
    let level = prop::sample::select(&["a", "b", "", "$SYS", "+", "+"][..]);
    (prop::collection::vec(level, 0..4), any::<bool>()).prop_filter_map(
        "a filter is not empty",
        |(mut levels, hash)| {
            if hash {
                levels.push("#");
            }
            TopicFilter::new(&levels.join("/")).ok()
        },
    )
}

#[derive(Clone, Debug)]
enum Op {
    Insert(usize, u8, u32),
    Remove(usize, u8),
}

fn op(filters: usize) -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..filters, 0..4u8, any::<u32>()).prop_map(|(f, k, v)| Op::Insert(f, k, v)),
        2 => (0..filters, 0..4u8).prop_map(|(f, k)| Op::Remove(f, k)),
    ]
}

fn case() -> impl Strategy<Value = (Vec<TopicFilter>, Vec<Op>, Vec<TopicName>)> {
    prop::collection::vec(filter(), 1..12).prop_flat_map(|filters| {
        let n = filters.len();
        (
            Just(filters),
            prop::collection::vec(op(n), 0..60),
            prop::collection::vec(topic(), 1..12),
        )
    })
}

type Model = BTreeMap<(TopicFilter, u8), u32>;

fn check(trie: &SubscriptionTrie<u8, (TopicFilter, u32)>, model: &Model, topics: &[TopicName]) {
    for topic in topics {
        let mut got = Vec::new();
        trie.for_each_match(topic, |k, (f, v)| got.push((f.clone(), *k, *v)));
        got.sort();
        let mut want: Vec<_> = model
            .iter()
            .filter(|((f, _), _)| f.matches(topic))
            .map(|((f, k), v)| (f.clone(), *k, *v))
            .collect();
        want.sort();
        assert_eq!(got, want, "topic {topic}");
    }
    let filters = model
        .keys()
        .map(|(f, _)| f)
        .collect::<std::collections::BTreeSet<_>>();
    assert_eq!(trie.subscriptions(), model.len());
    assert_eq!(trie.filters(), filters.len());
    assert_eq!(trie.is_empty(), model.is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn trie_agrees_with_naive_matcher((filters, ops, topics) in case()) {
        let mut trie = SubscriptionTrie::new();
        let mut model = Model::new();
        for op in ops {
            match op {
                Op::Insert(f, k, v) => {
                    let filter = &filters[f];
                    let prev = trie.insert(filter, k, (filter.clone(), v)).map(|(_, v)| v);
                    prop_assert_eq!(prev, model.insert((filter.clone(), k), v));
                }
                Op::Remove(f, k) => {
                    let filter = &filters[f];
                    let prev = trie.remove(filter, &k).map(|(_, v)| v);
                    prop_assert_eq!(prev, model.remove(&(filter.clone(), k)));
                }
            }
            check(&trie, &model, &topics);
        }
        for ((filter, k), v) in &model {
            prop_assert_eq!(trie.get(filter, k).map(|(_, v)| *v), Some(*v));
        }
        for (filter, k) in model.keys() {
            prop_assert!(trie.remove(filter, k).is_some());
        }
        prop_assert!(trie.is_empty());
        prop_assert_eq!(trie.filters(), 0);
        prop_assert_eq!(trie.node_count(), 1);
    }

    #[test]
    fn valid_filters_match_themselves_when_they_are_names(t in topic()) {
        let filter = TopicFilter::new(t.as_str()).unwrap();
        prop_assert!(filter.matches(&t));
        let mut trie = SubscriptionTrie::new();
        trie.insert(&filter, 0u8, ());
        let mut n = 0;
        trie.for_each_match(&t, |_, _| n += 1);
        prop_assert_eq!(n, 1);
    }
}
