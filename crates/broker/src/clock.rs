//! The broker's notion of now: tokio's clock as a `std::time::Instant`, so tests that pause
//! tokio time move the protocol clocks (keep alive, expiry, delays) too.

/// The current time on tokio's clock.
pub(crate) fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}
