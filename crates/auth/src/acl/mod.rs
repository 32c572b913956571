//! Authorization: what a client may publish, subscribe to and receive.
//!
//! - `trie`: [`AclTrie`], rules compiled over topic levels (O(levels) per check);
//! - `file`: [`AclFile`], Mosquitto's `acl_file` format read into tries.

mod file;
mod trie;

pub use file::{AclFile, AclFileError};
pub use trie::AclTrie;

use std::net::IpAddr;
use std::sync::Arc;

/// Who a check is for: what authentication established about the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The username, after authentication (a certificate may have set it).
    pub username: Option<String>,
    /// The client id in use (assigned by the broker if the client sent none).
    pub client_id: Arc<str>,
    /// The client's address (the real one behind a trusted proxy), if known.
    pub peer: Option<IpAddr>,
}

impl Principal {
    /// A principal.
    pub fn new(username: Option<String>, client_id: &str, peer: Option<IpAddr>) -> Self {
        Self {
            username,
            client_id: client_id.into(),
            peer,
        }
    }
}

/// What a client wants to do with a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// PUBLISH to a topic name (also a will, and the target of a delayed publish).
    Publish,
    /// SUBSCRIBE with a filter (the real filter of a `$share/`, `$queue/` or `$exclusive/`
    /// one).
    Subscribe,
    /// Receive a message on a topic name: a delivery, retained or not, on any subscription.
    /// Granted by the same rules as [`Action::Subscribe`].
    Read,
}

/// A rule's verdict and its rank: among the rules that match, the lowest rank decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    /// Lower wins.
    pub rank: u64,
    /// Allow or deny.
    pub allow: bool,
}

impl Grant {
    /// Keeps in `best` whichever of the two has the lower rank.
    pub(crate) fn keep_best(best: &mut Option<Grant>, grant: Grant) {
        match best {
            Some(current) if current.rank <= grant.rank => {}
            _ => *best = Some(grant),
        }
    }
}

/// The answer of one authorization source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// A rule allows it.
    Allow,
    /// A rule denies it.
    Deny,
    /// No rule of this source matches: the next source decides, or `no_match`.
    NoMatch,
}

impl From<Option<Grant>> for Decision {
    fn from(grant: Option<Grant>) -> Self {
        match grant {
            Some(Grant { allow: true, .. }) => Decision::Allow,
            Some(Grant { allow: false, .. }) => Decision::Deny,
            None => Decision::NoMatch,
        }
    }
}
