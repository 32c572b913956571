//! The data directory on disk: creating it so that it survives a power cut, and making what
//! was created in it durable.
//!
//! A new directory entry is on disk only once its directory is fsynced (POSIX promises no
//! more, and the power-cut test in `crates/powercut` holds the store to exactly that). The
//! engine fsyncs what it creates inside `store/`, but not the entry of `store/` itself, and
//! `create_dir_all` fsyncs nothing: without these fsyncs a power cut soon after the first start
//! could lose the whole data directory, acknowledged messages and all.

use std::fs::File;
use std::io;
use std::path::Path;

/// Creates `dir` and any missing parents, fsyncing the parent of each directory created.
pub(crate) fn create(dir: &Path) -> io::Result<()> {
    let mut missing = Vec::new();
    let mut at = Some(dir);
    while let Some(path) = at {
        if path.as_os_str().is_empty() || path.exists() {
            break;
        }
        missing.push(path);
        at = path.parent();
    }
    std::fs::create_dir_all(dir)?;
    for created in missing.iter().rev() {
        sync(parent_of(created))?;
    }
    Ok(())
}

/// fsyncs the directory `dir`, so that the entries created, renamed or removed in it are on
/// disk.
pub(crate) fn sync(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_parents_are_created_and_an_existing_directory_is_fine() {
        let base = tempfile::tempdir().unwrap();
        let deep = base.path().join("a/b/c");
        create(&deep).unwrap();
        assert!(deep.is_dir());
        create(&deep).unwrap();
        sync(&deep).unwrap();
        assert_eq!(parent_of(Path::new("data")), Path::new("."));
        assert_eq!(parent_of(Path::new("/x/y")), Path::new("/x"));
    }
}
