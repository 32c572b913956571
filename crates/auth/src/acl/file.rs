//! Mosquitto's `acl_file`, read unchanged, so users bring theirs.
//!
//! ```text
//! # topic lines before any user line are for clients without a username
//! topic read public/#
//! user alice
//! topic readwrite alice/#
//! topic deny alice/secret/#
//! # pattern lines are for every client; %u is its username, %c its client id
//! pattern write devices/%c/status
//! ```
//!
//! `topic|pattern [read|write|readwrite|deny] <filter>`: the access defaults to `readwrite`;
//! the filter is the rest of the line and may hold spaces. `read` covers subscribing and
//! receiving, `write` publishing. As in Mosquitto, a `deny` wins over any allow that matches
//! (denials rank first), and `%u`/`%c` are substituted in `pattern` lines only. A pattern with
//! `%u` matches nothing for a client without a username.

use super::{AclTrie, Action, Decision, Grant, Principal};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Files larger than this are refused: a rule file, not a database.
const MAX_FILE_BYTES: u64 = 64 << 20;

const DENY: Grant = Grant {
    rank: 0,
    allow: false,
};
const ALLOW: Grant = Grant {
    rank: 1,
    allow: true,
};

/// Why an ACL file was not loaded; the previous rules (if any) stay in force.
#[derive(Debug, thiserror::Error)]
pub enum AclFileError {
    /// The file could not be read.
    #[error("cannot read ACL file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The file is larger than 64 MiB.
    #[error("ACL file {path} is larger than {MAX_FILE_BYTES} bytes, the most read")]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
    /// A line is not a rule.
    #[error("ACL file {path}, line {line}: {problem}")]
    Line {
        /// The file.
        path: PathBuf,
        /// From 1.
        line: usize,
        /// What is wrong.
        problem: String,
    },
}

/// The rules of one ACL file, compiled.
#[derive(Debug, Default)]
pub struct AclFile {
    /// `topic` lines before the first `user` line: clients without a username.
    anonymous: AclTrie,
    /// `topic` lines under `user <name>`.
    users: HashMap<String, AclTrie>,
    /// `pattern` lines, for everyone.
    patterns: AclTrie,
    rules: usize,
}

