//! A rule or password file held in memory, swapped whole when the file changes.
//!
//! Connections read the current version without a lock ([`ArcSwap`]); a reload that fails
//! (the file is gone, or has a bad line) keeps the version in force, and says why.

use arc_swap::ArcSwap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

/// What identifies a version of a file on disk: its modification time and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
}

impl Stamp {
    fn of(path: &Path) -> Option<Stamp> {
        let meta = std::fs::metadata(path).ok()?;
        Some(Stamp {
            modified: meta.modified().ok(),
            len: meta.len(),
        })
    }
}

struct Loaded<T> {
    stamp: Option<Stamp>,
    value: Arc<T>,
}

/// A file's parsed contents, reloadable.
pub(crate) struct Reloadable<T> {
    path: PathBuf,
    current: ArcSwap<Loaded<T>>,
}

/// A reload that changed something, or tried to.
#[derive(Debug)]
pub struct Reloaded<E> {
    /// The file.
    pub path: PathBuf,
    /// The new version's size (rules, users), or why the old one stays.
    pub outcome: Result<usize, E>,
}

impl<E> Reloaded<E> {
    /// The same outcome with the error converted, for a caller that reloads several kinds.
    pub(crate) fn err_into<F: From<E>>(self) -> Reloaded<F> {
        Reloaded {
            path: self.path,
            outcome: self.outcome.map_err(F::from),
        }
    }
}

impl<T> Reloadable<T> {
    /// Loads `path` now; an error stops the broker's start.
    pub(crate) fn load<E>(path: &Path, load: impl Fn(&Path) -> Result<T, E>) -> Result<Self, E> {
        let stamp = Stamp::of(path);
        let value = load(path)?;
        Ok(Self {
            path: path.to_path_buf(),
            current: ArcSwap::from_pointee(Loaded {
                stamp,
                value: Arc::new(value),
            }),
        })
    }

    /// The version in force.
    pub(crate) fn get(&self) -> Arc<T> {
        Arc::clone(&self.current.load().value)
    }

    /// Loads the file again if it changed since the last load; `size` says how much a version
    /// holds, for the log.
    pub(crate) fn reload<E>(
        &self,
        load: impl Fn(&Path) -> Result<T, E>,
        size: impl Fn(&T) -> usize,
    ) -> Option<Reloaded<E>> {
        let stamp = Stamp::of(&self.path);
        if stamp == self.current.load().stamp {
            return None;
        }
        let outcome = match load(&self.path) {
            Ok(value) => {
                let n = size(&value);
                self.current.store(Arc::new(Loaded {
                    stamp,
                    value: Arc::new(value),
                }));
                Ok(n)
            }
            Err(error) => {
                // Not again until the file changes once more.
                let value = Arc::clone(&self.current.load().value);
                self.current.store(Arc::new(Loaded { stamp, value }));
                Err(error)
            }
        };
        Some(Reloaded {
            path: self.path.clone(),
            outcome,
        })
    }
}
