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
        // Signals are taken before anything starts: a SIGTERM that arrives while the store is
        // recovering or the admin account is being hashed is held, and shuts down gracefully
        // once the broker is up, instead of killing the process with the default action.
        let signals = Signals::install()?;
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
            signals.wait().await;
            info!("shutting down");
            token.cancel();
        });
        broker.wait(SHUTDOWN_GRACE).await;
        info!("stopped");
        Ok(())
    })
}

/// SIGINT and SIGTERM, registered with the runtime.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> anyhow::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Self {
            term: signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
            int: signal(SignalKind::interrupt()).context("installing the SIGINT handler")?,
        })
    }

    async fn wait(mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }
}
