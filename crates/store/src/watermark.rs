//! The durable watermark: how far the journal is known to be on disk, kept beside the engine so
//! that a journal cut short is noticed.
//!
//! fjall reads its journal back up to the first entry it cannot decode and drops the rest
//! without an error (a torn tail after a power loss looks just like that), and a journal that
//! was truncated on disk simply ends early. Either way, records an fsync had covered would
//! vanish without a trace. So every commit writes its number (counted across restarts; commits
//! are numbered in the journal's order, under one lock) under one key of the `meta` keyspace,
//! and after every successful fsync the store writes to `<dir>/durable-commit` the number of the
//! last commit that fsync covered. At open, the number read back from the engine must be at
//! least that; if it is lower, the difference is the number of durable commits that were lost,
//! counted in [`Damage::lost_commits`](crate::Damage::lost_commits). (The engine's own sequence
//! numbers cannot serve: flushes and compactions use them up too, without leaving a record.)
//!
//! The file is overwritten in place and never fsynced: it may lag behind (after a power loss, it
//! can only claim less than what is on disk, since it is written after the fsync it reports),
//! and a torn write fails its check and is ignored, so it never reports a loss that did not
//! happen. Format: `STRLDUR1`, the commit number (`u64` LE), and a check word derived from it.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// The file's name in the data directory.
pub(crate) const FILE: &str = "durable-commit";

const MAGIC: &[u8; 8] = b"STRLDUR1";
const LEN: usize = 24;

fn check(seqno: u64) -> u64 {
    (seqno ^ 0x5354_524C_4455_5231).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

fn encode(seqno: u64) -> [u8; LEN] {
    let mut out = [0u8; LEN];
    out[..8].copy_from_slice(MAGIC);
    out[8..16].copy_from_slice(&seqno.to_le_bytes());
    out[16..].copy_from_slice(&check(seqno).to_le_bytes());
    out
}

fn decode(bytes: &[u8]) -> Option<u64> {
    if bytes.len() != LEN || &bytes[..8] != MAGIC {
        return None;
    }
    let seqno = u64::from_le_bytes(bytes[8..16].try_into().ok()?);
    let want = u64::from_le_bytes(bytes[16..].try_into().ok()?);
    (check(seqno) == want).then_some(seqno)
}

/// The watermark in `dir`, if there is a valid one (a missing file is the norm for a new store;
/// a damaged one is logged and ignored).
pub(crate) fn read(dir: &Path) -> Option<u64> {
    let path = dir.join(FILE);
    let bytes = std::fs::read(&path).ok()?;
    let seqno = decode(&bytes);
    if seqno.is_none() {
        tracing::warn!(path = %path.display(), "the store's durable watermark is damaged; ignored");
    }
    seqno
}

/// The open watermark file.
pub(crate) struct Watermark {
    file: File,
    path: PathBuf,
    failed: AtomicBool,
}

impl Watermark {
    /// Opens (creating it if needed) the watermark file in `dir`.
    pub(crate) fn open(dir: &Path) -> std::io::Result<Self> {
        let path = dir.join(FILE);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        Ok(Self {
            file,
            path,
            failed: AtomicBool::new(false),
        })
    }

    /// Records that every commit up to number `mark` is on disk. A failure is logged once and
    /// otherwise ignored: the watermark only ever lags.
    pub(crate) fn record(&self, mark: u64) {
        let written = self
            .file
            .write_all_at(&encode(mark), 0)
            .and_then(|()| self.file.set_len(LEN as u64));
        match written {
            Ok(()) => self.failed.store(false, Ordering::Relaxed),
            Err(error) => {
                if !self.failed.swap(true, Ordering::Relaxed) {
                    tracing::warn!(%error, path = %self.path.display(),
                        "cannot write the store's durable watermark");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watermark_reads_back_and_a_damaged_one_is_ignored() {
        assert_eq!(decode(&encode(0)), Some(0));
        assert_eq!(decode(&encode(u64::MAX)), Some(u64::MAX));
        for i in 0..LEN {
            let mut bytes = encode(77);
            bytes[i] ^= 0x10;
            assert_eq!(decode(&bytes), None, "byte {i}");
        }
        assert_eq!(decode(&encode(77)[..LEN - 1]), None);
        assert_eq!(decode(&[]), None);

        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()), None);
        let mark = Watermark::open(dir.path()).unwrap();
        mark.record(1234);
        assert_eq!(read(dir.path()), Some(1234));
        mark.record(5);
        assert_eq!(read(dir.path()), Some(5));
    }
}
