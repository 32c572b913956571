//! Subscription trie benchmarks: match latency at 100k and 1M filters, insert and remove rates.
//!
//! Filters mimic a fleet: 80% exact `dev/<n>/sensor/<m>` (100 sensors per device), 20% with
//! wildcards, rotating `dev/<n>/sensor/+`, `dev/<n>/#`, `+/<n>/sensor/<m>`, `dev/<n>/+/<m>`.
//! Run: `cargo bench -p starling-topic`.

use std::sync::{Mutex, MutexGuard, OnceLock};

use divan::counter::ItemsCount;
use divan::{black_box, Bencher};
use starling_topic::{SubscriptionTrie, TopicFilter, TopicName};

#[global_allocator]
static ALLOC: divan::AllocProfiler = divan::AllocProfiler::system();

const SIZES: [usize; 2] = [100_000, 1_000_000];
const TOPICS: usize = 4096;

fn main() {
    divan::main();
}

fn filter(i: usize) -> TopicFilter {
    let (n, m) = (i / 100, i % 100);
    let s = if i % 5 != 0 {
        format!("dev/{n}/sensor/{m}")
    } else {
        match (i / 5) % 4 {
            0 => format!("dev/{n}/sensor/+"),
            1 => format!("dev/{n}/#"),
            2 => format!("+/{n}/sensor/{m}"),
            _ => format!("dev/{n}/+/{m}"),
        }
    };
    TopicFilter::new(&s).expect("valid filter")
}

fn filters(count: usize) -> Vec<TopicFilter> {
    (0..count).map(filter).collect()
}

fn build(count: usize) -> SubscriptionTrie<u32, u8> {
    let mut trie = SubscriptionTrie::new();
    for (i, f) in filters(count).iter().enumerate() {
        trie.insert(f, i as u32, 1);
    }
    trie
}

/// Resident set size in bytes (Linux), for a rough memory-per-filter figure.
fn rss() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<usize>().ok())
        .map_or(0, |pages| pages * 4096)
}

type Shared = Mutex<SubscriptionTrie<u32, u8>>;

/// The trie of `count` filters, built once per process; the mutating benches leave it as found.
fn trie(count: usize) -> MutexGuard<'static, SubscriptionTrie<u32, u8>> {
    static SMALL: OnceLock<Shared> = OnceLock::new();
    static LARGE: OnceLock<Shared> = OnceLock::new();
    let cell = if count == SIZES[0] { &SMALL } else { &LARGE };
    cell.get_or_init(|| {
        let before = rss();
        let start = std::time::Instant::now();
        let trie = build(count);
        let bytes = rss().saturating_sub(before);
        eprintln!(
            "built {count} filters in {:?}: {} nodes, ~{} bytes/filter (RSS delta)",
            start.elapsed(),
            trie.node_count(),
            bytes / count
        );
        Mutex::new(trie)
    })
    .lock()
    .expect("not poisoned")
}

/// Topics of existing devices and sensors, spread over the whole key space.
fn topics(count: usize) -> Vec<TopicName> {
    let devices = count / 100;
    (0..TOPICS)
        .map(|i| {
            let n = (i * 7919) % devices;
            let m = (i * 31) % 100;
            TopicName::new(&format!("dev/{n}/sensor/{m}")).expect("valid topic")
        })
        .collect()
}

#[divan::bench(args = SIZES)]
fn match_topic(bencher: Bencher, count: usize) {
    let trie = trie(count);
    let topics = topics(count);
    let mut i = 0;
    bencher
        .with_inputs(|| {
            i = (i + 1) % TOPICS;
            &topics[i]
        })
        .bench_local_values(|topic| {
            let mut hits = 0u32;
            trie.for_each_match(topic, |k, v| hits += k + u32::from(*v));
            black_box(hits)
        });
}

/// The same topic every time: the trie path stays in cache, so this is the CPU cost of a match
/// (`match_topic` draws topics across the whole key space and mostly measures memory latency).
#[divan::bench(args = SIZES)]
fn match_hot(bencher: Bencher, count: usize) {
    let trie = trie(count);
    let topic = &topics(count)[17];
    bencher.bench_local(|| {
        let mut hits = 0u32;
        trie.for_each_match(topic, |k, v| hits += k + u32::from(*v));
        black_box(hits)
    });
}

#[divan::bench(args = SIZES)]
fn match_miss(bencher: Bencher, count: usize) {
    let trie = trie(count);
    let topic = TopicName::new("other/1/sensor/2").expect("valid topic");
    bencher.bench_local(|| {
        let mut hits = 0u32;
        trie.for_each_match(&topic, |_, _| hits += 1);
        black_box(hits)
    });
}

/// Inserting 100k filters into an empty trie; divan reports items per second.
#[divan::bench(sample_count = 10, sample_size = 1)]
fn insert_100k(bencher: Bencher) {
    let filters = filters(100_000);
    bencher
        .counter(ItemsCount::new(filters.len()))
        .with_inputs(SubscriptionTrie::<u32, u8>::new)
        .bench_local_values(|mut trie| {
            for (i, f) in filters.iter().enumerate() {
                trie.insert(f, i as u32, 1);
            }
            trie
        });
}

/// Removing every one of 100k filters, pruning as it goes.
#[divan::bench(sample_count = 10, sample_size = 1)]
fn remove_100k(bencher: Bencher) {
    let filters = filters(100_000);
    bencher
        .counter(ItemsCount::new(filters.len()))
        .with_inputs(|| build(100_000))
        .bench_local_values(|mut trie| {
            for (i, f) in filters.iter().enumerate() {
                trie.remove(f, &(i as u32));
            }
            trie
        });
}

/// Subscribe then unsubscribe one more client on an existing filter of the 1M trie: one
/// iteration is one insert plus one remove (the trie is built once and left unchanged).
#[divan::bench]
fn insert_remove_1m(bencher: Bencher) {
    let mut trie = trie(1_000_000);
    let filters: Vec<_> = (0..TOPICS)
        .map(|i| filter((i * 7919) % 1_000_000))
        .collect();
    let mut i = 0;
    bencher
        .counter(ItemsCount::new(2usize))
        .with_inputs(|| {
            i = (i + 1) % TOPICS;
            &filters[i]
        })
        .bench_local_values(|f| {
            trie.insert(f, u32::MAX, 2);
            trie.remove(f, &u32::MAX)
        });
}

/// A new filter (new leaf nodes) inserted into and removed from the 1M trie.
#[divan::bench]
fn insert_remove_new_filter_1m(bencher: Bencher) {
    let mut trie = trie(1_000_000);
    let filters: Vec<_> = (0..TOPICS)
        .map(|i| TopicFilter::new(&format!("dev/{i}/new/{i}")).expect("valid filter"))
        .collect();
    let mut i = 0;
    bencher
        .counter(ItemsCount::new(2usize))
        .with_inputs(|| {
            i = (i + 1) % TOPICS;
            &filters[i]
        })
        .bench_local_values(|f| {
            trie.insert(f, 1, 2);
            trie.remove(f, &1)
        });
}
