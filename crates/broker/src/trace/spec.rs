//! What a trace is: its name, what it matches, its time window and how it writes payloads;
//! the checks a new one passes (each naming the field at fault), and its stored record
//! (JSON under `trace/<name>` in the store's `admin` keyspace, so it survives a restart).

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use starling_topic::TopicFilter;

/// How long a trace runs when no end is given.
pub(crate) const DEFAULT_DURATION: Duration = Duration::from_secs(600);

/// What a trace matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceTarget {
    /// Every connection of this client id.
    ClientId(String),
    /// PUBLISH packets, in and out, on topics this filter matches.
    Topic(TopicFilter),
    /// Every connection from this address.
    Address(IpAddr),
}

impl TraceTarget {
    /// `clientid`, `topic` or `ip_address`, as EMQX names the kinds.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::ClientId(_) => "clientid",
            Self::Topic(_) => "topic",
            Self::Address(_) => "ip_address",
        }
    }

    /// What it matches, as text.
    pub fn value(&self) -> String {
        match self {
            Self::ClientId(id) => id.clone(),
            Self::Topic(filter) => filter.as_str().to_owned(),
            Self::Address(ip) => ip.to_string(),
        }
    }

    /// Parses `value` as a target of `kind`; the error names the field.
    pub fn parse(kind: &str, value: &str) -> Result<Self, super::TraceError> {
        use super::TraceError::Field;
        match kind {
            "clientid" => {
                if value.is_empty() || value.len() > 65_535 {
                    return Err(Field("clientid", "must be 1 to 65535 bytes".into()));
                }
                Ok(Self::ClientId(value.to_owned()))
            }
            "topic" => TopicFilter::new(value)
                .map(Self::Topic)
                .map_err(|e| Field("topic", e.to_string())),
            "ip_address" => value
                .parse()
                .map(Self::Address)
                .map_err(|_| Field("ip_address", format!("not an IP address: {value:?}"))),
            other => Err(Field(
                "type",
                format!("must be clientid, topic or ip_address, got {other:?}"),
            )),
        }
    }
}

/// How payloads are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PayloadEncode {
    /// As text (invalid UTF-8 replaced), quoted and escaped.
    #[default]
    Text,
    /// As hexadecimal.
    Hex,
    /// Only its size.
    Hidden,
}

impl PayloadEncode {
    /// `text`, `hex` or `hidden`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Hex => "hex",
            Self::Hidden => "hidden",
        }
    }

    /// Parses one of the names.
    pub fn parse(name: &str) -> Result<Self, super::TraceError> {
        match name {
            "text" => Ok(Self::Text),
            "hex" => Ok(Self::Hex),
            "hidden" => Ok(Self::Hidden),
            other => Err(super::TraceError::Field(
                "payload_encode",
                format!("must be text, hex or hidden, got {other:?}"),
            )),
        }
    }
}

/// A trace to start.
#[derive(Debug, Clone)]
pub struct NewTrace {
    /// 1 to 64 letters, digits, `_` or `-` (it names the file).
    pub name: String,
    /// What it matches.
    pub target: TraceTarget,
    /// When it starts (now when absent or past).
    pub start_at: Option<SystemTime>,
    /// When it ends (start + 10 minutes when absent).
    pub end_at: Option<SystemTime>,
    /// How payloads are written.
    pub payload_encode: PayloadEncode,
}

/// A trace as it is kept.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    pub(crate) name: String,
    pub(crate) target: TraceTarget,
    pub(crate) start_at: SystemTime,
    pub(crate) end_at: SystemTime,
    pub(crate) payload_encode: PayloadEncode,
    /// Stopped by an operator (its end is then when it was stopped).
    pub(crate) stopped: bool,
}

/// Checks a trace's name: it becomes a file name, so nothing but `[A-Za-z0-9_-]`.
pub fn check_name(name: &str) -> Result<(), super::TraceError> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(super::TraceError::Field(
            "name",
            "must be 1 to 64 letters, digits, _ or -".into(),
        ))
    }
}

