//! Dashboard accounts and API keys, kept in the store's `admin` keyspace (JSON values under
//! `user/<name>` and `key/<name>`) and in memory.
//!
//! On first start (no account stored) the default account (`api.default_username`, password
//! `api.default_password`) is made with `must_change` set: until it picks a new password,
//! every route but the password change and logout answers 403 (`guard`).
//!
//! The tables sit behind `std::sync::RwLock`s held for one lookup or insert, never across an
//! `.await`: they are the API's own state, not the broker's, and change only when an operator
//! edits them. A mutation hashes first (blocking thread), writes the store and waits until
//! the write is durable, then updates the table.

use std::collections::BTreeMap;
use std::sync::{PoisonError, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use starling_broker::BrokerHandle;

use crate::error::ApiError;
use crate::password;

/// A stored dashboard account.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct UserRecord {
    username: String,
    /// The argon2id hash; `None`: the default account, whose password is still
    /// `api.default_password` (no hash is made at start: argon2 is slow and its memory stays
    /// with the process).
    hash: Option<String>,
    description: String,
    must_change: bool,
    created_at: u64,
}

/// A stored API key: `api_key` is public, only the secret's hash is kept.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct KeyRecord {
    name: String,
    api_key: String,
    secret_hash: String,
    desc: String,
    enable: bool,
    expired_at: Option<u64>,
    created_at: u64,
}

/// An account as the API shows it.
#[derive(Debug, Clone)]
pub(crate) struct User {
    /// Its name.
    pub(crate) username: String,
    /// A note.
    pub(crate) description: String,
    /// It must set a new password before anything else.
    pub(crate) must_change: bool,
}

/// An API key as the API shows it (never its secret).
#[derive(Debug, Clone)]
pub(crate) struct ApiKey {
    /// Its name.
    pub(crate) name: String,
    /// The key (the HTTP Basic username).
    pub(crate) api_key: String,
    /// A note.
    pub(crate) desc: String,
    /// Whether it is accepted.
    pub(crate) enable: bool,
    /// When it stops being accepted (Unix seconds).
    pub(crate) expired_at: Option<u64>,
    /// When it was made (Unix seconds).
    pub(crate) created_at: u64,
}

/// Changes to an API key; `None` keeps the field.
#[derive(Debug, Clone, Default)]
pub(crate) struct KeyChange {
    /// A new note.
    pub(crate) desc: Option<String>,
    /// Accepted or not.
    pub(crate) enable: Option<bool>,
    /// A new end (`Some(None)`: never).
    pub(crate) expired_at: Option<Option<u64>>,
}

/// The accounts and keys.
#[derive(Debug)]
pub(crate) struct Accounts {
    handle: BrokerHandle,
    users: RwLock<BTreeMap<String, UserRecord>>,
    keys: RwLock<BTreeMap<String, KeyRecord>>,
    max_users: usize,
    max_keys: usize,
    default_password: String,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn check_name(field: &str, name: &str) -> Result<(), ApiError> {
    let ok = (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '@'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::field(
            field,
            "must be 1 to 64 letters, digits or _ - . @",
        ))
    }
}

