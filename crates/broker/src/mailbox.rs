//! The one channel from the router into a session task.
//!
//! Deliveries and the router's answers (SUBACK, UNSUBACK, takeover) share one FIFO, so a SUBACK
//! always precedes the retained messages and deliveries that follow it.
//!
//! Why not a tokio channel: every session has a mailbox, and most sessions are idle most of the
//! time. A tokio mpsc channel allocates its first block of 32 slots up front (~1.5 KB with our
//! slot size), which was the largest part of an idle connection's memory. This mailbox is a
//! `VecDeque` behind a mutex with the receiver's waker: about 100 bytes when empty, the queue
//! grows only while messages wait and is given back once it drains. The lock is held for a push
//! or a pop only, and there are exactly two parties (the router and the session task), so it is
//! uncontended in practice.
//!
//! Bounds: the queue is unbounded for answers (at most one per client request), but deliveries
//! are counted: once `capacity` of them wait, the router drops further QoS 0 ones, and QoS 1/2
//! ones past twice that (QoS 0 goes first, and the session's own queue policy gets to decide
//! about QoS 1/2), counting every drop. So the queue stays bounded while an answer to a
//! client's request is never lost.

use crate::router::command::SessionControl;
use starling_codec::QoS;
use starling_core::{Delivery, ServerLimits};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::{Context, Poll, Waker};

/// A drained queue keeps at most this many slots; a larger one is given back.
const KEEP_SLOTS: usize = 16;

/// What a session task receives, in the order the router sent it.
#[derive(Debug)]
pub(crate) enum SessionMsg {
    /// A message to deliver.
    Deliver(Delivery),
    /// An answer or an order.
    Control(SessionControl),
}

// Sized to fit, with the mutex and the `Arc` counts, in 80 bytes: every session has one.
#[derive(Debug, Default)]
struct State {
    queue: VecDeque<SessionMsg>,
    /// The session task, when it waits on an empty queue.
    waker: Option<Waker>,
    /// How many entries of `queue` are deliveries (what the bound counts).
    deliveries: u32,
    /// The session task dropped its end: nothing more is accepted.
    closed: bool,
    /// The router dropped its end: the receiver sees the end of the stream once drained.
    sender_gone: bool,
    /// How many entries of `queue` are orders (takeover, shutdown, keep-alive check), which a
    /// session whose socket does not take its writes must still see: it reads them out of
    /// turn (`Inbox::poll_order`) while deliveries wait.
    orders: u8,
    /// The waiting session takes only orders now (its writes are stuck): deliveries and
    /// answers are queued without waking it, which would only make it spin.
    orders_only: bool,
}