impl AclFile {
    /// Reads and compiles `path`.
    pub fn load(path: &Path) -> Result<AclFile, AclFileError> {
        let io = |source| AclFileError::Io {
            path: path.to_path_buf(),
            source,
        };
        let bytes = crate::bounded::read(path, MAX_FILE_BYTES)
            .map_err(io)?
            .ok_or_else(|| AclFileError::TooLarge {
                path: path.to_path_buf(),
            })?;
        let text = String::from_utf8(bytes)
            .map_err(|e| io(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?;
        Self::parse(&text, path)
    }

    /// Compiles the text of an ACL file; `path` is for messages.
    pub fn parse(text: &str, path: &Path) -> Result<AclFile, AclFileError> {
        let mut acl = AclFile::default();
        let mut user: Option<String> = None;
        for (at, raw) in text.lines().enumerate() {
            let bad = |problem: String| AclFileError::Line {
                path: path.to_path_buf(),
                line: at + 1,
                problem,
            };
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (keyword, rest) = line.split_once([' ', '\t']).unwrap_or((line, ""));
            let rest = rest.trim();
            match keyword {
                "user" => {
                    if rest.is_empty() {
                        return Err(bad("`user` needs a username".into()));
                    }
                    user = Some(rest.to_owned());
                }
                "topic" | "pattern" => {
                    let (access, filter) = split_access(rest);
                    if filter.is_empty() {
                        return Err(bad(format!("`{keyword}` needs a topic filter")));
                    }
                    starling_topic::TopicFilter::new(filter)
                        .map_err(|e| bad(format!("`{filter}` is not a valid topic filter: {e}")))?;
                    let (grant, publish, subscribe) = match access {
                        Some("read") => (ALLOW, false, true),
                        Some("write") => (ALLOW, true, false),
                        Some("readwrite") | None => (ALLOW, true, true),
                        Some("deny") => (DENY, true, true),
                        Some(other) => unreachable!("split_access returned {other}"),
                    };
                    let trie = if keyword == "pattern" {
                        &mut acl.patterns
                    } else {
                        match &user {
                            Some(name) => acl.users.entry(name.clone()).or_default(),
                            None => &mut acl.anonymous,
                        }
                    };
                    trie.insert(filter, keyword == "pattern", grant, publish, subscribe);
                    acl.rules += 1;
                }
                other => {
                    return Err(bad(format!(
                        "unknown keyword `{other}` (expected topic, pattern or user)"
                    )))
                }
            }
        }
        Ok(acl)
    }

    /// Rules read.
    pub fn len(&self) -> usize {
        self.rules
    }

    /// True when the file holds no rule.
    pub fn is_empty(&self) -> bool {
        self.rules == 0
    }

    /// This file's answer for `who` doing `action` on `topic` (a filter for
    /// [`Action::Subscribe`]).
    pub fn check(&self, who: &Principal, action: Action, topic: &str) -> Decision {
        let own = match &who.username {
            Some(name) => self.users.get(name),
            None => Some(&self.anonymous),
        };
        let mut best = own.and_then(|trie| trie.check(who, action, topic));
        if let Some(grant) = self.patterns.check(who, action, topic) {
            Grant::keep_best(&mut best, grant);
        }
        best.into()
    }
}

/// `[read|write|readwrite|deny] <filter>`: the access word, if the line starts with one.
fn split_access(rest: &str) -> (Option<&'static str>, &str) {
    let (first, after) = rest.split_once([' ', '\t']).unwrap_or((rest, ""));
    for word in ["read", "write", "readwrite", "deny"] {
        if first == word {
            return (Some(word), after.trim());
        }
    }
    (None, rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
# a file written for Mosquitto
topic read public/#

user alice
topic readwrite alice/#
topic deny alice/secret/#
topic with space/x

user bob
topic write bob/out
topic read $SYS/#

pattern write devices/%c/status
pattern read users/%u/inbox
";

    fn acl() -> AclFile {
        AclFile::parse(FILE, Path::new("acl")).expect("parses")
    }

    fn who(username: Option<&str>, client_id: &str) -> Principal {
        Principal::new(username.map(str::to_owned), client_id, None)
    }

    #[test]
    fn a_mosquitto_file_reads_as_mosquitto_reads_it() {
        let acl = acl();
        assert_eq!(acl.len(), 8);
        let anon = who(None, "a1");
        let alice = who(Some("alice"), "a2");
        let bob = who(Some("bob"), "b1");
        use Action::*;
        use Decision::*;
        for (who, action, topic, expect) in [
            (&anon, Read, "public/news", Allow),
            (&anon, Publish, "public/news", NoMatch),
            (&alice, Read, "public/news", NoMatch),
            (&alice, Publish, "alice/x", Allow),
            (&alice, Read, "alice/secret/x", Deny),
            (&alice, Publish, "alice/secret", Deny),
            (&alice, Subscribe, "alice/#", Allow),
            (&alice, Publish, "with space/x", Allow),
            (&bob, Publish, "bob/out", Allow),
            (&bob, Read, "bob/out", NoMatch),
            (&bob, Read, "$SYS/broker/load", Allow),
            (&alice, Read, "$SYS/broker/load", NoMatch),
            (&bob, Publish, "devices/b1/status", Allow),
            (&bob, Publish, "devices/a2/status", NoMatch),
            (&alice, Read, "users/alice/inbox", Allow),
            (&anon, Read, "users//inbox", NoMatch),
        ] {
            assert_eq!(
                acl.check(who, action, topic),
                expect,
                "{who:?} {action:?} {topic}"
            );
        }
    }

    #[test]
    fn bad_lines_are_named_with_their_number() {
        for (text, line, says) in [
            ("topic read a\nbogus x\n", 2, "unknown keyword `bogus`"),
            ("user\n", 1, "needs a username"),
            ("\n\ntopic read\n", 3, "needs a topic filter"),
            ("topic read a/#/b\n", 1, "not a valid topic filter"),
        ] {
            let error = AclFile::parse(text, Path::new("/etc/acl")).expect_err(text);
            let message = error.to_string();
            assert!(
                message.contains(&format!("/etc/acl, line {line}")) && message.contains(says),
                "{message}"
            );
        }
    }

    #[test]
    fn ten_thousand_rules_compile_and_answer_as_one() {
        let mut text = String::new();
        for i in 0..10_000 {
            text.push_str(&format!("user u{i}\ntopic readwrite u{i}/#\n"));
        }
        text.push_str("pattern read bench/%c/#\n");
        let acl = AclFile::parse(&text, Path::new("acl")).expect("parses");
        assert_eq!(acl.len(), 10_001);
        let u = who(Some("u9999"), "c9");
        assert_eq!(acl.check(&u, Action::Publish, "u9999/x"), Decision::Allow);
        assert_eq!(acl.check(&u, Action::Publish, "u1/x"), Decision::NoMatch);
        assert_eq!(acl.check(&u, Action::Read, "bench/c9/x"), Decision::Allow);
    }
}
