//! The data directory's lock: one broker per directory.
//!
//! `LOCK` in the data directory is locked exclusively (`flock` through `fs4`) for as long as
//! the store is open. The lock belongs to the open file, so a second open in the same process
//! fails just as one in another process does, and the operating system releases it if the
//! process dies, so a stale `LOCK` file never blocks a restart.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use fs4::fs_std::FileExt;

use crate::error::StoreError;

/// The held lock; released when dropped (the file is closed).
#[derive(Debug)]
pub(crate) struct DirLock {
    _file: File,
}

impl DirLock {
    /// Locks `dir/LOCK`, creating it if needed.
    pub(crate) fn take(dir: &Path) -> Result<Self, StoreError> {
        let path: PathBuf = dir.join("LOCK");
        let io = |what, source| StoreError::Io {
            what,
            path: path.clone(),
            source,
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| io("open lock file", e))?;
        match FileExt::try_lock_exclusive(&file) {
            Ok(true) => Ok(Self { _file: file }),
            Ok(false) => Err(StoreError::Locked { path }),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                Err(StoreError::Locked { path })
            }
            Err(e) => Err(io("lock", e)),
        }
    }
}
