//! `starling`: the one binary. `main` parses the command line and hands over to a command module.
//!
//! - `cmd::start`: run the broker.
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Start(args) => cmd::start::run(args),
        Command::Bench(args) => cmd::bench::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("starling: {error:#}");
            ExitCode::FAILURE
        }
    }
}
