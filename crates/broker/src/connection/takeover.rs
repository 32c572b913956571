//! Taking a client id over: register the new connection with the router, get the previous
//! session from whoever holds it (an online connection, or the router for an offline one), and
//! resume it or discard it.
//!
//! The previous holder always answers, and at once: an online connection reads its orders out
//! of turn even when the client's socket takes none of its writes (`online::stalled`), and
//! hands the session over before it closes that socket; the router hands an offline session
//! over with its answer. The wait below is bounded anyway, so a bug elsewhere cannot hold a CONNECT forever.

use crate::context::Context;
use crate::mailbox::SessionMailbox;
use crate::router::command::RouterCmd;
use starling_core::{SessionState, WillSpec};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tracing::warn;

/// The longest a new connection waits for the previous holder to hand its session over.
const HANDOVER_TIMEOUT: Duration = Duration::from_secs(30);

/// What the client id had before this connection.
pub(crate) enum Previous {
    /// No session: a new one starts.
    None,
    /// The previous session, handed over.
    Session(SessionState),
    /// A holder existed but its session did not arrive (it ended meanwhile).
    Lost,
}

/// What a connection tells the router about its session when it registers.
pub(crate) struct Registering {
    pub(crate) client_id: Arc<str>,
    pub(crate) conn_id: u64,
    pub(crate) peer: std::net::SocketAddr,
    pub(crate) clean_start: bool,
    pub(crate) expiry_interval: u32,
    pub(crate) will: Option<Box<WillSpec>>,
    pub(crate) info: Arc<crate::clients::ClientInfo>,
}

/// Registers the connection and collects the previous session, and whether it resumes from
/// the store; `None` when the router is gone.
pub(crate) async fn register(
    ctx: &Context,
    registering: Registering,
    mailbox: SessionMailbox,
) -> Option<(Previous, bool)> {
    let (reply, connected) = oneshot::channel();
    let client_id = registering.client_id.clone();
    let cmd = RouterCmd::Connect {
        client_id: registering.client_id,
        conn_id: registering.conn_id,
        peer: registering.peer,
        clean_start: registering.clean_start,
        expiry_interval: registering.expiry_interval,
        will: registering.will,
        mailbox,
        info: registering.info,
        reply,
    };
    ctx.router.send(cmd).await.ok()?;
    let connected = connected.await.ok()?;
    let stored = connected.from_store;
    let Some(taken) = connected.previous else {
        return Some((Previous::None, stored));
    };
    let previous = match tokio::time::timeout(HANDOVER_TIMEOUT, taken).await {
        Ok(Ok(session)) => Previous::Session(session),
        Ok(Err(_)) => Previous::Lost,
        Err(_) => {
            warn!(
                client_id = &*client_id,
                "the previous connection did not hand its session over"
            );
            Previous::Lost
        }
    };
    Some((previous, stored))
}

/// Resumes or discards what came before: the session to continue, if any. With Clean Start the
/// old session's shared-subscription messages go to other members of their groups; a session
/// that could not be handed over takes its stale subscriptions with it.
pub(crate) async fn settle(
    ctx: &Context,
    previous: Previous,
    client_id: &Arc<str>,
    conn_id: u64,
    clean_start: bool,
) -> Option<Option<SessionState>> {
    match previous {
        Previous::Session(session) if !clean_start => Some(Some(session)),
        Previous::Session(mut discarded) => {
            let deliveries = discarded.take_shared_unacked();
            if !deliveries.is_empty() {
                let from = client_id.clone();
                let cmd = RouterCmd::Redispatch { from, deliveries };
                ctx.router.send(cmd).await.ok()?;
            }
            Some(None)
        }
        Previous::Lost if !clean_start => {
            let client_id = client_id.clone();
            let reset = RouterCmd::ResetSubscriptions { client_id, conn_id };
            ctx.router.send(reset).await.ok()?;
            Some(None)
        }
        Previous::None | Previous::Lost => Some(None),
    }
}
