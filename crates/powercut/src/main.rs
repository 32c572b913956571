//! `powercut`: a power-loss test of `starling-store`. Test-only; not part of the `starling`
//! binary.
//!
//! `kill -9` leaves the page cache alone, so it proves nothing about fsync. This tool mounts a
//! FUSE filesystem that keeps, for every file and directory, what the running process sees and
//! what an fsync has made durable, and can cut the power at any operation: everything no fsync
//! covered is thrown away (see `disk` for the exact model). A workload process commits batches
//! to a store on it with `Fsync::Always` and prints each batch the store reports durable; the
//! power is cut at a random operation, the workload is killed, and the store is reopened from
//! what survived and checked against what was printed (see `check`).
//!
//! Needs root (the filesystem is mounted with the `mount` system call) and `/dev/fuse`.
//!
//! # Modules
//!
//! - `disk`: [`Disk`](disk::Disk), the live and durable state, and the cut;
//! - `content`: sparse file contents; `image`: a tree of them, saved to a real directory;
//! - `mount`: serving a `Disk` over FUSE (`fuser`);
//! - `workload`: the `work` subcommand, what it writes and how it reports durability;
//! - `check`: what must hold after a cut; `run`: the `run` subcommand, the cut loop;
//! - `rng`: the seeded generator every random choice comes from.

mod check;
mod content;
mod disk;
mod image;
mod mount;
mod rng;
mod run;
mod workload;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

/// Power-loss test of the store on a FUSE filesystem that forgets what was not fsynced.
#[derive(Debug, Parser)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Cut the power CUTS times and check the store after each cut.
    Run {
        /// Working directory (mount point, last image, failures).
        #[arg(long)]
        work: PathBuf,
        /// How many cuts.
        #[arg(long, default_value_t = 1000)]
        cuts: u32,
        /// Stop after this many seconds even if fewer cuts were made.
        #[arg(long, default_value_t = 3000)]
        max_seconds: u64,
        /// Seed of every random choice (a run is repeatable from it).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Runs on one store before starting again from an empty one.
        #[arg(long, default_value_t = 5)]
        chain: u32,
        /// Every how many cuts one is torn (keeps a random part of what was not synced); 0
        /// for none.
        #[arg(long, default_value_t = 4)]
        torn_every: u32,
        /// Workload threads.
        #[arg(long, default_value_t = 3)]
        threads: u32,
        /// Batches per thread and run.
        #[arg(long, default_value_t = 40)]
        batches: u32,
        /// Self-test: the disk ignores fsync of files, so the checks must fail.
        #[arg(long)]
        ignore_fsync: bool,
    },
    /// The workload (started by `run` on the mount point).
    Work {
        /// The store's data directory.
        #[arg(long)]
        dir: PathBuf,
        /// The run's number within its chain.
        #[arg(long)]
        cycle: u32,
        /// Committing threads.
        #[arg(long)]
        threads: u32,
        /// Batches per thread.
        #[arg(long)]
        batches: u32,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Cmd::Run {
            work,
            cuts,
            max_seconds,
            seed,
            chain,
            torn_every,
            threads,
            batches,
            ignore_fsync,
        } => {
            let options = run::Options {
                work,
                cuts,
                max_time: Duration::from_secs(max_seconds),
                seed,
                chain,
                torn_every,
                threads,
                batches,
                ignore_fsync,
            };
            match run::run(&options) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::FAILURE,
                Err(e) => {
                    eprintln!("powercut: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Cmd::Work {
            dir,
            cycle,
            threads,
            batches,
        } => {
            let plan = workload::Plan {
                cycle,
                threads,
                batches,
            };
            match workload::run(&dir, plan) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("workload: {e}");
                    ExitCode::from(3)
                }
            }
        }
    }
}
