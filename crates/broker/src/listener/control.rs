//! Starting and stopping a listener while the broker runs (`POST /api/v5/listeners/{id}/stop`,
//! `.../start`, `.../restart`, `starling ctl listeners stop|start|restart`).
//!
//! Each listener's task owns its socket and takes orders from a small channel beside its
//! accept loop. Stopping a TCP listener (TCP, TLS, WebSocket, WSS) closes its socket, so the
//! port is free and new clients are refused by the kernel; starting binds the address it had
//! again. A QUIC endpoint is shared with the certificate reloader, so it stays bound: stopping
//! it removes its server configuration (the endpoint refuses new connections) and starting puts
//! it back. Connections already open are not touched either way: stopping a listener is for
//! taking new clients off it, and kicking the old ones is the clients API's job.

use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::{mpsc, oneshot};

/// What a listener's task is told.
#[derive(Debug)]
pub(crate) enum Order {
    /// Accept again (bind the address anew for TCP); answers why not, if it could not.
    Start(oneshot::Sender<Result<(), String>>),
    /// Stop accepting; answers once the socket is closed.
    Stop(oneshot::Sender<()>),
}

/// The handle on one listener's task: its state and its order channel.
#[derive(Debug)]
pub struct ListenerControl {
    running: AtomicBool,
    orders: mpsc::Sender<Order>,
}

/// Why a start or stop did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ListenerError {
    /// The address could not be bound again (another process took the port, ...).
    #[error("cannot start the listener: {0}")]
    Start(String),
    /// The broker is stopping.
    #[error("the broker is shutting down")]
    Stopped,
}

impl ListenerControl {
    /// A control and the receiving end its listener's task reads.
    pub(crate) fn new() -> (Self, mpsc::Receiver<Order>) {
        let (orders, rx) = mpsc::channel(4);
        (
            Self {
                running: AtomicBool::new(true),
                orders,
            },
            rx,
        )
    }

    /// Whether the listener accepts connections now.
    pub fn running(&self) -> bool {
        self.running.load(Ordering::Relaxed)
    }

    pub(crate) fn set_running(&self, running: bool) {
        self.running.store(running, Ordering::Relaxed);
    }

    /// Starts the listener; `Ok(false)` when it was running already.
    pub async fn start(&self) -> Result<bool, ListenerError> {
        if self.running() {
            return Ok(false);
        }
        let (tx, rx) = oneshot::channel();
        self.send(Order::Start(tx)).await?;
        match rx.await {
            Ok(Ok(())) => Ok(true),
            Ok(Err(why)) => Err(ListenerError::Start(why)),
            Err(_) => Err(ListenerError::Stopped),
        }
    }

    /// Stops the listener; `Ok(false)` when it was stopped already.
    pub async fn stop(&self) -> Result<bool, ListenerError> {
        if !self.running() {
            return Ok(false);
        }
        let (tx, rx) = oneshot::channel();
        self.send(Order::Stop(tx)).await?;
        rx.await.map_err(|_| ListenerError::Stopped)?;
        Ok(true)
    }

    async fn send(&self, order: Order) -> Result<(), ListenerError> {
        self.orders
            .send(order)
            .await
            .map_err(|_| ListenerError::Stopped)
    }
}
