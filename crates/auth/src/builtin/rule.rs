//! One `builtin` ACL rule, as the management API gives it, and its validation.

use starling_config::IpNet;
use std::net::IpAddr;

/// The longest topic filter a rule may hold, in bytes.
pub const MAX_RULE_TOPIC: usize = 4096;

/// Whom a rule applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    /// Every client.
    All,
    /// Clients authenticated with this username.
    Username(String),
    /// The client with this client id.
    ClientId(String),
    /// Clients connecting from this address.
    Address(IpAddr),
    /// Clients connecting from this network (`10.0.0.0/8`).
    Network(IpNet),
}

/// What a rule governs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleAction {
    /// PUBLISH (and wills, and the target of a delayed publish).
    Publish,
    /// SUBSCRIBE, and receiving messages.
    Subscribe,
    /// Both.
    All,
}

/// Allow or deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// The rule grants.
    Allow,
    /// The rule refuses.
    Deny,
}

/// One rule of the `builtin` authorization source. Among the rules that match a check, the
/// one with the lowest id decides (ids grow as rules are added: the first added wins).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Whom it applies to.
    pub who: Who,
    /// What it governs.
    pub action: RuleAction,
    /// Allow or deny.
    pub permission: Permission,
    /// A topic filter; levels `%u` / `%c` (or text around them) name the client, unless
    /// `eq`.
    pub topic: String,
    /// The topic is matched literally, as EMQX's `eq t/#`: `+`, `#`, `%u` and `%c` are plain
    /// text, and only a PUBLISH to or a SUBSCRIBE with exactly that string matches.
    pub eq: bool,
}

/// A rule the `builtin` source will not take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    /// The topic is empty.
    #[error("topic: must not be empty")]
    EmptyTopic,
    /// The topic is longer than [`MAX_RULE_TOPIC`].
    #[error("topic: {0} bytes, at most {MAX_RULE_TOPIC}")]
    TopicTooLong(usize),
    /// The topic is not a valid MQTT topic filter.
    #[error("topic: {topic:?} is not a valid topic filter: {why}")]
    BadFilter {
        /// The topic.
        topic: String,
        /// Why.
        why: String,
    },
    /// The topic holds a NUL character ([MQTT-4.7.3-2]).
    #[error("topic: must not contain U+0000")]
    NulInTopic,
    /// A username or client id is empty or too long.
    #[error("who: a {what} of {len} bytes (1 to 256 bytes)")]
    BadName {
        /// `username` or `client id`.
        what: &'static str,
        /// Its length.
        len: usize,
    },
    /// A network's address has bits set past its prefix.
    #[error("who: network {0} has host bits set (write its first address)")]
    HostBits(String),
}

impl Rule {
    /// Checks the rule: the topic is a valid filter (any text with `eq`), names are 1 to 256
    /// bytes, a network is written with its first address.
    pub fn validate(&self) -> Result<(), RuleError> {
        match self.topic.len() {
            0 => return Err(RuleError::EmptyTopic),
            n if n > MAX_RULE_TOPIC => return Err(RuleError::TopicTooLong(n)),
            _ => {}
        }
        if self.topic.contains('\0') {
            return Err(RuleError::NulInTopic);
        }
        if !self.eq {
            starling_topic::TopicFilter::new(&self.topic).map_err(|error| {
                RuleError::BadFilter {
                    topic: self.topic.clone(),
                    why: error.to_string(),
                }
            })?;
        }
        let name = |what, name: &str| match name.len() {
            1..=256 => Ok(()),
            len => Err(RuleError::BadName { what, len }),
        };
        match &self.who {
            Who::All | Who::Address(_) => Ok(()),
            Who::Username(username) => name("username", username),
            Who::ClientId(client_id) => name("client id", client_id),
            Who::Network(net) if masked(net.addr, net.prefix) != net.addr => {
                Err(RuleError::HostBits(format!("{}/{}", net.addr, net.prefix)))
            }
            Who::Network(_) => Ok(()),
        }
    }
}

/// `ip` with every bit past `prefix` cleared (an IPv4-mapped IPv6 address taken as IPv4).
pub(crate) fn masked(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(prefix.min(32)))
                .unwrap_or(0);
            IpAddr::V4((u32::from(v4) & mask).into())
        }
        IpAddr::V6(v6) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(prefix.min(128)))
                .unwrap_or(0);
            IpAddr::V6((u128::from(v6) & mask).into())
        }
    }
}

/// The address a check is made for: an IPv4-mapped IPv6 address as the IPv4 one.
pub(crate) fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}
