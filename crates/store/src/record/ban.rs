//! A banned-client entry: the key names what is banned (its kind byte, then the text: a
//! client id, a username, an address or a network in CIDR form), the value when the ban ends
//! and why.

use std::time::SystemTime;

use super::field::{Reader, Writer};
use super::FORMAT;
use crate::error::RecordError;

/// What a ban is against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BanKind {
    /// A client id.
    ClientId,
    /// A username.
    Username,
    /// A peer address, or a network (`10.0.0.0/8`).
    Address,
}

impl BanKind {
    fn byte(self) -> u8 {
        match self {
            Self::ClientId => 1,
            Self::Username => 2,
            Self::Address => 3,
        }
    }

    fn of(byte: u8) -> Option<Self> {
        Some(match byte {
            1 => Self::ClientId,
            2 => Self::Username,
            3 => Self::Address,
            _ => return None,
        })
    }
}

/// One stored ban.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BanRecord {
    /// What kind of name `who` is.
    pub kind: BanKind,
    /// The banned client id, username, address or network.
    pub who: String,
    /// When it was made.
    pub at: SystemTime,
    /// When it ends; `None`: never.
    pub until: Option<SystemTime>,
    /// Why (for operators).
    pub reason: String,
    /// Who made it (`flapping`, `api`, ...).
    pub by: String,
}

pub(crate) fn ban_key(kind: BanKind, who: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + who.len());
    key.push(kind.byte());
    key.extend_from_slice(who.as_bytes());
    key
}

pub(crate) fn encode_ban(ban: &BanRecord) -> Vec<u8> {
    let mut w = Writer::versioned(FORMAT);
    w.time(ban.at);
    w.option(ban.until.as_ref(), |w, t| w.time(*t));
    w.str(&ban.reason);
    w.str(&ban.by);
    w.finish()
}

pub(crate) fn decode_ban(key: &[u8], value: &[u8]) -> Result<BanRecord, RecordError> {
    let (&kind, who) = key.split_first().ok_or(RecordError::Invalid("key"))?;
    let kind = BanKind::of(kind).ok_or(RecordError::Invalid("ban kind"))?;
    let who = std::str::from_utf8(who).map_err(|_| RecordError::Invalid("banned name"))?;
    let mut r = Reader::versioned(value, FORMAT)?;
    let at = r.time()?;
    let until = r.option("ban end", |r: &mut Reader<'_>| r.time())?;
    let reason = r.str("ban reason")?.to_owned();
    let by = r.str("ban origin")?.to_owned();
    r.end()?;
    Ok(BanRecord {
        kind,
        who: who.to_owned(),
        at,
        until,
        reason,
        by,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_ban_round_trips_and_damage_is_an_error() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let ban = BanRecord {
            kind: BanKind::Address,
            who: "10.0.0.0/8".into(),
            at,
            until: Some(at + Duration::from_secs(300)),
            reason: "flapping".into(),
            by: "flapping".into(),
        };
        let key = ban_key(ban.kind, &ban.who);
        let value = encode_ban(&ban);
        assert_eq!(decode_ban(&key, &value).expect("decodes"), ban);
        assert!(decode_ban(&[9, b'x'], &value).is_err());
        assert!(decode_ban(&key, &value[..value.len() - 1]).is_err());
    }
}
