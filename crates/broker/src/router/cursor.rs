//! Retained messages for a new subscription, streamed.
//!
//! A SUBSCRIBE that wants retained messages does not get them in its answer. It gets a cursor:
//! its filter, the granted QoS and subscription id, and the topic of the last retained message
//! handed out (see `starling_topic::RetainedTree` for why that one topic is the whole cursor).
//! The router hands out messages only against credit from the session: the room its inflight
//! window and queue have, sent with the SUBSCRIBE and again with each
//! [`RouterCmd::Resume`](super::command::RouterCmd::Resume). When the credit
//! runs out before the cursors do, the session is told [`SessionControl::Owed`] and
//! asks again once it has room. So whatever the store holds, a pending subscription costs a
//! cursor of constant size, the session's mailbox holds at most one credit's worth, and every
//! matching message is delivered (none cut at some count).
//!
//! Cursors belong to the client id: they wait while the client is offline and carry on when
//! its session is resumed. They go when the subscription does (unsubscribe, clean start,
//! session end), and a new SUBSCRIBE to the same filter starts its cursor again.

use super::command::SessionControl;
use super::Router;
use starling_codec::QoS;
use starling_core::Delivery;
use starling_topic::{TopicFilter, TopicName};
use std::collections::VecDeque;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::SystemTime;

/// Most retained messages handed out per request, whatever credit the session offers.
pub(crate) const RETAINED_BATCH: usize = 128;

/// Where one subscription's retained delivery stands.
#[derive(Debug)]
pub(crate) struct RetainCursor {
    filter: TopicFilter,
    qos: QoS,
    subscription_id: Option<u32>,
    /// The topic of the last message handed out.
    after: Option<TopicName>,
}

impl RetainCursor {
    pub(crate) fn new(filter: TopicFilter, qos: QoS, subscription_id: Option<u32>) -> Self {
        Self {
            filter,
            qos,
            subscription_id,
            after: None,
        }
    }
}

/// The cursors of one client, served in subscription order.
pub(crate) type ClientCursors = VecDeque<RetainCursor>;

impl Router {
    /// Adds a cursor for `client_id`, replacing one on the same filter.
    pub(super) fn add_cursor(&mut self, client_id: &Arc<str>, cursor: RetainCursor) {
        let list = self.cursors.entry(client_id.clone()).or_default();
        list.retain(|c| c.filter != cursor.filter);
        list.push_back(cursor);
    }

    /// Drops the cursor on `filter`, if any.
    pub(super) fn drop_cursor(&mut self, client_id: &str, filter: &TopicFilter) {
        if let Some(list) = self.cursors.get_mut(client_id) {
            list.retain(|c| &c.filter != filter);
            if list.is_empty() {
                self.cursors.remove(client_id);
            }
        }
    }

    /// Hands out up to `credit` (at most [`RETAINED_BATCH`]) retained messages from the
    /// client's cursors; tells the session to ask again if some remain.
    pub(super) fn pump_retained(&mut self, client_id: &str, credit: usize, now: SystemTime) {
        let Some(list) = self.cursors.get_mut(client_id) else {
            return;
        };
        let Some(reg) = self.registry.get(client_id) else {
            return;
        };
        let mut budget = credit.min(RETAINED_BATCH);
        let mut out = Vec::new();
        while budget > 0 {
            let Some(cursor) = list.front_mut() else {
                break;
            };
            let after = cursor.after.clone();
            let flow = self.retained.for_each_match_after(
                &cursor.filter,
                after.as_ref().map(TopicName::as_str),
                now,
                |message| {
                    out.push(Delivery {
                        qos: message.qos.min(cursor.qos),
                        message: message.clone(),
                        retain: true, // [MQTT-3.3.1-8]
                        subscription_ids: cursor.subscription_id.into_iter().collect(),
                        shared: None,
                        stored: 0,
                    });
                    cursor.after = Some(message.topic.clone());
                    budget -= 1;
                    if budget == 0 {
                        ControlFlow::Break(())
                    } else {
                        ControlFlow::Continue(())
                    }
                },
            );
            if flow.is_continue() {
                list.pop_front();
            }
        }
        for delivery in out {
            reg.mailbox.deliver_granted(delivery);
        }
        if list.is_empty() {
            self.cursors.remove(client_id);
        } else {
            reg.mailbox.control(SessionControl::Owed);
        }
    }
}
