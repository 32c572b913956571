//! Flapping detection: a client id whose connection ends more than `flapping.max_count` times
//! within `flapping.window` is banned for `flapping.ban_time` (a reconnect storm from one
//! buggy client costs a ban, not the broker's time). Counted when a connection ends, as EMQX
//! does, so a client that stays connected costs no entry here.
//!
//! The counts sit behind a mutex taken once per CONNECT for one hash lookup. At most
//! [`MAX_TRACKED`] client ids are tracked; past that, ids whose window has passed are
//! dropped, and if none has, the table starts afresh.

use starling_config::FlappingConfig;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

/// Client ids tracked at most.
const MAX_TRACKED: usize = 100_000;

/// Connect counts per client id.
#[derive(Debug)]
pub(crate) struct Flapping {
    config: FlappingConfig,
    table: Mutex<HashMap<Box<str>, (u32, Instant)>>,
}

impl Flapping {
    pub(crate) fn new(config: FlappingConfig) -> Self {
        Self {
            config,
            table: Mutex::new(HashMap::new()),
        }
    }

    /// The ban's length and the count that triggered it, or `None`.
    pub(crate) fn disconnected(
        &self,
        client_id: &str,
        now: Instant,
    ) -> Option<(u32, &FlappingConfig)> {
        let window = self.config.window;
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        if table.len() >= MAX_TRACKED && !table.contains_key(client_id) {
            table.retain(|_, (_, since)| now.duration_since(*since) < window);
            if table.len() >= MAX_TRACKED {
                table.clear();
            }
        }
        let entry = table.entry(client_id.into()).or_insert((0, now));
        if now.duration_since(entry.1) >= window {
            *entry = (0, now);
        }
        entry.0 += 1;
        if entry.0 > self.config.max_count {
            let count = entry.0;
            table.remove(client_id);
            return Some((count, &self.config));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn more_than_max_count_connects_in_the_window_flap() {
        let f = Flapping::new(FlappingConfig {
            max_count: 3,
            window: Duration::from_secs(60),
            ban_time: Duration::from_secs(300),
        });
        let t = Instant::now();
        for i in 0..3 {
            assert!(f.disconnected("c", t + Duration::from_secs(i)).is_none());
        }
        assert!(f.disconnected("other", t).is_none());
        assert_eq!(
            f.disconnected("c", t + Duration::from_secs(4))
                .map(|(n, _)| n),
            Some(4)
        );
        // Counting starts again after a ban, and after the window.
        assert!(f.disconnected("c", t + Duration::from_secs(5)).is_none());
        for i in 0..3 {
            assert!(f
                .disconnected("d", t + Duration::from_secs(i * 30))
                .is_none());
        }
        assert!(f.disconnected("d", t + Duration::from_secs(100)).is_none());
    }
}
