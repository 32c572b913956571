//! Shared subscription groups (`$share/<group>/<filter>`, `$queue/<filter>`): each message goes
//! to exactly one member, chosen by the configured strategy, preferring members that are online.

use starling_codec::SubscriptionOptions;
use starling_config::SharedStrategy;
use starling_core::SharedTag;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// One member of a share group.
#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub(crate) client_id: Arc<str>,
    pub(crate) options: SubscriptionOptions,
    pub(crate) subscription_id: Option<u32>,
}

/// The members of one (group, filter) pair and the dispatch cursor.
#[derive(Debug)]
pub(crate) struct SharedGroup {
    pub(crate) tag: Arc<SharedTag>,
    pub(crate) members: Vec<Member>,
    cursor: usize,
    sticky: Option<Arc<str>>,
}

impl SharedGroup {
    pub(crate) fn new(tag: Arc<SharedTag>) -> Self {
        Self {
            tag,
            members: Vec::new(),
            cursor: 0,
            sticky: None,
        }
    }

    /// Adds or replaces a member; true when it is new.
    pub(crate) fn upsert(&mut self, member: Member) -> bool {
        match self
            .members
            .iter_mut()
            .find(|m| m.client_id == member.client_id)
        {
            Some(existing) => {
                *existing = member;
                false
            }
            None => {
                self.members.push(member);
                true
            }
        }
    }

    /// Removes a member; true when it was there.
    pub(crate) fn remove(&mut self, client_id: &str) -> bool {
        let before = self.members.len();
        self.members.retain(|m| &*m.client_id != client_id);
        if self.sticky.as_deref() == Some(client_id) {
            self.sticky = None;
        }
        before != self.members.len()
    }

    /// Picks the member for one message. `online` says whether a client is connected; offline
    /// members are chosen only when no member is online. `exclude` skips a member that just left.
    pub(crate) fn pick(
        &mut self,
        strategy: SharedStrategy,
        topic: &str,
        publisher: &str,
        online: impl Fn(&str) -> bool,
        exclude: Option<&str>,
    ) -> Option<&Member> {
        let eligible = |m: &Member| Some(&*m.client_id) != exclude;
        let any_online = self
            .members
            .iter()
            .any(|m| eligible(m) && online(&m.client_id));
        let usable = |m: &Member| eligible(m) && (!any_online || online(&m.client_id));
        let candidates: Vec<usize> = (0..self.members.len())
            .filter(|&i| usable(&self.members[i]))
            .collect();
        if candidates.is_empty() {
            return None;
        }
        let index = match strategy {
            SharedStrategy::Random => candidates[rand::random::<usize>() % candidates.len()],
            SharedStrategy::RoundRobin => {
                self.cursor = self.cursor.wrapping_add(1);
                candidates[self.cursor % candidates.len()]
            }
            SharedStrategy::Sticky => {
                let current = self.sticky.as_ref().and_then(|s| {
                    candidates
                        .iter()
                        .copied()
                        .find(|&i| self.members[i].client_id == *s)
                });
                let chosen =
                    current.unwrap_or(candidates[rand::random::<usize>() % candidates.len()]);
                self.sticky = Some(self.members[chosen].client_id.clone());
                chosen
            }
            SharedStrategy::HashClientid => candidates[hash(publisher) % candidates.len()],
            SharedStrategy::HashTopic => candidates[hash(topic) % candidates.len()],
        };
        self.members.get(index)
    }
}

fn hash(s: &str) -> usize {
    let mut h = DefaultHasher::new();
    s.hash(&mut h);
    h.finish() as usize
}
