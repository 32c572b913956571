//! Traces: the events of one client id, peer address or topic filter written to a file
//! (`<node.data_dir>/trace/<name>.log`) for a while, for an operator chasing one device.
//!
//! Cost when off: connections ask [`Tracer::is_on`] at each packet, one relaxed atomic load
//! of the number of running traces; nothing else happens when it is 0. When traces run, the
//! running set is an immutable snapshot ([`Active`], behind an `ArcSwap`) with a generation:
//! a connection decides whether client-id or address traces cover it once, and again only
//! when the generation changed (the answer is cached in its `ClientInfo`, [`TraceCache`]);
//! a PUBLISH's topic is matched against the few running topic filters. Lines go to
//! the writer task (`writer`) over a bounded channel, never blocking a connection.
//!
//! - `spec`: what a trace is, its checks and its stored record;
//! - `table`: the traces kept, their lifecycle (waiting, running, stopped at their end by a
//!   timer task), the API's operations;
//! - `hook`: what connections call (CONNECT, packets in and out, the end);
//! - `event`: the text of a line; `writer`: the task that writes the files.

mod event;
mod hook;
mod spec;
mod table;
mod writer;

pub(crate) use event::Direction;
pub(crate) use hook::{closed, connack, connect, packet};
pub use spec::{check_name, NewTrace, PayloadEncode, TraceTarget};
pub use table::{TraceInfo, TraceStatus};

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;
use starling_config::TraceConfig;
use starling_topic::TopicName;
use tokio::sync::{mpsc, Notify};

/// Stored records of traces start with this, in the store's `admin` keyspace.
pub(crate) const RECORD_PREFIX: &str = "trace/";

/// Why a trace operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// A value is wrong: the field, and why.
    #[error("{0}: {1}")]
    Field(&'static str, String),
    /// A trace of that name exists.
    #[error("a trace named {0:?} exists already")]
    Exists(String),
    /// No trace of that name.
    #[error("trace {0:?}")]
    NotFound(String),
    /// `trace.max_traces` are held.
    #[error("name: at most {0} traces are held (trace.max_traces); delete one first")]
    TooMany(usize),
    /// The file could not be read.
    #[error("trace file: {0}")]
    Io(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] starling_store::StoreError),
}

/// One running trace in the snapshot.
#[derive(Debug)]
pub(crate) struct Running {
    /// The writer's name for its file (a trace restarted under the same name gets a new one).
    pub(crate) id: u64,
    pub(crate) target: TraceTarget,
    pub(crate) payload_encode: PayloadEncode,
    pub(crate) file: Arc<writer::FileState>,
}

/// The running traces; bit `i` of a connection's mask is `traces[i]`.
#[derive(Debug, Default)]
pub(crate) struct Active {
    /// Bumped at each change (31 bits, wrapping: see [`TraceCache`]).
    pub(crate) generation: u32,
    pub(crate) traces: Vec<Running>,
    /// Some trace is on a topic filter.
    pub(crate) topics: bool,
}

impl Active {
    /// The client-id and address traces that cover a connection.
    fn connection_mask(&self, client_id: &str, ip: IpAddr) -> u64 {
        let mut mask = 0;
        for (i, t) in self.traces.iter().enumerate() {
            let hit = match &t.target {
                TraceTarget::ClientId(id) => id == client_id,
                TraceTarget::Address(a) => *a == ip || a.to_canonical() == ip.to_canonical(),
                TraceTarget::Topic(_) => false,
            };
            if hit {
                mask |= 1 << i;
            }
        }
        mask
    }

    /// The topic traces whose filter matches `topic`.
    fn topic_mask(&self, topic: &str) -> u64 {
        if !self.topics {
            return 0;
        }
        let Ok(name) = TopicName::new(topic) else {
            return 0;
        };
        let mut mask = 0;
        for (i, t) in self.traces.iter().enumerate() {
            if let TraceTarget::Topic(filter) = &t.target {
                if filter.matches(&name) {
                    mask |= 1 << i;
                }
            }
        }
        mask
    }
}

/// A connection's cached answer to "does a client-id or address trace cover it?", for one
/// generation of the running set: bit 31 the answer, bits 0 to 30 the generation (wrapping:
/// a stale answer would need 2^31 changes of the set between two packets of a connection).
/// Four bytes, which is what `ClientInfo` had to spare; a covered connection works out which
/// traces per packet (its events are written anyway, which costs more).
#[derive(Debug, Default)]
pub struct TraceCache {
    state: AtomicU32,
}

