//! `auth users list|add|delete` and `acl list|add|delete`: the `builtin` authenticator's users
//! (`/api/v5/authentication/password_based:built_in_database/users`) and the `builtin`
//! authorization source's rules (`/api/v5/authorization/sources/built_in_database/rules`).
//! Dashboard accounts are `users`; these are the MQTT clients' own.

use clap::{Args, Subcommand, ValueEnum};
use serde_json::{json, Value};

use super::client::{encode, Api, Query};
use super::error::CtlResult;
use super::page::{self, PageArgs};
use super::prompt;
use super::table::{text, Column, Output};

const USERS: &str = "/api/v5/authentication/password_based:built_in_database/users";
const RULES: &str = "/api/v5/authorization/sources/built_in_database/rules";

/// `auth` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum AuthCommand {
    /// The `builtin` authenticator's users (MQTT clients).
    #[command(subcommand)]
    Users(AuthUserCommand),
}

/// `auth users` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum AuthUserCommand {
    /// List the users.
    List(PageArgs),
    /// Add a user (the password from --new-password, the terminal, or one line of stdin).
    Add {
        /// The username.
        name: String,
        /// Skips every ACL check.
        #[arg(long)]
        superuser: bool,
        /// The password.
        #[arg(long, hide_env_values = true)]
        new_password: Option<String>,
    },
    /// Remove a user (its connections stay until they close).
    Delete {
        /// The username.
        name: String,
    },
}

/// `acl` subcommands.
#[derive(Subcommand, Debug)]
pub(crate) enum AclCommand {
    /// List the rules, in precedence order (the first that matches decides).
    List(PageArgs),
    /// Add a rule after the others.
    Add(RuleArgs),
    /// Remove a rule.
    Delete {
        /// Its id.
        id: u64,
    },
}

/// What a rule governs.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub(crate) enum RuleAction {
    /// PUBLISH.
    Publish,
    /// SUBSCRIBE, and receiving.
    Subscribe,
    /// Both.
    All,
}

/// Allow or deny.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub(crate) enum RulePermission {
    /// Grant.
    Allow,
    /// Refuse.
    Deny,
}

/// `acl add` options: whom (one of --for-username, --for-clientid, --for-ip, --for-cidr;
/// none: every client), what, and the topic. (`--for-`: `--username` is ctl's own login.)
#[derive(Args, Debug)]
pub(crate) struct RuleArgs {
    /// For clients with this username.
    #[arg(long, group = "who")]
    for_username: Option<String>,
    /// For the client with this client id.
    #[arg(long, group = "who")]
    for_clientid: Option<String>,
    /// For clients from this IP address.
    #[arg(long, group = "who")]
    for_ip: Option<String>,
    /// For clients from this network (10.0.0.0/8).
    #[arg(long, group = "who")]
    for_cidr: Option<String>,
    /// What it governs.
    #[arg(long, value_enum)]
    action: RuleAction,
    /// Allow or deny.
    #[arg(long, value_enum)]
    permission: RulePermission,
    /// The topic filter (`%u`, `%c` name the client).
    #[arg(long)]
    topic: String,
    /// Match the topic literally (no wildcards, no %u/%c).
    #[arg(long)]
    eq: bool,
}

const USER_COLUMNS: &[Column] = &[
    ("USER", |v| text(&v["user_id"])),
    ("SUPERUSER", |v| text(&v["is_superuser"])),
    ("CREATED", |v| text(&v["created_at"])),
];

const RULE_COLUMNS: &[Column] = &[
    ("ID", |v| text(&v["id"])),
    ("WHO", who),
    ("ACTION", |v| text(&v["action"])),
    ("PERMISSION", |v| text(&v["permission"])),
    ("TOPIC", |v| text(&v["topic"])),
    ("EQ", |v| text(&v["eq"])),
];

fn who(v: &Value) -> String {
    ["username", "clientid", "ipaddress", "cidr"]
        .iter()
        .find_map(|k| v[*k].as_str().map(|s| format!("{k}={s}")))
        .unwrap_or_else(|| "all".to_owned())
}

/// Runs an `auth` subcommand.
pub(crate) fn auth(api: &Api, command: AuthCommand, out: Output) -> CtlResult<()> {
    let AuthCommand::Users(command) = command;
    match command {
        AuthUserCommand::List(page) => {
            let answer = page::fetch(api, USERS, Query::new(), &page)?;
            out.list(&answer, USER_COLUMNS)
        }
        AuthUserCommand::Add {
            name,
            superuser,
            new_password,
        } => {
            let password = prompt::new_password(new_password.as_deref())?;
            let body =
                json!({"user_id": name, "password": password.as_str(), "is_superuser": superuser});
            let user = api.post(USERS, &body)?;
            if out.json {
                return out.raw(&user);
            }
            out.done(&format!("added the user {name:?}"))
        }
        AuthUserCommand::Delete { name } => {
            api.delete(&format!("{USERS}/{}", encode(&name)))?;
            out.done(&format!("removed the user {name:?}"))
        }
    }
}

/// Runs an `acl` subcommand.
pub(crate) fn acl(api: &Api, command: AclCommand, out: Output) -> CtlResult<()> {
    match command {
        AclCommand::List(page) => {
            let answer = page::fetch(api, RULES, Query::new(), &page)?;
            out.list(&answer, RULE_COLUMNS)
        }
        AclCommand::Add(args) => {
            let mut body = json!({
                "action": format!("{:?}", args.action).to_lowercase(),
                "permission": format!("{:?}", args.permission).to_lowercase(),
                "topic": args.topic,
                "eq": args.eq,
            });
            for (key, value) in [
                ("username", args.for_username),
                ("clientid", args.for_clientid),
                ("ipaddress", args.for_ip),
                ("cidr", args.for_cidr),
            ] {
                if let Some(value) = value {
                    body[key] = Value::String(value);
                }
            }
            let rule = api.post(RULES, &body)?;
            if out.json {
                return out.raw(&rule);
            }
            out.done(&format!("added rule {}", text(&rule["id"])))
        }
        AclCommand::Delete { id } => {
            api.delete(&format!("{RULES}/{id}"))?;
            out.done(&format!("removed rule {id}"))
        }
    }
}
