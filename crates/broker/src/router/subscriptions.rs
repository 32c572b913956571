//! The subscription table: the trie (filter -> subscriber) plus, per client, the filters it
//! holds, so a session that ends can be removed without scanning the trie. A shared subscription
//! is one trie entry per (group, filter) whose members live in a [`SharedGroup`]; exclusive
//! subscriptions record their holder.

use super::shared::{Member, SharedGroup};
use starling_codec::SubscriptionOptions;
use starling_core::SharedTag;
use starling_topic::{SubscriptionTarget, SubscriptionTrie};
use std::collections::HashMap;
use std::sync::Arc;

/// Who a trie entry delivers to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum SubKey {
    /// A client's own subscription.
    Client(Arc<str>),
    /// A share group on a filter.
    Group(Arc<str>),
}

/// A client's own subscription.
#[derive(Debug, Clone)]
pub(crate) struct ClientSub {
    pub(crate) options: SubscriptionOptions,
    pub(crate) subscription_id: Option<u32>,
}

/// What a client holds, by the filter string it subscribed with (prefix included).
#[derive(Debug, Default)]
struct ClientIndex {
    targets: HashMap<String, SubscriptionTarget>,
}

/// Why a subscribe was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SubscribeRefusal {
    /// Another client holds the exclusive subscription.
    ExclusiveHeld,
}

/// The whole subscription table.
#[derive(Debug, Default)]
pub(crate) struct Subscriptions {
    pub(crate) trie: SubscriptionTrie<SubKey, ClientSub>,
    pub(crate) groups: HashMap<Arc<str>, SharedGroup>,
    exclusive: HashMap<Arc<str>, Arc<str>>,
    clients: HashMap<Arc<str>, ClientIndex>,
    count: usize,
}

impl Subscriptions {
    /// Adds or replaces a subscription. Ok(true) when it did not exist before.
    pub(crate) fn subscribe(
        &mut self,
        client_id: &Arc<str>,
        raw: &str,
        target: &SubscriptionTarget,
        options: SubscriptionOptions,
        subscription_id: Option<u32>,
    ) -> Result<bool, SubscribeRefusal> {
        let sub = ClientSub {
            options,
            subscription_id,
        };
        let is_new = match target {
            SubscriptionTarget::Plain(filter) => {
                let key = SubKey::Client(client_id.clone());
                self.trie.insert(filter, key, sub).is_none()
            }
            SubscriptionTarget::Exclusive(filter) => {
                let name: Arc<str> = filter.as_str().into();
                match self.exclusive.get(&name) {
                    Some(holder) if holder != client_id => {
                        return Err(SubscribeRefusal::ExclusiveHeld)
                    }
                    _ => {}
                }
                self.exclusive.insert(name, client_id.clone());
                let key = SubKey::Client(client_id.clone());
                self.trie.insert(filter, key, sub).is_none()
            }
            SubscriptionTarget::Shared { group, filter } => {
                let id = group_id(group, filter.as_str());
                self.trie.insert(filter, SubKey::Group(id.clone()), sub);
                let member = Member {
                    client_id: client_id.clone(),
                    options,
                    subscription_id,
                };
                let tag = Arc::new(SharedTag {
                    group: group.as_str().into(),
                    filter: filter.as_str().into(),
                });
                self.groups
                    .entry(id)
                    .or_insert_with(|| SharedGroup::new(tag))
                    .upsert(member)
            }
        };
        let index = self.clients.entry(client_id.clone()).or_default();
        if index
            .targets
            .insert(raw.to_owned(), target.clone())
            .is_none()
        {
            self.count += 1;
        }
        Ok(is_new)
    }

    /// Removes one subscription; true when it existed.
    pub(crate) fn unsubscribe(&mut self, client_id: &Arc<str>, raw: &str) -> bool {
        let Some(index) = self.clients.get_mut(client_id) else {
            return false;
        };
        let Some(target) = index.targets.remove(raw) else {
            return false;
        };
        if index.targets.is_empty() {
            self.clients.remove(client_id);
        }
        self.count -= 1;
        self.remove_target(client_id, &target);
        true
    }

    /// Removes every subscription of a client.
    pub(crate) fn remove_client(&mut self, client_id: &Arc<str>) {
        let Some(index) = self.clients.remove(client_id) else {
            return;
        };
        self.count -= index.targets.len();
        for target in index.targets.values() {
            self.remove_target(client_id, target);
        }
    }

    fn remove_target(&mut self, client_id: &Arc<str>, target: &SubscriptionTarget) {
        match target {
            SubscriptionTarget::Plain(filter) => {
                self.trie.remove(filter, &SubKey::Client(client_id.clone()));
            }
            SubscriptionTarget::Exclusive(filter) => {
                self.trie.remove(filter, &SubKey::Client(client_id.clone()));
                if self.exclusive.get(filter.as_str()) == Some(client_id) {
                    self.exclusive.remove(filter.as_str());
                }
            }
            SubscriptionTarget::Shared { group, filter } => {
                let id = group_id(group, filter.as_str());
                if let Some(members) = self.groups.get_mut(&id) {
                    members.remove(client_id);
                    if members.members.is_empty() {
                        self.groups.remove(&id);
                        self.trie.remove(filter, &SubKey::Group(id));
                    }
                }
            }
        }
    }

    /// Number of subscriptions (client, filter) held.
    pub(crate) fn len(&self) -> usize {
        self.count
    }
}

/// The key of a share group: the trie key is the group name joined to the filter, so two groups
/// of the same name on different filters stay apart.
pub(crate) fn group_id(group: &str, filter: &str) -> Arc<str> {
    format!("{group}\u{0}{filter}").into()
}
