//! End-to-end runs of the bench against an in-process broker.

use super::args::{BenchArgs, Mode};
use super::{fleet::Ctx, scenario, stats::Stats};
use clap::Parser;
use serde_json::Value;
use starling_testkit::TestBroker;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    bench: BenchArgs,
}

async fn run(broker: &TestBroker, line: &str) -> Value {
    let port = broker.addr().port().to_string();
    let argv = ["bench"]
        .into_iter()
        .chain(line.split_whitespace())
        .chain(["-p", &port]);
    let args = match Cli::try_parse_from(argv) {
        Ok(cli) => cli.bench,
        Err(e) => panic!("{e}"),
    };
    let common = super::common(&args.mode).clone();
    let stats = Stats::new().expect("stats");
    let ctx = Ctx::new(common, stats).await.expect("context");
    match *args.mode {
        Mode::Pubsub(a) => scenario::pubsub(ctx, a).await,
        Mode::Conn(a) => scenario::conn(ctx, a, None).await,
        _ => panic!("not used here"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pairs_at_qos1_deliver_every_message_with_a_latency() {
    let broker = TestBroker::start().await;
    let s = run(
        &broker,
        "pubsub --pubs 3 --subs 3 -t pair/%i -q 1 -L 300 -d 20s",
    )
    .await;
    assert_eq!(s["published"], 300, "{s}");
    assert_eq!(s["received"], 300, "{s}");
    assert_eq!(s["loss"]["lost"], 0, "{s}");
    assert_eq!(s["latency_us"]["count"], 300, "{s}");
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fan_out_expects_one_delivery_per_subscriber() {
    let broker = TestBroker::start().await;
    let s = run(
        &broker,
        "pubsub --pubs 1 --subs 4 -t fan -V 3.1.1 -L 50 -d 20s",
    )
    .await;
    assert_eq!(s["loss"]["expected"], 200, "{s}");
    assert_eq!(s["received"], 200, "{s}");
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conn_holds_every_connection() {
    let broker = TestBroker::start().await;
    let s = run(&broker, "conn -c 50 -d 100ms").await;
    assert_eq!(s["connected"], 50, "{s}");
    assert_eq!(s["connect_failed"], 0, "{s}");
    broker.shutdown().await;
}
