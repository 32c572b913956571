//! [`Content`]: a file's bytes, sparse (pages never written read as zeros), so that a journal
//! preallocated to 64 MiB costs nothing.

use std::collections::BTreeMap;

/// The page size of a [`Content`], and the unit in which dirty data is tracked.
pub(crate) const PAGE: u64 = 4096;

/// A file's length and its written pages (page index -> `PAGE` bytes; missing pages are zeros).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Content {
    len: u64,
    pages: BTreeMap<u64, Box<[u8]>>,
}

impl Content {
    /// Content holding `bytes` (all-zero pages are not stored).
    #[cfg(test)]
    pub(crate) fn from_bytes(bytes: &[u8]) -> Self {
        let mut out = Self {
            len: bytes.len() as u64,
            pages: BTreeMap::new(),
        };
        for (i, chunk) in bytes.chunks(PAGE as usize).enumerate() {
            if chunk.iter().any(|b| *b != 0) {
                let mut page = vec![0u8; PAGE as usize].into_boxed_slice();
                page[..chunk.len()].copy_from_slice(chunk);
                out.pages.insert(i as u64, page);
            }
        }
        out
    }

    /// The length in bytes.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// Up to `size` bytes from `offset` (fewer at the end of the file).
    pub(crate) fn read(&self, offset: u64, size: u64) -> Vec<u8> {
        let end = self.len.min(offset.saturating_add(size));
        if offset >= end {
            return Vec::new();
        }
        let mut out = vec![0u8; (end - offset) as usize];
        let (first, last) = (offset / PAGE, (end - 1) / PAGE);
        for (&index, page) in self.pages.range(first..=last) {
            let start = index * PAGE;
            let from = offset.max(start);
            let to = end.min(start + PAGE);
            out[(from - offset) as usize..(to - offset) as usize]
                .copy_from_slice(&page[(from - start) as usize..(to - start) as usize]);
        }
        out
    }

    /// Writes `data` at `offset` (extending the file if needed); returns the pages touched.
    pub(crate) fn write(&mut self, offset: u64, data: &[u8]) -> std::ops::Range<u64> {
        if data.is_empty() {
            return 0..0;
        }
        let end = offset + data.len() as u64;
        let (first, last) = (offset / PAGE, (end - 1) / PAGE);
        for index in first..=last {
            let start = index * PAGE;
            let from = offset.max(start);
            let to = end.min(start + PAGE);
            let page = self
                .pages
                .entry(index)
                .or_insert_with(|| vec![0u8; PAGE as usize].into_boxed_slice());
            page[(from - start) as usize..(to - start) as usize]
                .copy_from_slice(&data[(from - offset) as usize..(to - offset) as usize]);
        }
        self.len = self.len.max(end);
        first..last + 1
    }

    /// Sets the length to `len` (new bytes read as zeros); returns the pages whose bytes
    /// changed (dropped, or cut in part).
    pub(crate) fn set_len(&mut self, len: u64) -> Vec<u64> {
        let mut changed = Vec::new();
        if len < self.len {
            let keep = len.div_ceil(PAGE);
            changed.extend(self.pages.range(keep..).map(|(i, _)| *i));
            for index in &changed {
                self.pages.remove(index);
            }
            if len % PAGE != 0 {
                if let Some(page) = self.pages.get_mut(&(len / PAGE)) {
                    page[(len % PAGE) as usize..].fill(0);
                    changed.push(len / PAGE);
                }
            }
        }
        self.len = len;
        changed
    }

    /// The page at `index`, if it was written.
    pub(crate) fn page(&self, index: u64) -> Option<&[u8]> {
        self.pages.get(&index).map(|p| &p[..])
    }

    /// Makes page `index` equal to `page` (`None`: zeros).
    pub(crate) fn put_page(&mut self, index: u64, page: Option<&[u8]>) {
        match page {
            Some(bytes) => {
                self.pages.insert(index, bytes.to_vec().into_boxed_slice());
            }
            None => {
                self.pages.remove(&index);
            }
        }
    }

    /// Sets the length without touching any page (the caller keeps pages past it zero).
    pub(crate) fn force_len(&mut self, len: u64) {
        self.len = len;
        let keep = len.div_ceil(PAGE);
        self.pages.retain(|i, _| *i < keep);
        if len % PAGE != 0 {
            if let Some(page) = self.pages.get_mut(&(len / PAGE)) {
                page[(len % PAGE) as usize..].fill(0);
            }
        }
    }

    /// The written pages, in order, each with its index.
    pub(crate) fn pages(&self) -> impl Iterator<Item = (u64, &[u8])> {
        self.pages.iter().map(|(i, p)| (*i, &p[..]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_was_written_and_zeros_elsewhere() {
        let mut c = Content::default();
        assert!(c.read(0, 10).is_empty());
        c.write(5000, b"hello");
        assert_eq!(c.len(), 5005);
        assert_eq!(c.read(4998, 100), b"\0\0hello");
        assert_eq!(c.read(0, 3), vec![0; 3]);
        c.write(4094, b"abcd");
        assert_eq!(c.read(4094, 4), b"abcd");
        let flat = c.read(0, u64::MAX);
        assert_eq!(Content::from_bytes(&flat), c);
    }

    #[test]
    fn set_len_drops_and_zeros_what_it_cuts() {
        let mut c = Content::default();
        c.write(0, &[7u8; 10_000]);
        let changed = c.set_len(4100);
        assert_eq!(changed, vec![2, 1]);
        assert_eq!(c.len(), 4100);
        c.set_len(9000);
        assert_eq!(c.read(4096, 8), vec![7, 7, 7, 7, 0, 0, 0, 0]);
        assert_eq!(c.read(8000, 1000), vec![0; 1000]);
        c.set_len(64 << 20);
        assert_eq!(c.pages().count(), 2, "growing stores nothing");
    }
}
