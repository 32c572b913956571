//! The built-in users and ACL rules (the `builtin` authenticator and authorization source).
//!
//! - `auth_users`: key the username (UTF-8, not empty); value the password hash (an argon2id
//!   PHC string), the superuser flag, when the user was made, then its SCRAM credentials (a
//!   count, then for each: the mechanism's name, the salt, the iteration count, StoredKey and
//!   ServerKey). A record written before SCRAM ends after the time: it reads as a user with
//!   no SCRAM credentials.
//! - `auth_acl`: key the rule id (`u64` BE; rules take precedence by id, lowest first); value
//!   who the rule is for (a kind byte, then a name, an address or a network), the action,
//!   allow or deny, the topic filter and the `eq` flag.
//!
//! An address is its family's length (4 or 16) as a byte string; a network adds its prefix
//! length. Nothing here checks a hash or a filter beyond its encoding: the broker validates
//! what it stores, and what fails to decode is damage.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::SystemTime;

use super::field::{Reader, Writer};
use super::FORMAT;
use crate::error::RecordError;

/// One stored user of the `builtin` authenticator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// The username (the key).
    pub username: String,
    /// The password's argon2id hash, as a PHC string (`$argon2id$v=19$...`).
    pub password_hash: String,
    /// A superuser skips every ACL check.
    pub is_superuser: bool,
    /// When the user was made.
    pub created_at: SystemTime,
    /// SCRAM credentials, one per mechanism; empty for a user stored before SCRAM existed.
    pub scram: Vec<ScramRecord>,
}

/// One stored SCRAM credential of a `builtin` user (RFC 5802: what the server keeps).
#[derive(Clone, PartialEq, Eq)]
pub struct ScramRecord {
    /// The mechanism, `SCRAM-SHA-256` or `SCRAM-SHA-512`.
    pub mechanism: String,
    /// The salt.
    pub salt: Vec<u8>,
    /// PBKDF2 iterations.
    pub iterations: u32,
    /// `H(ClientKey)`.
    pub stored_key: Vec<u8>,
    /// `HMAC(SaltedPassword, "Server Key")`.
    pub server_key: Vec<u8>,
}

impl std::fmt::Debug for ScramRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramRecord")
            .field("mechanism", &self.mechanism)
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

/// The most SCRAM credentials one user record holds.
const MAX_SCRAM: usize = 8;

/// Whom a stored ACL rule applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AclWho {
    /// Every client.
    All,
    /// Clients with this username.
    Username(String),
    /// The client with this client id.
    ClientId(String),
    /// Clients connecting from this address.
    Address(IpAddr),
    /// Clients connecting from this network.
    Network {
        /// The network's address.
        addr: IpAddr,
        /// Bits of its prefix.
        prefix: u8,
    },
}

/// What a stored ACL rule governs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AclAction {
    /// PUBLISH.
    Publish,
    /// SUBSCRIBE, and receiving.
    Subscribe,
    /// Both.
    All,
}

/// One stored ACL rule of the `builtin` authorization source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclRuleRecord {
    /// Its id (the key); a lower id takes precedence.
    pub id: u64,
    /// Whom it applies to.
    pub who: AclWho,
    /// What it governs.
    pub action: AclAction,
    /// Allow (true) or deny.
    pub allow: bool,
    /// The topic filter (may hold `%u` / `%c` unless `eq`).
    pub topic: String,
    /// The topic is matched literally: `+` and `#` are plain text.
    pub eq: bool,
}

pub(crate) fn user_key(username: &str) -> Vec<u8> {
    username.as_bytes().to_vec()
}

pub(crate) fn encode_user(user: &UserRecord) -> Vec<u8> {
    let mut w = Writer::versioned(FORMAT);
    w.str(&user.password_hash);
    w.bool(user.is_superuser);
    w.time(user.created_at);
    w.count(user.scram.len());
    for scram in &user.scram {
        w.str(&scram.mechanism);
        w.bytes(&scram.salt);
        w.u32(scram.iterations);
        w.bytes(&scram.stored_key);
        w.bytes(&scram.server_key);
    }
    w.finish()
}

pub(crate) fn decode_user(key: &[u8], value: &[u8]) -> Result<UserRecord, RecordError> {
    let username = std::str::from_utf8(key).map_err(|_| RecordError::Utf8("username"))?;
    if username.is_empty() {
        return Err(RecordError::Invalid("key"));
    }
    let mut r = Reader::versioned(value, FORMAT)?;
    let password_hash = r.str("password hash")?.to_owned();
    let is_superuser = r.bool("superuser flag")?;
    let created_at = r.time()?;
    let mut scram = Vec::new();
    // Nothing more: a record written before SCRAM.
    if r.end().is_err() {
        let count = r.count(1)?;
        if count > MAX_SCRAM {
            return Err(RecordError::Invalid("SCRAM credential count"));
        }
        for _ in 0..count {
            scram.push(ScramRecord {
                mechanism: r.str("SCRAM mechanism")?.to_owned(),
                salt: r.bytes()?.to_vec(),
                iterations: r.u32()?,
                stored_key: r.bytes()?.to_vec(),
                server_key: r.bytes()?.to_vec(),
            });
        }
        r.end()?;
    }
    Ok(UserRecord {
        username: username.to_owned(),
        password_hash,
        is_superuser,
        created_at,
        scram,
    })
}

pub(crate) fn rule_key(id: u64) -> Vec<u8> {
    id.to_be_bytes().to_vec()
}

fn write_ip(w: &mut Writer, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => w.bytes(&v4.octets()),
        IpAddr::V6(v6) => w.bytes(&v6.octets()),
    }
}