/// True for the controls a session must see even while its writes are stuck.
fn is_order(msg: &SessionMsg) -> bool {
    matches!(
        msg,
        SessionMsg::Control(
            SessionControl::Takeover { .. }
                | SessionControl::Shutdown
                | SessionControl::KeepAlive
                | SessionControl::SendCheck
        )
    )
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // No code panics while holding the lock; if one did, the queue is still consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends `msg` unless the receiver is gone, then wakes it.
    fn push(&self, msg: SessionMsg, delivery_limit: Option<usize>) -> bool {
        let waker = {
            let mut state = self.lock();
            if state.closed {
                return false;
            }
            let order = delivery_limit.is_none() && is_order(&msg);
            match delivery_limit {
                Some(limit) if state.deliveries as usize >= limit => return false,
                Some(_) => state.deliveries += 1,
                None if order => state.orders = state.orders.saturating_add(1),
                None => {}
            }
            state.queue.push_back(msg);
            if state.orders_only && !order {
                None
            } else {
                state.waker.take()
            }
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        true
    }
}

/// The router's end; there is one per mailbox (it is not `Clone`: when it is dropped, the
/// session sees the end of the stream). The bound is the router's: it is the same for every
/// session, so it is not stored in each of the many registry entries.
#[derive(Debug)]
pub(crate) struct SessionMailbox {
    shared: Arc<Shared>,
}

/// How many deliveries may wait in a session's mailbox: the session's queue and inflight
/// window, at least 256.
pub(crate) fn capacity(limits: &ServerLimits) -> usize {
    (limits.queue.max_len + usize::from(limits.max_inflight)).max(256)
}

/// The session task's end.
#[derive(Debug)]
pub(crate) struct Inbox {
    shared: Arc<Shared>,
}

/// A handle that does not keep the session alive: for the keep-alive timer, which must not
/// hold on to sessions that ended (see `crate::keepalive`).
#[derive(Debug)]
pub(crate) struct WeakMailbox {
    shared: Weak<Shared>,
}

impl WeakMailbox {
    /// True while the session's task still holds its inbox.
    pub(crate) fn is_alive(&self) -> bool {
        self.shared
            .upgrade()
            .is_some_and(|shared| !shared.lock().closed)
    }

    /// Sends an order if the session is still there.
    pub(crate) fn control(&self, control: SessionControl) {
        if let Some(shared) = self.shared.upgrade() {
            shared.push(SessionMsg::Control(control), None);
        }
    }
}

/// A new mailbox.
pub(crate) fn mailbox() -> (SessionMailbox, Inbox) {
    let shared = Arc::new(Shared::default());
    (
        SessionMailbox {
            shared: shared.clone(),
        },
        Inbox { shared },
    )
}

impl Drop for SessionMailbox {
    fn drop(&mut self) {
        let waker = {
            let mut state = self.shared.lock();
            state.sender_gone = true;
            state.waker.take()
        };
        // Wake the receiver so it sees the end.
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl SessionMailbox {
    /// Queues a delivery; false (and nothing queued) when `capacity` deliveries already wait
    /// (twice that for QoS 1/2) or the mailbox is closed.
    pub(crate) fn deliver(&self, delivery: Delivery, capacity: usize) -> bool {
        let limit = if delivery.qos == QoS::AtMostOnce {
            capacity
        } else {
            2 * capacity
        };
        self.shared.push(SessionMsg::Deliver(delivery), Some(limit))
    }

    /// Queues a delivery the session asked for (retained messages against its credit): counted
    /// with the others, but not refused at the bound, since the credit bounds it already.
    pub(crate) fn deliver_granted(&self, delivery: Delivery) -> bool {
        self.shared
            .push(SessionMsg::Deliver(delivery), Some(usize::MAX))
    }

    /// Sends an answer or order; false when the session task is gone.
    pub(crate) fn control(&self, control: SessionControl) -> bool {
        self.shared.push(SessionMsg::Control(control), None)
    }
}

impl Inbox {
    /// The next message, awaited (tests; the online loop polls).
    #[cfg(test)]
    pub(crate) async fn recv(&mut self) -> Option<SessionMsg> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// The next message; `None` once the router's handle is gone and the queue is drained.
    pub(crate) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<SessionMsg>> {
        let mut state = self.shared.lock();
        state.orders_only = false;
        if let Some(msg) = Self::pop(&mut state) {
            return Poll::Ready(Some(msg));
        }
        Self::wait(&mut state, cx)
    }

    /// Takes the first order (takeover, shutdown, keep-alive check) out of turn, leaving the
    /// deliveries and answers before it in place; or registers `cx` to be woken by the next
    /// order (deliveries do not wake it until [`Inbox::poll_recv`] is polled again). For a session whose writes are stuck: it must still hand its session over, stop,
    /// or notice that its send timeout passed.
    pub(crate) fn poll_order(&mut self, cx: &mut Context<'_>) -> Poll<Option<SessionControl>> {
        let mut state = self.shared.lock();
        state.orders_only = true;
        if state.orders > 0 {
            if let Some(pos) = state.queue.iter().position(is_order) {
                state.orders -= 1;
                if let Some(SessionMsg::Control(order)) = state.queue.remove(pos) {
                    return Poll::Ready(Some(order));
                }
            }
        }
        Self::wait(&mut state, cx)
    }

    /// A weak handle to this mailbox.
    pub(crate) fn downgrade(&self) -> WeakMailbox {
        WeakMailbox {
            shared: Arc::downgrade(&self.shared),
        }
    }

    /// The next message if one is already waiting.
    pub(crate) fn try_recv(&mut self) -> Option<SessionMsg> {
        Self::pop(&mut self.shared.lock())
    }

    /// Nothing to take: the end of the stream once the router is gone, else `cx` is woken by
    /// the next message.
    fn wait<T>(state: &mut State, cx: &mut Context<'_>) -> Poll<Option<T>> {
        if state.sender_gone {
            return Poll::Ready(None);
        }
        match &state.waker {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            _ => state.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    fn pop(state: &mut State) -> Option<SessionMsg> {
        let msg = state.queue.pop_front();
        match &msg {
            Some(SessionMsg::Deliver(_)) => state.deliveries -= 1,
            Some(m) if is_order(m) => state.orders = state.orders.saturating_sub(1),
            Some(SessionMsg::Control(_)) => {}
            None if state.queue.capacity() > KEEP_SLOTS => state.queue = VecDeque::new(),
            None => {}
        }
        msg
    }
}

impl Drop for Inbox {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.closed = true;
        // What is left is dropped with the session (the router counts nothing more).
        state.queue = VecDeque::new();
        state.deliveries = 0;
        state.orders = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use starling_core::{Message, MessageProperties};

    fn delivery(qos: QoS) -> Delivery {
        let topic = starling_topic::TopicName::new("t").expect("topic");
        let message = Message {
            wire_topic: Message::wire_topic_of(&topic),
            topic,
            payload: bytes::Bytes::new(),
            qos,
            retain: false,
            properties: MessageProperties::default(),
            expires_at: None,
            publisher: Arc::from("p"),
        };
        Delivery {
            message: Arc::new(message),
            qos,
            retain: false,
            subscription_ids: Box::default(),
            shared: None,
            stored: 0,
        }
    }

    #[tokio::test]
    async fn fifo_bounded_and_ends_with_the_sender() {
        let (tx, mut rx) = mailbox();
        assert!(tx.deliver(delivery(QoS::AtMostOnce), 2));
        assert!(tx.deliver(delivery(QoS::AtMostOnce), 2));
        assert!(
            !tx.deliver(delivery(QoS::AtMostOnce), 2),
            "QoS 0 over capacity"
        );
        assert!(
            tx.deliver(delivery(QoS::AtLeastOnce), 2),
            "QoS 1 up to twice"
        );
        assert!(tx.deliver(delivery(QoS::AtLeastOnce), 2));
        assert!(!tx.deliver(delivery(QoS::AtLeastOnce), 2));
        for _ in 0..4 {
            assert!(matches!(rx.recv().await, Some(SessionMsg::Deliver(_))));
        }
        assert!(rx.try_recv().is_none());
        assert!(
            tx.deliver(delivery(QoS::AtMostOnce), 2),
            "room again once drained"
        );
        assert!(rx.recv().await.is_some());
        let waiter = tokio::spawn(async move { rx.recv().await.is_none() });
        tokio::task::yield_now().await;
        drop(tx);
        assert!(
            waiter.await.expect("join"),
            "the end once the sender is gone"
        );
    }

    #[test]
    fn a_mailbox_stays_small() {
        // Every session has one: with the `Arc` counts this is an 80-byte allocation.
        assert!(
            std::mem::size_of::<Shared>() <= 64,
            "{}",
            std::mem::size_of::<Shared>()
        );
    }

    #[test]
    fn orders_are_taken_out_of_turn_and_the_rest_keeps_its_order() {
        let (tx, mut rx) = mailbox();
        let waker = futures_noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(rx.poll_order(&mut cx).is_pending(), "no order yet");
        for _ in 0..3 {
            assert!(tx.deliver(delivery(QoS::AtLeastOnce), 8));
        }
        assert!(tx.control(SessionControl::Shutdown));
        assert!(tx.deliver(delivery(QoS::AtMostOnce), 8));
        assert!(matches!(
            rx.poll_order(&mut cx),
            Poll::Ready(Some(SessionControl::Shutdown))
        ));
        assert!(
            rx.poll_order(&mut cx).is_pending(),
            "only one order was sent"
        );
        let rest: Vec<QoS> = std::iter::from_fn(|| rx.try_recv())
            .map(|m| match m {
                SessionMsg::Deliver(d) => d.qos,
                SessionMsg::Control(c) => panic!("unexpected {c:?}"),
            })
            .collect();
        assert_eq!(
            rest,
            [
                QoS::AtLeastOnce,
                QoS::AtLeastOnce,
                QoS::AtLeastOnce,
                QoS::AtMostOnce
            ]
        );
    }

    /// A waker that does nothing (the test polls by hand).
    fn futures_noop_waker() -> Waker {
        Waker::noop().clone()
    }

    #[tokio::test]
    async fn a_dropped_inbox_refuses() {
        let (tx, rx) = mailbox();
        drop(rx);
        assert!(!tx.deliver(delivery(QoS::AtMostOnce), 2));
    }
}
