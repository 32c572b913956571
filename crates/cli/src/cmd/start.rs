//! `starling start`: load the configuration, start the broker, wait for SIGINT or SIGTERM, shut
//! down gracefully (5.0 clients get DISCONNECT 0x8B), exit 0. SIGHUP re-reads the configuration
//! (as `starling ctl conf reload` does).

use crate::settings;
use anyhow::Context as _;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;
use tracing::info;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
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
    let sources = settings::Sources::new(args.config, std::env::vars().collect());
    let source = CliSource {
        sources,
        log: std::sync::OnceLock::new(),
    };
    let loaded = starling_broker::load_config(&source)
        .map_err(|e| anyhow::anyhow!("invalid configuration ({}): {e}", source.sources.origin()))?;
    let config = loaded.config.clone();
    let (filter, log) = tracing_subscriber::reload::Layer::new(log_filter(&config.log.level)?);
    let _ = source.log.set(log);
    tracing_subscriber::registry()
        .with(filter)
        .with(tracing_subscriber::fmt::layer().with_ansi(std::io::stdout().is_terminal()))
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
        broker.handle().attach_config(Box::new(source), &loaded);
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
        let handle = broker.handle();
        tokio::spawn(async move {
            signals.wait(&handle).await;
            info!("shutting down");
            token.cancel();
        });
        broker.wait(SHUTDOWN_GRACE).await;
        info!("stopped");
        Ok(())
    })
}

/// The log filter for `log.level`: `STARLING_LOG` wins when set. Noisy dependencies are kept
/// at warn unless the filter names them.
fn log_filter(level: &str) -> anyhow::Result<EnvFilter> {
    let mut filter = std::env::var("STARLING_LOG").unwrap_or_else(|_| level.to_owned());
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
    EnvFilter::try_new(&filter).context("log.level")
}

type LogHandle = tracing_subscriber::reload::Handle<EnvFilter, tracing_subscriber::Registry>;

/// The configuration's sources as the broker sees them: the file and the environment, and the
/// log filter, which a change of `log.level` replaces.
struct CliSource {
    sources: settings::Sources,
    log: std::sync::OnceLock<LogHandle>,
}

impl starling_broker::ConfigSource for CliSource {
    fn layer(&self, overrides: &toml::Table) -> Result<toml::Table, String> {
        self.sources.layer(overrides).map_err(|e| format!("{e:#}"))
    }

    fn set_log_level(&self, level: &str) -> Result<(), String> {
        if std::env::var_os("STARLING_LOG").is_some() {
            return Err("the STARLING_LOG environment variable sets the log filter".to_owned());
        }
        let filter = log_filter(level).map_err(|e| format!("{e:#}"))?;
        let log = self.log.get().ok_or("the log is not set up")?;
        log.reload(filter).map_err(|e| e.to_string())
    }
}

/// SIGINT and SIGTERM (shut down) and SIGHUP (reload the configuration), registered with the
/// runtime.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> anyhow::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Self {
            term: signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
            int: signal(SignalKind::interrupt()).context("installing the SIGINT handler")?,
            hup: signal(SignalKind::hangup()).context("installing the SIGHUP handler")?,
        })
    }

    /// Returns at SIGINT or SIGTERM; reloads the configuration at each SIGHUP.
    async fn wait(mut self, handle: &starling_broker::BrokerHandle) {
        loop {
            tokio::select! {
                _ = self.term.recv() => return,
                _ = self.int.recv() => return,
                _ = self.hup.recv() => match handle.reload_config().await {
                    Ok(change) => info!(applied = ?change.applied, restart_required = ?change.restart_required, "SIGHUP: configuration reloaded"),
                    Err(e) => tracing::error!(error = %e, "SIGHUP: the configuration was not reloaded; nothing changed"),
                },
            }
        }
    }
}
