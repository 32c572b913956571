//! The router's side of modules (`crate::modules`): the rules it owns (topic rewrite,
//! auto-subscribe) and clearing what delayed publish and the retainer hold.
//!
//! Rewrite applies to the topic a message is routed to (after `$delayed/<s>/` is taken off)
//! and to the filter of SUBSCRIBE and UNSUBSCRIBE (inside `$share/<g>/` and `$exclusive/`),
//! after the channel's checks and ACLs, which judge what the client sent. Auto-subscribe runs
//! when a client connects, as if it had subscribed. With no rules each costs one `is_empty`.

use super::command::ModuleOrder;
use super::Router;
use starling_codec::ReasonCode;
use starling_core::{Message, SubscribeRequest, Switch};
use starling_topic::{SubscriptionTarget, TopicFilter, TopicName};
use std::sync::Arc;
use std::time::SystemTime;

/// What one clearing turn removes at most.
const CLEAR_BATCH: usize = 10_000;

impl Router {
    pub(super) fn module_order(&mut self, order: ModuleOrder, now: SystemTime) {
        match order {
            ModuleOrder::Rewrite(rules) => self.settings.rewrite = rules,
            ModuleOrder::AutoSubscribe(topics) => self.settings.auto_subscribe = topics,
            ModuleOrder::ClearDelayed(reply) => {
                for (at, id) in self.delayed.remove_some(CLEAR_BATCH) {
                    self.persist.delayed_fired(at, id);
                }
                let _ = reply.send(self.delayed.len() > 0);
            }
            ModuleOrder::ClearRetained(reply) => {
                let topics = self.retained.topics(CLEAR_BATCH, now);
                let more = topics.len() == CLEAR_BATCH;
                for topic in topics {
                    if self.retained.remove(topic.as_str()) {
                        self.persist.retained_cleared(topic.as_str());
                    }
                }
                let _ = reply.send(more);
            }
        }
    }

    /// `message` with its topic rewritten, if a rule applies.
    pub(super) fn rewrite_message(&self, message: Arc<Message>) -> Arc<Message> {
        if self.settings.rewrite.is_empty() {
            return message;
        }
        let Some(new) = self.settings.rewrite.publish(message.topic.as_str()) else {
            return message;
        };
        match TopicName::parse(&new, &self.settings.topic_limits) {
            Ok(topic) if !topic.is_sys() => Arc::new(Message {
                wire_topic: Message::wire_topic_of(&topic),
                topic,
                ..(*message).clone()
            }),
            _ => message,
        }
    }

    /// A SUBSCRIBE request with its filter rewritten, if a rule applies.
    pub(super) fn rewrite_request(&self, request: SubscribeRequest) -> SubscribeRequest {
        if self.settings.rewrite.is_empty() {
            return request;
        }
        SubscribeRequest {
            target: self.rewrite_target(request.target),
            ..request
        }
    }

    /// `target` with its filter rewritten, if a rule applies (the same kind of target).
    pub(super) fn rewrite_target(&self, target: SubscriptionTarget) -> SubscriptionTarget {
        if self.settings.rewrite.is_empty() {
            return target;
        }
        let Some(new) = self.settings.rewrite.subscribe(target.filter().as_str()) else {
            return target;
        };
        let Ok(filter) = TopicFilter::parse(&new, &self.settings.topic_limits) else {
            return target;
        };
        match target {
            SubscriptionTarget::Plain(_) => SubscriptionTarget::Plain(filter),
            SubscriptionTarget::Exclusive(_) => SubscriptionTarget::Exclusive(filter),
            SubscriptionTarget::Shared { group, .. } => {
                SubscriptionTarget::Shared { group, filter }
            }
        }
    }

    /// Subscribes a client that just connected to the auto-subscribe topics; retained
    /// messages for them follow when the session asks (`SessionControl::Owed`).
    pub(super) fn auto_subscribe(&mut self, client_id: &Arc<str>, now: SystemTime) {
        if self.settings.auto_subscribe.is_empty() {
            return;
        }
        let username = self
            .index
            .get(client_id)
            .and_then(|info| info.as_ref()?.username.clone());
        let requests = self.settings.auto_subscribe.requests(
            client_id,
            username.as_deref(),
            &self.settings.topic_limits,
        );
        let switches = Arc::clone(&self.settings.switches);
        for request in requests {
            let allowed = match request.target {
                SubscriptionTarget::Shared { .. } => switches.is_on(Switch::Shared),
                SubscriptionTarget::Exclusive(_) => switches.is_on(Switch::Exclusive),
                SubscriptionTarget::Plain(_) => true,
            };
            if allowed && self.add_subscription(client_id, request) == ReasonCode::QuotaExceeded {
                tracing::debug!(%client_id, "an auto-subscribe topic was refused: quota");
            }
        }
        self.pump_retained(client_id, 0, now);
    }
}
