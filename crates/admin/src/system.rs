//! The machine and the process as the node endpoint shows them, read from `/proc` (Linux;
//! elsewhere the fields are absent). Nothing here is cached: a read costs a few small file
//! reads, and the endpoint is not hot.

use serde::Serialize;
use utoipa::ToSchema;

/// What `/proc` says now.
#[derive(Debug, Default, Serialize, ToSchema)]
pub(crate) struct System {
    /// The operating system (`/etc/os-release`'s name, else `linux`) and kernel release.
    pub(crate) os: String,
    /// CPUs the process may run on.
    pub(crate) cpus: usize,
    /// Load averages over 1, 5 and 15 minutes.
    pub load1: Option<f64>,
    /// Load average over 5 minutes.
    pub load5: Option<f64>,
    /// Load average over 15 minutes.
    pub load15: Option<f64>,
    /// The machine's memory, in bytes.
    pub(crate) memory_total: Option<u64>,
    /// The broker's resident memory, in bytes.
    pub(crate) memory_used: Option<u64>,
    /// CPU time the broker used since it started, in seconds (user + system).
    pub(crate) cpu_seconds: Option<f64>,
}

/// Reads it.
pub(crate) fn read() -> System {
    let load: Vec<f64> = std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .filter_map(|f| f.parse().ok())
        .collect();
    System {
        os: os(),
        cpus: std::thread::available_parallelism().map_or(1, usize::from),
        load1: load.first().copied(),
        load5: load.get(1).copied(),
        load15: load.get(2).copied(),
        memory_total: meminfo_total(),
        memory_used: rss(),
        cpu_seconds: cpu_seconds(),
    }
}

fn os() -> String {
    let name = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_owned())
        })
        .unwrap_or_else(|| std::env::consts::OS.to_owned());
    match std::fs::read_to_string("/proc/sys/kernel/osrelease") {
        Ok(kernel) => format!("{name} (kernel {})", kernel.trim()),
        Err(_) => name,
    }
}

fn meminfo_total() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn rss() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// User + system time from `/proc/self/stat`, in clock ticks of 1/100 s (Linux's
/// `USER_HZ` on every architecture it runs on).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name may hold spaces: the fields start after its closing parenthesis.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}
