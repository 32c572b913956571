use super::*;
use crate::name::TopicName;

fn f(s: &str) -> TopicFilter {
    TopicFilter::new(s).unwrap()
}

fn matches(trie: &SubscriptionTrie<&'static str, u8>, topic: &str) -> Vec<(&'static str, u8)> {
    let mut out = Vec::new();
    trie.for_each_match(&TopicName::new(topic).unwrap(), |k, v| out.push((*k, *v)));
    out.sort_unstable();
    out
}

#[test]
fn insert_get_replace_remove() {
    let mut trie = SubscriptionTrie::new();
    assert!(trie.is_empty());
    assert_eq!(trie.insert(&f("a/b"), "c1", 1), None);
    assert_eq!(trie.insert(&f("a/b"), "c1", 2), Some(1));
    assert_eq!(trie.insert(&f("a/b"), "c2", 0), None);
    assert_eq!(trie.insert(&f("a/+"), "c1", 0), None);
    assert_eq!((trie.subscriptions(), trie.filters()), (3, 2));
    assert_eq!(trie.get(&f("a/b"), &"c1"), Some(&2));
    assert_eq!(trie.get(&f("a"), &"c1"), None);
    assert_eq!(trie.get(&f("a/b/c"), &"c1"), None);
    assert_eq!(trie.remove(&f("a/b"), &"c3"), None);
    assert_eq!(trie.remove(&f("x"), &"c1"), None);
    assert_eq!(trie.remove(&f("a/b"), &"c1"), Some(2));
    assert_eq!((trie.subscriptions(), trie.filters()), (2, 2));
    assert_eq!(trie.remove(&f("a/b"), &"c2"), Some(0));
    assert_eq!(trie.remove(&f("a/+"), &"c1"), Some(0));
    assert!(trie.is_empty());
    assert_eq!((trie.filters(), trie.node_count()), (0, 1));
}

#[test]
fn pruning_keeps_shared_prefixes() {
    let mut trie = SubscriptionTrie::new();
    trie.insert(&f("a/b/c"), "k", 0);
    trie.insert(&f("a/b"), "k", 0);
    trie.insert(&f("a/+/#"), "k", 0);
    assert_eq!(trie.node_count(), 6);
    trie.remove(&f("a/b"), &"k");
    assert_eq!(trie.node_count(), 6, "a/b is still on the path to a/b/c");
    trie.remove(&f("a/b/c"), &"k");
    assert_eq!(trie.node_count(), 4);
    assert_eq!(matches(&trie, "a/x/y"), [("k", 0)]);
    trie.remove(&f("a/+/#"), &"k");
    assert_eq!(trie.node_count(), 1);
    // Freed slots are reused.
    trie.insert(&f("z/y/x"), "k", 0);
    assert_eq!(trie.nodes.len(), 6);
}

#[test]
fn spec_examples_match() {
    let mut trie = SubscriptionTrie::new();
    trie.insert(&f("sport/tennis/player1/#"), "multi", 0);
    trie.insert(&f("sport/#"), "sport", 1);
    trie.insert(&f("sport/tennis/+"), "plus", 2);
    trie.insert(&f("+/+"), "pp", 0);
    trie.insert(&f("/+"), "sp", 0);
    trie.insert(&f("#"), "all", 0);
    trie.insert(&f("$SYS/#"), "sys", 0);
    trie.insert(&f("+/monitor/Clients"), "mon", 0);
    assert_eq!(matches(&trie, "sport"), [("all", 0), ("sport", 1)]);
    assert_eq!(
        matches(&trie, "sport/tennis/player1"),
        [("all", 0), ("multi", 0), ("plus", 2), ("sport", 1)]
    );
    assert_eq!(
        matches(&trie, "sport/tennis/player1/ranking"),
        [("all", 0), ("multi", 0), ("sport", 1)]
    );
    assert_eq!(
        matches(&trie, "/finance"),
        [("all", 0), ("pp", 0), ("sp", 0)]
    );
    assert_eq!(
        matches(&trie, "sport/"),
        [("all", 0), ("pp", 0), ("sport", 1)]
    );
    assert_eq!(matches(&trie, "$SYS/monitor/Clients"), [("sys", 0)]);
    assert_eq!(matches(&trie, "$SYS"), [("sys", 0)]);
    assert_eq!(
        matches(&trie, "x/monitor/Clients"),
        [("all", 0), ("mon", 0)]
    );
}

#[test]
fn a_key_is_visited_once_per_matching_filter() {
    let mut trie = SubscriptionTrie::new();
    trie.insert(&f("a/+"), "c", 1);
    trie.insert(&f("a/#"), "c", 2);
    trie.insert(&f("a/b"), "c", 0);
    assert_eq!(matches(&trie, "a/b"), [("c", 0), ("c", 1), ("c", 2)]);
}

#[test]
fn empty_levels_are_levels() {
    let mut trie = SubscriptionTrie::new();
    trie.insert(&f("a//b"), "e", 0);
    trie.insert(&f("a/+/b"), "p", 0);
    trie.insert(&f("+/+"), "two", 0);
    assert_eq!(matches(&trie, "a//b"), [("e", 0), ("p", 0)]);
    assert_eq!(matches(&trie, "/"), [("two", 0)]);
    assert_eq!(matches(&trie, "a/b"), [("two", 0)]);
    assert_eq!(matches(&trie, "a/b/"), []);
}

#[test]
fn many_subscribers_on_one_filter() {
    let mut trie: SubscriptionTrie<u32, u32> = SubscriptionTrie::new();
    for k in 0..1000 {
        trie.insert(&f("bcast/#"), k, k);
    }
    assert_eq!((trie.subscriptions(), trie.filters()), (1000, 1));
    let mut n = 0;
    let mut scratch = MatchScratch::new();
    trie.for_each_match_with(&TopicName::new("bcast/x").unwrap(), &mut scratch, |k, v| {
        assert_eq!(k, v);
        n += 1;
    });
    assert_eq!(n, 1000);
    for k in 0..1000 {
        assert_eq!(trie.remove(&f("bcast/#"), &k), Some(k));
    }
    assert!(trie.is_empty());
    assert_eq!(trie.node_count(), 1);
}

#[test]
fn nested_matching_from_a_visitor() {
    let mut trie = SubscriptionTrie::new();
    trie.insert(&f("a/#"), "outer", 0);
    let topic = TopicName::new("a/b").unwrap();
    let mut inner = 0;
    trie.for_each_match(&topic, |_, _| {
        trie.for_each_match(&topic, |_, _| inner += 1)
    });
    assert_eq!(inner, 1);
}

#[test]
fn deep_topics_do_not_recurse() {
    let limits = crate::TopicLimits {
        max_levels: 100_000,
        max_len: 1 << 20,
    };
    let deep = "a/".repeat(50_000) + "#";
    let mut trie = SubscriptionTrie::new();
    trie.insert(&TopicFilter::parse(&deep, &limits).unwrap(), 1u8, ());
    let topic = TopicName::parse(&("a/".repeat(60_000) + "a"), &limits).unwrap();
    let mut n = 0;
    trie.for_each_match(&topic, |_, _| n += 1);
    assert_eq!(n, 1);
    trie.remove(&TopicFilter::parse(&deep, &limits).unwrap(), &1);
    assert_eq!(trie.node_count(), 1);
}
