//! Module switches: features an operator turns on and off while the broker runs (delayed
//! publish, the retainer, shared and exclusive subscriptions, `$SYS`).
//!
//! One [`Switches`] is shared by every channel (through [`crate::ServerLimits::switches`]), the
//! router and the broker's `$SYS` task. Each switch is an `AtomicBool` read with `Relaxed`
//! ordering: a load on the hot path costs what reading a `bool` field does, and a change is
//! seen by the next packet each connection handles. Nothing orders one switch against another
//! or against the messages in flight: a PUBLISH judged by its channel just before a change may
//! be routed just after it (the router's reading decides what it does with it).

use std::sync::atomic::{AtomicBool, Ordering};

/// One switchable feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Switch {
    /// `$delayed/<seconds>/<topic>` is delayed publish (off: an ordinary topic).
    Delayed,
    /// RETAIN=1 messages are stored (off: routed, not stored; 5.0 clients connecting are told
    /// Retain Available 0).
    Retainer,
    /// `$share/` and `$queue/` subscriptions are accepted (off: refused with 0x9E).
    Shared,
    /// `$exclusive/` subscriptions are accepted (off: refused with 0x8F).
    Exclusive,
    /// The broker publishes `$SYS` topics and client events.
    Sys,
}

impl Switch {
    /// Every switch, in order.
    pub const ALL: [Switch; 5] = [
        Switch::Delayed,
        Switch::Retainer,
        Switch::Shared,
        Switch::Exclusive,
        Switch::Sys,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

/// The state of every [`Switch`], shared and changed in place.
#[derive(Debug)]
pub struct Switches {
    on: [AtomicBool; 5],
}

impl Default for Switches {
    /// Everything on.
    fn default() -> Self {
        Self::new(|_| true)
    }
}

impl Switches {
    /// Switches set by `initial`.
    pub fn new(initial: impl Fn(Switch) -> bool) -> Self {
        Self {
            on: Switch::ALL.map(|s| AtomicBool::new(initial(s))),
        }
    }

    /// Whether `switch` is on.
    pub fn is_on(&self, switch: Switch) -> bool {
        self.on[switch.index()].load(Ordering::Relaxed)
    }

    /// Turns `switch` on or off; returns what it was.
    pub fn set(&self, switch: Switch, on: bool) -> bool {
        self.on[switch.index()].swap(on, Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switches_start_as_told_and_change_in_place() {
        let switches = Switches::new(|s| s != Switch::Sys);
        assert!(switches.is_on(Switch::Delayed));
        assert!(!switches.is_on(Switch::Sys));
        assert!(switches.set(Switch::Delayed, false));
        assert!(!switches.is_on(Switch::Delayed));
        assert!(Switch::ALL.iter().all(|s| Switches::default().is_on(*s)));
    }
}
