//! [`Disk`]: the filesystem as the running process sees it, and as a power cut would leave it.
//!
//! # The model
//!
//! Every file has two contents: *live* (what reads return) and *durable* (what survives a cut).
//! A write changes only the live content and marks its pages dirty; `fsync` or `fdatasync` of
//! the file copies its dirty pages and its length into the durable content. Every directory
//! likewise has live and durable entries (name -> inode); creating, unlinking or renaming
//! changes only the live entries, and `fsync` of the directory makes its durable entries equal
//! to its live ones. An inode stays in memory as long as the process runs, so a durable entry
//! can still reach a file the process has since unlinked (as on a real disk).
//!
//! This is the strict reading of POSIX that crash-consistency checkers (ALICE, dm-log-writes
//! replays) use: a new file needs an fsync of its directory to exist after a crash, a rename
//! needs one of each directory it touches, and nothing else is ordered. Real filesystems
//! (ext4 with `data=ordered`, xfs) keep more; whatever survives here survives there.
//! Simplifications: metadata other than names, lengths and bytes (modes, times) is not made
//! durable separately; a rename across directories becomes durable in each directory
//! separately (a real journal would commit it at once).
//!
//! # The cut
//!
//! Every operation that changes something counts; when the count reaches the chosen cut point,
//! that operation and every later one fail with `EIO` (the machine is off), and the image of
//! the durable state at that moment is kept. In *torn* mode the image also takes a random part
//! of what was not synced (each 512-byte sector of each dirty page, and each file's length,
//! independently: a disk that had written back some of its cache), which recovery must treat
//! as garbage or as valid, never as a reason to lose what was synced.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::{OsStr, OsString};
use std::path::PathBuf;
use std::time::SystemTime;

use fuser::Errno;

use crate::content::{Content, PAGE};
use crate::image::Image;
use crate::rng::Rng;

/// The root directory's inode.
pub(crate) const ROOT: u64 = 1;

/// The sector size at which torn mode tears pages.
const SECTOR: usize = 512;

/// A file or a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
}

/// What `stat` says of an inode.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Attr {
    /// The inode number.
    pub(crate) ino: u64,
    /// File or directory.
    pub(crate) kind: Kind,
    /// The live length in bytes (0 for directories).
    pub(crate) len: u64,
    /// Permission bits.
    pub(crate) perm: u16,
    /// Last change.
    pub(crate) mtime: SystemTime,
}

#[derive(Debug, Default)]
struct FileNode {
    live: Content,
    durable: Content,
    dirty: BTreeSet<u64>,
}

#[derive(Debug)]
struct DirNode {
    parent: u64,
    live: BTreeMap<OsString, u64>,
    durable: BTreeMap<OsString, u64>,
}

#[derive(Debug)]
enum Body {
    File(FileNode),
    Dir(DirNode),
}

#[derive(Debug)]
struct Node {
    body: Body,
    perm: u16,
    mtime: SystemTime,
}

/// Counters of one mount.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct DiskStats {
    /// Operations that changed something (the cut point counts these).
    pub(crate) ops: u64,
    /// Writes.
    pub(crate) writes: u64,
    /// fsync and fdatasync of files.
    pub(crate) fsyncs: u64,
    /// fsync of directories.
    pub(crate) dir_fsyncs: u64,
    /// Dirty pages (not synced) when the power was cut: what the cut threw away (or, in torn
    /// mode, may have kept in part).
    pub(crate) dirty_pages_at_cut: u64,
    /// Files and directories whose live entry no directory fsync had covered at the cut.
    pub(crate) entries_lost_at_cut: u64,
}

/// The filesystem's state.
#[derive(Debug)]
pub(crate) struct Disk {
    nodes: HashMap<u64, Node>,
    next_ino: u64,
    cut_at: Option<u64>,
    cut: Option<Image>,
    torn: Option<Rng>,
    ignore_fsync: bool,
    stats: DiskStats,
}

fn dir_node(parent: u64) -> Node {
    Node {
        body: Body::Dir(DirNode {
            parent,
            live: BTreeMap::new(),
            durable: BTreeMap::new(),
        }),
        perm: 0o755,
        mtime: SystemTime::now(),
    }
}

