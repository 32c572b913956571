//! A password file kept line by line, to change some users and write the rest back as it was.

use super::hash::{HashAlgorithm, PasswordHash};
use super::line::{self, validate_username, LineProblem, PasswordFileError, UsernameError};
use super::{check_size, line_error, read_bounded};
use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use zeroize::Zeroize as _;

/// A password file as lines, for `starling passwd`: setting or removing a user changes that
/// user's line only; comments, blank lines, other users and their order are kept verbatim.
///
/// Reading checks the structure (`username:password` on each line that is not blank or a
/// comment, no username twice) but not the hashes: a plain-text password is what
/// [`hash_plain_text`](Self::hash_plain_text) converts, and a damaged hash can still be
/// replaced or removed. Its `Debug` shows the number of lines only.
#[derive(Clone, Default)]
pub struct EditablePasswordFile {
    lines: Vec<Line>,
}

#[derive(Clone)]
enum Line {
    /// Blank or a comment.
    Other(String),
    /// `username:password`; `text` is the whole line, as read or as written by `set`.
    User { username: String, text: String },
}

impl EditablePasswordFile {
    /// An empty file (what `starling passwd -c` starts from).
    pub fn new() -> EditablePasswordFile {
        EditablePasswordFile::default()
    }

    /// Reads the file at `path`, within the same bounds as [`PasswordFile::load`](super::PasswordFile::load).
    pub fn load(path: &Path) -> Result<EditablePasswordFile, PasswordFileError> {
        let mut text = read_bounded(path)?;
        let file = Self::parse(&text, path);
        text.zeroize();
        file
    }

    /// Parses the text of a password file; `path` is for the error messages.
    pub fn parse(text: &str, path: &Path) -> Result<EditablePasswordFile, PasswordFileError> {
        check_size(text, path)?;
        let mut lines = Vec::new();
        let mut first_lines = HashMap::new();
        for (number, raw) in line::numbered(text) {
            let error = |problem| line_error(path, number, problem);
            let Some(user) = line::split(raw).map_err(error)? else {
                lines.push(Line::Other(raw.to_owned()));
                continue;
            };
            if let Some(&first) = first_lines.get(user.username) {
                let username = user.username.to_owned();
                return Err(error(LineProblem::Duplicate { username, first }));
            }
            first_lines.insert(user.username, number);
            lines.push(Line::User {
                username: user.username.to_owned(),
                text: raw.to_owned(),
            });
        }
        Ok(EditablePasswordFile { lines })
    }

    /// The usernames, in file order.
    pub fn usernames(&self) -> impl Iterator<Item = &str> {
        self.lines.iter().filter_map(|line| match line {
            Line::User { username, .. } => Some(username.as_str()),
            Line::Other(_) => None,
        })
    }

    /// Whether the file has `username`.
    pub fn contains(&self, username: &str) -> bool {
        self.position(username).is_some()
    }

    /// Gives `username` the password `hash`: its line is replaced where it is, or a line is
    /// added at the end for a new user.
    pub fn set(&mut self, username: &str, hash: &PasswordHash) -> Result<(), UsernameError> {
        validate_username(username)?;
        let text = format!("{username}:{}", hash.encode());
        match self.position(username) {
            Some(index) => replace_text(&mut self.lines[index], text),
            None => self.lines.push(Line::User {
                username: username.to_owned(),
                text,
            }),
        }
        Ok(())
    }

    /// Removes `username`'s line; `false` if there was none.
    pub fn remove(&mut self, username: &str) -> bool {
        let Some(index) = self.position(username) else {
            return false;
        };
        if let Line::User { mut text, .. } = self.lines.remove(index) {
            text.zeroize();
        }
        true
    }

    /// Hashes every plain-text password with `algorithm` (`starling passwd -U`) and returns
    /// how many it hashed. A line that is already a hash (`$6$` or `$7$`) is kept as it is,
    /// so converting twice changes nothing; one that starts like a hash but is not a valid
    /// one is an error (line numbers are those of the file as read; `path` is for the
    /// message). A plain-text password is everything after the first `:`, blanks trimmed.
    pub fn hash_plain_text(
        &mut self,
        algorithm: HashAlgorithm,
        path: &Path,
    ) -> Result<usize, PasswordFileError> {
        let mut hashed = Vec::new();
        for (index, line) in self.lines.iter().enumerate() {
            let Line::User { username, text } = line else {
                continue;
            };
            let Some(user) = line::split(text).map_err(|p| line_error(path, index + 1, p))? else {
                continue;
            };
            if looks_hashed(user.password) {
                PasswordHash::parse(user.password)
                    .map_err(|problem| line_error(path, index + 1, problem.into()))?;
                continue;
            }
            let hash = PasswordHash::generate(user.password.as_bytes(), algorithm);
            hashed.push((index, format!("{username}:{}", hash.encode())));
        }
        let count = hashed.len();
        for (index, text) in hashed {
            replace_text(&mut self.lines[index], text);
        }
        Ok(count)
    }

    /// The file's text: each line followed by `\n`.
    pub fn to_text(&self) -> String {
        let mut text = String::new();
        for line in &self.lines {
            let (Line::Other(line) | Line::User { text: line, .. }) = line;
            text.push_str(line);
            text.push('\n');
        }
        text
    }

    fn position(&self, username: &str) -> Option<usize> {
        self.lines
            .iter()
            .position(|line| matches!(line, Line::User { username: u, .. } if u == username))
    }
}

