//! The lifecycle on tokio's paused clock: a trace starts at its start and stops by itself at
//! its end; the running count connections read follows.

use super::*;
use std::time::Duration;

async fn tracer(dir: &std::path::Path) -> Arc<Tracer> {
    let limits = Arc::new(crate::limits::from_config(
        &starling_config::Config::default(),
    ));
    let (tracer, rx) = Tracer::new(TraceConfig::default(), dir, None, limits);
    let tracer = Arc::new(tracer);
    let tasks = tokio_util::task::TaskTracker::new();
    tracer
        .spawn(
            rx,
            Vec::new(),
            tokio_util::sync::CancellationToken::new(),
            &tasks,
        )
        .await;
    tracer
}

fn new(name: &str, start_in: u64, runs: u64, now: std::time::SystemTime) -> NewTrace {
    let start = now + Duration::from_secs(start_in);
    NewTrace {
        name: name.into(),
        target: TraceTarget::ClientId("c".into()),
        start_at: Some(start),
        end_at: Some(start + Duration::from_secs(runs)),
        payload_encode: PayloadEncode::Text,
    }
}

fn status(list: &[TraceInfo], name: &str) -> TraceStatus {
    list.iter()
        .find(|t| t.name == name)
        .map(|t| t.status)
        .expect("listed")
}

#[tokio::test(start_paused = true)]
async fn a_trace_starts_at_its_start_and_stops_by_itself_at_its_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tracer = tracer(dir.path()).await;
    let now = tracer.now();
    tracer.start(new("now", 0, 60, now)).await.expect("starts");
    tracer
        .start(new("later", 30, 60, now))
        .await
        .expect("waits");
    assert!(tracer.is_on());
    let list = tracer.list().await;
    assert_eq!(status(&list, "now"), TraceStatus::Running);
    assert_eq!(status(&list, "later"), TraceStatus::Waiting);
    assert_eq!(tracer.active.load().traces.len(), 1);

    tokio::time::sleep(Duration::from_secs(31)).await;
    assert_eq!(tracer.active.load().traces.len(), 2);
    tokio::time::sleep(Duration::from_secs(30)).await;
    let list = tracer.list().await;
    assert_eq!(status(&list, "now"), TraceStatus::Stopped);
    assert_eq!(status(&list, "later"), TraceStatus::Running);
    assert_eq!(tracer.active.load().traces.len(), 1);
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert!(!tracer.is_on(), "no trace runs: connections pay one load");
    assert_eq!(status(&tracer.list().await, "later"), TraceStatus::Stopped);
    // Its file is still there to read.
    tracer.read("now", 0, 100).await.expect("readable");
}

#[tokio::test(start_paused = true)]
async fn names_are_unique_and_the_count_is_capped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tracer = tracer(dir.path()).await;
    let now = tracer.now();
    tracer.start(new("a", 0, 60, now)).await.expect("starts");
    assert!(matches!(
        tracer.start(new("a", 0, 60, now)).await,
        Err(TraceError::Exists(_))
    ));
    for i in 1..TraceConfig::default().max_traces {
        tracer
            .start(new(&format!("t{i}"), 0, 60, now))
            .await
            .expect("room");
    }
    assert!(matches!(
        tracer.start(new("one-more", 0, 60, now)).await,
        Err(TraceError::TooMany(_))
    ));
    tracer.delete("a").await.expect("deleted");
    assert!(matches!(
        tracer.stop("a").await,
        Err(TraceError::NotFound(_))
    ));
    tracer
        .start(new("one-more", 0, 60, now))
        .await
        .expect("room again");
    tracer.delete_all().await.expect("all deleted");
    assert!(tracer.list().await.is_empty());
    assert!(!tracer.is_on());
}
