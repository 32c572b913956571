//! Management queries (the admin API): pages of clients, subscriptions, routes (topics) and
//! retained messages, one client, removing a retained message, discarding a session.
//!
//! Every query is bounded: it walks at most [`SCAN_LIMIT`] entries from its cursor (the
//! sessions' `BTreeMap` by client id, or the retained tree in topic order) and returns at
//! most [`MAX_PAGE`], with the cursor to continue from. A filter that matches little costs
//! several calls, each one short, so listing 100,000 clients never holds the router for long.

use super::command::SessionControl;
use super::subscriptions::Subscriptions;
use super::Router;
use crate::clients::{
    ClientFilter, ClientInfo, ClientRow, Page, RetainedRow, SessionReport, SubscriptionFilter,
    SubscriptionRow, TopicFilterQuery, TopicRow, MAX_PAGE, SCAN_LIMIT,
};
use starling_topic::{SubscriptionTarget, TopicFilter, TopicName};
use std::ops::{Bound, ControlFlow};
use std::sync::Arc;
use std::time::SystemTime;
use tokio::sync::oneshot;

/// A query and where its answer goes.
#[derive(Debug)]
pub(crate) enum Query {
    /// Clients after `after`, in client-id order.
    Clients {
        after: Option<Arc<str>>,
        limit: usize,
        filter: ClientFilter,
        reply: oneshot::Sender<Page<ClientRow, Arc<str>>>,
    },
    /// One client.
    Client {
        client_id: String,
        reply: oneshot::Sender<Option<(ClientRow, Option<oneshot::Receiver<SessionReport>>)>>,
    },
    /// Subscriptions after (client id, filter as written), in that order.
    Subscriptions {
        after: Option<(Arc<str>, String)>,
        limit: usize,
        filter: SubscriptionFilter,
        reply: oneshot::Sender<Page<SubscriptionRow, (Arc<str>, String)>>,
    },
    /// Routes (distinct subscribed filters) after the filter `after`, in filter order.
    Topics {
        after: Option<String>,
        limit: usize,
        filter: TopicFilterQuery,
        reply: oneshot::Sender<Page<TopicRow, String>>,
    },
    /// Retained messages matching `filter` after the topic `after`, in topic order.
    Retained {
        after: Option<String>,
        limit: usize,
        filter: TopicFilter,
        reply: oneshot::Sender<Page<RetainedRow, String>>,
    },
    /// The message retained on one topic.
    RetainedGet {
        topic: String,
        reply: oneshot::Sender<Option<RetainedRow>>,
    },
    /// Removes the message retained on one topic (no delivery, unlike an empty retained
    /// PUBLISH); answers whether there was one.
    RetainedDelete {
        topic: String,
        reply: oneshot::Sender<bool>,
    },
    /// Closes (0x98) every connected client a new ban covers; answers how many.
    KickBanned {
        target: BanTarget,
        reply: oneshot::Sender<usize>,
    },
    /// Ends a client's session: a connected client is closed (0x98) and its session ends
    /// with the connection; an offline one ends now, will included. Answers whether the
    /// client was known.
    Discard {
        client_id: String,
        reply: oneshot::Sender<bool>,
    },
}

/// Whom a ban covers, as the router can tell.
#[derive(Debug, Clone)]
pub(crate) enum BanTarget {
    /// One client id.
    ClientId(String),
    /// Every client that gave this username.
    Username(String),
    /// Every client from this address or network.
    Network(starling_config::IpNet),
}

impl Router {
    pub(super) fn query(&mut self, query: Query, now: SystemTime) {
        match query {
            Query::Clients {
                after,
                limit,
                filter,
                reply,
            } => {
                let _ = reply.send(self.clients_page(after.as_deref(), limit, &filter));
            }
            Query::Client { client_id, reply } => {
                let row = self
                    .index
                    .get_key_value(client_id.as_str())
                    .map(|(id, info)| self.row(id, info.clone()));
                // A connected session also reports what its connection holds (answered by
                // the connection's task, not here).
                let answer = row.map(|row| {
                    let report = self.registry.get(client_id.as_str()).and_then(|reg| {
                        reg.online().then(|| {
                            let (tx, rx) = oneshot::channel();
                            reg.mailbox.control(SessionControl::Report(tx));
                            rx
                        })
                    });
                    (row, report)
                });
                let _ = reply.send(answer);
            }
            Query::Subscriptions {
                after,
                limit,
                filter,
                reply,
            } => {
                let _ = reply.send(self.subscriptions_page(after, limit, &filter));
            }
            Query::Topics {
                after,
                limit,
                filter,
                reply,
            } => {
                let _ = reply.send(self.topics_page(after.as_deref(), limit, &filter));
            }
            Query::Retained {
                after,
                limit,
                filter,
                reply,
            } => {
                let _ = reply.send(self.retained_page(after.as_deref(), limit, &filter, now));
            }
            Query::RetainedGet { topic, reply } => {
                let row = self.retained.get(&topic).filter(|m| !m.is_expired(now));
                let _ = reply.send(row.map(|m| RetainedRow { message: m.clone() }));
            }
            Query::RetainedDelete { topic, reply } => {
                let removed = self.retained.remove(&topic);
                if removed {
                    self.persist.retained_cleared(&topic);
                }
                let _ = reply.send(removed);
            }
            Query::KickBanned { target, reply } => {
                let _ = reply.send(self.kick_banned(&target));
            }
            Query::Discard { client_id, reply } => {
                let _ = reply.send(self.discard(&client_id, now));
            }
        }
    }

