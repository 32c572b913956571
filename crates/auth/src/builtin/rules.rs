//! The `builtin` authorization source: rules kept by the broker, compiled so that a check costs
//! O(topic levels) whatever their number.
//!
//! Rules are grouped by whom they apply to, and each group is compiled into its own
//! [`AclTrie`]: one for every client, one per username, one per client id, and one per network
//! (an address is a network of 32 or 128 bits). A check finds the groups of its principal by
//! hash lookups, never by scanning rules: the `all` trie, its username's, its client id's, and
//! for each prefix length some network rule uses (few in practice), the trie of its address
//! masked to that length. Each trie is walked over the topic's levels; among the grants found,
//! the lowest rank decides, and a rule's rank is its id, so the rule added first wins whatever
//! group it is in.
//!
//! `eq` rules go to the trie's exact map (PUBLISH to, or SUBSCRIBE with, exactly that string).
//! A delivery is judged on its topic name, never equal to a filter with wildcards, so an `eq`
//! rule that allows a subscription also allows receiving what that filter matches (kept in a
//! second trie per group, asked for deliveries only); an `eq` denial refuses the subscription
//! with that very filter, nothing more.
//!
//! Changes recompile only the group the rule belongs to, and swap the whole compiled set
//! ([`ArcSwap`]: checks never wait). Each change bumps [`BuiltinRules::generation`], so
//! connections drop the decisions they cached.

use super::rule::{canonical, masked, Permission, Rule, RuleAction, Who};
use crate::acl::{AclTrie, Action, Decision, Grant, Principal};
use arc_swap::ArcSwap;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// A group of rules: whom they apply to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Group {
    All,
    Username(Box<str>),
    ClientId(Box<str>),
    Net(IpAddr, u8),
}

fn group_of(who: &Who) -> Group {
    match who {
        Who::All => Group::All,
        Who::Username(name) => Group::Username(name.as_str().into()),
        Who::ClientId(id) => Group::ClientId(id.as_str().into()),
        Who::Address(ip) => {
            let ip = canonical(*ip);
            Group::Net(ip, if ip.is_ipv4() { 32 } else { 128 })
        }
        Who::Network(net) => {
            let ip = canonical(net.addr);
            // `::ffff:a.b.c.d/n` is the IPv4 network of prefix n - 96.
            let prefix = if ip.is_ipv4() && net.addr.is_ipv6() {
                net.prefix.saturating_sub(96)
            } else {
                net.prefix
            };
            Group::Net(masked(ip, prefix), prefix)
        }
    }
}

/// One group compiled: its rules, and what its `eq` allows grant to deliveries.
#[derive(Debug, Default)]
struct Compiled {
    rules: AclTrie,
    reads: AclTrie,
}

impl Compiled {
    fn check(&self, who: &Principal, action: Action, topic: &str, best: &mut Option<Grant>) {
        if let Some(grant) = self.rules.check(who, action, topic) {
            Grant::keep_best(best, grant);
        }
        if action == Action::Read && !self.reads.is_empty() {
            if let Some(grant) = self.reads.check(who, action, topic) {
                Grant::keep_best(best, grant);
            }
        }
    }
}

/// The network groups of one family and prefix length: masked address -> group.
type Networks = HashMap<IpAddr, Arc<Compiled>>;

/// Every group, compiled; swapped whole.
#[derive(Debug, Default, Clone)]
struct Tables {
    all: Option<Arc<Compiled>>,
    usernames: HashMap<Box<str>, Arc<Compiled>>,
    client_ids: HashMap<Box<str>, Arc<Compiled>>,
    /// (IPv4?, prefix) -> masked address -> group; longest prefixes first.
    networks: Vec<((bool, u8), Networks)>,
}

impl Tables {
    fn set(&mut self, group: &Group, compiled: Option<Arc<Compiled>>) {
        match group {
            Group::All => self.all = compiled,
            Group::Username(name) => set_in(&mut self.usernames, name, compiled),
            Group::ClientId(id) => set_in(&mut self.client_ids, id, compiled),
            Group::Net(ip, prefix) => {
                let at = (ip.is_ipv4(), *prefix);
                let slot = match self.networks.iter().position(|(k, _)| *k == at) {
                    Some(slot) => slot,
                    None => {
                        self.networks.push((at, HashMap::new()));
                        self.networks.sort_by_key(|(k, _)| std::cmp::Reverse(k.1));
                        self.networks
                            .iter()
                            .position(|(k, _)| *k == at)
                            .unwrap_or(0)
                    }
                };
                set_in(&mut self.networks[slot].1, ip, compiled);
                self.networks.retain(|(_, nets)| !nets.is_empty());
            }
        }
    }

    fn check(&self, who: &Principal, action: Action, topic: &str) -> Option<Grant> {
        let mut best = None;
        if let Some(all) = &self.all {
            all.check(who, action, topic, &mut best);
        }
        if let Some(group) = who.username.as_deref().and_then(|u| self.usernames.get(u)) {
            group.check(who, action, topic, &mut best);
        }
        if let Some(group) = self.client_ids.get(&*who.client_id) {
            group.check(who, action, topic, &mut best);
        }
        if let Some(peer) = who.peer.map(canonical) {
            for ((v4, prefix), nets) in &self.networks {
                if *v4 == peer.is_ipv4() {
                    if let Some(group) = nets.get(&masked(peer, *prefix)) {
                        group.check(who, action, topic, &mut best);
                    }
                }
            }
        }
        best
    }
}

