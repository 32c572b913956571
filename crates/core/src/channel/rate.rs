//! Per-client publish rates: token buckets for messages and bytes (topic and payload). A
//! PUBLISH is always handled once read; one that leaves a bucket in debt pauses reading until
//! the debt is paid back ([`Channel::wants_input`] is false meanwhile), so an over-eager client
//! is slowed by back-pressure (its TCP window fills), not dropped. One PUBLISH worth more than
//! [`MAX_DEBT`] of the rate closes the connection: Message rate too high (0x96), or Quota
//! exceeded (0x97) for bytes.

use super::Channel;
use starling_codec::ReasonCode;
use std::time::{Duration, Instant};

/// The most debt a client may run up: past it the connection closes.
pub const MAX_DEBT: Duration = Duration::from_secs(10);

/// A client's buckets.
#[derive(Debug, Clone)]
pub(super) struct Buckets {
    messages: f64,
    bytes: f64,
    last: Instant,
    /// Reading is paused until then.
    paused_until: Option<Instant>,
    /// The pause was handed to the connection to wake it.
    pause_taken: bool,
}

fn refill(level: &mut f64, rate: f64, burst: f64, elapsed: f64) {
    *level = (*level + elapsed * rate).min(burst);
}

impl Channel {
    /// Charges a PUBLISH of `bytes` at `now`; `Err` when its debt is too large to wait out.
    pub(super) fn charge(&mut self, bytes: usize, now: Instant) -> Result<(), ReasonCode> {
        let (messages, byte_rate) = (self.limits.message_rate, self.limits.byte_rate);
        if messages.is_none() && byte_rate.is_none() {
            return Ok(());
        }
        let buckets = self.rare().buckets.get_or_insert_with(|| Buckets {
            messages: messages.map_or(0.0, |(_, burst)| f64::from(burst)),
            bytes: byte_rate.map_or(0.0, |(_, burst)| burst as f64),
            last: now,
            paused_until: None,
            pause_taken: false,
        });
        let elapsed = now.saturating_duration_since(buckets.last).as_secs_f64();
        buckets.last = now;
        let mut wait: f64 = 0.0;
        let mut refusal = ReasonCode::MessageRateTooHigh;
        if let Some((rate, burst)) = messages {
            let rate = f64::from(rate);
            refill(&mut buckets.messages, rate, f64::from(burst), elapsed);
            buckets.messages -= 1.0;
            wait = wait.max(-buckets.messages / rate);
        }
        if let Some((rate, burst)) = byte_rate {
            let rate = rate as f64;
            refill(&mut buckets.bytes, rate, burst as f64, elapsed);
            buckets.bytes -= bytes as f64;
            let bytes_wait = -buckets.bytes / rate;
            if bytes_wait > wait {
                wait = bytes_wait;
                refusal = ReasonCode::QuotaExceeded;
            }
        }
        if wait <= 0.0 {
            return Ok(());
        }
        if wait > MAX_DEBT.as_secs_f64() {
            return Err(refusal);
        }
        let until = now + Duration::from_secs_f64(wait);
        buckets.paused_until = Some(until);
        buckets.pause_taken = false;
        Ok(())
    }

    /// True while a rate limit pauses reading.
    pub(super) fn rate_paused(&self) -> bool {
        if self.limits.message_rate.is_none() && self.limits.byte_rate.is_none() {
            return false;
        }
        self.rare
            .as_ref()
            .and_then(|rare| rare.buckets.as_ref())
            .is_some_and(|b| b.paused_until.is_some())
    }

    /// When to wake the connection to read again, handed out once per pause: the connection
    /// sets a timer, then calls [`Channel::resume_input`].
    pub fn take_input_pause(&mut self) -> Option<Instant> {
        let buckets = self.rare.as_mut()?.buckets.as_mut()?;
        let until = buckets.paused_until?;
        if buckets.pause_taken {
            return None;
        }
        buckets.pause_taken = true;
        Some(until)
    }

    /// The pause's timer fired: reading resumes if the debt is paid (else the pause is handed
    /// out again).
    pub fn resume_input(&mut self, now: Instant) {
        let Some(buckets) = self.rare.as_mut().and_then(|r| r.buckets.as_mut()) else {
            return;
        };
        match buckets.paused_until {
            Some(until) if until <= now => {
                buckets.paused_until = None;
                // The pause was ours: keep alive counts from the end of it.
                self.last_received = now;
            }
            Some(_) => buckets.pause_taken = false,
            None => {}
        }
    }
}
