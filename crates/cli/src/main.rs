//! `starling`: the one binary. `main` parses the command line and hands over to a command module.
//!
//! - `cmd::start`: run the broker.
//! - `cmd::ctl`: a command line over the management REST API (`starling ctl --help`).
//! - `cmd::publish`, `cmd::subscribe`: the `pub` and `sub` MQTT clients; `cmd::bench`: a load
//!   generator.
//! - `cmd::passwd`: manage a Mosquitto-compatible password file.
//! - `settings`: configuration layering (file, then `STARLING_*` environment).

mod cmd;
mod settings;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Starling, an MQTT 3.1/3.1.1/5.0 broker.
#[derive(Parser, Debug)]
#[command(name = "starling", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the broker (embedded defaults unless -c is given).
    Start(cmd::start::StartArgs),
    /// Load generator: conn | pub | sub | pubsub.
    Bench(cmd::bench::BenchArgs),
    /// Publish a message (mosquitto_pub conventions; -h is the host, --help the help).
    #[command(disable_help_flag = true)]
    Pub(cmd::publish::PubArgs),
    /// Subscribe and print messages (mosquitto_sub conventions; -h is the host, --help the help).
    #[command(disable_help_flag = true)]
    Sub(cmd::subscribe::SubArgs),
    /// Manage a password file (mosquitto_passwd's format and flags).
    Passwd(cmd::passwd::PasswdArgs),
    /// Manage a running broker through its management API (tables, or --json for scripts).
    Ctl(cmd::ctl::CtlArgs),
}

/// mimalloc rather than the system allocator: a message's life is a handful of small
/// allocations freed on another thread, where glibc's malloc spends much of its time in arena
/// locks and consolidation (1,000 pairs with `starling bench pubsub`: about +35%). Version 2
/// (feature `v2`): tokio allocates each task 128-byte aligned, which v2 serves from its
/// 384-byte size class while v3 and glibc round it up to 512 or more — a connection's task is
/// most of an idle connection's memory. Measured: 845 bytes per idle connection with v2, 990
/// with v3, and no peak-memory growth with 16 KB messages (jemalloc: 860, but 4x the peak).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Start(args) => cmd::start::run(args).map(|()| ExitCode::SUCCESS),
        Command::Bench(args) => cmd::bench::run(args).map(|()| ExitCode::SUCCESS),
        Command::Pub(args) => cmd::publish::run(args).map(|()| ExitCode::SUCCESS),
        Command::Sub(args) => cmd::subscribe::run(args),
        Command::Passwd(args) => cmd::passwd::run(args).map(|()| ExitCode::SUCCESS),
        Command::Ctl(args) => Ok(cmd::ctl::run(args)),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("starling: {error:#}");
            ExitCode::FAILURE
        }
    }
}
