//! The subscription table: the trie (filter -> subscriber) plus, per client, the targets it
//! holds, so a session that ends can be removed without scanning the trie. A shared
//! subscription is one trie entry per (group, filter) whose members live in a [`SharedGroup`];
//! exclusive subscriptions record their holder.
//!
//! Beside them, `routes` counts the trie entries per filter, in filter order: the routing
//! table `GET /api/v5/topics` pages through (EMQX's "topics"), which the hash-keyed trie
//! cannot walk in order.
//!
//! Keys are typed: a client's plain and exclusive subscriptions on the same filter are two
//! entries ([`SubKey::Client`], [`SubKey::Exclusive`]), so removing one never leaves the other
//! half-removed, and a share group is named by its [`SharedTag`] (group and filter), not by a
//! string built from both.

use super::shared::{Member, SharedGroup};
use starling_codec::SubscriptionOptions;
use starling_core::SharedTag;
use starling_topic::{SubscriptionTarget, SubscriptionTrie, TopicFilter};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// Who a trie entry delivers to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum SubKey {
    /// A client's own plain subscription.
    Client(Arc<str>),
    /// A client's `$exclusive/` subscription.
    Exclusive(Arc<str>),
    /// A share group on a filter.
    Group(Arc<SharedTag>),
}

/// A client's own subscription.
#[derive(Debug, Clone)]
pub(crate) struct ClientSub {
    pub(crate) options: SubscriptionOptions,
    pub(crate) subscription_id: Option<u32>,
}

/// Why a subscribe was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SubscribeRefusal {
    /// Another client holds the exclusive subscription.
    ExclusiveHeld,
    /// The client holds `max_subscriptions` already.
    TooMany,
}

/// The whole subscription table.
#[derive(Debug, Default)]
pub(crate) struct Subscriptions {
    pub(crate) trie: SubscriptionTrie<SubKey, ClientSub>,
    pub(crate) groups: HashMap<Arc<SharedTag>, SharedGroup>,
    exclusive: HashMap<TopicFilter, Arc<str>>,
    clients: HashMap<Arc<str>, BTreeSet<SubscriptionTarget>>,
    /// Trie entries per filter (a share group counts once), in filter order.
    pub(crate) routes: BTreeMap<TopicFilter, u32>,
    count: usize,
    /// Subscriptions one client may hold; 0 is no limit.
    max_per_client: usize,
}

impl Subscriptions {
    pub(crate) fn new(max_per_client: usize) -> Self {
        Self {
            max_per_client,
            ..Self::default()
        }
    }

    /// Adds or replaces a subscription. Ok(true) when it did not exist before.
    pub(crate) fn subscribe(
        &mut self,
        client_id: &Arc<str>,
        target: &SubscriptionTarget,
        options: SubscriptionOptions,
        subscription_id: Option<u32>,
    ) -> Result<bool, SubscribeRefusal> {
        let held = self.clients.get(client_id);
        let exists = held.is_some_and(|h| h.contains(target));
        let at_cap =
            self.max_per_client != 0 && held.is_some_and(|h| h.len() >= self.max_per_client);
        if !exists && at_cap {
            return Err(SubscribeRefusal::TooMany);
        }
        let sub = ClientSub {
            options,
            subscription_id,
        };
        match target {
            SubscriptionTarget::Plain(filter) => {
                self.route_insert(filter, SubKey::Client(client_id.clone()), sub);
            }
            SubscriptionTarget::Exclusive(filter) => {
                match self.exclusive.get(filter) {
                    Some(holder) if holder != client_id => {
                        return Err(SubscribeRefusal::ExclusiveHeld)
                    }
                    _ => {}
                }
                self.exclusive.insert(filter.clone(), client_id.clone());
                self.route_insert(filter, SubKey::Exclusive(client_id.clone()), sub);
            }
            SubscriptionTarget::Shared { group, filter } => {
                let tag = Arc::new(SharedTag {
                    group: group.as_str().into(),
                    filter: filter.as_str().into(),
                });
                let member = Member {
                    client_id: client_id.clone(),
                    options,
                    subscription_id,
                };
                let shared = self
                    .groups
                    .entry(tag.clone())
                    .or_insert_with(|| SharedGroup::new(tag.clone()));
                shared.upsert(member);
                self.route_insert(filter, SubKey::Group(tag), sub);
            }
        }
        if !exists {
            self.clients
                .entry(client_id.clone())
                .or_default()
                .insert(target.clone());
            self.count += 1;
        }
        Ok(!exists)
    }

