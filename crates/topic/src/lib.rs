//! `starling-topic`: topic names, topic filters and the subscription trie (being built).
