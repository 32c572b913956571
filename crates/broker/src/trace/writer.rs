//! The one task that writes trace files, so that connection tasks never touch a file: they
//! hand lines over a bounded channel (`try_send`; a full channel drops the line and counts it
//! in the trace's `dropped`). The task takes what is queued in batches and writes each batch
//! on a blocking thread, then flushes. A trace's file stops growing at `trace.max_file_size`
//! (the trace is marked full). A [`WriterMsg::Flush`] is answered once everything queued
//! before it is written, which is how stop and download see every event sent before them.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// Lines queued for the writer at most.
pub(crate) const QUEUE: usize = 8192;

/// What the writer is told, in order.
pub(crate) enum WriterMsg {
    /// Start writing trace `id` to `path` (`truncate`: a new trace, not one restored).
    Open {
        id: u64,
        path: PathBuf,
        truncate: bool,
        max_size: u64,
        state: Arc<FileState>,
    },
    /// One line of trace `id`.
    Line { id: u64, line: String },
    /// Trace `id` ended: close its file.
    Close { id: u64 },
    /// Answer once everything before is written.
    Flush(oneshot::Sender<()>),
}

/// A trace's file as the writer and the API both see it.
#[derive(Debug, Default)]
pub(crate) struct FileState {
    /// Lines dropped because the queue was full.
    pub(crate) dropped: AtomicU64,
    /// The file reached `trace.max_file_size`: nothing more is written.
    pub(crate) full: AtomicBool,
}

struct Open {
    file: Option<BufWriter<File>>,
    size: u64,
    max_size: u64,
    state: Arc<FileState>,
}

/// Runs the writer until the channel closes; when the broker stops, the channel is closed
/// and what it holds is written before the task ends.
pub(crate) async fn run(mut rx: mpsc::Receiver<WriterMsg>, shutdown: CancellationToken) {
    let mut files: HashMap<u64, Open> = HashMap::new();
    let mut batch = Vec::with_capacity(256);
    let mut closed = false;
    loop {
        let n = tokio::select! {
            n = rx.recv_many(&mut batch, 256) => n,
            () = shutdown.cancelled(), if !closed => {
                rx.close();
                closed = true;
                continue;
            }
        };
        if n == 0 {
            return;
        }
        let taken = std::mem::take(&mut batch);
        let written = tokio::task::spawn_blocking(move || {
            let replies = write(&mut files, taken);
            (files, replies)
        })
        .await;
        let Ok((back, replies)) = written else {
            tracing::error!("the trace writer's thread failed");
            return;
        };
        files = back;
        for reply in replies {
            let _ = reply.send(());
        }
    }
}

/// Carries out one batch; the flush requests it answered.
fn write(files: &mut HashMap<u64, Open>, batch: Vec<WriterMsg>) -> Vec<oneshot::Sender<()>> {
    let mut replies = Vec::new();
    for msg in batch {
        match msg {
            WriterMsg::Open {
                id,
                path,
                truncate,
                max_size,
                state,
            } => {
                let opened = open(&path, truncate);
                let size = opened
                    .as_ref()
                    .ok()
                    .and_then(|f| f.metadata().ok())
                    .map_or(0, |m| m.len());
                if let Err(e) = &opened {
                    tracing::error!(path = %path.display(), error = %e, "cannot open a trace file");
                }
                let open = Open {
                    file: opened.ok().map(BufWriter::new),
                    size,
                    max_size,
                    state,
                };
                files.insert(id, open);
            }
            WriterMsg::Line { id, line } => {
                if let Some(open) = files.get_mut(&id) {
                    append(open, &line);
                }
            }
            WriterMsg::Close { id } => {
                if let Some(mut open) = files.remove(&id) {
                    flush(&mut open);
                }
            }
            WriterMsg::Flush(reply) => replies.push(reply),
        }
    }
    for open in files.values_mut() {
        flush(open);
    }
    replies
}

fn open(path: &std::path::Path, truncate: bool) -> std::io::Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = OpenOptions::new();
    options.create(true);
    if truncate {
        options.write(true).truncate(true);
    } else {
        options.append(true);
    }
    options.open(path)
}

fn append(open: &mut Open, line: &str) {
    let Some(file) = &mut open.file else { return };
    let len = line.len() as u64;
    if open.size + len > open.max_size {
        open.state.full.store(true, Ordering::Relaxed);
        return;
    }
    if let Err(e) = file.write_all(line.as_bytes()) {
        tracing::error!(error = %e, "cannot write a trace file; the trace writes no more");
        open.file = None;
        return;
    }
    open.size += len;
}

fn flush(open: &mut Open) {
    if let Some(file) = &mut open.file {
        if let Err(e) = file.flush() {
            tracing::error!(error = %e, "cannot write a trace file; the trace writes no more");
            open.file = None;
        }
    }
}
