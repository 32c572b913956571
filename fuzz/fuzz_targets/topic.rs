#![no_main]
//! Topic validation and the trie: parsing never panics, and for any valid filter and topic built
//! from the input, the trie agrees with the naive matcher.

use starling_topic::{
    DelayedPublish, SubscriptionTarget, SubscriptionTrie, TopicFilter, TopicLimits, TopicName,
};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let limits = TopicLimits::default();
    let _ = DelayedPublish::parse(text, &limits);
    let _ = SubscriptionTarget::parse(text, &limits);
    // Split the input into "filter\ntopic" and compare the trie with the reference matcher.
    let (filter, topic) = text.split_once('\n').unwrap_or((text, text));
    let (Ok(filter), Ok(topic)) = (TopicFilter::parse(filter, &limits), TopicName::parse(topic, &limits))
    else {
        return;
    };
    let mut trie = SubscriptionTrie::new();
    trie.insert(&filter, 1u8, ());
    let mut hits = 0;
    trie.for_each_match(&topic, |_, _| hits += 1);
    assert_eq!(hits == 1, filter.matches(&topic), "trie and naive matcher disagree");
    assert_eq!(trie.remove(&filter, &1), Some(()));
    assert!(trie.is_empty());
});