impl Disk {
    /// A disk holding `image`, all of it durable. The power is cut before the `cut_at`-th
    /// changing operation (never if `None`); `torn` seeds torn mode.
    pub(crate) fn new(image: &Image, cut_at: Option<u64>, torn: Option<u64>) -> Self {
        let mut disk = Self {
            nodes: HashMap::from([(ROOT, dir_node(ROOT))]),
            next_ino: ROOT + 1,
            cut_at,
            cut: None,
            torn: torn.map(Rng::new),
            ignore_fsync: false,
            stats: DiskStats::default(),
        };
        for dir in &image.dirs {
            disk.load(dir, None);
        }
        for (path, content) in &image.files {
            disk.load(path, Some(content));
        }
        disk
    }

    /// Puts `path` (a directory, or a file with `content`) on the disk as durable.
    fn load(&mut self, path: &std::path::Path, content: Option<&Content>) {
        let mut dir = ROOT;
        let parts: Vec<&OsStr> = path.iter().collect();
        for (i, part) in parts.iter().enumerate() {
            let last = i + 1 == parts.len();
            let existing = self.dir(dir).ok().and_then(|d| d.live.get(*part).copied());
            let ino = match existing {
                Some(ino) => ino,
                None => {
                    let ino = self.next_ino;
                    self.next_ino += 1;
                    let node = match (last, content) {
                        (true, Some(content)) => Node {
                            body: Body::File(FileNode {
                                live: content.clone(),
                                durable: content.clone(),
                                dirty: BTreeSet::new(),
                            }),
                            perm: 0o644,
                            mtime: SystemTime::now(),
                        },
                        _ => dir_node(dir),
                    };
                    self.nodes.insert(ino, node);
                    if let Ok(d) = self.dir_mut(dir) {
                        d.live.insert(part.to_os_string(), ino);
                        d.durable.insert(part.to_os_string(), ino);
                    }
                    ino
                }
            };
            dir = ino;
        }
    }

    /// Makes fsync of a file do nothing (it still succeeds): a broken disk, for testing that
    /// the checker notices.
    pub(crate) fn ignore_fsync(&mut self, ignore: bool) {
        self.ignore_fsync = ignore;
    }

    /// The counters so far.
    pub(crate) fn stats(&self) -> DiskStats {
        self.stats
    }

    /// True once the power was cut.
    pub(crate) fn is_cut(&self) -> bool {
        self.cut.is_some()
    }

    /// Cuts the power now (if not cut already) and returns what survived.
    pub(crate) fn cut_now(&mut self) -> Image {
        if self.cut.is_none() {
            let image = self.durable_image();
            self.cut = Some(image);
        }
        self.cut.clone().unwrap_or_default()
    }

    /// Counts one changing operation; `Err(EIO)` once the power is off (this operation is the
    /// first not to happen when it reaches the cut point).
    fn tick(&mut self) -> Result<(), Errno> {
        if self.cut.is_some() {
            return Err(Errno::EIO);
        }
        self.stats.ops += 1;
        if self.cut_at.is_some_and(|at| self.stats.ops >= at) {
            self.cut_now();
            return Err(Errno::EIO);
        }
        Ok(())
    }

    fn alive(&self) -> Result<(), Errno> {
        if self.cut.is_some() {
            Err(Errno::EIO)
        } else {
            Ok(())
        }
    }

    fn node(&self, ino: u64) -> Result<&Node, Errno> {
        self.nodes.get(&ino).ok_or(Errno::ENOENT)
    }

    fn dir(&self, ino: u64) -> Result<&DirNode, Errno> {
        match &self.node(ino)?.body {
            Body::Dir(d) => Ok(d),
            Body::File(_) => Err(Errno::ENOTDIR),
        }
    }

    fn dir_mut(&mut self, ino: u64) -> Result<&mut DirNode, Errno> {
        match &mut self.nodes.get_mut(&ino).ok_or(Errno::ENOENT)?.body {
            Body::Dir(d) => Ok(d),
            Body::File(_) => Err(Errno::ENOTDIR),
        }
    }

    fn file_mut(&mut self, ino: u64) -> Result<&mut FileNode, Errno> {
        let node = self.nodes.get_mut(&ino).ok_or(Errno::ENOENT)?;
        node.mtime = SystemTime::now();
        match &mut node.body {
            Body::File(f) => Ok(f),
            Body::Dir(_) => Err(Errno::EISDIR),
        }
    }

    /// What `stat` says of `ino`.
    pub(crate) fn attr(&self, ino: u64) -> Result<Attr, Errno> {
        self.alive()?;
        let node = self.node(ino)?;
        let (kind, len) = match &node.body {
            Body::File(f) => (Kind::File, f.live.len()),
            Body::Dir(_) => (Kind::Dir, 0),
        };
        Ok(Attr {
            ino,
            kind,
            len,
            perm: node.perm,
            mtime: node.mtime,
        })
    }

