//! One line of a password file, and what can be wrong with it or with the file.

use super::hash::HashProblem;
use std::io;
use std::path::PathBuf;

/// The largest file read: room for about 500,000 users (a `$7$` line is about 130 bytes),
/// small enough that a mistaken path cannot fill the broker's memory.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;
/// The longest line: room for an MQTT username of the maximum 65,535 bytes and a plain-text
/// password as long (what `mosquitto_passwd -U` accepts), or a hash.
pub const MAX_LINE_BYTES: usize = 128 * 1024;
/// The longest username: an MQTT UTF-8 string.
pub const MAX_USERNAME_BYTES: usize = 65_535;

/// Why a password file could not be read. The message names the file and, for a bad line,
/// its number; it never quotes a password or a hash.
#[derive(Debug, thiserror::Error)]
pub enum PasswordFileError {
    /// The file could not be opened or read. The message includes the system's (and
    /// `source()` is `None`, so that a chain of causes does not print it twice).
    #[error("password file {}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        error: io::Error,
    },
    /// The file is over [`MAX_FILE_BYTES`].
    #[error("password file {}: over {limit} bytes, refused", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit.
        limit: u64,
    },
    /// A line is malformed.
    #[error("password file {}, line {line}: {problem}", path.display())]
    Line {
        /// The file.
        path: PathBuf,
        /// 1-based.
        line: usize,
        /// What is wrong with it.
        problem: LineProblem,
    },
}

/// What is wrong with one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineProblem {
    /// Longer than [`MAX_LINE_BYTES`].
    #[error("the line is over {MAX_LINE_BYTES} bytes")]
    TooLong,
    /// Not UTF-8 (usernames are MQTT UTF-8 strings).
    #[error("the line is not valid UTF-8")]
    NotUtf8,
    /// No `:` between username and password.
    #[error("no ':' between the username and the password")]
    NoColon,
    /// Nothing before the `:`.
    #[error("the username is empty")]
    EmptyUsername,
    /// A username over [`MAX_USERNAME_BYTES`].
    #[error("the username is over {MAX_USERNAME_BYTES} bytes")]
    UsernameTooLong,
    /// Nothing after the `:`.
    #[error("the password is empty")]
    EmptyPassword,
    /// The password field is not a valid hash.
    #[error(transparent)]
    Hash(#[from] HashProblem),
    /// The username was already on an earlier line.
    #[error("user {username:?} is already on line {first}")]
    Duplicate {
        /// The username.
        username: String,
        /// Where it is first.
        first: usize,
    },
}

/// What a username must be for `starling passwd` to write it: one that a later read gives
/// back unchanged and that an MQTT client can send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsernameError {
    /// Empty.
    #[error("the username is empty")]
    Empty,
    /// Over [`MAX_USERNAME_BYTES`].
    #[error("the username must be at most {MAX_USERNAME_BYTES} bytes")]
    TooLong,
    /// Has a `:`, which ends the username in the file.
    #[error("the username must not contain ':'")]
    Colon,
    /// Has a control character (a newline would split the line).
    #[error("the username must not contain control characters")]
    Control,
    /// Starts or ends with blanks, which reading the file trims.
    #[error("the username must not start or end with blanks")]
    Blank,
    /// Starts with `#`, which makes the line a comment.
    #[error("the username must not start with '#'")]
    Hash,
}

/// Checks that `username` can be written to a password file and read back as it is.
pub fn validate_username(username: &str) -> Result<(), UsernameError> {
    if username.is_empty() {
        Err(UsernameError::Empty)
    } else if username.len() > MAX_USERNAME_BYTES {
        Err(UsernameError::TooLong)
    } else if username.contains(':') {
        Err(UsernameError::Colon)
    } else if username.chars().any(char::is_control) {
        Err(UsernameError::Control)
    } else if username.trim() != username {
        Err(UsernameError::Blank)
    } else if username.starts_with('#') {
        Err(UsernameError::Hash)
    } else {
        Ok(())
    }
}

