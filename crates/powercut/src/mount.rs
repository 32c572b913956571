//! The FUSE side: [`Mount`] serves a [`Disk`] at a mount point (through `fuser`, which mounts
//! with the `mount` system call when run as root, so neither libfuse nor `fusermount` is
//! needed).
//!
//! Every file is opened with `FOPEN_DIRECT_IO` and every entry and attribute is given a time
//! to live of zero, so the kernel caches nothing: each `write` reaches the [`Disk`] before the
//! call returns, and each `fsync` is answered only once the [`Disk`] has made the data durable.

use std::ffi::OsStr;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use fuser::{
    BackgroundSession, Config, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags,
    Generation, INodeNo, LockOwner, MountOption, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate,
    ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request,
    SessionACL, TimeOrNow, WriteFlags,
};

use crate::disk::{Attr, Disk, Kind};

const TTL: Duration = Duration::ZERO;

/// The disk and a signal raised when its power is cut.
#[derive(Debug)]
pub(crate) struct Shared {
    disk: Mutex<Disk>,
    cut: Condvar,
}

impl Shared {
    /// Locks the disk.
    pub(crate) fn disk(&self) -> MutexGuard<'_, Disk> {
        self.disk.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until the power is cut or `done` says to stop waiting, at most `timeout`; true
    /// when it was cut.
    pub(crate) fn wait_cut(&self, timeout: Duration, done: impl Fn() -> bool) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        let mut disk = self.disk();
        loop {
            if disk.is_cut() {
                return true;
            }
            let now = std::time::Instant::now();
            if done() || now >= deadline {
                return false;
            }
            disk = self
                .cut
                .wait_timeout(disk, (deadline - now).min(Duration::from_millis(50)))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Wakes [`Shared::wait_cut`] (after an operation, or when the process it watches ends).
    pub(crate) fn notify(&self) {
        self.cut.notify_all();
    }
}

/// A mounted [`Disk`]; unmounted when dropped or by [`Mount::unmount`].
pub(crate) struct Mount {
    session: Option<BackgroundSession>,
    shared: Arc<Shared>,
}

impl Mount {
    /// Mounts `disk` at `at` (an empty directory).
    pub(crate) fn new(disk: Disk, at: &Path) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            disk: Mutex::new(disk),
            cut: Condvar::new(),
        });
        let mut config = Config::default();
        config.mount_options = vec![
            MountOption::FSName("powercut".to_owned()),
            MountOption::RW,
            MountOption::NoAtime,
        ];
        config.acl = SessionACL::Owner;
        config.n_threads = Some(1);
        let fs = PowerCutFs {
            shared: Arc::clone(&shared),
        };
        let session = fuser::spawn_mount(fs, at, &config)?;
        Ok(Self {
            session: Some(session),
            shared,
        })
    }

    /// The disk and its cut signal.
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Unmounts and waits for the session to end.
    pub(crate) fn unmount(mut self) -> std::io::Result<()> {
        match self.session.take() {
            Some(session) => session.umount_and_join(),
            None => Ok(()),
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if let Some(session) = self.session.take() {
            let _ = session.umount_and_join();
        }
    }
}

struct PowerCutFs {
    shared: Arc<Shared>,
}

fn file_attr(a: &Attr) -> FileAttr {
    let (kind, nlink) = match a.kind {
        Kind::File => (FileType::RegularFile, 1),
        Kind::Dir => (FileType::Directory, 2),
    };
    FileAttr {
        ino: INodeNo(a.ino),
        size: a.len,
        blocks: a.len.div_ceil(512),
        atime: a.mtime,
        mtime: a.mtime,
        ctime: a.mtime,
        crtime: a.mtime,
        kind,
        perm: a.perm,
        nlink,
        uid: 0,
        gid: 0,
        rdev: 0,
        blksize: 4096,
        flags: 0,
    }
}

fn file_type(kind: Kind) -> FileType {
    match kind {
        Kind::File => FileType::RegularFile,
        Kind::Dir => FileType::Directory,
    }
}

impl PowerCutFs {
    /// Runs `op` on the disk, then wakes whoever waits for the cut.
    fn with<T>(&self, op: impl FnOnce(&mut Disk) -> T) -> T {
        let out = op(&mut self.shared.disk());
        self.shared.notify();
        out
    }

