//! The traces kept and their lifecycle. A trace is *waiting* before its start, *running*
//! between its start and its end, *stopped* after its end or once stopped by hand. A timer
//! task sleeps (tokio time) until the next start or end and applies it; the API's changes
//! apply at once. Every change is written to the store (durably, before the answer) and its
//! file kept until the trace is deleted.
//!
//! The table sits behind an async mutex (the API's operations and the timer are serialised;
//! it is held across the writer's and the store's awaits, never taken by a connection).
//! What connections read is the snapshot of running traces rebuilt after each change: new
//! files are opened in the writer before the snapshot names them, and closed after it no
//! longer does.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::spec::Spec;
use super::writer::{FileState, WriterMsg};
use super::{Active, NewTrace, PayloadEncode, Running, TraceError, TraceTarget, Tracer};

/// Where a trace is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceStatus {
    /// Its start is still to come.
    Waiting,
    /// Writing events.
    Running,
    /// Its end passed, or it was stopped; its file can still be read.
    Stopped,
}

impl TraceStatus {
    /// `waiting`, `running` or `stopped`, as EMQX says.
    pub fn name(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Running => "running",
            Self::Stopped => "stopped",
        }
    }
}

/// A trace as the API shows it.
#[derive(Debug, Clone)]
pub struct TraceInfo {
    /// Its name.
    pub name: String,
    /// What it matches.
    pub target: TraceTarget,
    /// How payloads are written.
    pub payload_encode: PayloadEncode,
    /// When it starts.
    pub start_at: SystemTime,
    /// When it ends (when it was stopped, for one stopped by hand).
    pub end_at: SystemTime,
    /// Where it is in its life.
    pub status: TraceStatus,
    /// Its file's size in bytes.
    pub log_size: u64,
    /// Events dropped because the writer's queue was full.
    pub dropped: u64,
    /// Its file reached `trace.max_file_size`: nothing more is written.
    pub full: bool,
}

#[derive(Default)]
pub(crate) struct Table {
    entries: BTreeMap<String, Entry>,
}

struct Entry {
    spec: Spec,
    file: Arc<FileState>,
    /// The writer's id while the file is open (the trace runs).
    open: Option<u64>,
    /// Made by the API in this run: its file starts empty.
    fresh: bool,
}

impl Entry {
    fn status(&self, now: SystemTime) -> TraceStatus {
        if self.spec.stopped || now >= self.spec.end_at {
            TraceStatus::Stopped
        } else if now < self.spec.start_at {
            TraceStatus::Waiting
        } else {
            TraceStatus::Running
        }
    }
}

