//! Banned clients: by client id, username, peer address or network, each with an optional
//! end, kept in the store so they survive a restart, checked at every CONNECT (0x8A Banned;
//! 3.x return code 5).
//!
//! The table is read at every CONNECT and written rarely (flapping detection, and the
//! management API later), so it sits behind a `RwLock` held for a few hash lookups, never
//! across an await. At most `banned.max_entries` bans are held; past that a new one is
//! refused (expired ones are dropped first).

use starling_config::IpNet;
use starling_store::{BanKind, BanRecord, Store};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{PoisonError, RwLock};
use std::time::SystemTime;
use tracing::warn;

/// Why a ban was not made.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BanError {
    /// `banned.max_entries` bans are held already.
    #[error("{0} bans are held already (banned.max_entries)")]
    Full(usize),
    /// An address ban that is neither an address nor a network.
    #[error("{0:?} is neither an IP address nor a network (a.b.c.d/n)")]
    BadAddress(String),
}

#[derive(Debug, Default)]
struct Table {
    client_ids: HashMap<String, BanRecord>,
    usernames: HashMap<String, BanRecord>,
    addresses: HashMap<IpAddr, BanRecord>,
    /// Networks: few in practice, so a list.
    networks: Vec<(IpNet, BanRecord)>,
}

impl Table {
    fn len(&self) -> usize {
        self.client_ids.len() + self.usernames.len() + self.addresses.len() + self.networks.len()
    }

    fn insert(&mut self, ban: BanRecord) -> Result<(), BanError> {
        match ban.kind {
            BanKind::ClientId => {
                self.client_ids.insert(ban.who.clone(), ban);
            }
            BanKind::Username => {
                self.usernames.insert(ban.who.clone(), ban);
            }
            BanKind::Address => {
                if let Ok(ip) = ban.who.parse::<IpAddr>() {
                    self.addresses.insert(ip, ban);
                } else if let Some(net) = IpNet::parse(&ban.who) {
                    self.networks.retain(|(n, _)| *n != net);
                    self.networks.push((net, ban));
                } else {
                    return Err(BanError::BadAddress(ban.who));
                }
            }
        }
        Ok(())
    }

    fn get(&self, kind: BanKind, who: &str) -> Option<&BanRecord> {
        match kind {
            BanKind::ClientId => self.client_ids.get(who),
            BanKind::Username => self.usernames.get(who),
            BanKind::Address => match who.parse::<IpAddr>() {
                Ok(ip) => self.addresses.get(&ip),
                Err(_) => self.networks.iter().map(|(_, b)| b).find(|b| b.who == who),
            },
        }
    }

    fn remove(&mut self, kind: BanKind, who: &str) -> bool {
        match kind {
            BanKind::ClientId => self.client_ids.remove(who).is_some(),
            BanKind::Username => self.usernames.remove(who).is_some(),
            BanKind::Address => match who.parse::<IpAddr>() {
                Ok(ip) => self.addresses.remove(&ip).is_some(),
                Err(_) => {
                    let before = self.networks.len();
                    self.networks.retain(|(_, ban)| ban.who != who);
                    self.networks.len() != before
                }
            },
        }
    }

    fn purge(&mut self, now: SystemTime) -> Vec<BanRecord> {
        let live = |ban: &BanRecord| ban.until.is_none_or(|until| until > now);
        let mut gone = Vec::new();
        let mut keep = |ban: &BanRecord| {
            let keep = live(ban);
            if !keep {
                gone.push(ban.clone());
            }
            keep
        };
        self.client_ids.retain(|_, ban| keep(ban));
        self.usernames.retain(|_, ban| keep(ban));
        self.addresses.retain(|_, ban| keep(ban));
        self.networks.retain(|(_, ban)| keep(ban));
        gone
    }
}

/// The broker's ban table.
#[derive(Debug)]
pub struct Bans {
    table: RwLock<Table>,
    store: Option<Store>,
    max: usize,
}

fn active(ban: &BanRecord, now: SystemTime) -> bool {
    ban.until.is_none_or(|until| until > now)
}

impl Bans {
    /// An empty table of at most `max` bans, written through to `store`.
    pub(crate) fn new(max: usize, store: Option<Store>) -> Self {
        Self {
            table: RwLock::new(Table::default()),
            store,
            max,
        }
    }

    /// Puts back the bans the store kept (ended ones are dropped from it).
    pub(crate) fn restore(&self, records: Vec<BanRecord>, now: SystemTime) {
        let mut table = self.table.write().unwrap_or_else(PoisonError::into_inner);
        let mut ended = Vec::new();
        for ban in records {
            if !active(&ban, now) {
                ended.push(ban);
            } else if let Err(error) = table.insert(ban) {
                warn!(%error, "a stored ban could not be restored");
            }
        }
        drop(table);
        self.forget(&ended);
    }

    /// The reason `client_id` / `username` / `ip` is banned, if it is.
    pub(crate) fn check(
        &self,
        client_id: &str,
        username: Option<&str>,
        ip: IpAddr,
        now: SystemTime,
    ) -> Option<String> {
        let table = self.table.read().unwrap_or_else(PoisonError::into_inner);
        if table.len() == 0 {
            return None;
        }
        let found = table
            .client_ids
            .get(client_id)
            .into_iter()
            .chain(username.and_then(|u| table.usernames.get(u)))
            .chain(table.addresses.get(&ip))
            .chain(
                table
                    .networks
                    .iter()
                    .filter(|(net, _)| net.contains(ip))
                    .map(|(_, ban)| ban),
            )
            .find(|ban| active(ban, now));
        found.map(|ban| ban.reason.clone())
    }