    fn row(&self, client_id: &Arc<str>, info: Option<Arc<ClientInfo>>) -> ClientRow {
        let reg = self.registry.get(client_id);
        ClientRow {
            client_id: client_id.clone(),
            connected: reg.is_some_and(|r| r.online()),
            info,
            subscriptions: self.subs.of(client_id).len(),
            persistent: reg.is_some_and(|r| r.stored()),
            stored_messages: self.stored.get(client_id).map_or(0, |s| s.count()),
            stored_bytes: self.stored.get(client_id).map_or(0, |s| s.bytes()),
            session: None,
        }
    }

    fn clients_page(
        &self,
        after: Option<&str>,
        limit: usize,
        filter: &ClientFilter,
    ) -> Page<ClientRow, Arc<str>> {
        let limit = limit.clamp(1, MAX_PAGE);
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        let mut items = Vec::new();
        let mut last = None;
        let mut scanned = 0;
        let mut range = self
            .index
            .range::<str, _>((start, Bound::Unbounded))
            .peekable();
        for (id, info) in range.by_ref() {
            scanned += 1;
            last = Some(id.clone());
            let online = self.registry.get(id).is_some_and(|r| r.online());
            if filter.matches(id, info.as_deref(), online) {
                items.push(self.row(id, info.clone()));
            }
            if items.len() == limit || scanned == SCAN_LIMIT {
                break;
            }
        }
        let next = range.peek().is_some().then_some(last).flatten();
        Page { items, next }
    }

    fn subscriptions_page(
        &self,
        after: Option<(Arc<str>, String)>,
        limit: usize,
        filter: &SubscriptionFilter,
    ) -> Page<SubscriptionRow, (Arc<str>, String)> {
        let limit = limit.clamp(1, MAX_PAGE);
        let match_topic = filter
            .match_topic
            .as_deref()
            .and_then(|t| TopicName::new(t).ok());
        // The cursor names the last subscription looked at; "" is "from this client's first".
        let (start, resume) = match &after {
            Some((id, topic)) => (
                Bound::Included(&**id),
                Some((
                    id.clone(),
                    SubscriptionTarget::parse(topic, &self.settings.topic_limits).ok(),
                )),
            ),
            None => (Bound::Unbounded, None),
        };
        let clients: Box<dyn Iterator<Item = &Arc<str>>> = match filter.client_id.as_deref() {
            Some(id) => Box::new(self.index.get_key_value(id).map(|(k, _)| k).into_iter()),
            None => Box::new(
                self.index
                    .range::<str, _>((start, Bound::Unbounded))
                    .map(|(k, _)| k),
            ),
        };
        let mut items = Vec::new();
        let mut scanned = 0;
        for id in clients {
            let from = match &resume {
                Some((resume_id, Some(target))) if resume_id == id => Bound::Excluded(target),
                _ => Bound::Unbounded,
            };
            // Each client's targets are a `BTreeSet`: a page resumes inside a client holding
            // 100,000 subscriptions without looking at the ones before the cursor.
            let mut prev: Option<&SubscriptionTarget> = None;
            for target in self.subs.of(id).range((from, Bound::Unbounded)) {
                if items.len() == limit || scanned == SCAN_LIMIT {
                    let at = prev.map(written).unwrap_or_default();
                    return Page {
                        items,
                        next: Some((id.clone(), at)),
                    };
                }
                scanned += 1;
                prev = Some(target);
                let Some(row) = row_of(&self.subs, id, target) else {
                    continue;
                };
                if sub_matches(filter, match_topic.as_ref(), &row) {
                    items.push(row);
                }
            }
        }
        Page { items, next: None }
    }

    fn topics_page(
        &self,
        after: Option<&str>,
        limit: usize,
        filter: &TopicFilterQuery,
    ) -> Page<TopicRow, String> {
        let limit = limit.clamp(1, MAX_PAGE);
        let row = |f: &TopicFilter, n: &u32| TopicRow {
            topic: f.as_str().to_owned(),
            subscribers: *n,
        };
        let routes = &self.subs.routes;
        if let Some(topic) = filter.topic.as_deref() {
            let items = TopicFilter::new(topic)
                .ok()
                .and_then(|f| routes.get_key_value(&f))
                .filter(|(f, _)| after.is_none_or(|a| f.as_str() > a))
                .map(|(f, n)| row(f, n))
                .into_iter()
                .collect();
            return Page { items, next: None };
        }
        let match_topic = filter
            .match_topic
            .as_deref()
            .and_then(|t| TopicName::new(t).ok());
        if filter.match_topic.is_some() && match_topic.is_none() {
            return Page {
                items: Vec::new(),
                next: None,
            };
        }
        // Filters are ordered by their text; a cursor is the last one looked at.
        let start = match after.map(TopicFilter::new) {
            Some(Ok(f)) => Bound::Excluded(f),
            Some(Err(_)) | None => Bound::Unbounded,
        };
        let mut items = Vec::new();
        let mut last = None;
        let mut scanned = 0;
        let mut range = routes.range((start, Bound::Unbounded)).peekable();
        for (f, n) in range.by_ref() {
            scanned += 1;
            last = Some(f.as_str().to_owned());
            if match_topic.as_ref().is_none_or(|t| f.matches(t)) {
                items.push(row(f, n));
            }
            if items.len() == limit || scanned == SCAN_LIMIT {
                break;
            }
        }
        let next = range.peek().is_some().then_some(last).flatten();
        Page { items, next }
    }

