//! Passwords of dashboard accounts and secrets of API keys: argon2id hashes made and checked
//! by `starling_auth::builtin` (one hashing policy for the broker, and the same cap on hashes
//! running at once), on a blocking thread so that a flood of logins cannot stall the runtime;
//! and the rules a new password must meet.

use crate::error::ApiError;

/// What a new password must be, as shown to users.
pub(crate) const RULES: &str = "8 to 64 characters, with at least two of: letters, digits, \
                                other characters; not the username, and not the default password";

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
        starling_auth::builtin::hash_password(password.as_bytes())
            .map_err(|e| ApiError::Unavailable(format!("hashing failed: {e}")))
    })
    .await
    .map_err(|e| ApiError::Unavailable(e.to_string()))?
}

/// True when `password` matches the PHC string `hash` (on a blocking thread). A hash that
/// does not parse matches nothing.
pub(crate) async fn verify(password: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || {
        starling_auth::builtin::verify_password(&hash, password.as_bytes())
    })
    .await
    .unwrap_or(false)
}

/// Constant-time equality, for a password compared with one held in clear (the default
/// account's, from the configuration).
pub(crate) fn same(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let h = hash("s3cret-pass".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=7168,t=5,p=1$"), "{h}");
        assert!(verify("s3cret-pass".into(), h.clone()).await);
        assert!(!verify("wrong".into(), h).await);
        assert!(!verify("x".into(), "not a hash".into()).await);
        assert!(same("public", "public") && !same("public", "publiC") && !same("a", "ab"));
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
