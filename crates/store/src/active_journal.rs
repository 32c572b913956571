//! An fsync of fjall's journal that does not take fjall's journal lock.
//!
//! `Database::persist` fsyncs while holding the journal writer's mutex, and every commit takes
//! that mutex to append. With one fsync always in flight (group commit under load), each commit
//! then waited up to a whole fsync before it could write: the broker's worker thread sat idle
//! in the mutex, and persistent fan-in was bound by the disk's latency, not by CPU.
//!
//! Here the sync thread fsyncs the newest journal file through its own file handle, so commits
//! go on appending while the disk works. Why that covers every commit that finished before the
//! fsync began:
//!
//! - every commit flushes its bytes to the OS before it returns (`PersistMode::Buffer`), so
//!   they are in the file's page cache, and an fsync on any handle of the file writes them;
//! - fjall writes to one journal at a time, `<n>.jnl` with `n` growing, and seals a journal by
//!   fsyncing it (`Writer::rotate`, `SyncAll`) *before* it creates `<n+1>.jnl`;
//! - so once a commit has finished, its bytes are in the journal that was the newest then, or
//!   in an older one, and by the time a newer journal exists that one has been fsynced. The
//!   newest journal listed after the commit finished is therefore the only one that may still
//!   hold unsynced bytes of it, and that is the one synced here.
//!
//! A journal deleted after its memtables were flushed may still be open here; an fsync of it
//! is harmless, and the handle is replaced by the next listing.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// The sync thread's handle on the newest journal.
pub(crate) struct ActiveJournal {
    dir: PathBuf,
    open: Option<(u64, File)>,
}

impl ActiveJournal {
    /// For the fjall database in `dir` (the directory holding `<n>.jnl`).
    pub(crate) fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            open: None,
        }
    }

    /// fsyncs the newest journal (data and metadata, as fjall's own `SyncAll`). Every commit
    /// that finished before this call is durable when it returns `Ok`.
    pub(crate) fn sync(&mut self) -> io::Result<()> {
        let newest = newest_journal(&self.dir)?;
        let Some(newest) = newest else {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("no journal in {}", self.dir.display()),
            ));
        };
        let file = match &self.open {
            Some((id, file)) if *id == newest => file,
            _ => {
                let file = File::open(self.dir.join(format!("{newest}.jnl")))?;
                &self.open.insert((newest, file)).1
            }
        };
        file.sync_all()
    }
}

/// The highest `n` of the `<n>.jnl` files in `dir`.
fn newest_journal(dir: &Path) -> io::Result<Option<u64>> {
    let mut newest = None;
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name();
        let id = name
            .to_str()
            .and_then(|n| n.strip_suffix(".jnl"))
            .and_then(|n| n.parse::<u64>().ok());
        if let Some(id) = id {
            newest = newest.max(Some(id));
        }
    }
    Ok(newest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_journal_is_the_highest_number_not_the_latest_name() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["2.jnl", "10.jnl", "9.jnl", "lock", "version", "11.jnl.tmp"] {
            File::create(dir.path().join(name)).unwrap();
        }
        assert_eq!(newest_journal(dir.path()).unwrap(), Some(10));
        let mut active = ActiveJournal::new(dir.path());
        active.sync().unwrap();
        assert_eq!(active.open.as_ref().map(|(id, _)| *id), Some(10));
        File::create(dir.path().join("11.jnl")).unwrap();
        active.sync().unwrap();
        assert_eq!(active.open.as_ref().map(|(id, _)| *id), Some(11));
    }

    #[test]
    fn a_directory_without_a_journal_is_an_error_not_a_silent_success() {
        let dir = tempfile::tempdir().unwrap();
        assert!(ActiveJournal::new(dir.path()).sync().is_err());
    }
}
