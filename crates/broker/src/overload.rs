//! Overload protection: a monitor reads the process's resident memory and the runtime's
//! global run queue every `overload.check_interval`. Above either watermark the broker is
//! overloaded: new connections are refused (0x89 Server busy), the router sheds QoS 0
//! deliveries to subscribers that are behind first, and an alarm is raised (a warning, and
//! `$SYS/brokers/<node>/overload/active`). It clears by itself once both readings are below
//! 90% of their watermarks (hysteresis, so it does not flap at the line).

use crate::metrics::Metrics;
use starling_config::{MemoryWatermark, OverloadConfig};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tracing::{info, warn};

/// Whether the broker is overloaded now: read at every CONNECT and by the router.
#[derive(Debug, Default)]
pub(crate) struct OverloadFlag(AtomicBool);

impl OverloadFlag {
    pub(crate) fn is_active(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// One reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reading {
    pub(crate) rss: u64,
    pub(crate) run_queue: usize,
}

/// The watermarks, resolved to bytes and tasks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Watermarks {
    memory: Option<u64>,
    run_queue: Option<usize>,
}

impl Watermarks {
    pub(crate) fn of(config: &OverloadConfig, total_memory: Option<u64>) -> Self {
        let memory = match config.memory_high {
            Some(MemoryWatermark::Bytes(bytes)) => Some(bytes),
            Some(MemoryWatermark::Percent(p)) => total_memory.map(|t| t / 100 * u64::from(p)),
            None => None,
        };
        Self {
            memory,
            run_queue: config.run_queue_high,
        }
    }

    /// The new state after `reading`, from `active`: on above a watermark, off below 90% of
    /// every one.
    pub(crate) fn next(&self, active: bool, reading: Reading) -> bool {
        let over = |value: u64, high: Option<u64>, factor: u64| {
            high.is_some_and(|high| value.saturating_mul(10) > high.saturating_mul(factor))
        };
        let queue = reading.run_queue as u64;
        let run_queue = self.run_queue.map(|q| q as u64);
        if active {
            over(reading.rss, self.memory, 9) || over(queue, run_queue, 9)
        } else {
            over(reading.rss, self.memory, 10) || over(queue, run_queue, 10)
        }
    }
}

fn rss() -> u64 {
    // `statm`: size and resident, in pages.
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

fn total_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The monitor.
pub(crate) struct Monitor {
    watermarks: Watermarks,
    flag: Arc<OverloadFlag>,
    metrics: Arc<Metrics>,
    alarms: Arc<crate::alarms::Alarms>,
}

/// The alarm raised while overloaded.
const ALARM: &str = "overloaded";

impl Monitor {
    pub(crate) fn new(
        config: &OverloadConfig,
        flag: Arc<OverloadFlag>,
        metrics: Arc<Metrics>,
        alarms: Arc<crate::alarms::Alarms>,
    ) -> Self {
        let watermarks = Watermarks::of(config, total_memory());
        info!(
            memory_high = watermarks.memory,
            run_queue_high = watermarks.run_queue,
            "overload protection on"
        );
        Self {
            watermarks,
            flag,
            metrics,
            alarms,
        }
    }

    /// Reads now and updates the flag.
    pub(crate) fn check(&self) {
        let reading = Reading {
            rss: rss(),
            run_queue: tokio::runtime::Handle::current()
                .metrics()
                .global_queue_depth(),
        };
        let was = self.flag.is_active();
        let now = self.watermarks.next(was, reading);
        if now == was {
            return;
        }
        self.flag.0.store(now, Ordering::Relaxed);
        Metrics::set(&self.metrics.overload_active, u64::from(now));
        let at = std::time::SystemTime::now();
        if now {
            self.alarms.raise(
                ALARM,
                format!(
                    "resident memory {} bytes (watermark {:?}), run queue {} (watermark {:?}): \
                     refusing new connections, shedding QoS 0 to slow subscribers",
                    reading.rss,
                    self.watermarks.memory,
                    reading.run_queue,
                    self.watermarks.run_queue
                ),
                at,
            );
        } else {
            self.alarms.clear(ALARM, at);
        }
        if now {
            Metrics::add(&self.metrics.overload_alarms, 1);
            warn!(
                rss = reading.rss,
                run_queue = reading.run_queue,
                memory_high = self.watermarks.memory,
                run_queue_high = self.watermarks.run_queue,
                "overloaded: refusing new connections and shedding QoS 0 to slow subscribers"
            );
        } else {
            info!(
                rss = reading.rss,
                run_queue = reading.run_queue,
                "no longer overloaded"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_alarm_rises_above_a_watermark_and_clears_below_ninety_percent() {
        let config = OverloadConfig {
            memory_high: Some(MemoryWatermark::Percent(50)),
            run_queue_high: Some(1000),
            check_interval: Duration::from_secs(1),
        };
        let w = Watermarks::of(&config, Some(2000));
        let at = |rss, run_queue| Reading { rss, run_queue };
        assert!(!w.next(false, at(1000, 0)), "at the line is not over it");
        assert!(w.next(false, at(1001, 0)));
        assert!(w.next(true, at(950, 0)), "still above 90%");
        assert!(!w.next(true, at(899, 0)));
        assert!(w.next(false, at(0, 1001)), "the run queue alone");
        assert!(!w.next(true, at(0, 899)));
        let off = Watermarks::of(
            &OverloadConfig {
                memory_high: None,
                run_queue_high: None,
                ..config
            },
            Some(2000),
        );
        assert!(!off.next(false, at(u64::MAX, usize::MAX)));
    }
}