    /// The inode named `name` in directory `parent`.
    pub(crate) fn lookup(&self, parent: u64, name: &OsStr) -> Result<Attr, Errno> {
        self.alive()?;
        let ino = *self.dir(parent)?.live.get(name).ok_or(Errno::ENOENT)?;
        self.attr(ino)
    }

    /// Creates a file or directory `name` in `parent`.
    pub(crate) fn create(
        &mut self,
        parent: u64,
        name: &OsStr,
        kind: Kind,
        perm: u16,
    ) -> Result<Attr, Errno> {
        self.tick()?;
        if self.dir(parent)?.live.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        let ino = self.next_ino;
        self.next_ino += 1;
        let mut node = match kind {
            Kind::File => Node {
                body: Body::File(FileNode::default()),
                perm,
                mtime: SystemTime::now(),
            },
            Kind::Dir => dir_node(parent),
        };
        node.perm = perm;
        self.nodes.insert(ino, node);
        self.dir_mut(parent)?.live.insert(name.to_os_string(), ino);
        self.attr(ino)
    }

    /// Removes the live entry `name` from `parent`: a file (`Kind::File`) or an empty
    /// directory (`Kind::Dir`).
    pub(crate) fn remove(&mut self, parent: u64, name: &OsStr, kind: Kind) -> Result<(), Errno> {
        self.tick()?;
        let ino = *self.dir(parent)?.live.get(name).ok_or(Errno::ENOENT)?;
        match (&self.node(ino)?.body, kind) {
            (Body::File(_), Kind::Dir) => return Err(Errno::ENOTDIR),
            (Body::Dir(_), Kind::File) => return Err(Errno::EISDIR),
            (Body::Dir(d), Kind::Dir) if !d.live.is_empty() => return Err(Errno::ENOTEMPTY),
            _ => {}
        }
        self.dir_mut(parent)?.live.remove(name);
        Ok(())
    }

    /// Renames `parent/name` to `new_parent/new_name`, replacing a file or an empty directory
    /// there unless `no_replace`.
    pub(crate) fn rename(
        &mut self,
        parent: u64,
        name: &OsStr,
        new_parent: u64,
        new_name: &OsStr,
        no_replace: bool,
    ) -> Result<(), Errno> {
        self.tick()?;
        let ino = *self.dir(parent)?.live.get(name).ok_or(Errno::ENOENT)?;
        self.dir(new_parent)?;
        let moving_dir = matches!(self.node(ino)?.body, Body::Dir(_));
        if let Some(&old) = self.dir(new_parent)?.live.get(new_name) {
            if old == ino {
                return Ok(());
            }
            if no_replace {
                return Err(Errno::EEXIST);
            }
            match (&self.node(old)?.body, moving_dir) {
                (Body::Dir(_), false) => return Err(Errno::EISDIR),
                (Body::File(_), true) => return Err(Errno::ENOTDIR),
                (Body::Dir(d), true) if !d.live.is_empty() => return Err(Errno::ENOTEMPTY),
                _ => {}
            }
        }
        self.dir_mut(parent)?.live.remove(name);
        self.dir_mut(new_parent)?
            .live
            .insert(new_name.to_os_string(), ino);
        if moving_dir {
            self.dir_mut(ino)?.parent = new_parent;
        }
        Ok(())
    }

    /// The live entries of directory `ino`, `.` and `..` first.
    pub(crate) fn entries(&self, ino: u64) -> Result<Vec<(u64, Kind, OsString)>, Errno> {
        self.alive()?;
        let dir = self.dir(ino)?;
        let mut out = vec![
            (ino, Kind::Dir, OsString::from(".")),
            (dir.parent, Kind::Dir, OsString::from("..")),
        ];
        for (name, &child) in &dir.live {
            out.push((child, self.attr(child)?.kind, name.clone()));
        }
        Ok(out)
    }

    /// Up to `size` bytes of file `ino` from `offset`.
    pub(crate) fn read(&self, ino: u64, offset: u64, size: u64) -> Result<Vec<u8>, Errno> {
        self.alive()?;
        match &self.node(ino)?.body {
            Body::File(f) => Ok(f.live.read(offset, size)),
            Body::Dir(_) => Err(Errno::EISDIR),
        }
    }

