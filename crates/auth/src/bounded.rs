//! Reading a rule, key or password file with a size cap: a file the broker loads at start
//! and on every change must not be able to make it read (and hold) without bound.

use std::io::{self, Read};
use std::path::Path;

/// The bytes of `path`, at most `max` of them; `Ok(None)` when it holds more.
pub(crate) fn read(path: &Path, max: u64) -> io::Result<Option<Vec<u8>>> {
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(max.saturating_add(1)).read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= max).then_some(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_over_the_cap_is_none_and_one_at_it_is_read() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("f");
        std::fs::write(&path, b"12345").expect("write");
        assert_eq!(read(&path, 5).expect("read"), Some(b"12345".to_vec()));
        assert_eq!(read(&path, 4).expect("read"), None);
        assert!(read(&dir.path().join("missing"), 5).is_err());
    }
}