impl Accounts {
    /// Reads the stored accounts and keys back; makes the default account on first start.
    pub(crate) async fn load(
        handle: BrokerHandle,
        config: &starling_config::ApiConfig,
    ) -> Result<Accounts, ApiError> {
        let mut users = BTreeMap::new();
        let mut keys = BTreeMap::new();
        for (key, value) in handle.take_admin_records() {
            if key.starts_with(b"user/") {
                match serde_json::from_slice::<UserRecord>(&value) {
                    Ok(u) => {
                        users.insert(u.username.clone(), u);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "a stored dashboard account is unreadable; skipped")
                    }
                }
            } else if key.starts_with(b"key/") {
                match serde_json::from_slice::<KeyRecord>(&value) {
                    Ok(k) => {
                        keys.insert(k.name.clone(), k);
                    }
                    Err(e) => tracing::warn!(error = %e, "a stored API key is unreadable; skipped"),
                }
            }
        }
        let accounts = Accounts {
            handle,
            users: RwLock::new(users),
            keys: RwLock::new(keys),
            max_users: config.max_users,
            max_keys: config.max_api_keys,
            default_password: config.default_password.clone(),
        };
        if accounts.read_users().is_empty() {
            let record = UserRecord {
                username: config.default_username.clone(),
                hash: None,
                description: "the default account".to_owned(),
                must_change: true,
                created_at: unix_now(),
            };
            accounts.save_user(record).await?;
            tracing::warn!(
                username = %config.default_username,
                "created the default dashboard account; it must set a new password at its first login"
            );
        }
        Ok(accounts)
    }

    fn read_users(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, UserRecord>> {
        self.users.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn read_keys(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, KeyRecord>> {
        self.keys.read().unwrap_or_else(PoisonError::into_inner)
    }

    async fn save_user(&self, record: UserRecord) -> Result<(), ApiError> {
        let value =
            serde_json::to_vec(&record).map_err(|e| ApiError::Unavailable(e.to_string()))?;
        let key = format!("user/{}", record.username).into_bytes();
        self.handle.save_admin_record(key, Some(value)).await?;
        self.users
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(record.username.clone(), record);
        Ok(())
    }

    async fn save_key(&self, record: KeyRecord) -> Result<(), ApiError> {
        let value =
            serde_json::to_vec(&record).map_err(|e| ApiError::Unavailable(e.to_string()))?;
        let key = format!("key/{}", record.name).into_bytes();
        self.handle.save_admin_record(key, Some(value)).await?;
        self.keys
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(record.name.clone(), record);
        Ok(())
    }

    fn view(u: &UserRecord) -> User {
        User {
            username: u.username.clone(),
            description: u.description.clone(),
            must_change: u.must_change,
        }
    }

    /// The account `username` if `password` is its password.
    pub(crate) async fn login(&self, username: &str, password: &str) -> Option<User> {
        let record = self.read_users().get(username).cloned();
        let Some(record) = record else {
            // Hash anyway: an unknown name must take as long as a wrong password.
            let _ = password::hash(password.to_owned()).await;
            return None;
        };
        self.password_is(&record, password)
            .await
            .then(|| Self::view(&record))
    }

    /// Whether `password` is `record`'s.
    async fn password_is(&self, record: &UserRecord, password: &str) -> bool {
        match &record.hash {
            Some(hash) => password::verify(password.to_owned(), hash.clone()).await,
            None => password::same(password, &self.default_password),
        }
    }

    /// One account.
    pub(crate) fn user(&self, username: &str) -> Option<User> {
        self.read_users().get(username).map(Self::view)
    }

    /// Every account, by name.
    pub(crate) fn users(&self) -> Vec<User> {
        self.read_users().values().map(Self::view).collect()
    }

    /// Sets `username`'s password, after checking the old one and the rules.
    pub(crate) async fn change_password(
        &self,
        username: &str,
        old: &str,
        new: &str,
    ) -> Result<(), ApiError> {
        let mut record = self
            .read_users()
            .get(username)
            .cloned()
            .ok_or_else(|| ApiError::not_found(format!("user {username:?}")))?;
        if !self.password_is(&record, old).await {
            return Err(ApiError::field("old_pwd", "is not the current password"));
        }
        password::check_rules(username, new, &self.default_password)?;
        record.hash = Some(password::hash(new.to_owned()).await?);
        record.must_change = false;
        self.save_user(record).await
    }

    /// Adds an account.
    pub(crate) async fn add_user(
        &self,
        username: &str,
        pass: &str,
        description: &str,
    ) -> Result<User, ApiError> {
        check_name("username", username)?;
        if self.read_users().contains_key(username) {
            return Err(ApiError::Conflict(format!("user {username:?} exists")));
        }
        if self.read_users().len() >= self.max_users {
            return Err(ApiError::field(
                "username",
                format!("{} accounts exist already (api.max_users)", self.max_users),
            ));
        }
        password::check_rules(username, pass, &self.default_password)
            .map_err(|_| ApiError::field("password", format!("must be {}", password::RULES)))?;
        let record = UserRecord {
            username: username.to_owned(),
            hash: Some(password::hash(pass.to_owned()).await?),
            description: description.to_owned(),
            must_change: false,
            created_at: unix_now(),
        };
        let view = Self::view(&record);
        self.save_user(record).await?;
        Ok(view)
    }

    /// Changes an account's description.
    pub(crate) async fn update_user(
        &self,
        username: &str,
        description: &str,
    ) -> Result<User, ApiError> {
        let mut record = self
            .read_users()
            .get(username)
            .cloned()
            .ok_or_else(|| ApiError::not_found(format!("user {username:?}")))?;
        record.description = description.to_owned();
        let view = Self::view(&record);
        self.save_user(record).await?;
        Ok(view)
    }

    /// Removes an account (not the last one, and not the caller's own).
    pub(crate) async fn delete_user(
        &self,
        username: &str,
        caller: Option<&str>,
    ) -> Result<(), ApiError> {
        if !self.read_users().contains_key(username) {
            return Err(ApiError::not_found(format!("user {username:?}")));
        }
        if caller == Some(username) {
            return Err(ApiError::field(
                "username",
                "an account cannot delete itself",
            ));
        }
        if self.read_users().len() == 1 {
            return Err(ApiError::field(
                "username",
                "the last account cannot be deleted",
            ));
        }
        let key = format!("user/{username}").into_bytes();
        self.handle.save_admin_record(key, None).await?;
        self.users
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(username);
        Ok(())
    }

    fn key_view(k: &KeyRecord) -> ApiKey {
        ApiKey {
            name: k.name.clone(),
            api_key: k.api_key.clone(),
            desc: k.desc.clone(),
            enable: k.enable,
            expired_at: k.expired_at,
            created_at: k.created_at,
        }
    }

    /// Every API key, by name.
    pub(crate) fn keys(&self) -> Vec<ApiKey> {
        self.read_keys().values().map(Self::key_view).collect()
    }

    /// One API key.
    pub(crate) fn key(&self, name: &str) -> Option<ApiKey> {
        self.read_keys().get(name).map(Self::key_view)
    }

    /// Makes an API key; returns it and its secret (shown once, never stored in clear).
    pub(crate) async fn add_key(
        &self,
        name: &str,
        desc: &str,
        enable: bool,
        expired_at: Option<u64>,
    ) -> Result<(ApiKey, String), ApiError> {
        check_name("name", name)?;
        if self.read_keys().contains_key(name) {
            return Err(ApiError::Conflict(format!("API key {name:?} exists")));
        }
        if self.read_keys().len() >= self.max_keys {
            return Err(ApiError::field(
                "name",
                format!(
                    "{} API keys exist already (api.max_api_keys)",
                    self.max_keys
                ),
            ));
        }
        let api_key = crate::session::random_hex(8);
        let secret = crate::session::random_hex(24);
        let record = KeyRecord {
            name: name.to_owned(),
            api_key,
            secret_hash: password::hash(secret.clone()).await?,
            desc: desc.to_owned(),
            enable,
            expired_at,
            created_at: unix_now(),
        };
        let view = Self::key_view(&record);
        self.save_key(record).await?;
        Ok((view, secret))
    }

    /// Changes an API key.
    pub(crate) async fn update_key(
        &self,
        name: &str,
        change: KeyChange,
    ) -> Result<ApiKey, ApiError> {
        let mut record = self
            .read_keys()
            .get(name)
            .cloned()
            .ok_or_else(|| ApiError::not_found(format!("API key {name:?}")))?;
        if let Some(desc) = change.desc {
            record.desc = desc;
        }
        if let Some(enable) = change.enable {
            record.enable = enable;
        }
        if let Some(at) = change.expired_at {
            record.expired_at = at;
        }
        let view = Self::key_view(&record);
        self.save_key(record).await?;
        Ok(view)
    }

    /// Removes an API key.
    pub(crate) async fn delete_key(&self, name: &str) -> Result<(), ApiError> {
        if !self.read_keys().contains_key(name) {
            return Err(ApiError::not_found(format!("API key {name:?}")));
        }
        self.handle
            .save_admin_record(format!("key/{name}").into_bytes(), None)
            .await?;
        self.keys
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(name);
        Ok(())
    }

    /// True when `api_key` is an enabled, unexpired key whose secret is `secret`.
    pub(crate) async fn check_key(&self, api_key: &str, secret: &str) -> bool {
        let record = self
            .read_keys()
            .values()
            .find(|k| k.api_key == api_key)
            .cloned();
        let Some(record) = record else {
            return false;
        };
        let live = record.enable && record.expired_at.is_none_or(|at| at > unix_now());
        live && password::verify(secret.to_owned(), record.secret_hash).await
    }
}