impl fmt::Debug for EditablePasswordFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EditablePasswordFile")
            .field("lines", &self.lines.len())
            .finish()
    }
}

impl Drop for EditablePasswordFile {
    /// Wipes the lines: some may hold plain-text passwords.
    fn drop(&mut self) {
        for line in &mut self.lines {
            let (Line::Other(text) | Line::User { text, .. }) = line;
            text.zeroize();
        }
    }
}

/// Whether a password field claims to be a hash Mosquitto knows.
fn looks_hashed(password: &str) -> bool {
    password.starts_with("$6$") || password.starts_with("$7$")
}

/// Replaces a user line's text, wiping the old one (it may hold a plain-text password).
fn replace_text(line: &mut Line, new: String) {
    if let Line::User { text, .. } = line {
        text.zeroize();
        *text = new;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::password_file::PasswordFile;

    const PATH: &str = "/etc/starling/passwd";

    fn parse(text: &str) -> EditablePasswordFile {
        EditablePasswordFile::parse(text, Path::new(PATH)).expect("a valid file")
    }

    fn hash(password: &str) -> PasswordHash {
        PasswordHash::generate(password.as_bytes(), HashAlgorithm::default())
    }

    fn verify(file: &EditablePasswordFile, username: &str, password: &str) -> Option<bool> {
        let file = PasswordFile::parse(&file.to_text(), Path::new(PATH)).expect("loads");
        file.verify(username, password.as_bytes())
    }

    #[test]
    fn set_replaces_in_place_and_appends_new_users() {
        let a = hash("a");
        let text = format!("# users\nalice:{}\n\nbob:{}\n", a.encode(), a.encode());
        let mut file = parse(&text);
        assert_eq!(file.to_text(), text, "unchanged, verbatim");
        file.set("alice", &hash("new")).expect("valid name");
        file.set("carol", &hash("c")).expect("valid name");
        assert_eq!(
            file.usernames().collect::<Vec<_>>(),
            ["alice", "bob", "carol"]
        );
        let out = file.to_text();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "# users");
        assert!(lines[1].starts_with("alice:$7$101$"));
        assert_eq!(lines[2], "");
        assert_eq!(lines[3], format!("bob:{}", a.encode()));
        assert!(lines[4].starts_with("carol:$7$101$"));
        assert_eq!(verify(&file, "alice", "new"), Some(true));
        assert_eq!(verify(&file, "alice", "a"), Some(false));
        assert_eq!(verify(&file, "bob", "a"), Some(true));
        assert_eq!(verify(&file, "carol", "c"), Some(true));
    }

    #[test]
    fn set_refuses_usernames_that_would_not_read_back() {
        let mut file = EditablePasswordFile::new();
        assert_eq!(file.set("a:b", &hash("x")), Err(UsernameError::Colon));
        assert_eq!(file.to_text(), "");
    }

    #[test]
    fn remove() {
        let mut file = parse("a:x\nb:y\nc:z");
        assert!(file.remove("b"));
        assert!(!file.remove("b"));
        assert_eq!(file.to_text(), "a:x\nc:z\n");
    }

    #[test]
    fn hash_plain_text_keeps_hashes_and_comments() {
        let kept = hash("kept").encode();
        let text = format!("# plain\nalice:wonder land\r\nbob:{kept}\ncarol: pa:ss \n");
        let mut file = parse(&text);
        let path = Path::new(PATH);
        assert_eq!(
            file.hash_plain_text(HashAlgorithm::default(), path).ok(),
            Some(2)
        );
        let out = file.to_text();
        assert!(out.starts_with("# plain\nalice:$7$101$"), "{out}");
        assert!(out.contains(&format!("\nbob:{kept}\n")));
        assert!(!out.contains("wonder") && !out.contains("pa:ss"));
        assert_eq!(verify(&file, "alice", "wonder land"), Some(true));
        assert_eq!(verify(&file, "bob", "kept"), Some(true));
        assert_eq!(verify(&file, "carol", "pa:ss"), Some(true));
        assert_eq!(
            file.hash_plain_text(HashAlgorithm::default(), path).ok(),
            Some(0)
        );
        assert_eq!(file.to_text(), out, "a second conversion changes nothing");
    }

    #[test]
    fn hash_plain_text_refuses_a_damaged_hash() {
        let mut file = parse("alice:plain\nbob:$7$101$AAAA$BBBB\n");
        let error = file
            .hash_plain_text(HashAlgorithm::default(), Path::new(PATH))
            .expect_err("bob's hash is damaged");
        assert_eq!(
            error.to_string(),
            format!("password file {PATH}, line 2: the salt is 3 bytes, not 12")
        );
        assert_eq!(
            file.to_text(),
            "alice:plain\nbob:$7$101$AAAA$BBBB\n",
            "unchanged"
        );
    }

    #[test]
    fn structure_is_checked_but_not_hashes() {
        assert!(EditablePasswordFile::parse("a:plain\nb:$7$junk", Path::new(PATH)).is_ok());
        let error =
            EditablePasswordFile::parse("a:x\n\nnocolon\n", Path::new(PATH)).expect_err("line 3");
        assert_eq!(
            error.to_string(),
            format!("password file {PATH}, line 3: no ':' between the username and the password")
        );
        let error = EditablePasswordFile::parse("a:x\na:y\n", Path::new(PATH)).expect_err("twice");
        assert!(error
            .to_string()
            .ends_with("line 2: user \"a\" is already on line 1"));
    }
}