fn read_ip(r: &mut Reader<'_>) -> Result<IpAddr, RecordError> {
    let bytes = r.bytes()?;
    if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
        return Ok(IpAddr::V4(Ipv4Addr::from(v4)));
    }
    <[u8; 16]>::try_from(bytes)
        .map(|v6| IpAddr::V6(Ipv6Addr::from(v6)))
        .map_err(|_| RecordError::Invalid("address"))
}

pub(crate) fn encode_rule(rule: &AclRuleRecord) -> Vec<u8> {
    let mut w = Writer::versioned(FORMAT);
    match &rule.who {
        AclWho::All => w.u8(0),
        AclWho::Username(name) => {
            w.u8(1);
            w.str(name);
        }
        AclWho::ClientId(id) => {
            w.u8(2);
            w.str(id);
        }
        AclWho::Address(ip) => {
            w.u8(3);
            write_ip(&mut w, *ip);
        }
        AclWho::Network { addr, prefix } => {
            w.u8(4);
            write_ip(&mut w, *addr);
            w.u8(*prefix);
        }
    }
    w.u8(match rule.action {
        AclAction::Publish => 1,
        AclAction::Subscribe => 2,
        AclAction::All => 3,
    });
    w.bool(rule.allow);
    w.str(&rule.topic);
    w.bool(rule.eq);
    w.finish()
}

fn read_who(r: &mut Reader<'_>) -> Result<AclWho, RecordError> {
    Ok(match r.u8()? {
        0 => AclWho::All,
        1 => AclWho::Username(r.str("rule username")?.to_owned()),
        2 => AclWho::ClientId(r.str("rule client id")?.to_owned()),
        3 => AclWho::Address(read_ip(r)?),
        4 => {
            let addr = read_ip(r)?;
            let prefix = r.u8()?;
            let max = if addr.is_ipv4() { 32 } else { 128 };
            if prefix > max {
                return Err(RecordError::Invalid("network prefix"));
            }
            AclWho::Network { addr, prefix }
        }
        _ => return Err(RecordError::Invalid("rule subject")),
    })
}

pub(crate) fn decode_rule(key: &[u8], value: &[u8]) -> Result<AclRuleRecord, RecordError> {
    let id = <[u8; 8]>::try_from(key)
        .map(u64::from_be_bytes)
        .map_err(|_| RecordError::Invalid("key"))?;
    let mut r = Reader::versioned(value, FORMAT)?;
    let who = read_who(&mut r)?;
    let action = match r.u8()? {
        1 => AclAction::Publish,
        2 => AclAction::Subscribe,
        3 => AclAction::All,
        _ => return Err(RecordError::Invalid("rule action")),
    };
    let allow = r.bool("rule permission")?;
    let topic = r.str("rule topic")?.to_owned();
    let eq = r.bool("rule eq flag")?;
    r.end()?;
    Ok(AclRuleRecord {
        id,
        who,
        action,
        allow,
        topic,
        eq,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_user_round_trips_and_damage_is_an_error() {
        let user = UserRecord {
            username: "alice".into(),
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
            is_superuser: true,
            created_at: SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
            scram: vec![ScramRecord {
                mechanism: "SCRAM-SHA-256".into(),
                salt: vec![1; 16],
                iterations: 4096,
                stored_key: vec![2; 32],
                server_key: vec![3; 32],
            }],
        };
        let key = user_key(&user.username);
        let value = encode_user(&user);
        assert_eq!(decode_user(&key, &value).expect("decodes"), user);
        // A record written before SCRAM (no count after the time) reads with none.
        let old = encode_user(&UserRecord {
            scram: Vec::new(),
            ..user.clone()
        });
        let before_scram = &old[..old.len() - 4];
        let read = decode_user(&key, before_scram).expect("decodes");
        assert!(read.scram.is_empty() && read.password_hash == user.password_hash);
        assert!(decode_user(b"", &value).is_err());
        assert!(decode_user(b"\xff", &value).is_err());
        assert!(decode_user(&key, &value[..value.len() - 1]).is_err());
        let mut extra = value.clone();
        extra.push(0);
        assert!(decode_user(&key, &extra).is_err());
    }

    #[test]
    fn every_kind_of_rule_round_trips_and_damage_is_an_error() {
        let whos = [
            AclWho::All,
            AclWho::Username("alice".into()),
            AclWho::ClientId("c1".into()),
            AclWho::Address("192.0.2.7".parse().expect("ip")),
            AclWho::Address("2001:db8::1".parse().expect("ip")),
            AclWho::Network {
                addr: "10.0.0.0".parse().expect("ip"),
                prefix: 8,
            },
            AclWho::Network {
                addr: "2001:db8::".parse().expect("ip"),
                prefix: 32,
            },
        ];
        for (n, who) in whos.into_iter().enumerate() {
            let id = n as u64 + (1 << 40);
            let rule = AclRuleRecord {
                id,
                who,
                action: [AclAction::Publish, AclAction::Subscribe, AclAction::All][n % 3],
                allow: n % 2 == 0,
                topic: "t/%u/#".into(),
                eq: n % 2 == 1,
            };
            let key = rule_key(id);
            let value = encode_rule(&rule);
            assert_eq!(decode_rule(&key, &value).expect("decodes"), rule);
            assert!(decode_rule(&key[..7], &value).is_err());
            assert!(decode_rule(&key, &value[..value.len() - 1]).is_err());
        }
        let mut bad_prefix = encode_rule(&AclRuleRecord {
            id: 1,
            who: AclWho::Network {
                addr: "10.0.0.0".parse().expect("ip"),
                prefix: 8,
            },
            action: AclAction::All,
            allow: true,
            topic: "t".into(),
            eq: false,
        });
        // version, kind, u32 length, 4 address bytes: the prefix byte follows.
        bad_prefix[10] = 33;
        assert!(decode_rule(&rule_key(1), &bad_prefix).is_err());
    }
}