impl Tracer {
    /// Where trace `name` writes.
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.log"))
    }

    fn info(&self, entry: &Entry, now: SystemTime) -> TraceInfo {
        let spec = &entry.spec;
        TraceInfo {
            name: spec.name.clone(),
            target: spec.target.clone(),
            payload_encode: spec.payload_encode,
            start_at: spec.start_at,
            end_at: spec.end_at,
            status: entry.status(now),
            log_size: std::fs::metadata(self.path(&spec.name)).map_or(0, |m| m.len()),
            dropped: entry.file.dropped.load(Ordering::Relaxed),
            full: entry.file.full.load(Ordering::Relaxed),
        }
    }

    /// Takes the stored traces back (at start).
    pub(super) async fn restore(&self, records: crate::AdminRecords) {
        let mut table = self.table.lock().await;
        for (key, value) in records {
            match Spec::decode(&value) {
                Some(spec) => {
                    let entry = Entry {
                        spec,
                        file: Arc::default(),
                        open: None,
                        fresh: false,
                    };
                    table.entries.insert(entry.spec.name.clone(), entry);
                }
                None => tracing::warn!(
                    key = %String::from_utf8_lossy(&key),
                    "a stored trace is unreadable; skipped"
                ),
            }
        }
        self.apply(&mut table, Vec::new()).await;
    }

    /// Starts and stops what is due, and closes the files of traces just removed
    /// (`removed`: their writer ids); rebuilds the snapshot when anything changed. The next
    /// time something will be due.
    async fn apply(&self, table: &mut Table, removed: Vec<u64>) -> Option<SystemTime> {
        let now = self.now();
        let mut changed = !removed.is_empty();
        let mut closing = removed;
        let mut next: Option<SystemTime> = None;
        for entry in table.entries.values_mut() {
            let status = entry.status(now);
            match (status, entry.open) {
                (TraceStatus::Running, None) => {
                    let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                    let open = WriterMsg::Open {
                        id,
                        path: self.path(&entry.spec.name),
                        truncate: std::mem::take(&mut entry.fresh),
                        max_size: self.config.max_file_size,
                        state: Arc::clone(&entry.file),
                    };
                    let _ = self.writer.send(open).await;
                    entry.open = Some(id);
                    changed = true;
                }
                (TraceStatus::Running, Some(_)) => {}
                (_, Some(id)) => {
                    closing.push(id);
                    entry.open = None;
                    changed = true;
                }
                (_, None) => {}
            }
            let due = match status {
                TraceStatus::Waiting => Some(entry.spec.start_at),
                TraceStatus::Running => Some(entry.spec.end_at),
                TraceStatus::Stopped => None,
            };
            next = match (next, due) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        if changed {
            let mut traces = Vec::new();
            for entry in table.entries.values() {
                if let Some(id) = entry.open {
                    traces.push(Running {
                        id,
                        target: entry.spec.target.clone(),
                        payload_encode: entry.spec.payload_encode,
                        file: Arc::clone(&entry.file),
                    });
                }
            }
            let active = Active {
                generation: (self.active.load().generation + 1) & !super::COVERED,
                topics: traces
                    .iter()
                    .any(|t| matches!(t.target, TraceTarget::Topic(_))),
                traces,
            };
            let running = active.traces.len();
            self.active.store(Arc::new(active));
            self.running.store(running, Ordering::Relaxed);
            for id in closing {
                let _ = self.writer.send(WriterMsg::Close { id }).await;
            }
        }
        next
    }

    /// Sleeps until the next start or end and applies it, until the broker stops.
    pub(super) async fn run_timer(&self, shutdown: CancellationToken) {
        loop {
            let next = {
                let mut table = self.table.lock().await;
                self.apply(&mut table, Vec::new()).await
            };
            let wait = next.map(|at| at.duration_since(self.now()).unwrap_or_default());
            tokio::select! {
                () = async {
                    match wait {
                        Some(wait) => tokio::time::sleep(wait).await,
                        None => std::future::pending().await,
                    }
                } => {}
                () = self.changed.notified() => {}
                () = shutdown.cancelled() => return,
            }
        }
    }

    /// Waits until the writer has written everything queued before.
    pub(crate) async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.writer.send(WriterMsg::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }

    async fn save(&self, spec: &Spec, remove: bool) -> Result<(), TraceError> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        let value = (!remove).then(|| spec.encode());
        crate::handle::save_admin(store, Spec::key(&spec.name), value).await?;
        Ok(())
    }

    /// Starts a trace (or schedules it, when its start is to come).
    pub(crate) async fn start(&self, new: NewTrace) -> Result<TraceInfo, TraceError> {
        let spec = Spec::check(new, self.now(), self.config.max_duration)?;
        let mut table = self.table.lock().await;
        if table.entries.contains_key(&spec.name) {
            return Err(TraceError::Exists(spec.name));
        }
        if table.entries.len() >= self.config.max_traces {
            return Err(TraceError::TooMany(self.config.max_traces));
        }
        self.save(&spec, false).await?;
        let name = spec.name.clone();
        let entry = Entry {
            spec,
            file: Arc::default(),
            open: None,
            fresh: true,
        };
        table.entries.insert(name.clone(), entry);
        self.apply(&mut table, Vec::new()).await;
        self.changed.notify_one();
        let entry = table.entries.get(&name).ok_or(TraceError::NotFound(name))?;
        Ok(self.info(entry, self.now()))
    }

    /// Stops a trace now (its end becomes now); once everything it was sent is written.
    pub(crate) async fn stop(&self, name: &str) -> Result<TraceInfo, TraceError> {
        let mut table = self.table.lock().await;
        let now = self.now();
        let entry = table
            .entries
            .get_mut(name)
            .ok_or_else(|| TraceError::NotFound(name.to_owned()))?;
        if entry.status(now) != TraceStatus::Stopped {
            let mut spec = entry.spec.clone();
            spec.stopped = true;
            spec.end_at = spec.end_at.min(now);
            self.save(&spec, false).await?;
            entry.spec = spec;
            self.apply(&mut table, Vec::new()).await;
            self.changed.notify_one();
        }
        drop(table);
        self.flush().await;
        let table = self.table.lock().await;
        let entry = table
            .entries
            .get(name)
            .ok_or_else(|| TraceError::NotFound(name.to_owned()))?;
        Ok(self.info(entry, self.now()))
    }

    /// Deletes a trace and its file.
    pub(crate) async fn delete(&self, name: &str) -> Result<(), TraceError> {
        let mut table = self.table.lock().await;
        let entry = table
            .entries
            .remove(name)
            .ok_or_else(|| TraceError::NotFound(name.to_owned()))?;
        self.apply(&mut table, entry.open.into_iter().collect())
            .await;
        self.flush().await;
        self.save(&entry.spec, true).await?;
        remove_file(&self.path(name)).await;
        self.changed.notify_one();
        Ok(())
    }

    /// Deletes every trace and its file.
    pub(crate) async fn delete_all(&self) -> Result<(), TraceError> {
        let mut table = self.table.lock().await;
        let entries = std::mem::take(&mut table.entries);
        let open = entries.values().filter_map(|e| e.open).collect();
        self.apply(&mut table, open).await;
        self.flush().await;
        for (name, entry) in entries {
            self.save(&entry.spec, true).await?;
            remove_file(&self.path(&name)).await;
        }
        self.changed.notify_one();
        Ok(())
    }

    /// Every trace, by name.
    pub(crate) async fn list(&self) -> Vec<TraceInfo> {
        let table = self.table.lock().await;
        let now = self.now();
        table.entries.values().map(|e| self.info(e, now)).collect()
    }

    /// Up to `bytes` of trace `name`'s file from `position`, once everything queued before
    /// is written; and the file's size.
    pub(crate) async fn read(
        &self,
        name: &str,
        position: u64,
        bytes: usize,
    ) -> Result<(Vec<u8>, u64), TraceError> {
        if !self.table.lock().await.entries.contains_key(name) {
            return Err(TraceError::NotFound(name.to_owned()));
        }
        self.flush().await;
        let path = self.path(name);
        let read = tokio::task::spawn_blocking(move || read_window(&path, position, bytes)).await;
        match read {
            Ok(read) => read.map_err(|e| TraceError::Io(e.to_string())),
            Err(e) => Err(TraceError::Io(e.to_string())),
        }
    }
}

fn read_window(
    path: &std::path::Path,
    position: u64,
    bytes: usize,
) -> std::io::Result<(Vec<u8>, u64)> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        // A trace that never ran has no file yet.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(e) => return Err(e),
    };
    let size = file.metadata()?.len();
    file.seek(SeekFrom::Start(position.min(size)))?;
    let mut out = Vec::new();
    file.take(bytes as u64).read_to_end(&mut out)?;
    Ok((out, size))
}

async fn remove_file(path: &std::path::Path) {
    if let Err(e) = tokio::fs::remove_file(path).await {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(path = %path.display(), error = %e, "cannot remove a trace file");
        }
    }
}
