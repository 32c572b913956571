//! The fuzzers' seed corpus: valid encoded packets for each target in `fuzz/corpus/<target>/`.
//!
//! `STARLING_WRITE_CORPUS=1 cargo test -p starling-codec --test fuzz_corpus` regenerates the
//! files (deterministically); without the variable the test only checks the committed seeds
//! still decode, so a codec change that breaks them is noticed.

mod strategy;

use bytes::BytesMut;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use starling_codec::*;
use std::path::PathBuf;

const SEEDS_PER_TARGET: usize = 48;

fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target)
}

fn runner() -> TestRunner {
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]);
    TestRunner::new_with_rng(Config::default(), rng)
}

/// Seeds: one to three packets of `v` back to back; for `decode_connect` a CONNECT first.
fn seeds(v: ProtocolVersion, connect_first: bool) -> Vec<Vec<u8>> {
    let mut runner = runner();
    let packets = proptest::collection::vec(strategy::packet(v), 1..4);
    let connect = strategy::connect(v);
    (0..SEEDS_PER_TARGET)
        .map(|_| {
            let mut buf = BytesMut::new();
            if connect_first {
                let c = connect.new_tree(&mut runner).expect("tree").current();
                encode(&c, v, &mut buf).expect("encodes");
            }
            for p in packets.new_tree(&mut runner).expect("tree").current() {
                encode(&p, v, &mut buf).expect("encodes");
            }
            buf.to_vec()
        })
        .collect()
}

/// A fuzz target's name, the version it decodes as, and its seeds.
type Target = (&'static str, Option<ProtocolVersion>, Vec<Vec<u8>>);

fn targets() -> Vec<Target> {
    let mut connect_seeds = Vec::new();
    for v in strategy::VERSIONS {
        connect_seeds.extend(seeds(v, true).into_iter().take(SEEDS_PER_TARGET / 3));
    }
    vec![
        (
            "decode_v31",
            Some(ProtocolVersion::V3_1),
            seeds(ProtocolVersion::V3_1, false),
        ),
        (
            "decode_v311",
            Some(ProtocolVersion::V3_1_1),
            seeds(ProtocolVersion::V3_1_1, false),
        ),
        (
            "decode_v5",
            Some(ProtocolVersion::V5),
            seeds(ProtocolVersion::V5, false),
        ),
        ("decode_connect", None, connect_seeds),
    ]
}

/// Decodes every packet in `bytes`; fails on an error or leftover bytes.
fn decode_all(bytes: &[u8], mut version: Option<ProtocolVersion>) -> usize {
    let mut buf = BytesMut::from(bytes);
    let mut n = 0;
    while !buf.is_empty() {
        let p = decode(&mut buf, &DecodeOptions::new(version))
            .expect("seed decodes")
            .expect("seed is complete");
        if let Packet::Connect(c) = &p {
            version = Some(c.protocol);
        }
        n += 1;
    }
    n
}

#[test]
fn seed_corpus_is_valid_and_written_on_request() {
    let write = std::env::var_os("STARLING_WRITE_CORPUS").is_some_and(|v| v == "1");
    for (target, version, seeds) in targets() {
        let dir = corpus_dir(target);
        if write {
            std::fs::create_dir_all(&dir).expect("create corpus dir");
            for (i, seed) in seeds.iter().enumerate() {
                std::fs::write(dir.join(format!("seed-{i:03}")), seed).expect("write seed");
            }
        }
        for seed in &seeds {
            assert!(decode_all(seed, version) >= 1);
        }
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            if name.to_string_lossy().starts_with("seed-") {
                let bytes = std::fs::read(entry.path()).expect("read seed");
                assert!(decode_all(&bytes, version) >= 1, "{target}/{name:?}");
            }
        }
    }
}
