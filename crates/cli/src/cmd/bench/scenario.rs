//! The four runs: `conn`, `pub`, `sub` and `pubsub`, each bounded by `--duration` (and
//! `--count`), each returning its summary as JSON.

use super::args::{ConnArgs, PubArgs, PubSubArgs, PublishOpts, SubArgs};
use super::fleet::{join_all, Ctx};
use super::proc::{round2, Usage};
use super::publisher::{self, Flow, Plan, Sent};
use super::report::{latency, loss, rate};
use super::subscriber::{self, Roster};
use super::window::{Fanout, Window};
use serde_json::{json, Value};
use starling_client::QoS;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Longest wait for the last messages after publishing stops.
const DRAIN_MAX: Duration = Duration::from_secs(10);
/// The wait also ends when nothing arrived for this long.
const DRAIN_IDLE: Duration = Duration::from_secs(1);

/// `bench conn`: connect, measure the connect rate (and broker RSS), hold, disconnect.
pub(crate) async fn conn(ctx: Arc<Ctx>, args: ConnArgs, broker: Option<Usage>) -> Value {
    let t0 = Instant::now();
    let handles = ctx
        .spawn("conn", args.clients, 1, |ctx, s| async move {
            ctx.stop.cancelled().await;
            let _ = s.client.disconnect().await;
            let _ = s.incoming.finish().await;
        })
        .await;
    let connected = settle(&ctx, args.clients as u64).await;
    let connect_time = t0.elapsed();
    let broker = broker.map(|u| {
        tokio::task::block_in_place(|| std::thread::sleep(Duration::from_millis(500)));
        let mut report = u.report();
        let rss = report["rss_kb"].as_u64().unwrap_or(0);
        let delta = rss.saturating_sub(u.rss_before_kb()) * 1024;
        report["rss_per_connection_bytes"] = json!(delta / connected.max(1));
        report
    });
    tokio::time::sleep(ctx.common.duration).await;
    ctx.stop.cancel();
    join_all(handles).await;
    json!({
        "mode": "conn",
        "clients": args.clients,
        "connected": connected,
        "connect_failed": ctx.stats.connect_failed.load(Relaxed),
        "connect_s": round2(connect_time.as_secs_f64()),
        "connect_rate": rate(connected, connect_time),
        "errors": ctx.stats.errors.load(Relaxed),
        "broker": broker,
    })
}

