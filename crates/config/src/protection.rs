//! `[flapping]`, `[banned]` and `[rate_limit]`: keeping misbehaving clients from hurting the
//! others. Raw and validated.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;
use crate::validate::{duration, int};

/// `[flapping]` as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawFlapping {
    /// Whether a client id that connects too often is banned for a while.
    pub enabled: bool,
    /// Connects of one client id within `window` past which it is banned.
    pub max_count: i64,
    /// The window (humantime).
    pub window: String,
    /// How long the ban lasts (humantime).
    pub ban_time: String,
}

impl Default for RawFlapping {
    fn default() -> Self {
        Self {
            enabled: true,
            max_count: 15,
            window: "1m".to_owned(),
            ban_time: "5m".to_owned(),
        }
    }
}

/// `[banned]` as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawBanned {
    /// Bans held at most (client ids, usernames, addresses and networks together).
    pub max_entries: i64,
}

impl Default for RawBanned {
    fn default() -> Self {
        Self {
            max_entries: 100_000,
        }
    }
}

/// `[rate_limit]` as written: 0 turns a limit off.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawRateLimit {
    /// PUBLISH packets per second one client may send.
    pub messages_per_second: i64,
    /// Messages a client may send at once above the rate (0: one second's worth).
    pub message_burst: i64,
    /// PUBLISH bytes (topic and payload) per second one client may send.
    pub bytes_per_second: i64,
    /// Bytes a client may send at once above the rate (0: one second's worth).
    pub byte_burst: i64,
}

/// `[flapping]`, checked; `None` when disabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlappingConfig {
    /// Connects within `window` past which the client id is banned.
    pub max_count: u32,
    /// The window.
    pub window: Duration,
    /// How long the ban lasts.
    pub ban_time: Duration,
}

/// `[rate_limit]`, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RateLimitConfig {
    /// Messages per second and burst; `None`: no limit.
    pub messages: Option<(u32, u32)>,
    /// Bytes per second and burst; `None`: no limit.
    pub bytes: Option<(u64, u64)>,
}

pub(crate) fn flapping(raw: RawFlapping) -> Result<Option<FlappingConfig>, ConfigError> {
    let max_count = int("flapping.max_count", raw.max_count, 1, 1_000_000)?;
    let window = duration("flapping.window", &raw.window)?;
    let ban_time = duration("flapping.ban_time", &raw.ban_time)?;
    if window.is_zero() {
        return Err(ConfigError::invalid(
            "flapping.window",
            "must be more than 0s",
        ));
    }
    if ban_time.is_zero() {
        return Err(ConfigError::invalid(
            "flapping.ban_time",
            "must be more than 0s",
        ));
    }
    Ok(raw.enabled.then_some(FlappingConfig {
        max_count,
        window,
        ban_time,
    }))
}

pub(crate) fn banned(raw: RawBanned) -> Result<usize, ConfigError> {
    int("banned.max_entries", raw.max_entries, 1, 100_000_000)
}

pub(crate) fn rate_limit(raw: RawRateLimit) -> Result<RateLimitConfig, ConfigError> {
    let rate: u32 = int(
        "rate_limit.messages_per_second",
        raw.messages_per_second,
        0,
        i64::from(u32::MAX),
    )?;
    let burst: u32 = int(
        "rate_limit.message_burst",
        raw.message_burst,
        0,
        i64::from(u32::MAX),
    )?;
    let bytes: u64 = int(
        "rate_limit.bytes_per_second",
        raw.bytes_per_second,
        0,
        i64::MAX,
    )?;
    let byte_burst: u64 = int("rate_limit.byte_burst", raw.byte_burst, 0, i64::MAX)?;
    Ok(RateLimitConfig {
        messages: (rate > 0).then_some((rate, if burst == 0 { rate } else { burst })),
        bytes: (bytes > 0).then_some((bytes, if byte_burst == 0 { bytes } else { byte_burst })),
    })
}

/// `[overload]` as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawOverload {
    /// Whether the broker watches its memory and run queue.
    pub enabled: bool,
    /// RSS above which it is overloaded: `"80%"` of the machine's memory, or bytes (`"2GiB"`
    /// is not parsed: a plain integer); `"0"` turns the memory check off.
    pub memory_high: String,
    /// Tasks waiting in the runtime's global run queue above which it is overloaded (0: off).
    pub run_queue_high: i64,
    /// How often both are read (humantime).
    pub check_interval: String,
}

impl Default for RawOverload {
    fn default() -> Self {
        Self {
            enabled: true,
            memory_high: "80%".to_owned(),
            run_queue_high: 50_000,
            check_interval: "1s".to_owned(),
        }
    }
}

/// The memory watermark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryWatermark {
    /// A share of the machine's memory, in percent (1..=100).
    Percent(u8),
    /// Bytes.
    Bytes(u64),
}

/// `[overload]`, checked; `None` when disabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverloadConfig {
    /// RSS watermark; `None`: not checked.
    pub memory_high: Option<MemoryWatermark>,
    /// Run-queue watermark; `None`: not checked.
    pub run_queue_high: Option<usize>,
    /// How often they are read.
    pub check_interval: Duration,
}

pub(crate) fn overload(raw: RawOverload) -> Result<Option<OverloadConfig>, ConfigError> {
    let text = raw.memory_high.trim();
    let memory_high = if let Some(percent) = text.strip_suffix('%') {
        match percent.trim().parse::<u8>() {
            Ok(p) if (1..=100).contains(&p) => Some(MemoryWatermark::Percent(p)),
            _ => {
                return Err(ConfigError::invalid(
                    "overload.memory_high",
                    format!("a percentage must be 1% to 100%, got {text:?}"),
                ))
            }
        }
    } else {
        match text.parse::<u64>() {
            Ok(0) => None,
            Ok(bytes) => Some(MemoryWatermark::Bytes(bytes)),
            Err(_) => {
                return Err(ConfigError::invalid(
                    "overload.memory_high",
                    format!("must be a percentage (\"80%\") or a number of bytes, got {text:?}"),
                ))
            }
        }
    };
    let run_queue: usize = int(
        "overload.run_queue_high",
        raw.run_queue_high,
        0,
        1_i64 << 40,
    )?;
    let check_interval = duration("overload.check_interval", &raw.check_interval)?;
    if check_interval < Duration::from_millis(100) {
        return Err(ConfigError::invalid(
            "overload.check_interval",
            format!("must be at least 100ms, got {}", raw.check_interval),
        ));
    }
    Ok(raw.enabled.then_some(OverloadConfig {
        memory_high,
        run_queue_high: (run_queue > 0).then_some(run_queue),
        check_interval,
    }))
}
