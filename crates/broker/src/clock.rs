//! The broker's notion of now: tokio's clock as a `std::time::Instant`, so tests that pause
//! tokio time move the protocol clocks (keep alive, expiry, delays) too.

/// The current time on tokio's clock.
pub(crate) fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

/// The current wall time as the broker counts it: `limits.clock` applied to [`now`], so that
/// wall-clock deadlines move with paused tokio time in tests, and never read the system clock
/// twice in different ways.
pub(crate) fn wall(limits: &starling_core::ServerLimits) -> std::time::SystemTime {
    limits.clock.at(now())
}
