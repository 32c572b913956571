//! Passwords of dashboard accounts and secrets of API keys: argon2id hashes (PHC strings, a
//! random salt each), made and checked on a blocking thread so that a flood of logins cannot
//! stall the runtime, and the rules a new password must meet.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use crate::error::ApiError;

/// What a new password must be, as shown to users.
pub(crate) const RULES: &str = "8 to 64 characters, with at least two of: letters, digits, other \
                         characters; not the username, and not the default password";

/// Checks a new password against [`RULES`].
pub(crate) fn check_rules(username: &str, password: &str, default: &str) -> Result<(), ApiError> {
    let length = password.chars().count();
    let kinds = [
        password.chars().any(char::is_alphabetic),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| !c.is_alphanumeric()),
    ]
    .iter()
    .filter(|k| **k)
    .count();
    let ok =
        (8..=64).contains(&length) && kinds >= 2 && password != username && password != default;
    if ok {
        Ok(())
    } else {
        Err(ApiError::field("new_pwd", format!("must be {RULES}")))
    }
}

/// An argon2id hash of `password` (on a blocking thread).
pub(crate) async fn hash(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| ApiError::Unavailable(format!("hashing failed: {e}")))
    })
    .await
    .map_err(|e| ApiError::Unavailable(e.to_string()))?
}

/// True when `password` matches the PHC string `hash` (on a blocking thread). A hash that
/// does not parse matches nothing.
pub(crate) async fn verify(password: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash).is_ok_and(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
    })
    .await
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let h = hash("s3cret-pass".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("s3cret-pass".into(), h.clone()).await);
        assert!(!verify("wrong".into(), h).await);
        assert!(!verify("x".into(), "not a hash".into()).await);
    }

    #[test]
    fn the_rules_refuse_short_single_kind_and_default_passwords() {
        assert!(check_rules("admin", "abc12345", "public").is_ok());
        assert!(check_rules("admin", "abc123", "public").is_err(), "short");
        assert!(
            check_rules("admin", "abcdefghij", "public").is_err(),
            "one kind"
        );
        assert!(
            check_rules("public1x", "public1x", "public").is_err(),
            "the username"
        );
        assert!(
            check_rules("admin", "public", "public").is_err(),
            "the default"
        );
    }
}