    /// Writes `data` at `offset` of file `ino`.
    pub(crate) fn write(&mut self, ino: u64, offset: u64, data: &[u8]) -> Result<(), Errno> {
        self.tick()?;
        self.stats.writes += 1;
        let file = self.file_mut(ino)?;
        let touched = file.live.write(offset, data);
        file.dirty.extend(touched);
        Ok(())
    }

    /// Sets the length of file `ino`.
    pub(crate) fn set_len(&mut self, ino: u64, len: u64) -> Result<(), Errno> {
        self.tick()?;
        let file = self.file_mut(ino)?;
        let changed = file.live.set_len(len);
        file.dirty.extend(changed);
        Ok(())
    }

    /// Sets the permission bits of `ino` (not a change the cut point counts).
    pub(crate) fn set_perm(&mut self, ino: u64, perm: u16) -> Result<(), Errno> {
        self.alive()?;
        self.nodes.get_mut(&ino).ok_or(Errno::ENOENT)?.perm = perm;
        Ok(())
    }

    /// fsync of `ino`: a file's bytes and length, or a directory's entries, become durable.
    pub(crate) fn fsync(&mut self, ino: u64) -> Result<(), Errno> {
        self.tick()?;
        match &mut self.nodes.get_mut(&ino).ok_or(Errno::ENOENT)?.body {
            Body::File(_) if self.ignore_fsync => {}
            Body::File(f) => {
                self.stats.fsyncs += 1;
                for index in std::mem::take(&mut f.dirty) {
                    f.durable.put_page(index, f.live.page(index));
                }
                f.durable.force_len(f.live.len());
            }
            Body::Dir(d) => {
                self.stats.dir_fsyncs += 1;
                d.durable = d.live.clone();
            }
        }
        Ok(())
    }

    /// The durable tree (torn mode: plus some of what was not synced), counting what the cut
    /// loses.
    fn durable_image(&mut self) -> Image {
        let mut image = Image::default();
        let mut torn = self.torn.take();
        let mut stats = self.stats;
        let mut stack = vec![(ROOT, PathBuf::new())];
        let mut seen = BTreeSet::new();
        while let Some((dir, path)) = stack.pop() {
            if !seen.insert(dir) {
                continue;
            }
            let Some(Node {
                body: Body::Dir(d), ..
            }) = self.nodes.get(&dir)
            else {
                continue;
            };
            stats.entries_lost_at_cut += d
                .live
                .iter()
                .filter(|(name, ino)| d.durable.get(*name) != Some(ino))
                .count() as u64;
            for (name, &ino) in &d.durable {
                let child = path.join(name);
                match self.nodes.get(&ino).map(|n| &n.body) {
                    Some(Body::Dir(_)) => {
                        image.dirs.insert(child.clone());
                        stack.push((ino, child));
                    }
                    Some(Body::File(f)) => {
                        stats.dirty_pages_at_cut += f.dirty.len() as u64;
                        let content = match torn.as_mut() {
                            Some(rng) => tear(f, rng),
                            None => f.durable.clone(),
                        };
                        image.files.insert(child, content);
                    }
                    None => {}
                }
            }
        }
        self.torn = torn;
        self.stats = stats;
        image
    }
}

