//! A batch of what the router sent a session: deliveries, answers and orders, handled in
//! order until the batch is full or the connection must end.

use super::{Ended, DELIVERY_BATCH, DELIVERY_BATCH_BYTES};
use crate::clock;
use crate::mailbox::{Inbox, SessionMsg};
use crate::router::command::SessionControl;
use starling_codec::ReasonCode;
use starling_core::Channel;

/// Handles `first` and then what is already waiting, up to `DELIVERY_BATCH` messages or
/// `DELIVERY_BATCH_BYTES` of payload, so one write carries them all; `Some` when the
/// connection must end.
pub(super) fn handle_batch(first: SessionMsg, inbox: &mut Inbox, channel: &mut Channel) -> Batch {
    let now = clock::now();
    let mut next = Some(first);
    let mut handled = 0;
    let mut bytes = 0;
    let mut batch = Batch::default();
    while let Some(msg) = next {
        match msg {
            SessionMsg::Deliver(delivery) => {
                bytes += delivery.message.payload.len();
                channel.handle_delivery(delivery, now);
            }
            SessionMsg::Control(control) => {
                // The check is made in `handle_control`; the next deadline is scheduled after
                // the batch.
                batch.keepalive_checked |= matches!(control, SessionControl::KeepAlive);
                batch.retained_paused |= matches!(control, SessionControl::Owed);
                batch.send_check |= matches!(control, SessionControl::SendCheck);
                batch.durable |= matches!(control, SessionControl::Durable);
                if let Some(ended) = handle_control(control, channel) {
                    batch.ended = Some(ended);
                    return batch;
                }
            }
        }
        handled += 1;
        if handled == DELIVERY_BATCH || bytes >= DELIVERY_BATCH_BYTES {
            break; // the rest waits for the next turn, after this turn's write
        }
        next = inbox.try_recv();
    }
    batch
}

/// What a batch of inbox messages did besides producing effects.
#[derive(Default)]
pub(super) struct Batch {
    /// The connection must end.
    pub(super) ended: Option<Ended>,
    /// The keep-alive deadline was checked: schedule the next one.
    pub(super) keepalive_checked: bool,
    /// The router owes retained messages: ask for them when there is room.
    pub(super) retained_paused: bool,
    /// A send-timeout check came while writes were moving.
    pub(super) send_check: bool,
    /// The store reached the ticket this session waited for.
    pub(super) durable: bool,
}

/// Applies an order or answer from the router; `Some` when the connection must end.
fn handle_control(control: SessionControl, channel: &mut Channel) -> Option<Ended> {
    match control {
        SessionControl::SubAck {
            packet_id,
            reason_codes,
        } => {
            channel.handle_suback(packet_id, reason_codes);
            None
        }
        SessionControl::UnsubAck {
            packet_id,
            reason_codes,
        } => {
            channel.handle_unsuback(packet_id, reason_codes);
            None
        }
        SessionControl::Takeover { reply, clean_start } => {
            channel.handle_server_close(ReasonCode::SessionTakenOver);
            Some(Ended::Takeover(reply, clean_start))
        }
        SessionControl::Shutdown => {
            channel.handle_server_close(ReasonCode::ServerShuttingDown);
            Some(Ended::Shutdown)
        }
        SessionControl::KeepAlive => {
            channel.handle_tick(clock::now());
            None
        }
        SessionControl::Routed {
            count,
            ticket,
            refused,
        } => {
            channel.handle_routed(count, ticket, &refused);
            None
        }
        SessionControl::Stream => {
            channel.handle_stream();
            None
        }
        // Noted by the batch: handled by the loop.
        SessionControl::Owed | SessionControl::SendCheck | SessionControl::Durable => None,
        SessionControl::Kicked => {
            channel.handle_server_close(ReasonCode::AdministrativeAction);
            Some(Ended::Lost)
        }
        SessionControl::Discarded => {
            channel.discard_session();
            channel.handle_server_close(ReasonCode::AdministrativeAction);
            Some(Ended::Lost)
        }
        SessionControl::CredentialsExpired => {
            channel.handle_server_close(ReasonCode::NotAuthorized);
            Some(Ended::Lost)
        }
        SessionControl::ResumeInput => {
            channel.resume_input(clock::now());
            None
        }
        SessionControl::Report(reply) => {
            let session = channel.session();
            let _ = reply.send(crate::clients::SessionReport {
                inflight: session.inflight().len(),
                queued: session.queue().len(),
                awaiting_rel: session.awaiting_rel().len(),
            });
            None
        }
    }
}