    fn entry(&self, reply: ReplyEntry, attr: Result<Attr, Errno>) {
        match attr {
            Ok(a) => reply.entry(&TTL, &file_attr(&a), Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn empty(reply: ReplyEmpty, done: Result<(), Errno>) {
        match done {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }
}

impl Filesystem for PowerCutFs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let attr = self.with(|d| d.lookup(parent.0, name));
        self.entry(reply, attr);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.with(|d| d.attr(ino.0)) {
            Ok(a) => reply.attr(&TTL, &file_attr(&a)),
            Err(e) => reply.error(e),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let result = self.with(|d| {
            if let Some(len) = size {
                d.set_len(ino.0, len)?;
            }
            if let Some(mode) = mode {
                d.set_perm(ino.0, (mode & 0o7777) as u16)?;
            }
            d.attr(ino.0)
        });
        match result {
            Ok(a) => reply.attr(&TTL, &file_attr(&a)),
            Err(e) => reply.error(e),
        }
    }

    fn mknod(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        if mode & 0o170_000 != 0o100_000 {
            reply.error(Errno::EPERM);
            return;
        }
        let perm = (mode & !umask & 0o7777) as u16;
        let attr = self.with(|d| d.create(parent.0, name, Kind::File, perm));
        self.entry(reply, attr);
    }

    fn mkdir(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let perm = (mode & !umask & 0o7777) as u16;
        let attr = self.with(|d| d.create(parent.0, name, Kind::Dir, perm));
        self.entry(reply, attr);
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        Self::empty(reply, self.with(|d| d.remove(parent.0, name, Kind::File)));
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        Self::empty(reply, self.with(|d| d.remove(parent.0, name, Kind::Dir)));
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        if flags.intersects(RenameFlags::RENAME_EXCHANGE | RenameFlags::RENAME_WHITEOUT) {
            reply.error(Errno::EINVAL);
            return;
        }
        let no_replace = flags.contains(RenameFlags::RENAME_NOREPLACE);
        Self::empty(
            reply,
            self.with(|d| d.rename(parent.0, name, newparent.0, newname, no_replace)),
        );
    }

    fn open(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match self.with(|d| d.attr(ino.0)) {
            Ok(_) => reply.opened(FileHandle(0), FopenFlags::FOPEN_DIRECT_IO),
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        match self.with(|d| d.read(ino.0, offset, u64::from(size))) {
            Ok(bytes) => reply.data(&bytes),
            Err(e) => reply.error(e),
        }
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        match self.with(|d| d.write(ino.0, offset, data)) {
            Ok(()) => reply.written(data.len() as u32),
            Err(e) => reply.error(e),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        Self::empty(reply, self.with(|d| d.fsync(ino.0)));
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match self.with(|d| d.attr(ino.0)) {
            Ok(a) if a.kind == Kind::Dir => reply.opened(FileHandle(0), FopenFlags::empty()),
            Ok(_) => reply.error(Errno::ENOTDIR),
            Err(e) => reply.error(e),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        match self.with(|d| d.entries(ino.0)) {
            Ok(entries) => {
                for (i, (child, kind, name)) in entries.iter().enumerate().skip(offset as usize) {
                    if reply.add(INodeNo(*child), i as u64 + 1, file_type(*kind), name) {
                        break;
                    }
                }
                reply.ok();
            }
            Err(e) => reply.error(e),
        }
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        Self::empty(reply, self.with(|d| d.fsync(ino.0)));
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        reply.statfs(1 << 24, 1 << 24, 1 << 24, 1 << 20, 1 << 20, 4096, 255, 4096);
    }

    fn access(&self, _req: &Request, _ino: INodeNo, _mask: fuser::AccessFlags, reply: ReplyEmpty) {
        reply.ok();
    }

    fn create(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        let perm = (mode & !umask & 0o7777) as u16;
        match self.with(|d| d.create(parent.0, name, Kind::File, perm)) {
            Ok(a) => reply.created(
                &TTL,
                &file_attr(&a),
                Generation(0),
                FileHandle(0),
                FopenFlags::FOPEN_DIRECT_IO,
            ),
            Err(e) => reply.error(e),
        }
    }
}