/// The durable content of `f` with a random part of its unsynced pages and length.
fn tear(f: &FileNode, rng: &mut Rng) -> Content {
    let mut out = f.durable.clone();
    let len = if rng.coin() {
        f.live.len()
    } else {
        f.durable.len()
    };
    for &index in &f.dirty {
        let mut page = out
            .page(index)
            .map_or_else(|| vec![0u8; PAGE as usize], <[u8]>::to_vec);
        let live = f.live.page(index);
        for s in 0..(PAGE as usize / SECTOR) {
            if rng.coin() {
                let range = s * SECTOR..(s + 1) * SECTOR;
                match live {
                    Some(l) => page[range.clone()].copy_from_slice(&l[range]),
                    None => page[range].fill(0),
                }
            }
        }
        out.put_page(index, Some(&page));
    }
    out.force_len(len);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> &OsStr {
        OsStr::new(s)
    }

    fn file(image: &Image, path: &str) -> Option<Vec<u8>> {
        image
            .files
            .get(&PathBuf::from(path))
            .map(|c| c.read(0, u64::MAX))
    }

    #[test]
    fn only_what_an_fsync_covered_survives_the_cut() {
        let mut disk = Disk::new(&Image::default(), None, None);
        let dir = disk.create(ROOT, name("d"), Kind::Dir, 0o755).unwrap().ino;
        let f = disk.create(dir, name("f"), Kind::File, 0o644).unwrap().ino;
        disk.write(f, 0, b"synced").unwrap();
        disk.fsync(f).unwrap();
        disk.write(f, 6, b" and not").unwrap();
        assert_eq!(disk.read(f, 0, 100).unwrap(), b"synced and not");
        // Neither `d` nor `f` was made durable in its directory: both vanish.
        let image = Disk::new(&Image::default(), None, None).cut_now();
        assert!(image.files.is_empty());
        let mut snapshot = disk.durable_image();
        assert!(snapshot.files.is_empty() && snapshot.dirs.is_empty());
        disk.fsync(ROOT).unwrap();
        disk.fsync(dir).unwrap();
        snapshot = disk.cut_now();
        assert_eq!(file(&snapshot, "d/f").as_deref(), Some(&b"synced"[..]));
        assert!(disk.is_cut());
        assert_eq!(disk.write(f, 0, b"x"), Err(Errno::EIO));
        assert_eq!(disk.read(f, 0, 1), Err(Errno::EIO));
    }

    #[test]
    fn a_rename_needs_its_directory_synced_and_an_unlinked_file_stays_durable() {
        let mut image = Image::default();
        image
            .files
            .insert("old".into(), Content::from_bytes(b"old"));
        let mut disk = Disk::new(&image, None, None);
        let tmp = disk
            .create(ROOT, name("tmp"), Kind::File, 0o644)
            .unwrap()
            .ino;
        disk.write(tmp, 0, b"new").unwrap();
        disk.fsync(tmp).unwrap();
        disk.rename(ROOT, name("tmp"), ROOT, name("old"), false)
            .unwrap();
        assert_eq!(disk.lookup(ROOT, name("old")).unwrap().ino, tmp);
        let mut before = Disk::new(&image, None, None);
        assert_eq!(file(&before.cut_now(), "old").as_deref(), Some(&b"old"[..]));
        // Not synced: the old name and the old content.
        let cut = disk.durable_image();
        assert_eq!(file(&cut, "old").as_deref(), Some(&b"old"[..]));
        assert_eq!(file(&cut, "tmp"), None);
        disk.fsync(ROOT).unwrap();
        let cut = disk.durable_image();
        assert_eq!(file(&cut, "old").as_deref(), Some(&b"new"[..]));
        disk.remove(ROOT, name("old"), Kind::File).unwrap();
        assert!(disk.lookup(ROOT, name("old")).is_err());
        assert_eq!(
            file(&disk.durable_image(), "old").as_deref(),
            Some(&b"new"[..]),
            "the unlink is not durable yet"
        );
    }

    #[test]
    fn truncation_is_durable_only_when_synced_and_the_cut_point_counts_changes() {
        let mut disk = Disk::new(&Image::default(), Some(6), None);
        let f = disk.create(ROOT, name("f"), Kind::File, 0o644).unwrap().ino; // 1
        disk.fsync(ROOT).unwrap(); // 2
        disk.write(f, 0, &[1u8; 9000]).unwrap(); // 3
        disk.fsync(f).unwrap(); // 4
        disk.set_len(f, 100).unwrap(); // 5
        assert_eq!(disk.attr(f).unwrap().len, 100);
        assert_eq!(disk.lookup(ROOT, name("f")).unwrap().len, 100);
        assert_eq!(disk.fsync(f), Err(Errno::EIO)); // 6: the power is off
        let image = disk.cut_now();
        assert_eq!(file(&image, "f"), Some(vec![1u8; 9000]));
        assert_eq!(disk.stats().ops, 6);
    }

    #[test]
    fn torn_mode_keeps_everything_synced_and_some_of_the_rest() {
        let mut kept_some = false;
        for seed in 0..20 {
            let mut disk = Disk::new(&Image::default(), None, Some(seed));
            let f = disk.create(ROOT, name("f"), Kind::File, 0o644).unwrap().ino;
            disk.fsync(ROOT).unwrap();
            disk.write(f, 0, &[1u8; 5000]).unwrap();
            disk.fsync(f).unwrap();
            disk.write(f, 5000, &[2u8; 5000]).unwrap();
            let image = disk.cut_now();
            let bytes = file(&image, "f").unwrap();
            assert_eq!(&bytes[..5000], &[1u8; 5000][..], "seed {seed}");
            assert!(bytes.len() == 5000 || bytes.len() == 10_000);
            kept_some |= bytes[5000..].contains(&2);
            assert!(bytes[5000..].iter().all(|b| *b == 0 || *b == 2));
        }
        assert!(kept_some);
    }
}
