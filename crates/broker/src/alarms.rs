//! Alarms: conditions an operator should see, raised and cleared by the broker (overload today;
//! more as features come), kept as the active ones and a bounded history of past ones
//! ([`MAX_HISTORY`]), as EMQX's `/api/v5/alarms` shows them.
//!
//! One `std::sync::Mutex` guards both lists. It is taken when an alarm changes (rarely: the
//! overload monitor raises with hysteresis) and when the API reads, for a copy; nothing else is
//! locked under it, and it is never held across an `.await`.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};
use std::time::SystemTime;

/// Past alarms kept at most (the oldest go first).
pub const MAX_HISTORY: usize = 1_000;

/// One alarm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alarm {
    /// What it is about (`high_memory`, `run_queue`, `store_damaged`, ...).
    pub name: String,
    /// What happened, for people.
    pub message: String,
    /// When it was raised.
    pub activated_at: SystemTime,
    /// When it was cleared (`None`: active).
    pub deactivated_at: Option<SystemTime>,
}

#[derive(Debug, Default)]
struct Lists {
    active: Vec<Alarm>,
    history: VecDeque<Alarm>,
}

/// The broker's alarms.
#[derive(Debug, Default)]
pub struct Alarms {
    lists: Mutex<Lists>,
}

impl Alarms {
    fn lock(&self) -> std::sync::MutexGuard<'_, Lists> {
        self.lists.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Raises `name` (nothing happens if it is active already).
    pub fn raise(&self, name: &str, message: String, now: SystemTime) {
        let mut lists = self.lock();
        if lists.active.iter().any(|a| a.name == name) {
            return;
        }
        lists.active.push(Alarm {
            name: name.to_owned(),
            message,
            activated_at: now,
            deactivated_at: None,
        });
    }

    /// Clears `name`: it moves to the history.
    pub fn clear(&self, name: &str, now: SystemTime) {
        let mut lists = self.lock();
        let Some(at) = lists.active.iter().position(|a| a.name == name) else {
            return;
        };
        let mut alarm = lists.active.remove(at);
        alarm.deactivated_at = Some(now);
        if lists.history.len() == MAX_HISTORY {
            lists.history.pop_front();
        }
        lists.history.push_back(alarm);
    }

    /// Records an alarm that is already over (raised and cleared at `now`).
    pub fn record(&self, name: &str, message: String, now: SystemTime) {
        self.raise(name, message, now);
        self.clear(name, now);
    }

    /// The active alarms, oldest first.
    pub fn active(&self) -> Vec<Alarm> {
        self.lock().active.clone()
    }

    /// The past alarms, oldest first.
    pub fn history(&self) -> Vec<Alarm> {
        self.lock().history.iter().cloned().collect()
    }

    /// Forgets the past alarms (the active ones stay).
    pub fn clear_history(&self) {
        self.lock().history.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn an_alarm_is_active_until_cleared_then_kept_in_a_bounded_history() {
        let alarms = Alarms::default();
        let t0 = SystemTime::UNIX_EPOCH;
        alarms.raise("high_memory", "rss 9 GB".into(), t0);
        alarms.raise("high_memory", "again".into(), t0);
        assert_eq!(alarms.active().len(), 1, "raised once");
        alarms.clear("high_memory", t0 + Duration::from_secs(5));
        assert!(alarms.active().is_empty());
        let past = alarms.history();
        assert_eq!(past[0].deactivated_at, Some(t0 + Duration::from_secs(5)));
        for i in 0..MAX_HISTORY + 5 {
            alarms.record(&format!("a{i}"), String::new(), t0);
        }
        assert_eq!(alarms.history().len(), MAX_HISTORY);
        alarms.clear_history();
        assert!(alarms.history().is_empty());
    }
}