/// A line that holds a user: the username and the password field, both trimmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct UserLine<'a> {
    pub(super) username: &'a str,
    pub(super) password: &'a str,
}

/// Splits one line (without its `\n`): `None` for a blank line or a `#` comment. The
/// username ends at the first `:`; blanks around either part are trimmed, as Mosquitto does.
pub(super) fn split(line: &str) -> Result<Option<UserLine<'_>>, LineProblem> {
    if line.len() > MAX_LINE_BYTES {
        return Err(LineProblem::TooLong);
    }
    let trimmed = line.trim();
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return Ok(None);
    }
    let (username, password) = trimmed.split_once(':').ok_or(LineProblem::NoColon)?;
    let (username, password) = (username.trim(), password.trim());
    if username.is_empty() {
        return Err(LineProblem::EmptyUsername);
    }
    if username.len() > MAX_USERNAME_BYTES {
        return Err(LineProblem::UsernameTooLong);
    }
    if password.is_empty() {
        return Err(LineProblem::EmptyPassword);
    }
    Ok(Some(UserLine { username, password }))
}

/// The lines of `text` with their 1-based numbers; a final line needs no `\n`.
pub(super) fn numbered(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split_terminator('\n')
        .enumerate()
        .map(|(index, line)| (index + 1, line))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user<'a>(username: &'a str, password: &'a str) -> Option<UserLine<'a>> {
        Some(UserLine { username, password })
    }

    #[test]
    fn splits_users_comments_and_blanks() {
        assert_eq!(split(""), Ok(None));
        assert_eq!(split("  \t\r"), Ok(None));
        assert_eq!(split("# a comment: with a colon"), Ok(None));
        assert_eq!(split("  # indented"), Ok(None));
        assert_eq!(split("alice:$7$x"), Ok(user("alice", "$7$x")));
        assert_eq!(split(" alice : $7$x \r"), Ok(user("alice", "$7$x")));
        assert_eq!(split("bob:pa:ss"), Ok(user("bob", "pa:ss")));
    }

    #[test]
    fn malformed_lines() {
        assert_eq!(split("alice"), Err(LineProblem::NoColon));
        assert_eq!(split(":$7$x"), Err(LineProblem::EmptyUsername));
        assert_eq!(split("alice:  "), Err(LineProblem::EmptyPassword));
        let long = format!("{}:x", "u".repeat(MAX_USERNAME_BYTES + 1));
        assert_eq!(split(&long), Err(LineProblem::UsernameTooLong));
        let longer = format!("u:{}", "x".repeat(MAX_LINE_BYTES));
        assert_eq!(split(&longer), Err(LineProblem::TooLong));
    }

    #[test]
    fn numbers_lines_from_one() {
        let lines: Vec<_> = numbered("a\n\nb").collect();
        assert_eq!(lines, [(1, "a"), (2, ""), (3, "b")]);
        assert_eq!(numbered("a\n").count(), 1);
        assert_eq!(numbered("").count(), 0);
    }

    #[test]
    fn usernames_that_would_not_read_back() {
        assert_eq!(validate_username("alice"), Ok(()));
        assert_eq!(validate_username("ålice ünd bob"), Ok(()));
        assert_eq!(validate_username(""), Err(UsernameError::Empty));
        assert_eq!(validate_username("a:b"), Err(UsernameError::Colon));
        assert_eq!(validate_username("a\nb"), Err(UsernameError::Control));
        assert_eq!(validate_username(" a"), Err(UsernameError::Blank));
        assert_eq!(validate_username("a "), Err(UsernameError::Blank));
        assert_eq!(validate_username("#a"), Err(UsernameError::Hash));
        let long = "u".repeat(MAX_USERNAME_BYTES + 1);
        assert_eq!(validate_username(&long), Err(UsernameError::TooLong));
    }
}
