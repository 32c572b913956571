//! The driver: mounts a [`Disk`], runs the workload on it as a child process, cuts the power at
//! a random operation, kills the workload, and checks what survived; `cuts` times.
//!
//! The first run of each chain starts from an empty disk; the next ones start from the image
//! the previous cut left (so recovery itself runs on the powercut disk, and can be cut). The
//! cut point is an operation count drawn uniformly from one to a little more than the longest
//! uncut run seen, so cuts fall everywhere: in the store's creation, its recovery, its commits,
//! flushes and compactions, and (past the end) after a clean close. A run that ends before its
//! cut point is cut when it has exited.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::check::{check, Log, Snapshot};
use crate::disk::Disk;
use crate::image::Image;
use crate::mount::Mount;
use crate::rng::Rng;
use crate::workload::Plan;

/// What to run.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// The working directory: `mnt/`, `image/`, `failures/`.
    pub(crate) work: PathBuf,
    /// How many cuts.
    pub(crate) cuts: u32,
    /// Stop after this long even if fewer cuts were made.
    pub(crate) max_time: Duration,
    /// Seed of every random choice.
    pub(crate) seed: u64,
    /// Runs per chain (a new, empty store after this many).
    pub(crate) chain: u32,
    /// Every how many cuts one is torn (0: none).
    pub(crate) torn_every: u32,
    /// Workload threads.
    pub(crate) threads: u32,
    /// Batches per thread and run.
    pub(crate) batches: u32,
    /// Make the disk ignore fsync of files (a self-test: the checker must then fail).
    pub(crate) ignore_fsync: bool,
}

/// Totals of a run.
#[derive(Debug, Default)]
struct Totals {
    cuts: u32,
    mid_run: u32,
    torn: u32,
    durable_batches: u64,
    records: u64,
    ops: u64,
    dirty_pages: u64,
    entries_lost: u64,
    tails_cut: u64,
    failures: u32,
}

/// Runs the cuts; `Ok(false)` when a check failed.
pub(crate) fn run(options: &Options) -> Result<bool, String> {
    let started = Instant::now();
    let mnt = options.work.join("mnt");
    std::fs::create_dir_all(&mnt).map_err(|e| format!("mkdir {}: {e}", mnt.display()))?;
    let mut rng = Rng::new(options.seed);
    let mut totals = Totals::default();
    // The longest uncut run seen at each position of a chain (later runs recover a larger
    // store, so they are longer): the cut points of that position are drawn below it.
    let mut longest: Vec<Option<u64>> = vec![None; options.chain.max(1) as usize];
    let mut image = Image::default();
    let mut before = Snapshot::new();
    for i in 0..options.cuts {
        if started.elapsed() >= options.max_time {
            eprintln!("powercut: time is up after {i} cuts");
            break;
        }
        let cycle = i % options.chain.max(1);
        if cycle == 0 {
            image = Image::default();
            before = Snapshot::new();
        }
        let cut_at = longest[cycle as usize].map(|n| 1 + rng.below(n + n / 20 + 1));
        let torn = (options.torn_every > 0 && i % options.torn_every == options.torn_every - 1)
            .then(|| rng.next_u64());
        let plan = Plan {
            cycle,
            threads: options.threads,
            batches: options.batches,
        };
        let cut = one_cut(options, &mnt, &image, cut_at, torn, plan)?;
        let longest = &mut longest[cycle as usize];
        totals.cuts += 1;
        totals.torn += u32::from(torn.is_some());
        totals.ops += cut.stats.ops;
        totals.dirty_pages += cut.stats.dirty_pages_at_cut;
        totals.entries_lost += cut.stats.entries_lost_at_cut;
        if cut.mid_run {
            totals.mid_run += 1;
        } else {
            *longest = Some(longest.unwrap_or(0).max(cut.stats.ops));
        }
        let mut failures = cut.failures;
        let dir = options.work.join("image");
        let _ = std::fs::remove_dir_all(&dir);
        cut.image
            .save(&dir)
            .map_err(|e| format!("save image: {e}"))?;
        let outcome = check(&dir.join("data"), plan, &cut.log, &before);
        failures.extend(outcome.failures);
        totals.durable_batches += cut.log.durable_count() as u64;
        totals.records += outcome.records_checked;
        totals.tails_cut += outcome.journal_tails_cut;
        if !failures.is_empty() {
            totals.failures += 1;
            let kept = options.work.join(format!("failures/cut-{i}"));
            let _ = cut.image.save(&kept.join("image"));
            let _ = std::fs::write(kept.join("workload.out"), cut.lines.join("\n"));
            let _ = std::fs::write(kept.join("workload.err"), &cut.stderr);
            eprintln!(
                "powercut: cut {i} (run {cycle} of its chain, cut at op {cut_at:?} of a \
                 longest {longest:?}, torn: {}) FAILED, image kept in {}:",
                torn.is_some(),
                kept.display()
            );
            for f in failures.iter().take(20) {
                eprintln!("  {f}");
            }
        }
        // The next run of the chain starts from what the cut left (not from the checker's
        // copy, which recovery has already changed), and must find what this check found.
        image = cut.image;
        before = outcome.snapshot;
        if (i + 1) % 50 == 0 {
            eprintln!(
                "powercut: {} cuts, {} failed, {:.0?}",
                i + 1,
                totals.failures,
                started.elapsed()
            );
        }
    }
    println!(
        "powercut: {} cuts ({} mid-run, {} after a clean end, {} torn) in {:.1?}: {} batches \
         reported durable and {} records checked, {} operations, {} dirty pages and {} \
         directory entries thrown away by the cuts, {} torn journal batches cut off at open; {} \
         failed",
        totals.cuts,
        totals.mid_run,
        totals.cuts - totals.mid_run,
        totals.torn,
        started.elapsed(),
        totals.durable_batches,
        totals.records,
        totals.ops,
        totals.dirty_pages,
        totals.entries_lost,
        totals.tails_cut,
        totals.failures
    );
    println!(
        "{} passed, {} failed",
        totals.cuts - totals.failures,
        totals.failures
    );
    Ok(totals.failures == 0)
}

