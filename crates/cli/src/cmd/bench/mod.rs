//! `starling bench conn | pub | sub | pubsub | sink`: a load generator in the spirit of
//! emqtt-bench, and a trivial sink to check the generator's own limit.
//!
//! Every client is a [`starling_client::Client`] (one connection task each) on a multi-threaded
//! runtime; a publisher or subscriber adds one task of its own. Runs are bounded by
//! `--duration` and `--count`; a live line goes to stderr every second and a summary (totals,
//! rates, loss, latency percentiles, the generator's own CPU time, optionally the broker's CPU
//! and RSS) to stdout at the end, as JSON with `--json`.
//!
//! Map:
//! - `args`: the command line.
//! - `fleet`: connecting many clients (pacing, source addresses, ids, topic placeholders).
//! - `publisher`: paced or flat-out publishing of timestamped payloads.
//! - `subscriber`: receiving, counting, latency.
//! - `scenario`: the four runs and their summaries.
//! - `sink`: the discard server.
//! - `stats`: shared counters, HDR histograms, the live line.
//! - `window`: closed-loop flow control for `pubsub`, fan-out per topic.
//! - `report`: percentiles, loss and printing.
//! - `proc`: CPU time and RSS from `/proc`.

mod args;
mod fleet;
mod proc;
mod publisher;
mod report;
mod scenario;
mod sink;
mod stats;
mod subscriber;
#[cfg(test)]
mod tests;
mod window;

pub(crate) use args::BenchArgs;

use crate::cmd::client_opts::Scheme;
use anyhow::Context as _;
use args::{Common, Mode};
use fleet::Ctx;
use proc::{Pid, Usage};

/// Runs `starling bench`.
pub(crate) fn run(args: BenchArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(bench(args))
}

fn common(mode: &Mode) -> &Common {
    match mode {
        Mode::Conn(a) => &a.common,
        Mode::Pub(a) => &a.common,
        Mode::Sub(a) => &a.common,
        Mode::Pubsub(a) => &a.common,
        Mode::Sink(a) => &a.common,
    }
}

async fn bench(args: BenchArgs) -> anyhow::Result<()> {
    let common = common(&args.mode).clone();
    let stats = stats::Stats::new()?;
    if matches!(*args.mode, Mode::Sink(_)) && common.broker.endpoint()?.scheme != Scheme::Mqtt {
        anyhow::bail!("bench sink serves plain TCP only (mqtt://)");
    }
    let ctx = Ctx::new(common.clone(), stats.clone()).await?;
    let live = tokio_util::sync::CancellationToken::new();
    stats.spawn_live_line(live.clone());
    let own = Usage::start(Pid::SelfProcess);
    let broker = common.broker_pid.map(|pid| Usage::start(Pid::Other(pid)));
    let mut summary = match *args.mode {
        Mode::Conn(a) => return finish(scenario::conn(ctx, a, broker).await, own, &live, &common),
        Mode::Pub(a) => scenario::publish(ctx, a).await,
        Mode::Sub(a) => scenario::subscribe(ctx, a).await,
        Mode::Pubsub(a) => scenario::pubsub(ctx, a).await,
        Mode::Sink(_) => sink::run(ctx).await?,
    };
    if let Some(b) = &broker {
        summary["broker"] = b.report();
    }
    finish(summary, own, &live, &common)
}

fn finish(
    mut summary: serde_json::Value,
    own: Usage,
    live: &tokio_util::sync::CancellationToken,
    common: &Common,
) -> anyhow::Result<()> {
    live.cancel();
    summary["protocol"] = serde_json::json!(common.version.to_string());
    summary["bench_cpu"] = own.report();
    report::print(&summary, common.json);
    Ok(())
}
