//! Mosquitto-compatible password files: reading them to authenticate, and editing them.
//!
//! # The format
//!
//! One user a line, `username:hash`, as Mosquitto 2's `mosquitto_passwd` writes it:
//!
//! ```text
//! # comments and blank lines are ignored
//! alice:$7$101$<base64 salt>$<base64 hash>
//! bob:$6$<base64 salt>$<base64 hash>
//! ```
//!
//! `$7$` is PBKDF2-HMAC-SHA512 with the given number of rounds, `$6$` the older salted SHA-512
//! ([`hash`] has the details). The username ends at the first `:`; blanks around the username
//! and the hash are trimmed, as Mosquitto's broker does, so a file written on Windows (`\r\n`)
//! reads the same. A line whose first non-blank character is `#` is a comment.
//!
//! # Strictness
//!
//! Mosquitto logs a bad line and drops that user; here a bad line makes the whole file an
//! error ([`PasswordFileError::Line`], with the file and the line number), so an operator sees
//! a typo at startup or reload rather than a user who can no longer connect. A plain-text
//! password is such an error too (Mosquitto built with TLS refuses it as well): `starling
//! passwd -U` hashes them. The same username twice is an error (Mosquitto's choice between
//! the two is an accident of its hash table). No message ever quotes a password or a hash.
//!
//! # Bounds
//!
//! The file is read only up to [`MAX_FILE_BYTES`], a line up to [`MAX_LINE_BYTES`], and a
//! `$7$` hash may ask for at most [`Iterations::MAX`] rounds, so that a mistaken or hostile
//! file can neither fill memory nor make each check take minutes. A check still costs real CPU
//! time (101 rounds: well under a millisecond; the maximum: seconds), so the broker calls
//! [`PasswordFile::verify`] off its async runtime.
//!
//! # Editing
//!
//! [`EditablePasswordFile`] keeps every line as it was, comments and order included, and
//! changes only the lines of the users it is told to set or remove, as `mosquitto_passwd`
//! does: it is what `starling passwd` uses. Plain-text passwords are accepted there, since
//! converting them is one of its jobs.

mod edit;
pub mod hash;
mod line;

pub use edit::EditablePasswordFile;
pub use hash::{hash_password, HashAlgorithm, HashProblem, Iterations, PasswordHash};
pub use line::{
    validate_username, LineProblem, PasswordFileError, UsernameError, MAX_FILE_BYTES,
    MAX_LINE_BYTES, MAX_USERNAME_BYTES,
};

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

/// The users of a password file and their password hashes, for authentication.
#[derive(Clone, Default)]
pub struct PasswordFile {
    users: HashMap<String, PasswordHash>,
}

impl PasswordFile {
    /// Reads and parses the file at `path` (see the module's doc for the format and bounds).
    pub fn load(path: &Path) -> Result<PasswordFile, PasswordFileError> {
        let text = read_bounded(path)?;
        Self::parse(&text, path)
    }

    /// Parses the text of a password file; `path` is for the error messages.
    pub fn parse(text: &str, path: &Path) -> Result<PasswordFile, PasswordFileError> {
        check_size(text, path)?;
        let mut users = HashMap::new();
        let mut first_lines = HashMap::new();
        for (number, raw) in line::numbered(text) {
            let error = |problem| line_error(path, number, problem);
            let Some(user) = line::split(raw).map_err(error)? else {
                continue;
            };
            if let Some(&first) = first_lines.get(user.username) {
                let username = user.username.to_owned();
                return Err(error(LineProblem::Duplicate { username, first }));
            }
            let hash = PasswordHash::parse(user.password).map_err(|p| error(p.into()))?;
            first_lines.insert(user.username, number);
            users.insert(user.username.to_owned(), hash);
        }
        Ok(PasswordFile { users })
    }

    /// How many users the file has.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether the file has no users.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// Whether the file has `username`.
    pub fn contains(&self, username: &str) -> bool {
        self.users.contains_key(username)
    }

    /// `None`: no such user ("not mine", for an authentication chain); `Some(true)`: the
    /// password is right; `Some(false)`: it is wrong. The hash is compared in constant time.
    /// CPU work (see the module's doc): async callers run it off the runtime.
    pub fn verify(&self, username: &str, password: &[u8]) -> Option<bool> {
        self.users.get(username).map(|hash| hash.verify(password))
    }
}

impl fmt::Debug for PasswordFile {
    /// The number of users only: neither names nor hashes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordFile")
            .field("users", &self.users.len())
            .finish()
    }
}

/// Reads `path` as UTF-8, refusing more than [`MAX_FILE_BYTES`].
fn read_bounded(path: &Path) -> Result<String, PasswordFileError> {
    let bytes = crate::bounded::read(path, MAX_FILE_BYTES)
        .map_err(|error| PasswordFileError::Io {
            path: path.to_owned(),
            error,
        })?
        .ok_or_else(|| too_large(path))?;
    String::from_utf8(bytes).map_err(|error| {
        let valid = &error.as_bytes()[..error.utf8_error().valid_up_to()];
        let number = valid.iter().filter(|&&b| b == b'\n').count() + 1;
        line_error(path, number, LineProblem::NotUtf8)
    })
}

fn check_size(text: &str, path: &Path) -> Result<(), PasswordFileError> {
    if text.len() as u64 > MAX_FILE_BYTES {
        Err(too_large(path))
    } else {
        Ok(())
    }
}

fn too_large(path: &Path) -> PasswordFileError {
    PasswordFileError::TooLarge {
        path: path.to_owned(),
        limit: MAX_FILE_BYTES,
    }
}

fn line_error(path: &Path, line: usize, problem: LineProblem) -> PasswordFileError {
    PasswordFileError::Line {
        path: path.to_owned(),
        line,
        problem,
    }
}

#[cfg(test)]
mod tests;
