//! Accounts of the management API: dashboard `users list|add|delete` (`/api/v5/users`),
//! `api-keys list|add|delete` (`/api/v5/api_key`) and `change-password`.
//!
//! No password or secret is printed, with one exception the API makes: an API key's secret
//! is in the answer to its creation, and only there, so `api-keys add` shows it once.

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::client::{encode, Api, Query};
use super::error::{CtlError, CtlResult};
use super::prompt;
use super::table::{text, Column, Output};
use super::ConnectionArgs;

/// `users` subcommands (dashboard accounts).
#[derive(Subcommand, Debug)]
pub(crate) enum UserCommand {
    /// List the accounts.
    List,
    /// Add an account (its password from --new-password, else asked, else one line of stdin).
    Add {
        /// 1 to 64 letters, digits or `_ - . @`.
        #[arg(value_name = "USERNAME")]
        name: String,
        /// A note.
        #[arg(long, default_value = "")]
        description: String,
        /// Its password (visible to other users of the machine: prefer the prompt).
        #[arg(long)]
        new_password: Option<String>,
    },
    /// Remove an account (not your own, not the last one).
    Delete {
        /// The account.
        #[arg(value_name = "USERNAME")]
        name: String,
    },
}

/// `api-keys` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum ApiKeyCommand {
    /// List the keys (never their secrets).
    List,
    /// Make a key; its secret is printed this once.
    Add {
        /// 1 to 64 letters, digits or `_ - . @`.
        name: String,
        /// A note.
        #[arg(long, default_value = "")]
        desc: String,
        /// Made disabled.
        #[arg(long)]
        disabled: bool,
        /// When it stops being accepted (RFC 3339); never when absent.
        #[arg(long, value_parser = super::banned::rfc3339)]
        expired_at: Option<String>,
    },
    /// Remove a key.
    Delete {
        /// The key's name.
        name: String,
    },
}

/// `change-password` options.
#[derive(Args, Debug)]
pub(crate) struct ChangePasswordArgs {
    /// The new password (visible to other users of the machine: prefer the prompt, or pipe
    /// it on stdin).
    #[arg(long)]
    new_password: Option<String>,
}

const USER_COLUMNS: &[Column] = &[
    ("USERNAME", |v| text(&v["username"])),
    ("DESCRIPTION", |v| text(&v["description"])),
    ("DEFAULT_PASSWORD", |v| text(&v["must_change_password"])),
];

const KEY_COLUMNS: &[Column] = &[
    ("NAME", |v| text(&v["name"])),
    ("API_KEY", |v| text(&v["api_key"])),
    ("ENABLED", |v| text(&v["enable"])),
    ("EXPIRES_AT", |v| text(&v["expired_at"])),
    ("CREATED_AT", |v| text(&v["created_at"])),
    ("DESCRIPTION", |v| text(&v["desc"])),
];

/// Runs a `users` subcommand.
pub(crate) fn users(api: &Api, command: UserCommand, out: Output) -> CtlResult<()> {
    match command {
        UserCommand::List => out.array(&api.get("/api/v5/users", &Query::new())?, USER_COLUMNS),
        UserCommand::Add {
            name: username,
            description,
            new_password,
        } => {
            let password = prompt::new_password(new_password.as_deref())?;
            let body = json!({
                "username": username,
                "password": password.as_str(),
                "description": description,
            });
            let user = api.post("/api/v5/users", &body)?;
            if out.json {
                return out.raw(&user);
            }
            out.done(&format!("added the account {username:?}"))
        }
        UserCommand::Delete { name: username } => {
            api.delete(&format!("/api/v5/users/{}", encode(&username)))?;
            out.done(&format!("removed the account {username:?}"))
        }
    }
}

/// Runs an `api-keys` subcommand.
pub(crate) fn api_keys(api: &Api, command: ApiKeyCommand, out: Output) -> CtlResult<()> {
    match command {
        ApiKeyCommand::List => out.array(&api.get("/api/v5/api_key", &Query::new())?, KEY_COLUMNS),
        ApiKeyCommand::Add {
            name,
            desc,
            disabled,
            expired_at,
        } => {
            let mut body = json!({"name": name, "desc": desc, "enable": !disabled});
            if let Some(at) = expired_at {
                body["expired_at"] = Value::String(at);
            }
            let key = api.post("/api/v5/api_key", &body)?;
            if !out.json {
                eprintln!("the secret is shown this once: keep it now");
            }
            out.record(&key)
        }
        ApiKeyCommand::Delete { name } => {
            api.delete(&format!("/api/v5/api_key/{}", encode(&name)))?;
            out.done(&format!("removed the API key {name:?}"))
        }
    }
}

/// `change-password`: logs in as `--username` with `--password` (even while the default
/// password must change), then `POST /api/v5/users/{username}/change_pwd`. The API ends every
/// token of the account, the one used included.
pub(crate) fn change_password(
    conn: &ConnectionArgs,
    args: &ChangePasswordArgs,
    out: Output,
) -> CtlResult<()> {
    let username = conn.username.as_deref().ok_or_else(|| {
        CtlError::Usage("change-password needs --username (or STARLING_API_USERNAME)".into())
    })?;
    let old = prompt::password(username, conn.password.as_deref())?;
    let new = prompt::new_password(args.new_password.as_deref())?;
    let mut api = Api::new(&conn.url)?;
    api.login(username, &old)?;
    let body = json!({"old_pwd": old.as_str(), "new_pwd": new.as_str()});
    let changed = api.post(
        &format!("/api/v5/users/{}/change_pwd", encode(username)),
        &body,
    );
    match changed {
        Ok(_) => api.forget_token(),
        Err(_) => api.logout(),
    }
    changed?;
    out.done(&format!("changed the password of {username:?}"))
}