    /// Adds (or replaces) a ban, durably.
    pub fn add(&self, ban: BanRecord, now: SystemTime) -> Result<(), BanError> {
        let mut table = self.table.write().unwrap_or_else(PoisonError::into_inner);
        let mut ended = Vec::new();
        if table.len() >= self.max {
            ended = table.purge(now);
            if table.len() >= self.max {
                return Err(BanError::Full(self.max));
            }
        }
        table.insert(ban.clone())?;
        drop(table);
        self.forget(&ended);
        if let Some(store) = &self.store {
            let mut batch = store.batch();
            batch.put_ban(&ban);
            if let Err(error) = batch.commit() {
                warn!(%error, who = ban.who, "a ban was not stored; it holds until a restart");
            }
        }
        Ok(())
    }

    /// The ban in force on exactly `who` (as it was added: an address or a network), if any.
    pub fn get(&self, kind: BanKind, who: &str, now: SystemTime) -> Option<BanRecord> {
        let table = self.table.read().unwrap_or_else(PoisonError::into_inner);
        table.get(kind, who).filter(|b| active(b, now)).cloned()
    }

    /// Lifts a ban; false if there was none.
    pub fn remove(&self, kind: BanKind, who: &str) -> bool {
        let removed = self
            .table
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(kind, who);
        if removed {
            if let Some(store) = &self.store {
                let mut batch = store.batch();
                batch.delete_ban(kind, who);
                if let Err(error) = batch.commit() {
                    warn!(%error, who, "a lifted ban was not removed from the store");
                }
            }
        }
        removed
    }

    /// The bans in force.
    pub fn list(&self, now: SystemTime) -> Vec<BanRecord> {
        let table = self.table.read().unwrap_or_else(PoisonError::into_inner);
        let mut all: Vec<BanRecord> = table
            .client_ids
            .values()
            .chain(table.usernames.values())
            .chain(table.addresses.values())
            .chain(table.networks.iter().map(|(_, ban)| ban))
            .filter(|ban| active(ban, now))
            .cloned()
            .collect();
        all.sort_by(|a, b| (a.kind, &a.who).cmp(&(b.kind, &b.who)));
        all
    }

    fn forget(&self, ended: &[BanRecord]) {
        let Some(store) = &self.store else { return };
        if ended.is_empty() {
            return;
        }
        let mut batch = store.batch();
        for ban in ended {
            batch.delete_ban(ban.kind, &ban.who);
        }
        if let Err(error) = batch.commit() {
            warn!(%error, "ended bans were not removed from the store");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ban(kind: BanKind, who: &str, until: Option<SystemTime>) -> BanRecord {
        BanRecord {
            kind,
            who: who.into(),
            at: SystemTime::UNIX_EPOCH,
            until,
            reason: format!("test {who}"),
            by: "test".into(),
        }
    }

    #[test]
    fn each_kind_of_ban_matches_and_ends() {
        let bans = Bans::new(10, None);
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let later = now + Duration::from_secs(60);
        for b in [
            ban(BanKind::ClientId, "evil", None),
            ban(BanKind::Username, "mallory", Some(later)),
            ban(BanKind::Address, "192.0.2.7", None),
            ban(BanKind::Address, "198.51.100.0/24", None),
        ] {
            bans.add(b, now).expect("added");
        }
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        let ok = ip("203.0.113.1");
        assert!(bans.check("evil", None, ok, now).is_some());
        assert!(bans.check("good", Some("mallory"), ok, now).is_some());
        assert!(
            bans.check("good", Some("mallory"), ok, later).is_none(),
            "ended"
        );
        assert!(bans.check("good", None, ip("192.0.2.7"), now).is_some());
        assert!(bans
            .check("good", None, ip("198.51.100.200"), now)
            .is_some());
        assert!(bans.check("good", Some("alice"), ok, now).is_none());
        assert!(bans.remove(BanKind::Address, "198.51.100.0/24"));
        assert!(bans
            .check("good", None, ip("198.51.100.200"), now)
            .is_none());
        assert_eq!(bans.list(now).len(), 3);
    }

    #[test]
    fn the_table_is_bounded_and_ended_bans_make_room() {
        let bans = Bans::new(2, None);
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        bans.add(ban(BanKind::ClientId, "a", Some(now)), now)
            .expect("a");
        bans.add(ban(BanKind::ClientId, "b", None), now).expect("b");
        // "a" ended at `now`: it makes room.
        bans.add(ban(BanKind::ClientId, "c", None), now).expect("c");
        assert_eq!(
            bans.add(ban(BanKind::ClientId, "d", None), now),
            Err(BanError::Full(2))
        );
        let fresh = Bans::new(2, None);
        assert_eq!(
            fresh.add(ban(BanKind::Address, "nonsense", None), now),
            Err(BanError::BadAddress("nonsense".into()))
        );
    }
}
