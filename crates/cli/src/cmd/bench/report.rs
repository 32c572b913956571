//! The final summary: one JSON object, printed as is with `--json` or as aligned lines.

use super::proc::round2;
use hdrhistogram::Histogram;
use serde_json::{json, Map, Value};
use std::time::Duration;

/// Messages per second.
pub(crate) fn rate(count: u64, over: Duration) -> f64 {
    let secs = over.as_secs_f64();
    if secs <= 0.0 {
        0.0
    } else {
        (count as f64 / secs).round()
    }
}

/// Latency percentiles in microseconds.
pub(crate) fn latency(h: &Histogram<u64>) -> Value {
    if h.is_empty() {
        return Value::Null;
    }
    json!({
        "count": h.len(),
        "p50": h.value_at_quantile(0.50),
        "p90": h.value_at_quantile(0.90),
        "p99": h.value_at_quantile(0.99),
        "p99_9": h.value_at_quantile(0.999),
        "max": h.max(),
    })
}

/// Loss figures: messages expected by the subscribers, received, lost.
pub(crate) fn loss(expected: u64, received: u64) -> Value {
    let lost = expected.saturating_sub(received);
    let pct = if expected == 0 {
        0.0
    } else {
        lost as f64 * 100.0 / expected as f64
    };
    json!({ "expected": expected, "lost": lost, "loss_pct": round2(pct) })
}

/// Prints `summary` on stdout: JSON, or one `key: value` line per leaf.
pub(crate) fn print(summary: &Value, as_json: bool) {
    if as_json {
        println!("{summary}");
        return;
    }
    if let Value::Object(map) = summary {
        print_map("", map);
    }
}

fn print_map(prefix: &str, map: &Map<String, Value>) {
    for (key, value) in map {
        let name = format!("{prefix}{key}");
        match value {
            Value::Object(inner) => print_map(&format!("{name}."), inner),
            Value::Null => {}
            Value::String(s) => println!("{name:>24}: {s}"),
            other => println!("{name:>24}: {other}"),
        }
    }
}
