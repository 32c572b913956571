//! Cutting off a journal batch that fails its check, so that one torn write does not cost the
//! whole store.
//!
//! fjall 3 discards a journal's tail without complaint when an entry does not decode, but when
//! a batch decodes and its checksum (or its item count) is wrong it refuses to open the
//! database at all. That is what a power cut can leave: the disk wrote back some sectors of an
//! unsynced batch and not others, so the batch's framing is whole and its bytes are not (the
//! power-cut test, `crates/powercut`, found it). Without this module the store would then be
//! moved aside whole and the broker would start empty.
//!
//! So when the engine fails with a journal recovery error, [`cut_bad_batches`] reads every
//! journal the way fjall does (just enough of its format: entry framing, item counts and the
//! xxh3 checksum of each batch's items, over their bytes as stored), and cuts each journal at
//! the start of its first batch that fails, saving the bytes cut off to
//! `<dir>/damaged-<unix-seconds>/<journal>.from-<offset>`; then the store opens again. A batch
//! cut off this way was the last one written before the cut, or damage: if an fsync had covered
//! it, the durable watermark counts it as lost.
//!
//! Format (fjall 3, little-endian): Start `1, count: u32, seqno: u64`; Item `2, type: u8,
//! compression: u8, keyspace: u64, key_len: u16, value_len: u32, stored_len: u32, key, value`;
//! End `3, checksum: u64, "FJL" 3`; Clear `4, keyspace: u64`. The checksum covers the bytes of
//! the Item and Clear entries of the batch.

use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use xxhash_rust::xxh3::Xxh3;

const START: u8 = 1;
const ITEM: u8 = 2;
const END: u8 = 3;
const CLEAR: u8 = 4;
const TRAILER: &[u8; 4] = b"FJL\x03";

/// What reading a journal found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scan {
    /// Every batch checks up to where fjall stops reading (the end, or an entry that does not
    /// decode, which fjall drops itself).
    Clean,
    /// The batch starting at this offset fails its count or checksum.
    BadBatch(u64),
}

/// Reads entries from a journal, counting the offset.
struct Reader<R> {
    inner: R,
    pos: u64,
}