const COVERED: u32 = 1 << 31;

/// The broker's traces: the running snapshot connections read, the table the API changes,
/// the writer's channel.
pub(crate) struct Tracer {
    /// Traces running now: the one load connections make when none is.
    running: AtomicUsize,
    active: ArcSwap<Active>,
    writer: mpsc::Sender<writer::WriterMsg>,
    table: tokio::sync::Mutex<table::Table>,
    /// Wakes the timer task when the table changed.
    changed: Notify,
    config: TraceConfig,
    dir: PathBuf,
    store: Option<starling_store::Store>,
    limits: Arc<starling_core::ServerLimits>,
    next_id: AtomicU64,
}

impl std::fmt::Debug for Tracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracer")
            .field("running", &self.running)
            .finish_non_exhaustive()
    }
}

impl Tracer {
    /// A tracer writing under `<data_dir>/trace/`, and the writer's receiving end (for
    /// [`Tracer::spawn`]).
    pub(crate) fn new(
        config: TraceConfig,
        data_dir: &std::path::Path,
        store: Option<starling_store::Store>,
        limits: Arc<starling_core::ServerLimits>,
    ) -> (Self, mpsc::Receiver<writer::WriterMsg>) {
        let (writer, rx) = mpsc::channel(writer::QUEUE);
        let tracer = Self {
            running: AtomicUsize::new(0),
            active: ArcSwap::from_pointee(Active::default()),
            writer,
            table: tokio::sync::Mutex::new(table::Table::default()),
            changed: Notify::new(),
            config,
            dir: data_dir.join("trace"),
            store,
            limits,
            next_id: AtomicU64::new(1),
        };
        (tracer, rx)
    }

    /// A tracer with no traces and no writer (for contexts made in tests).
    pub(crate) fn idle(limits: Arc<starling_core::ServerLimits>) -> Self {
        Self::new(
            TraceConfig::default(),
            std::path::Path::new("."),
            None,
            limits,
        )
        .0
    }

    /// Takes back the traces stored before (`records`: the `admin` records under
    /// [`RECORD_PREFIX`]), then starts the writer and the timer tasks. Returns once the
    /// traces that should run do, before any client can connect.
    pub(crate) async fn spawn(
        self: &Arc<Self>,
        rx: mpsc::Receiver<writer::WriterMsg>,
        records: crate::AdminRecords,
        shutdown: tokio_util::sync::CancellationToken,
        tasks: &tokio_util::task::TaskTracker,
    ) {
        // The writer's queue holds far more than `MAX_TRACES` openings: this does not wait.
        self.restore(records).await;
        tasks.spawn(writer::run(rx, shutdown.clone()));
        let tracer = Arc::clone(self);
        tasks.spawn(async move { tracer.run_timer(shutdown).await });
    }

    /// Some trace runs: the only question a connection asks when none does.
    #[inline]
    pub(crate) fn is_on(&self) -> bool {
        self.running.load(Ordering::Relaxed) != 0
    }

    /// The traces covering a connection (its cache refreshed when the set changed) and, for
    /// a PUBLISH, its topic.
    fn mask(
        &self,
        active: &Active,
        client_id: &str,
        ip: IpAddr,
        cache: Option<&TraceCache>,
        topic: Option<&str>,
    ) -> u64 {
        let mut mask = match cache.map(|c| c.state.load(Ordering::Relaxed)) {
            // Decided for this generation: covered by none.
            Some(state) if state == active.generation => 0,
            _ => {
                let mask = active.connection_mask(client_id, ip);
                if let Some(cache) = cache {
                    let covered = if mask == 0 { 0 } else { COVERED };
                    cache
                        .state
                        .store(active.generation | covered, Ordering::Relaxed);
                }
                mask
            }
        };
        if let Some(topic) = topic {
            mask |= active.topic_mask(topic);
        }
        mask
    }

    /// Queues one line for each trace in `mask`; `line` makes it for a payload encoding.
    fn emit(&self, active: &Active, mask: u64, mut line: impl FnMut(PayloadEncode) -> String) {
        let mut bits = mask;
        while bits != 0 {
            let i = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            let Some(trace) = active.traces.get(i) else {
                continue;
            };
            let msg = writer::WriterMsg::Line {
                id: trace.id,
                line: line(trace.payload_encode),
            };
            if self.writer.try_send(msg).is_err() {
                trace.file.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The broker's wall time (tokio's clock).
    fn now(&self) -> std::time::SystemTime {
        crate::clock::wall(&self.limits)
    }
}

#[cfg(test)]
mod tests;
