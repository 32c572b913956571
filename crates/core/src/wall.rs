//! [`WallClock`]: the protocol's monotonic time mapped to wall-clock time.
//!
//! Why: deadlines that must outlive the process — message expiry, delayed messages, session
//! expiry, will delay — are kept as `SystemTime`, which the store can write and a restarted
//! broker can read (a monotonic `Instant` means nothing after a restart). The protocol still
//! runs on the monotonic `now: Instant` it is given, so keep-alive is immune to clock steps and
//! tests stay deterministic; this mapping, fixed when the broker starts, turns that `now` into
//! wall time without reading any clock. Tests with paused time move both together.

use std::time::{Duration, Instant, SystemTime};

/// A fixed pair (monotonic instant, wall time) taken at the same moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WallClock {
    mono: Instant,
    wall: SystemTime,
}

impl WallClock {
    /// The mapping in which `mono` and `wall` are the same moment.
    pub fn new(mono: Instant, wall: SystemTime) -> Self {
        Self { mono, wall }
    }

    /// The wall time of the monotonic `now`.
    pub fn at(&self, now: Instant) -> SystemTime {
        match now.checked_duration_since(self.mono) {
            Some(ahead) => self.wall + ahead,
            None => self.wall - self.mono.duration_since(now),
        }
    }

    /// The monotonic instant of the wall time `at` (saturating at the mapping's own instant for
    /// times before it, which are due already).
    pub fn instant(&self, at: SystemTime) -> Instant {
        let ahead = at.duration_since(self.wall).unwrap_or(Duration::ZERO);
        self.mono + ahead
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_both_ways() {
        let mono = Instant::now();
        let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let clock = WallClock::new(mono, wall);
        let later = mono + Duration::from_secs(90);
        assert_eq!(clock.at(later), wall + Duration::from_secs(90));
        assert_eq!(clock.instant(wall + Duration::from_secs(90)), later);
        assert_eq!(
            clock.instant(wall - Duration::from_secs(5)),
            mono,
            "past: due now"
        );
    }
}
