//! `starling start`: load the configuration, start the broker, wait for SIGINT or SIGTERM, shut
//! down gracefully (5.0 clients get DISCONNECT 0x8B), exit 0.

use crate::settings;
use anyhow::Context as _;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;
use tracing::info;
use tracing_subscriber::EnvFilter;

/// How long shutdown waits for connections to flush and close.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Arguments of `starling start`.
#[derive(clap::Args, Debug)]
pub(crate) struct StartArgs {
    /// Configuration file (TOML); without it the embedded defaults apply.
    #[arg(short = 'c', long = "config", env = "STARLING_CONFIG")]
    config: Option<PathBuf>,
}

pub(crate) fn run(args: StartArgs) -> anyhow::Result<()> {
    let config = settings::load(args.config.as_deref(), std::env::vars())?;
    let mut filter = std::env::var("STARLING_LOG").unwrap_or_else(|_| config.log.level.clone());
    // rustls warns about what peers send (an IP address as SNI, from every OpenSSL client that
    // connects by address): anyone could fill the log with it. Failed handshakes are logged
    // (debug) and counted by the broker itself.
    if !filter.contains("rustls") {
        filter.push_str(",rustls=error");
    }
    // The store engine logs each keyspace it creates and each flush at info: its own
    // bookkeeping, not the broker's. The broker logs what it restored and what it set aside.
    if !filter.contains("fjall") && !filter.contains("lsm_tree") {
        filter.push_str(",fjall=warn,lsm_tree=warn");
    }
    tracing_subscriber::fmt()
        .with_ansi(std::io::stdout().is_terminal())
        .with_env_filter(EnvFilter::try_new(&filter).context("log.level")?)
        .init();
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = config.node.worker_threads {
        runtime.worker_threads(threads);
    }
    let runtime = runtime
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let broker = starling_broker::start(&config).await?;
        if config.api.enabled {
            // The API stops with the broker: it shares the broker's shutdown token.
            let api = starling_admin::serve(broker.handle(), broker.shutdown_token()).await?;
            info!(addr = %api.local_addr, "management API at http://{}/api/v5 (OpenAPI: /api-docs)", api.local_addr);
        }
        info!(
            version = env!("CARGO_PKG_VERSION"),
            node = %config.node.name,
            listeners = ?broker.local_addrs(),
            "starling started"
        );
        let token = broker.shutdown_token();
        tokio::spawn(async move {
            wait_for_signal().await;
            info!("shutting down");
            token.cancel();
        });
        broker.wait(SHUTDOWN_GRACE).await;
        info!("stopped");
        Ok(())
    })
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