impl<R: Read> Reader<R> {
    /// Fills `buf`; `Ok(false)` at the end of the file (fjall stops there).
    fn fill(&mut self, buf: &mut [u8]) -> io::Result<bool> {
        match self.inner.read_exact(buf) {
            Ok(()) => {
                self.pos += buf.len() as u64;
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Reads `len` bytes into `hash` (when given); `Ok(false)` at the end of the file.
    fn skip(&mut self, mut len: u64, mut hash: Option<&mut Xxh3>) -> io::Result<bool> {
        let mut buf = [0u8; 8192];
        while len > 0 {
            let n = len.min(buf.len() as u64) as usize;
            if !self.fill(&mut buf[..n])? {
                return Ok(false);
            }
            if let Some(h) = hash.as_deref_mut() {
                h.update(&buf[..n]);
            }
            len -= n as u64;
        }
        Ok(true)
    }
}

/// The state of the batch being read.
struct Batch {
    start: u64,
    left: u32,
    hash: Xxh3,
}

/// Reads a journal as fjall does and says where its first failing batch starts.
pub(crate) fn scan(journal: impl Read) -> io::Result<Scan> {
    let mut r = Reader {
        inner: journal,
        pos: 0,
    };
    let mut batch: Option<Batch> = None;
    loop {
        let entry_start = r.pos;
        let mut tag = [0u8; 1];
        if !r.fill(&mut tag)? {
            return Ok(Scan::Clean);
        }
        match tag[0] {
            START => {
                let mut head = [0u8; 12];
                if !r.fill(&mut head)? || batch.is_some() {
                    // A start inside a batch: fjall drops the rest.
                    return Ok(Scan::Clean);
                }
                let count = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
                batch = Some(Batch {
                    start: entry_start,
                    left: count,
                    hash: Xxh3::new(),
                });
            }
            ITEM | CLEAR => {
                let Some(b) = batch.as_mut() else {
                    return Ok(Scan::Clean);
                };
                if b.left == 0 {
                    return Ok(Scan::BadBatch(b.start));
                }
                b.left -= 1;
                b.hash.update(&tag);
                if tag[0] == CLEAR {
                    if !r.skip(8, Some(&mut b.hash))? {
                        return Ok(Scan::Clean);
                    }
                    continue;
                }
                let mut head = [0u8; 20];
                if !r.fill(&mut head)? {
                    return Ok(Scan::Clean);
                }
                // A value type fjall knows and compression 0 or 1, or it stops decoding here.
                if !matches!(head[0], 0..=2 | 4) || head[1] > 1 {
                    return Ok(Scan::Clean);
                }
                b.hash.update(&head);
                let key_len = u16::from_le_bytes([head[10], head[11]]);
                let stored = u32::from_le_bytes([head[16], head[17], head[18], head[19]]);
                if !r.skip(u64::from(key_len) + u64::from(stored), Some(&mut b.hash))? {
                    return Ok(Scan::Clean);
                }
            }
            END => {
                let mut tail = [0u8; 12];
                if !r.fill(&mut tail)? || &tail[8..] != TRAILER {
                    return Ok(Scan::Clean);
                }
                let Some(b) = batch.take() else {
                    return Ok(Scan::Clean);
                };
                let checksum = u64::from_le_bytes([
                    tail[0], tail[1], tail[2], tail[3], tail[4], tail[5], tail[6], tail[7],
                ]);
                if b.left > 0 || b.hash.digest() != checksum {
                    return Ok(Scan::BadBatch(b.start));
                }
            }
            _ => return Ok(Scan::Clean),
        }
    }
}

/// What [`cut_bad_batches`] cut off.
#[derive(Debug, Default)]
pub(crate) struct Cut {
    /// Where each cut-off tail was saved.
    pub(crate) saved: Vec<PathBuf>,
    /// Their bytes (up to the last byte that is not zero: fjall preallocates journals).
    pub(crate) bytes: u64,
}

/// Cuts every journal in `store` at its first failing batch, saving what is cut off in
/// `aside` (created if needed).
pub(crate) fn cut_bad_batches(store: &Path, aside: &Path) -> io::Result<Cut> {
    let mut cut = Cut::default();
    let mut journals: Vec<PathBuf> = std::fs::read_dir(store)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "jnl"))
        .collect();
    journals.sort();
    for path in journals {
        let Scan::BadBatch(at) = scan(BufReader::new(File::open(&path)?))? else {
            continue;
        };
        let mut file = OpenOptions::new().read(true).write(true).open(&path)?;
        file.seek(SeekFrom::Start(at))?;
        let mut tail = Vec::new();
        file.read_to_end(&mut tail)?;
        let used = tail.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
        std::fs::create_dir_all(aside)?;
        let name = path
            .file_name()
            .map_or_else(|| "journal".into(), |n| n.to_string_lossy().into_owned());
        let saved = aside.join(format!("{name}.from-{at}"));
        let mut out = File::create(&saved)?;
        out.write_all(&tail[..used])?;
        out.sync_all()?;
        file.set_len(at)?;
        file.sync_all()?;
        tracing::error!(
            journal = %path.display(),
            offset = at,
            bytes = used,
            saved_to = %saved.display(),
            "a store journal batch failed its check (a torn write at a power cut, or damage); \
             the journal was cut there and the rest kept"
        );
        cut.bytes += used as u64;
        cut.saved.push(saved);
    }
    if !cut.saved.is_empty() {
        crate::dir::sync(aside)?;
        if let Some(parent) = aside.parent() {
            crate::dir::sync(parent)?;
        }
    }
    Ok(cut)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(items: &[(&[u8], &[u8])], checksum_delta: u64, count_delta: i64) -> Vec<u8> {
        let mut out = vec![START];
        let count = items.len() as i64 + count_delta;
        out.extend_from_slice(&(count as u32).to_le_bytes());
        out.extend_from_slice(&7u64.to_le_bytes());
        let mut hash = Xxh3::new();
        for (key, value) in items {
            let mut item = vec![ITEM, 0, 0];
            item.extend_from_slice(&1u64.to_le_bytes());
            item.extend_from_slice(&(key.len() as u16).to_le_bytes());
            item.extend_from_slice(&(value.len() as u32).to_le_bytes());
            item.extend_from_slice(&(value.len() as u32).to_le_bytes());
            item.extend_from_slice(key);
            item.extend_from_slice(value);
            hash.update(&item);
            out.extend_from_slice(&item);
        }
        out.push(END);
        out.extend_from_slice(&(hash.digest().wrapping_add(checksum_delta)).to_le_bytes());
        out.extend_from_slice(TRAILER);
        out
    }

    #[test]
    fn a_batch_that_fails_its_check_is_found_and_a_torn_tail_is_left_to_fjall() {
        let good = batch(&[(b"k", b"v"), (b"k2", b"value")], 0, 0);
        let bad = batch(&[(b"k", b"w")], 1, 0);
        let mut journal = [good.clone(), good.clone()].concat();
        assert_eq!(scan(&journal[..]).unwrap(), Scan::Clean);
        journal.extend_from_slice(&bad);
        journal.extend_from_slice(&good);
        assert_eq!(
            scan(&journal[..]).unwrap(),
            Scan::BadBatch(2 * good.len() as u64)
        );
        // A batch with fewer items than its count says.
        let short = [good.clone(), batch(&[(b"a", b"b")], 0, 1)].concat();
        assert_eq!(scan(&short[..]).unwrap(), Scan::BadBatch(good.len() as u64));
        // Cut mid-entry, or zeros after the last batch (preallocation): fjall's own business.
        assert_eq!(scan(&journal[..good.len() + 5]).unwrap(), Scan::Clean);
        let padded = [good.clone(), vec![0; 100]].concat();
        assert_eq!(scan(&padded[..]).unwrap(), Scan::Clean);
    }
}
