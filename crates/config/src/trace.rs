//! `[trace]`: the bounds of traces started through the management API (a trace writes the
//! events of matching clients or topics to a file under `<node.data_dir>/trace/`). Raw and
//! validated.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;
use crate::validate::{duration, int};

/// The most traces at once: each running trace is one bit of a connection's trace mask.
pub const MAX_TRACES: i64 = 64;

/// `[trace]` as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawTrace {
    /// Traces held at most (waiting, running and stopped together), 1 to 64.
    pub max_traces: i64,
    /// The largest a trace's file grows, in bytes; past it nothing more is written.
    pub max_file_size: i64,
    /// Payload bytes written per PUBLISH at most; the rest is cut.
    pub payload_max: i64,
    /// The longest a trace may run (humantime).
    pub max_duration: String,
}

impl Default for RawTrace {
    fn default() -> Self {
        Self {
            max_traces: 30,
            max_file_size: 64 * 1024 * 1024,
            payload_max: 1024,
            max_duration: "24h".to_owned(),
        }
    }
}

/// `[trace]`, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceConfig {
    /// Traces held at most.
    pub max_traces: usize,
    /// A trace's file in bytes at most.
    pub max_file_size: u64,
    /// Payload bytes written per PUBLISH at most.
    pub payload_max: usize,
    /// The longest a trace runs.
    pub max_duration: Duration,
}

impl Default for TraceConfig {
    fn default() -> Self {
        // The raw defaults are valid (`defaults_validate`).
        validate(RawTrace::default()).unwrap_or(TraceConfig {
            max_traces: 30,
            max_file_size: 64 * 1024 * 1024,
            payload_max: 1024,
            max_duration: Duration::from_secs(24 * 3600),
        })
    }
}

pub(crate) fn validate(raw: RawTrace) -> Result<TraceConfig, ConfigError> {
    let max_duration = duration("trace.max_duration", &raw.max_duration)?;
    if max_duration < Duration::from_secs(1) {
        return Err(ConfigError::invalid(
            "trace.max_duration",
            format!("must be at least 1s, got {:?}", raw.max_duration),
        ));
    }
    Ok(TraceConfig {
        max_traces: int("trace.max_traces", raw.max_traces, 1, MAX_TRACES)?,
        max_file_size: int("trace.max_file_size", raw.max_file_size, 1024, i64::MAX)?,
        payload_max: int("trace.payload_max", raw.payload_max, 0, 1024 * 1024)?,
        max_duration,
    })
}
