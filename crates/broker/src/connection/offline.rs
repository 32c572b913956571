//! A session without a connection: deliveries are queued (QoS 0 only if configured), the will
//! waits out its delay, and the session ends when its expiry interval passes — unless a new
//! connection takes it over first, which cancels a delayed will ([MQTT-3.1.3-9]).

use super::{end_session, publish_will};
use crate::context::Context;
use crate::mailbox::{Inbox, SessionMsg};
use crate::metrics::Metrics;
use crate::router::command::SessionControl;
use starling_core::{Enqueued, SessionState, WillSpec};
use std::time::{Duration, SystemTime};

/// Moves whatever is in the delivery inbox into the session's queue.
pub(crate) fn drain_into(session: &mut SessionState, inbox: &mut Inbox, ctx: &Context) {
    while let Some(msg) = inbox.try_recv() {
        // Answers meant for the connection that is gone are dropped with it.
        if let SessionMsg::Deliver(delivery) = msg {
            enqueue(session, delivery, ctx);
        }
    }
}

fn enqueue(session: &mut SessionState, delivery: starling_core::Delivery, ctx: &Context) {
    match session.enqueue_offline(delivery, &ctx.limits.queue) {
        Enqueued::Queued => {}
        _ => Metrics::add(&ctx.metrics.messages_dropped, 1),
    }
}

/// Holds the session until it expires, is taken over, or the broker stops.
pub(crate) async fn hold(
    mut session: SessionState,
    mut will: Option<WillSpec>,
    mut inbox: Inbox,
    conn_id: u64,
    ctx: &Context,
) {
    // Deadlines in wall time, the form the store will keep them in (a session that expired
    // while the broker was down is gone after a restart); slept on through the broker's clock.
    let start = crate::clock::wall(&ctx.limits);
    let expires_at = (session.expiry_interval != u32::MAX)
        .then(|| start + Duration::from_secs(session.expiry_interval.into()));
    loop {
        let will_at = will
            .as_ref()
            .map(|w| start + Duration::from_secs(w.delay_secs.into()));
        // The will goes out at its delay or when the session ends, whichever is first.
        let will_at = match (will_at, expires_at) {
            (Some(w), Some(e)) => Some(w.min(e)),
            (w, _) => w,
        };
        let will_timer = sleep_until(ctx, will_at);
        let expiry_timer = sleep_until(ctx, expires_at);
        tokio::select! {
            biased;
            msg = inbox.recv() => match msg {
                Some(SessionMsg::Control(SessionControl::Takeover { reply, clean_start })) => {
                    drain_into(&mut session, &mut inbox, ctx);
                    let _ = reply.send(session);
                    // A clean start ends this session: its will, delayed or not, goes now.
                    if let Some(will) = will.take().filter(|_| clean_start) {
                        publish_will(ctx, will).await;
                    }
                    return;
                }
                Some(SessionMsg::Control(SessionControl::Shutdown)) => return,
                Some(SessionMsg::Deliver(delivery)) => enqueue(&mut session, delivery, ctx),
                Some(SessionMsg::Control(_)) => {} // answers to a connection that is gone
                None => break,
            },
            () = will_timer => {
                if let Some(will) = will.take() {
                    publish_will(ctx, will).await;
                }
            }
            () = expiry_timer => break,
        }
    }
    if let Some(will) = will.take() {
        publish_will(ctx, will).await;
    }
    drain_into(&mut session, &mut inbox, ctx);
    end_session(ctx, &mut session, conn_id).await;
}

async fn sleep_until(ctx: &Context, at: Option<SystemTime>) {
    match at {
        Some(at) => tokio::time::sleep_until(ctx.limits.clock.instant(at).into()).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mailbox::mailbox;
    use crate::metrics::Metrics;
    use crate::router::command::RouterCmd;
    use starling_core::{Message, MessageProperties, ServerLimits, WallClock};
    use starling_topic::TopicName;
    use std::sync::Arc;
    use tokio::sync::mpsc;
    use tokio_util::sync::CancellationToken;

    fn will(delay_secs: u32) -> WillSpec {
        let topic = TopicName::new("will/c").expect("topic");
        WillSpec {
            message: Message {
                wire_topic: Message::wire_topic_of(&topic),
                topic,
                payload: bytes::Bytes::from_static(b"bye"),
                qos: starling_codec::QoS::AtLeastOnce,
                retain: false,
                properties: MessageProperties::default(),
                expires_at: None,
                publisher: Arc::from("c"),
            },
            expiry_interval: Some(600),
            delay_secs,
        }
    }

    /// The will delay and the session expiry run on wall-clock deadlines (what the store will
    /// keep), slept on through the broker's clock, so paused time drives them exactly.
    #[tokio::test(start_paused = true)]
    async fn an_offline_session_sends_its_delayed_will_then_ends() {
        let limits = ServerLimits {
            clock: WallClock::new(crate::clock::now(), std::time::SystemTime::now()),
            ..ServerLimits::default()
        };
        let (router, mut commands) = mpsc::channel(16);
        let ctx = Context::new(
            Arc::new(limits),
            router,
            Arc::new(Metrics::default()),
            CancellationToken::new(),
            Duration::from_secs(10),
            1,
            0,
        );
        let session = SessionState::new(Arc::from("c"), 60);
        let (_mailbox, inbox) = mailbox();
        let start = tokio::time::Instant::now();
        let holder =
            tokio::spawn(async move { hold(session, Some(will(30)), inbox, 7, &ctx).await });

        let Some(RouterCmd::Publish(published)) = commands.recv().await else {
            panic!("the will first");
        };
        assert_eq!(published.topic.as_str(), "will/c");
        assert_eq!(
            start.elapsed(),
            Duration::from_secs(30),
            "at the will delay"
        );
        let expires = published.expires_at.expect("the will's own expiry");
        let wall_now = std::time::SystemTime::now();
        assert!(expires > wall_now, "counted from when it is published");

        let Some(RouterCmd::SessionEnded { conn_id, .. }) = commands.recv().await else {
            panic!("then the session's end");
        };
        assert_eq!(conn_id, 7);
        assert_eq!(
            start.elapsed(),
            Duration::from_secs(60),
            "at the session expiry"
        );
        holder.await.expect("holder");
    }
}