impl Spec {
    /// Checks `new` against the clock and the longest duration allowed.
    pub(crate) fn check(
        new: NewTrace,
        now: SystemTime,
        max_duration: Duration,
    ) -> Result<Spec, super::TraceError> {
        use super::TraceError::Field;
        check_name(&new.name)?;
        let start_at = new.start_at.map_or(now, |s| s.max(now));
        let end_at = new.end_at.unwrap_or(start_at + DEFAULT_DURATION);
        if end_at <= start_at {
            return Err(Field("end_at", "must be after start_at and now".into()));
        }
        if end_at.duration_since(start_at).unwrap_or_default() > max_duration {
            return Err(Field(
                "end_at",
                format!(
                    "a trace runs at most {} (trace.max_duration)",
                    humantime::format_duration(max_duration)
                ),
            ));
        }
        Ok(Spec {
            name: new.name,
            target: new.target,
            start_at,
            end_at,
            payload_encode: new.payload_encode,
            stopped: false,
        })
    }

    /// The record's key in the `admin` keyspace.
    pub(crate) fn key(name: &str) -> Vec<u8> {
        format!("{}{name}", super::RECORD_PREFIX).into_bytes()
    }

    /// The stored record.
    pub(crate) fn encode(&self) -> Vec<u8> {
        serde_json::json!({
            "name": self.name,
            "type": self.target.kind(),
            "target": self.target.value(),
            "start_at_ms": millis(self.start_at),
            "end_at_ms": millis(self.end_at),
            "payload_encode": self.payload_encode.name(),
            "stopped": self.stopped,
        })
        .to_string()
        .into_bytes()
    }

    /// A stored record read back; `None` when it is not one.
    pub(crate) fn decode(bytes: &[u8]) -> Option<Spec> {
        let v: serde_json::Value = serde_json::from_slice(bytes).ok()?;
        let name = v["name"].as_str()?.to_owned();
        check_name(&name).ok()?;
        let at = |key: &str| {
            v[key]
                .as_u64()
                .map(|ms| UNIX_EPOCH + Duration::from_millis(ms))
        };
        Some(Spec {
            name,
            target: TraceTarget::parse(v["type"].as_str()?, v["target"].as_str()?).ok()?,
            start_at: at("start_at_ms")?,
            end_at: at("end_at_ms")?,
            payload_encode: PayloadEncode::parse(v["payload_encode"].as_str()?).ok()?,
            stopped: v["stopped"].as_bool().unwrap_or(false),
        })
    }
}

fn millis(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_could_leave_the_trace_directory_are_refused() {
        for bad in ["", "../x", "a/b", "a.log", "x y", &"n".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        check_name("ok_Name-1").expect("valid");
    }

    #[test]
    fn a_record_reads_back_as_it_was_written() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let new = NewTrace {
            name: "t1".into(),
            target: TraceTarget::parse("topic", "a/+").expect("filter"),
            start_at: None,
            end_at: None,
            payload_encode: PayloadEncode::Hex,
        };
        let spec = Spec::check(new, now, Duration::from_secs(3600)).expect("valid");
        assert_eq!(spec.end_at, now + DEFAULT_DURATION);
        let back = Spec::decode(&spec.encode()).expect("decodes");
        assert_eq!(back.target, spec.target);
        assert_eq!((back.start_at, back.end_at), (spec.start_at, spec.end_at));
        assert_eq!(back.payload_encode, PayloadEncode::Hex);
    }

    #[test]
    fn an_end_before_the_start_or_past_the_longest_duration_is_refused() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let new = |end| NewTrace {
            name: "t".into(),
            target: TraceTarget::ClientId("c".into()),
            start_at: None,
            end_at: Some(end),
            payload_encode: PayloadEncode::Text,
        };
        let max = Duration::from_secs(3600);
        assert!(Spec::check(new(now), now, max).is_err());
        assert!(Spec::check(new(now + max * 2), now, max).is_err());
        assert!(Spec::check(new(now + max), now, max).is_ok());
    }
}
