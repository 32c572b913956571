//! Login tokens: random 32-byte values (hex) given by `POST /api/v5/login`, each naming an
//! account, ending after `api.token_ttl` or at logout. At most `api.max_tokens` live at once;
//! past that the one closest to its end is dropped (a script that logs in in a loop cannot
//! grow the table).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use rand::RngCore;

/// `n` random bytes as hex.
pub(crate) fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Debug)]
struct Entry {
    username: String,
    ends: Instant,
}

/// The live tokens.
#[derive(Debug)]
pub(crate) struct Tokens {
    table: Mutex<HashMap<String, Entry>>,
    ttl: Duration,
    max: usize,
}

impl Tokens {
    /// Tokens lasting `ttl`, at most `max` at once.
    pub(crate) fn new(ttl: Duration, max: usize) -> Self {
        Self {
            table: Mutex::new(HashMap::new()),
            ttl,
            max: max.max(1),
        }
    }

    /// A new token for `username`.
    pub(crate) fn issue(&self, username: &str) -> String {
        let token = random_hex(32);
        let now = Instant::now();
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        table.retain(|_, e| e.ends > now);
        if table.len() >= self.max {
            let oldest = table
                .iter()
                .min_by_key(|(_, e)| e.ends)
                .map(|(t, _)| t.clone());
            if let Some(oldest) = oldest {
                table.remove(&oldest);
            }
        }
        table.insert(
            token.clone(),
            Entry {
                username: username.to_owned(),
                ends: now + self.ttl,
            },
        );
        token
    }

    /// The account a live token names.
    pub(crate) fn check(&self, token: &str) -> Option<String> {
        let table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        table
            .get(token)
            .filter(|e| e.ends > Instant::now())
            .map(|e| e.username.clone())
    }

    /// Ends a token.
    pub(crate) fn revoke(&self, token: &str) {
        self.table
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(token);
    }

    /// Ends every token of `username` (its password changed, or it was deleted).
    pub(crate) fn revoke_user(&self, username: &str) {
        self.table
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, e| e.username != username);
    }

    /// Live tokens.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.table
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_name_their_account_until_revoked_and_the_table_is_capped() {
        let tokens = Tokens::new(Duration::from_secs(60), 2);
        let a = tokens.issue("a");
        assert_eq!(tokens.check(&a).as_deref(), Some("a"));
        let _b = tokens.issue("b");
        let _c = tokens.issue("c");
        assert_eq!(tokens.len(), 2, "capped");
        assert!(tokens.check(&a).is_none(), "the oldest went");
        let d = tokens.issue("d");
        tokens.revoke(&d);
        assert!(tokens.check(&d).is_none());
        assert_eq!(tokens.len(), 1, "c is left");
        tokens.revoke_user("c");
        assert_eq!(tokens.len(), 0);
    }
}