/// Waits until `n` connects have succeeded or failed; returns the successes.
async fn settle(ctx: &Ctx, n: u64) -> u64 {
    loop {
        let connected = ctx.stats.connected.load(Relaxed);
        if connected + ctx.stats.connect_failed.load(Relaxed) >= n || ctx.stop.is_cancelled() {
            return connected;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// `bench pub`: publishers only.
pub(crate) async fn publish(ctx: Arc<Ctx>, args: PubArgs) -> Value {
    let (sent, elapsed) = run_publishers(&ctx, &args.publish, args.clients, None).await;
    let published: u64 = sent.iter().map(|s| s.count).sum();
    json!({
        "mode": "pub",
        "publishers": args.clients,
        "connected": ctx.stats.connected.load(Relaxed),
        "connect_failed": ctx.stats.connect_failed.load(Relaxed),
        "qos": args.publish.qos.as_u8(),
        "payload_bytes": args.publish.size,
        "publish_s": round2(elapsed.as_secs_f64()),
        "published": published,
        "publish_rate": rate(published, elapsed),
        "errors": ctx.stats.errors.load(Relaxed),
    })
}

/// Starts `n` publishers and waits for them; returns what they sent and for how long.
async fn run_publishers(
    ctx: &Arc<Ctx>,
    opts: &PublishOpts,
    n: usize,
    flow: Option<Flow>,
) -> (Vec<Sent>, Duration) {
    let t0 = Instant::now();
    let plan = Arc::new(Plan {
        opts: opts.clone(),
        rate: opts.rate_per_client(n),
        publishers: n,
        deadline: t0 + ctx.common.duration,
        flow,
    });
    let handles = ctx
        .spawn("pub", n, opts.inflight, move |ctx, s| {
            publisher::run(ctx, s, Arc::clone(&plan))
        })
        .await;
    let sent = join_all(handles).await;
    (sent, t0.elapsed())
}

/// Starts `n` subscribers and waits until each has subscribed (or failed).
async fn start_subscribers(
    ctx: &Arc<Ctx>,
    n: usize,
    pattern: String,
    qos: QoS,
) -> (Vec<tokio::task::JoinHandle<Option<u64>>>, Arc<Roster>) {
    let roster = Arc::new(Roster::default());
    let r = Arc::clone(&roster);
    let handles = ctx
        .spawn("sub", n, 1, move |ctx, s| {
            subscriber::run(ctx, s, pattern.clone(), qos, Arc::clone(&r))
        })
        .await;
    loop {
        let settled = roster.settled.load(Relaxed) + ctx.stats.connect_failed.load(Relaxed);
        if settled >= n as u64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    (handles, roster)
}

/// `bench sub`: subscribers only, for `--duration` after all have subscribed.
pub(crate) async fn subscribe(ctx: Arc<Ctx>, args: SubArgs) -> Value {
    let (handles, roster) = start_subscribers(&ctx, args.clients, args.topic, args.qos).await;
    tokio::time::sleep(ctx.common.duration).await;
    ctx.stop.cancel();
    let received: u64 = join_all(handles).await.iter().sum();
    let subscribed = roster.filters.lock().map(|f| f.len()).unwrap_or(0);
    json!({
        "mode": "sub",
        "subscribers": args.clients,
        "subscribed": subscribed,
        "connect_failed": ctx.stats.connect_failed.load(Relaxed),
        "received": received,
        "receive_rate": rate(received, ctx.stats.receive_span()),
        "errors": ctx.stats.errors.load(Relaxed),
        "latency_us": latency(&ctx.stats.latency()),
    })
}

/// `bench pubsub`: subscribers first, then publishers; delivered rate, loss and latency.
pub(crate) async fn pubsub(ctx: Arc<Ctx>, args: PubSubArgs) -> Value {
    let pattern = args
        .sub_topic
        .clone()
        .unwrap_or_else(|| args.publish.topic.clone());
    let qos = args.sub_qos.unwrap_or(args.publish.qos);
    let (subs, roster) = start_subscribers(&ctx, args.subs, pattern, qos).await;
    let fanout = Arc::new(Fanout::new(
        &roster.filters.lock().map(|f| f.clone()).unwrap_or_default(),
    ));
    let window = (args.window > 0).then(|| Arc::new(Window::new(args.window)));
    if let Some(w) = &window {
        ctx.stats.set_window(Arc::clone(w));
    }
    let flow = Flow {
        fanout: Arc::clone(&fanout),
        window,
    };
    let t0 = Instant::now();
    let (sent, publish_time) = run_publishers(&ctx, &args.publish, args.pubs, Some(flow)).await;
    let published: u64 = sent.iter().map(|s| s.count).sum();
    let expected: u64 = sent.iter().map(|s| s.count * fanout.of(&s.topic)).sum();
    drain(&ctx, expected).await;
    ctx.stop.cancel();
    let received: u64 = join_all(subs).await.iter().sum();
    let receive_time = ctx
        .stats
        .last_receive()
        .saturating_duration_since(t0.into_std());
    json!({
        "mode": "pubsub",
        "publishers": args.pubs,
        "subscribers": args.subs,
        "connected": ctx.stats.connected.load(Relaxed),
        "connect_failed": ctx.stats.connect_failed.load(Relaxed),
        "qos": args.publish.qos.as_u8(),
        "payload_bytes": args.publish.size,
        "publish_s": round2(publish_time.as_secs_f64()),
        "published": published,
        "publish_rate": rate(published, publish_time),
        "received": received,
        "receive_rate": rate(received, receive_time),
        "window": args.window,
        "loss": loss(expected, received),
        "errors": ctx.stats.errors.load(Relaxed),
        "latency_us": latency(&ctx.stats.latency()),
    })
}

/// Waits until `expected` messages arrived, nothing arrived for [`DRAIN_IDLE`], or
/// [`DRAIN_MAX`] passed.
async fn drain(ctx: &Ctx, expected: u64) {
    let start = Instant::now();
    let (mut last, mut since) = (ctx.stats.received.load(Relaxed), start);
    while start.elapsed() < DRAIN_MAX {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = ctx.stats.received.load(Relaxed);
        if now >= expected {
            return;
        }
        if now != last {
            (last, since) = (now, Instant::now());
        } else if since.elapsed() >= DRAIN_IDLE {
            return;
        }
    }
}
