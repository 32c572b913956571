//! Routing one message: `$delayed/` handling, the retained store, one trie walk merged per
//! client (highest QoS, every subscription identifier, No Local, Retain As Published), one member
//! per share group, and the offer to each subscriber's mailbox.

use super::retain::RetainOutcome;
use super::{Router, SubKey};
use crate::metrics::Metrics;
use starling_core::{Delivery, Message, SharedTag, Switch};
use starling_topic::DelayedPublish;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// How far one message got: the sessions that took it, and those a limit kept it from.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Reach {
    pub(super) delivered: u32,
    pub(super) refused: u32,
}

impl Reach {
    /// Subscribers matched, but a limit kept it from every one: a publisher must not be told
    /// it was delivered.
    pub(super) fn refused_only(self) -> bool {
        self.refused > 0 && self.delivered == 0
    }

    fn count(&mut self, delivered: bool) {
        if delivered {
            self.delivered += 1;
        } else {
            self.refused += 1;
        }
    }
}

impl Router {
    /// A message from a client (or a will, or `$SYS`): held back if it is `$delayed/` and
    /// delayed publish is on, routed otherwise, in both cases to its topic as rewritten
    /// (`router::modules`). The channel already refused invalid `$delayed` topics and `$SYS`
    /// ones, so what is left to do here is the unwrapping.
    pub(super) fn publish(&mut self, message: Arc<Message>, now: SystemTime) -> Reach {
        if self.settings.switches.is_on(Switch::Delayed) {
            match DelayedPublish::parse(message.topic.as_str(), &self.settings.topic_limits) {
                Ok(Some(delayed)) => {
                    let inner = Message {
                        wire_topic: Message::wire_topic_of(&delayed.topic),
                        topic: delayed.topic,
                        ..(*message).clone()
                    };
                    let at = now + Duration::from_secs(delayed.delay_secs.into());
                    let inner = self.rewrite_message(Arc::new(inner));
                    let mut reach = Reach::default();
                    match self.delayed.push(at, inner.clone()) {
                        Some(id) => {
                            self.persist.delayed_held(at, id, &inner);
                            reach.count(true);
                        }
                        None => {
                            Metrics::add(&self.metrics.messages_dropped, 1);
                            reach.count(false);
                        }
                    }
                    return reach;
                }
                Err(_) => {
                    Metrics::add(&self.metrics.messages_dropped, 1);
                    return Reach::default();
                }
                Ok(None) => {}
            }
        }
        let message = self.rewrite_message(message);
        self.route(&message)
    }

    /// Routes the delayed messages due at `now`, forgets retained ones that expired, and runs
    /// offline sessions' wills and expiries.
    pub(super) fn handle_timers(&mut self, now: SystemTime) {
        for (at, id, message) in self.delayed.pop_due(now) {
            self.persist.delayed_fired(at, id);
            self.route(&message);
        }
        for topic in self.retained.sweep(now) {
            self.persist.retained_cleared(&topic);
        }
        self.offline_timers(now);
    }

    /// Stores a retained message (while the retainer is on) and delivers it to every matching
    /// subscription.
    pub(super) fn route(&mut self, message: &Arc<Message>) -> Reach {
        let mut reach = Reach::default();
        if message.retain && self.settings.switches.is_on(Switch::Retainer) {
            match self.retained.apply(message) {
                RetainOutcome::Refused => {
                    Metrics::add(&self.metrics.messages_dropped, 1);
                    reach.count(false);
                }
                RetainOutcome::Stored => {
                    self.persist.retained_stored(message);
                    reach.count(true);
                }
                RetainOutcome::Cleared => self.persist.retained_cleared(message.topic.as_str()),
            }
        }
        let mut targets = std::mem::take(&mut self.targets);
        let mut groups = std::mem::take(&mut self.groups_hit);
        self.subs
            .trie
            .for_each_match(&message.topic, |key, sub| match key {
                SubKey::Client(id) | SubKey::Exclusive(id) => {
                    if sub.options.no_local && **id == *message.publisher {
                        return; // [MQTT-3.8.3-3]
                    }
                    let target = targets.entry(id.clone()).or_default();
                    target.qos = target.qos.max(sub.options.qos);
                    target.retain_as_published |= sub.options.retain_as_published;
                    target.subscription_ids.extend(sub.subscription_id);
                }
                SubKey::Group(group) => groups.push(group.clone()),
            });
        for (client_id, target) in targets.drain() {
            let delivery = Delivery {
                message: message.clone(),
                qos: message.qos.min(target.qos),
                // [MQTT-3.3.1-12]/[MQTT-3.3.1-13]: retain-as-published or cleared.
                retain: message.retain && target.retain_as_published,
                subscription_ids: target.subscription_ids.into_boxed_slice(),
                shared: None,
                stored: 0,
            };
            reach.count(self.deliver(&client_id, delivery));
        }
        for group in groups.drain(..) {
            reach.count(self.dispatch_shared(&group, message, None));
        }
        self.targets = targets;
        self.groups_hit = groups;
        reach
    }

    /// Gives a message to one member of a share group.
    pub(super) fn dispatch_shared(
        &mut self,
        group: &SharedTag,
        message: &Arc<Message>,
        exclude: Option<&str>,
    ) -> bool {
        let registry = &self.registry;
        let online = |id: &str| registry.get(id).is_some_and(|r| r.online());
        let Some(shared) = self.subs.groups.get_mut(group) else {
            return false;
        };
        let strategy = self.settings.strategy;
        let tag = shared.tag.clone();
        let picked = shared
            .pick(
                strategy,
                message.topic.as_str(),
                &message.publisher,
                online,
                exclude,
            )
            .cloned();
        let Some(member) = picked else {
            Metrics::add(&self.metrics.messages_dropped, 1);
            return false;
        };
        let delivery = Delivery {
            message: message.clone(),
            qos: message.qos.min(member.options.qos),
            retain: message.retain && member.options.retain_as_published,
            subscription_ids: member.subscription_id.into_iter().collect(),
            shared: Some(tag),
            stored: 0,
        };
        let client_id = member.client_id.clone();
        self.deliver(&client_id, delivery)
    }

    /// A shared-subscription message whose member left: give it to another member.
    pub(super) fn redispatch(&mut self, delivery: Delivery, leaving: &str) {
        let Some(tag) = &delivery.shared else { return };
        self.dispatch_shared(tag, &delivery.message, Some(leaving));
    }
}