fn set_in<K: Eq + std::hash::Hash + Clone>(
    map: &mut HashMap<K, Arc<Compiled>>,
    key: &K,
    compiled: Option<Arc<Compiled>>,
) {
    match compiled {
        Some(compiled) => {
            map.insert(key.clone(), compiled);
        }
        None => {
            map.remove(key);
        }
    }
}

fn compile<'a>(rules: impl Iterator<Item = (u64, &'a Rule)>) -> Option<Arc<Compiled>> {
    let mut compiled = Compiled::default();
    for (id, rule) in rules {
        let grant = Grant {
            rank: id,
            allow: rule.permission == Permission::Allow,
        };
        let (publish, subscribe) = match rule.action {
            RuleAction::Publish => (true, false),
            RuleAction::Subscribe => (false, true),
            RuleAction::All => (true, true),
        };
        if !rule.eq {
            compiled
                .rules
                .insert(&rule.topic, true, grant, publish, subscribe);
            continue;
        }
        compiled
            .rules
            .insert_exact(&rule.topic, grant, publish, subscribe);
        let filter = starling_topic::TopicFilter::new(&rule.topic).is_ok();
        if subscribe && grant.allow && filter {
            compiled
                .reads
                .insert(&rule.topic, false, grant, false, true);
        }
    }
    (!compiled.rules.is_empty()).then(|| Arc::new(compiled))
}

/// The rules by id, and the ids of each group (kept by the writer).
#[derive(Debug, Default)]
struct Source {
    rules: BTreeMap<u64, Rule>,
    groups: HashMap<Group, BTreeSet<u64>>,
}

/// The `builtin` rules: a lock-free check, changes one at a time.
#[derive(Debug)]
pub struct BuiltinRules {
    tables: ArcSwap<Tables>,
    source: Mutex<Source>,
    generation: AtomicU64,
    max: usize,
}

impl BuiltinRules {
    /// No rules, at most `max` of them.
    pub fn new(max: usize) -> Self {
        Self {
            tables: ArcSwap::default(),
            source: Mutex::default(),
            generation: AtomicU64::new(0),
            max,
        }
    }

    /// The most rules it holds.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Rules held.
    pub fn len(&self) -> usize {
        self.source().rules.len()
    }

    /// True when it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Changes with every change of the rules.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn source(&self) -> std::sync::MutexGuard<'_, Source> {
        self.source.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What the rules say about `who` doing `action` on `topic`. O(topic levels) per group
    /// the principal belongs to; never waits for a change.
    pub fn check(&self, who: &Principal, action: Action, topic: &str) -> Decision {
        self.tables.load().check(who, action, topic).into()
    }

    /// The rule `id`.
    pub fn get(&self, id: u64) -> Option<Rule> {
        self.source().rules.get(&id).cloned()
    }

    /// Every rule, by id (their precedence).
    pub fn list(&self) -> Vec<(u64, Rule)> {
        let source = self.source();
        source
            .rules
            .iter()
            .map(|(id, r)| (*id, r.clone()))
            .collect()
    }

    /// The id after the highest one held (1 when there are none).
    pub fn next_id(&self) -> u64 {
        let source = self.source();
        source
            .rules
            .keys()
            .next_back()
            .map_or(1, |id| id.saturating_add(1))
    }

    /// Replaces every rule with `rules` (at start, from the store). The caller checks them
    /// and the cap.
    pub fn restore(&self, rules: impl IntoIterator<Item = (u64, Rule)>) {
        let mut source = self.source();
        *source = Source::default();
        for (id, rule) in rules {
            let group = group_of(&rule.who);
            source.groups.entry(group).or_default().insert(id);
            source.rules.insert(id, rule);
        }
        let mut tables = Tables::default();
        for (group, ids) in &source.groups {
            let compiled = compile(
                ids.iter()
                    .filter_map(|id| Some((*id, source.rules.get(id)?))),
            );
            tables.set(group, compiled);
        }
        self.tables.store(Arc::new(tables));
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Adds rule `id`, or replaces it; returns the rule it replaced. The caller checks the
    /// rule and the cap.
    pub fn put(&self, id: u64, rule: Rule) -> Option<Rule> {
        let mut source = self.source();
        let group = group_of(&rule.who);
        let old = source.rules.insert(id, rule);
        let old_group = old.as_ref().map(|old| group_of(&old.who));
        let mut touched = vec![group.clone()];
        if let Some(old_group) = old_group.filter(|g| *g != group) {
            if let Some(ids) = source.groups.get_mut(&old_group) {
                ids.remove(&id);
            }
            touched.push(old_group);
        }
        source.groups.entry(group).or_default().insert(id);
        self.recompile(&mut source, &touched);
        old
    }

    /// Removes rule `id`; returns it.
    pub fn remove(&self, id: u64) -> Option<Rule> {
        let mut source = self.source();
        let old = source.rules.remove(&id)?;
        let group = group_of(&old.who);
        if let Some(ids) = source.groups.get_mut(&group) {
            ids.remove(&id);
        }
        self.recompile(&mut source, &[group]);
        Some(old)
    }

    fn recompile(&self, source: &mut Source, groups: &[Group]) {
        let mut tables = Tables::clone(&self.tables.load());
        for group in groups {
            let ids = source.groups.get(group).cloned().unwrap_or_default();
            if ids.is_empty() {
                source.groups.remove(group);
            }
            let compiled = compile(
                ids.iter()
                    .filter_map(|id| Some((*id, source.rules.get(id)?))),
            );
            tables.set(group, compiled);
        }
        self.tables.store(Arc::new(tables));
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}
