//! `starling`: the one binary. Commands arrive with the issues that build them.

use clap::Parser;

/// Starling, an MQTT 3.1/3.1.1/5.0 broker.
#[derive(Parser, Debug)]
#[command(name = "starling", version, about)]
struct Cli {}

fn main() {
    let _cli = Cli::parse();
}