/// One run of the workload and its cut.
struct Cut {
    image: Image,
    log: Log,
    lines: Vec<String>,
    stderr: String,
    stats: crate::disk::DiskStats,
    mid_run: bool,
    failures: Vec<String>,
}

fn one_cut(
    options: &Options,
    mnt: &Path,
    image: &Image,
    cut_at: Option<u64>,
    torn: Option<u64>,
    plan: Plan,
) -> Result<Cut, String> {
    let mut disk = Disk::new(image, cut_at, torn);
    disk.ignore_fsync(options.ignore_fsync);
    let mount = Mount::new(disk, mnt).map_err(|e| format!("mount on {}: {e}", mnt.display()))?;
    let shared = Arc::clone(mount.shared());
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let stderr_path = options.work.join("workload.err");
    let stderr = std::fs::File::create(&stderr_path).map_err(|e| format!("stderr file: {e}"))?;
    let mut child = Command::new(exe)
        .arg("work")
        .arg("--dir")
        .arg(mnt.join("data"))
        .args(["--cycle", &plan.cycle.to_string()])
        .args(["--threads", &plan.threads.to_string()])
        .args(["--batches", &plan.batches.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .map_err(|e| format!("spawn the workload: {e}"))?;
    let lines = Arc::new(Mutex::new(Vec::new()));
    let ended = Arc::new(AtomicBool::new(false));
    let reader = {
        let stdout = child.stdout.take();
        let (lines, ended, shared) = (Arc::clone(&lines), Arc::clone(&ended), Arc::clone(&shared));
        std::thread::spawn(move || {
            if let Some(stdout) = stdout {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    lines
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(line);
                }
            }
            ended.store(true, Ordering::SeqCst);
            shared.notify();
        })
    };
    let mut failures = Vec::new();
    let mid_run = shared.wait_cut(Duration::from_secs(120), || ended.load(Ordering::SeqCst));
    if !mid_run && !ended.load(Ordering::SeqCst) {
        failures.push("the workload did not finish within 120 s".to_owned());
    }
    // The power is off (or the workload is done): nothing it does from here on counts.
    let _ = child.kill();
    let status = child.wait().map_err(|e| format!("wait: {e}"))?;
    let _ = reader.join();
    let image = shared.disk().cut_now();
    let stats = shared.disk().stats();
    drop(shared);
    mount.unmount().map_err(|e| format!("unmount: {e}"))?;
    let lines = std::mem::take(&mut *lines.lock().unwrap_or_else(PoisonError::into_inner));
    let log = Log::parse(&lines);
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    if !(mid_run || status.success() && log.done) {
        failures.push(format!(
            "the workload failed without a cut ({status}): {}",
            stderr.lines().last().unwrap_or("")
        ));
    }
    Ok(Cut {
        image,
        log,
        lines,
        stderr,
        stats,
        mid_run,
        failures,
    })
}