    /// Removes one subscription; true when it existed.
    pub(crate) fn unsubscribe(
        &mut self,
        client_id: &Arc<str>,
        target: &SubscriptionTarget,
    ) -> bool {
        let Some(held) = self.clients.get_mut(client_id) else {
            return false;
        };
        if !held.remove(target) {
            return false;
        }
        if held.is_empty() {
            self.clients.remove(client_id);
        }
        self.count -= 1;
        self.remove_target(client_id, target);
        true
    }

    /// Removes every subscription of a client.
    pub(crate) fn remove_client(&mut self, client_id: &Arc<str>) {
        let Some(held) = self.clients.remove(client_id) else {
            return;
        };
        self.count -= held.len();
        for target in &held {
            self.remove_target(client_id, target);
        }
    }

    fn remove_target(&mut self, client_id: &Arc<str>, target: &SubscriptionTarget) {
        match target {
            SubscriptionTarget::Plain(filter) => {
                self.route_remove(filter, &SubKey::Client(client_id.clone()));
            }
            SubscriptionTarget::Exclusive(filter) => {
                self.route_remove(filter, &SubKey::Exclusive(client_id.clone()));
                if self.exclusive.get(filter) == Some(client_id) {
                    self.exclusive.remove(filter);
                }
            }
            SubscriptionTarget::Shared { group, filter } => {
                let tag = SharedTag {
                    group: group.as_str().into(),
                    filter: filter.as_str().into(),
                };
                if let Some(members) = self.groups.get_mut(&tag) {
                    members.remove(client_id);
                    if members.members.is_empty() {
                        if let Some((key, _)) = self.groups.remove_entry(&tag) {
                            self.route_remove(filter, &SubKey::Group(key));
                        }
                    }
                }
            }
        }
    }

    /// Inserts into the trie, counting a new entry in `routes`.
    fn route_insert(&mut self, filter: &TopicFilter, key: SubKey, sub: ClientSub) {
        if self.trie.insert(filter, key, sub).is_none() {
            *self.routes.entry(filter.clone()).or_insert(0) += 1;
        }
    }

    /// Removes from the trie, and from `routes` with its last entry.
    fn route_remove(&mut self, filter: &TopicFilter, key: &SubKey) {
        if self.trie.remove(filter, key).is_none() {
            return;
        }
        if let Some(n) = self.routes.get_mut(filter) {
            *n -= 1;
            if *n == 0 {
                self.routes.remove(filter);
            }
        }
    }

    /// Number of distinct filters subscribed to.
    pub(crate) fn topics(&self) -> usize {
        self.routes.len()
    }

    /// Number of subscriptions (client, target) held.
    pub(crate) fn len(&self) -> usize {
        self.count
    }

    /// The subscriptions `client_id` holds (empty when none).
    pub(crate) fn of(&self, client_id: &str) -> &BTreeSet<SubscriptionTarget> {
        static NONE: BTreeSet<SubscriptionTarget> = BTreeSet::new();
        self.clients.get(client_id).unwrap_or(&NONE)
    }

    /// The options and identifier of one of `client_id`'s subscriptions.
    pub(crate) fn options_of(
        &self,
        client_id: &Arc<str>,
        target: &SubscriptionTarget,
    ) -> Option<(SubscriptionOptions, Option<u32>)> {
        let sub = match target {
            SubscriptionTarget::Plain(filter) => {
                self.trie.get(filter, &SubKey::Client(client_id.clone()))
            }
            SubscriptionTarget::Exclusive(filter) => {
                self.trie.get(filter, &SubKey::Exclusive(client_id.clone()))
            }
            SubscriptionTarget::Shared { group, filter } => {
                let tag = SharedTag {
                    group: group.as_str().into(),
                    filter: filter.as_str().into(),
                };
                let member = self
                    .groups
                    .get(&tag)?
                    .members
                    .iter()
                    .find(|m| m.client_id == *client_id)?;
                return Some((member.options, member.subscription_id));
            }
        }?;
        Some((sub.options, sub.subscription_id))
    }

    /// Number of subscriptions `client_id` holds.
    #[cfg(test)]
    pub(crate) fn of_client(&self, client_id: &str) -> usize {
        self.clients.get(client_id).map_or(0, BTreeSet::len)
    }

    /// The holder of the exclusive subscription on `filter`.
    #[cfg(test)]
    pub(crate) fn exclusive_holder(&self, filter: &str) -> Option<&Arc<str>> {
        let filter = TopicFilter::new(filter).ok()?;
        self.exclusive.get(&filter)
    }
}
