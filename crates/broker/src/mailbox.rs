//! The one channel from the router into a session task.
//!
//! Deliveries and the router's answers (SUBACK, UNSUBACK, takeover) share one FIFO channel, so a
//! SUBACK always precedes the retained messages and deliveries that follow it, and a session needs
//! only one channel allocation (a channel's first block is most of an idle connection's memory).
//! The channel itself is unbounded, but deliveries are counted: once `capacity` of them wait, the
//! router drops further QoS 0 ones, and QoS 1/2 ones past twice that (QoS 0 goes first, and the
//! session's own queue policy gets to decide about QoS 1/2), counting every drop. So the queue
//! stays bounded while an answer to a client's request is never lost (there is at most one
//! answer per request).

use crate::router::command::SessionControl;
use starling_codec::QoS;
use starling_core::Delivery;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;

/// What a session task receives, in the order the router sent it.
#[derive(Debug)]
pub(crate) enum SessionMsg {
    /// A message to deliver.
    Deliver(Delivery),
    /// An answer or an order.
    Control(SessionControl),
}

/// The router's end.
#[derive(Debug, Clone)]
pub(crate) struct SessionMailbox {
    tx: mpsc::UnboundedSender<SessionMsg>,
    waiting: Arc<AtomicUsize>,
    capacity: usize,
}

/// The session task's end.
#[derive(Debug)]
pub(crate) struct Inbox {
    rx: mpsc::UnboundedReceiver<SessionMsg>,
    waiting: Arc<AtomicUsize>,
}

/// A mailbox holding at most `capacity` undelivered deliveries.
pub(crate) fn mailbox(capacity: usize) -> (SessionMailbox, Inbox) {
    let (tx, rx) = mpsc::unbounded_channel();
    let waiting = Arc::new(AtomicUsize::new(0));
    (
        SessionMailbox {
            tx,
            waiting: waiting.clone(),
            capacity,
        },
        Inbox { rx, waiting },
    )
}

impl SessionMailbox {
    /// Queues a delivery; false (and nothing queued) when the mailbox is full or closed.
    pub(crate) fn deliver(&self, delivery: Delivery) -> bool {
        let limit = if delivery.qos == QoS::AtMostOnce {
            self.capacity
        } else {
            2 * self.capacity
        };
        if self.waiting.load(Ordering::Relaxed) >= limit {
            return false;
        }
        self.waiting.fetch_add(1, Ordering::Relaxed);
        if self.tx.send(SessionMsg::Deliver(delivery)).is_err() {
            self.waiting.fetch_sub(1, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// Sends an answer or order; false when the session task is gone.
    pub(crate) fn control(&self, control: SessionControl) -> bool {
        self.tx.send(SessionMsg::Control(control)).is_ok()
    }
}

impl Inbox {
    /// The next message; `None` once the router side is gone.
    pub(crate) async fn recv(&mut self) -> Option<SessionMsg> {
        let msg = self.rx.recv().await;
        self.account(&msg);
        msg
    }

    /// The next message if one is already waiting.
    pub(crate) fn try_recv(&mut self) -> Option<SessionMsg> {
        let msg = self.rx.try_recv().ok();
        self.account(&msg);
        msg
    }

    fn account(&self, msg: &Option<SessionMsg>) {
        if let Some(SessionMsg::Deliver(_)) = msg {
            self.waiting.fetch_sub(1, Ordering::Relaxed);
        }
    }
}