    fn retained_page(
        &self,
        after: Option<&str>,
        limit: usize,
        filter: &TopicFilter,
        now: SystemTime,
    ) -> Page<RetainedRow, String> {
        let limit = limit.clamp(1, MAX_PAGE);
        let mut items = Vec::new();
        let mut more = false;
        let _ = self.retained.for_each_match_after(filter, after, now, |m| {
            if items.len() == limit {
                more = true;
                return ControlFlow::Break(());
            }
            items.push(RetainedRow { message: m.clone() });
            ControlFlow::Continue(())
        });
        let next = more
            .then(|| items.last().map(|r| r.message.topic.as_str().to_owned()))
            .flatten();
        Page { items, next }
    }

    /// Closes the connected clients `target` covers. A client id is one lookup; a username or
    /// a network walks every session (a ban is an operator's rare act, not a client's).
    fn kick_banned(&self, target: &BanTarget) -> usize {
        let kick = |id: &str| match self.registry.get(id) {
            Some(reg) if reg.online() => {
                reg.mailbox.control(super::command::SessionControl::Kicked);
                1
            }
            _ => 0,
        };
        match target {
            BanTarget::ClientId(id) => kick(id),
            BanTarget::Username(name) => self
                .index
                .iter()
                .filter(|(_, info)| {
                    info.as_ref()
                        .is_some_and(|i| i.username.as_deref() == Some(name.as_str()))
                })
                .map(|(id, _)| kick(id))
                .sum(),
            BanTarget::Network(net) => self
                .index
                .iter()
                .filter(|(_, info)| info.as_ref().is_some_and(|i| net.contains(i.ip)))
                .map(|(id, _)| kick(id))
                .sum(),
        }
    }

    /// Ends `client_id`'s session (see [`Query::Discard`]).
    fn discard(&mut self, client_id: &str, now: SystemTime) -> bool {
        let Some((id, reg)) = self.registry.get_key_value(client_id) else {
            return false;
        };
        let id = id.clone();
        if reg.online() {
            reg.mailbox
                .control(super::command::SessionControl::Discarded);
        } else {
            self.end_offline_now(&id, now);
        }
        true
    }
}

fn sub_matches(
    filter: &SubscriptionFilter,
    match_topic: Option<&TopicName>,
    row: &SubscriptionRow,
) -> bool {
    filter.topic.as_deref().is_none_or(|t| t == row.topic)
        && filter.qos.is_none_or(|q| q == row.qos)
        && filter
            .share_group
            .as_deref()
            .is_none_or(|g| row.group.as_deref() == Some(g))
        && match (&filter.match_topic, match_topic) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(_), Some(name)) => TopicFilter::new(&row.filter).is_ok_and(|f| f.matches(name)),
        }
}

/// A target as the client wrote it (`$share/g/t`, `$queue/t`, `$exclusive/t`, `t`).
fn written(target: &SubscriptionTarget) -> String {
    match target {
        SubscriptionTarget::Plain(f) => f.as_str().to_owned(),
        SubscriptionTarget::Exclusive(f) => format!("$exclusive/{}", f.as_str()),
        SubscriptionTarget::Shared { group, filter } if group == "$queue" => {
            format!("$queue/{}", filter.as_str())
        }
        SubscriptionTarget::Shared { group, filter } => {
            format!("$share/{group}/{}", filter.as_str())
        }
    }
}

/// One of `client_id`'s subscriptions, with its options.
fn row_of(
    subs: &Subscriptions,
    client_id: &Arc<str>,
    target: &SubscriptionTarget,
) -> Option<SubscriptionRow> {
    let (options, subscription_id) = subs.options_of(client_id, target)?;
    let (filter, group) = match target {
        SubscriptionTarget::Plain(f) | SubscriptionTarget::Exclusive(f) => (f, None),
        SubscriptionTarget::Shared { group, filter } => (filter, Some(group.clone())),
    };
    Some(SubscriptionRow {
        client_id: client_id.clone(),
        topic: written(target),
        filter: filter.as_str().to_owned(),
        group,
        qos: options.qos,
        no_local: options.no_local,
        retain_as_published: options.retain_as_published,
        retain_handling: options.retain_handling as u8,
        subscription_id,
    })
}
