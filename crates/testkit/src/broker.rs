//! [`TestBroker`]: a real broker, started in the current tokio runtime on `127.0.0.1:0`.

use starling_broker::metrics::Metrics;
use starling_broker::RunningBroker;
use starling_config::Config;
use std::net::SocketAddr;
use std::sync::{Arc, Once};
use std::time::Duration;

/// How long [`TestBroker::shutdown`] waits for connections to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A broker serving one TCP listener on an ephemeral loopback port.
///
/// Dropping it without [`TestBroker::shutdown`] cancels the broker (its tasks end with the
/// runtime at the latest).
pub struct TestBroker {
    running: Option<RunningBroker>,
    addr: SocketAddr,
    addrs: Vec<SocketAddr>,
    metrics: Arc<Metrics>,
    config: Config,
    /// The store's directory, removed when the broker is dropped (unless a test chose its own).
    _data: Option<tempfile::TempDir>,
}

impl TestBroker {
    /// Starts a broker with the default configuration (on `127.0.0.1:0`, `$SYS` publishing and
    /// the keep-alive cap off).
    pub async fn start() -> TestBroker {
        Self::start_with(|_| {}).await
    }

    /// Starts a broker with the default configuration changed by `tweak`. Before `tweak` runs,
    /// the single listener is set to bind `127.0.0.1:0`, periodic `$SYS` publishing is
    /// disabled (`cfg.sys.interval = None`) and so is the keep-alive cap
    /// (`cfg.mqtt.max_keepalive = None`, so 3.x clients may connect with keep alive 0);
    /// `tweak` may turn them back on.
    ///
    /// Panics if the broker cannot start.
    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> TestBroker {
        init_tracing();
        let mut config = Config::default();
        config.listeners.truncate(1);
        if let Some(listener) = config.listeners.first_mut() {
            listener.bind = SocketAddr::from(([127, 0, 0, 1], 0));
        }
        config.sys.interval = None;
        // Tests connect with keep alive 0 (no timer in the way, `connect_packet`), which the
        // default keep-alive cap refuses from 3.x clients; tests of the cap set it back.
        config.mqtt.max_keepalive = None;
        // Each broker its own store: tests run in parallel, and one directory takes one broker.
        let data = match tempfile::Builder::new().prefix("starling-test-").tempdir() {
            Ok(dir) => dir,
            Err(e) => panic!("no temporary directory for the test broker's store: {e}"),
        };
        config.node.data_dir = data.path().to_owned();
        tweak(&mut config);
        let running = match starling_broker::start(&config).await {
            Ok(running) => running,
            Err(e) => panic!("the test broker did not start: {e}"),
        };
        let Some(&addr) = running.local_addrs().first() else {
            panic!("the test broker has no listener");
        };
        let metrics = running.metrics().clone();
        let addrs = running.local_addrs().to_vec();
        TestBroker {
            running: Some(running),
            addr,
            addrs,
            metrics,
            config,
            _data: Some(data),
        }
    }

    /// The address of the (first) listener.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The addresses of every listener, in the configuration's order.
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Reloads the TLS listeners' files now (as SIGHUP does).
    pub fn reload_tls(&self) {
        if let Some(running) = &self.running {
            running.reload_tls();
        }
    }

    /// The running broker (for what the test kit does not wrap, e.g. its bans).
    pub fn running(&self) -> &RunningBroker {
        match &self.running {
            Some(running) => running,
            None => panic!("the test broker was shut down"),
        }
    }

    /// Loads again the `[auth]` files that changed (`RunningBroker::reload_auth`).
    pub fn reload_auth(&self) {
        if let Some(running) = &self.running {
            running.reload_auth();
        }
    }

    /// The broker's counters.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The configuration the broker was started with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Shuts the broker down gracefully (5.0 clients get DISCONNECT 0x8B) and waits for it.
    pub async fn shutdown(mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown(SHUTDOWN_GRACE).await;
        }
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        if let Some(running) = &self.running {
            running.shutdown_token().cancel();
        }
    }
}

/// Installs a log subscriber once if `STARLING_TEST_LOG` is set.
fn init_tracing() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        if let Ok(filter) = std::env::var("STARLING_TEST_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_test_writer()
                .try_init();
        }
    });
}
