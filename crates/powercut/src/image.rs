//! [`Image`]: a directory tree in memory, as a power cut left it; written to a real directory,
//! sparsely.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::content::{Content, PAGE};

/// Directories and files by path relative to the root (the root itself is implied).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Image {
    /// Every directory.
    pub(crate) dirs: BTreeSet<PathBuf>,
    /// Every file and its content.
    pub(crate) files: BTreeMap<PathBuf, Content>,
}

impl Image {
    /// Writes the tree under `root` (which must not exist yet, or be empty).
    pub(crate) fn save(&self, root: &Path) -> io::Result<()> {
        std::fs::create_dir_all(root)?;
        for dir in &self.dirs {
            std::fs::create_dir_all(root.join(dir))?;
        }
        for (path, content) in &self.files {
            let file = File::create(root.join(path))?;
            for (index, page) in content.pages() {
                let start = index * PAGE;
                let end = content.len().min(start + PAGE);
                if end > start {
                    file.write_all_at(&page[..(end - start) as usize], start)?;
                }
            }
            file.set_len(content.len())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_image_round_trips_through_a_directory() {
        let mut image = Image::default();
        image.dirs.insert("a".into());
        image.dirs.insert("a/b".into());
        let mut sparse = Content::default();
        sparse.write(10_000, b"end");
        sparse.set_len(1 << 20);
        image.files.insert("a/b/f".into(), sparse);
        image.files.insert("top".into(), Content::from_bytes(b"x"));
        image.files.insert("a/empty".into(), Content::default());
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("img");
        image.save(&root).unwrap();
        assert!(root.join("a/b").is_dir());
        assert_eq!(std::fs::read(root.join("top")).unwrap(), b"x");
        assert!(std::fs::read(root.join("a/empty")).unwrap().is_empty());
        let big = std::fs::read(root.join("a/b/f")).unwrap();
        assert_eq!(big.len(), 1 << 20);
        assert_eq!(
            Content::from_bytes(&big),
            image.files[&PathBuf::from("a/b/f")]
        );
    }
}
