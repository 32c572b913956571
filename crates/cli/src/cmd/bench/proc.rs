//! CPU time and memory of a process, read from `/proc` (Linux; zeros elsewhere).
//!
//! CPU time comes from the `utime` and `stime` fields of `/proc/<pid>/stat`, summed over every
//! thread, in clock ticks of 1/100 s (the value of `CLK_TCK` on Linux). RSS and its peak come
//! from `VmRSS` and `VmHWM` in `/proc/<pid>/status`.

use serde_json::{json, Value};
use std::time::Instant;

/// Clock ticks per second of `/proc/<pid>/stat`.
const CLK_TCK: f64 = 100.0;

/// Which process: this one or another.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Pid {
    /// The bench itself.
    SelfProcess,
    /// A broker.
    Other(u32),
}

impl Pid {
    fn path(self, file: &str) -> String {
        match self {
            Self::SelfProcess => format!("/proc/self/{file}"),
            Self::Other(pid) => format!("/proc/{pid}/{file}"),
        }
    }

    /// User and system CPU seconds so far.
    pub(crate) fn cpu(self) -> (f64, f64) {
        let stat = std::fs::read_to_string(self.path("stat")).unwrap_or_default();
        let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
        let mut fields = after_name.split_whitespace().skip(11);
        let mut next = || {
            fields
                .next()
                .and_then(|f| f.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        let user = next();
        let system = next();
        (user / CLK_TCK, system / CLK_TCK)
    }

    /// A `kB` line of `/proc/<pid>/status` (e.g. `VmRSS`).
    pub(crate) fn status_kb(self, key: &str) -> u64 {
        let status = std::fs::read_to_string(self.path("status")).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }
}

/// CPU and memory of a process between two instants.
pub(crate) struct Usage {
    pid: Pid,
    wall: Instant,
    user: f64,
    system: f64,
    rss_before_kb: u64,
}

impl Usage {
    /// Starts measuring `pid`.
    pub(crate) fn start(pid: Pid) -> Self {
        let (user, system) = pid.cpu();
        Self {
            pid,
            wall: Instant::now(),
            user,
            system,
            rss_before_kb: pid.status_kb("VmRSS"),
        }
    }

    /// RSS when measuring started, in kB.
    pub(crate) fn rss_before_kb(&self) -> u64 {
        self.rss_before_kb
    }

    /// The usage since `start`, as JSON: CPU seconds, cores used on average, RSS now and peak.
    pub(crate) fn report(&self) -> Value {
        let (user, system) = self.pid.cpu();
        let (user, system) = (user - self.user, system - self.system);
        let wall = self.wall.elapsed().as_secs_f64().max(1e-9);
        json!({
            "user_s": round2(user),
            "system_s": round2(system),
            "cores": round2((user + system) / wall),
            "rss_before_kb": self.rss_before_kb,
            "rss_kb": self.pid.status_kb("VmRSS"),
            "peak_rss_kb": self.pid.status_kb("VmHWM"),
        })
    }
}

/// `x` rounded to two decimals.
pub(crate) fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}
