//! `starling ctl`: a command line over the management REST API (`crates/admin`, under
//! `/api/v5`), for people (aligned tables) and scripts (`--json`, exit codes).
//!
//! Each command is one or a few HTTP requests; nothing here knows the broker's internals.
//! A command group is a module named for what it manages, holding its clap arguments and
//! its requests, and joins `ApiCommand` and `dispatch` when its API routes exist:
//!
//! - `node`: `status`, `listeners [start|stop|restart ID]`, `stats`, `metrics`;
//! - `clients`: `clients list|show|kick|discard`; `subscriptions`: `subscriptions`;
//!   `topics`: `topics`;
//! - `retained`: `retained list|show|delete`; `publish`: `publish`;
//! - `banned`: `banned list|add|delete`; `access`: the `builtin` users (`auth users
//!   list|add|delete`) and ACL rules (`acl list|add|delete`); `node` also has `alarms`;
//! - `modules`: `modules list|show|enable|disable`; `conf`: `conf show|set|reload`;
//! - `trace`: `trace start|stop|list|delete|download`;
//! - `accounts`: dashboard `users list|add|delete`, `api-keys list|add|delete`,
//!   `change-password`;
//! - `client`: the HTTP client, login and logout, errors from answers; `page`: `--limit`,
//!   `--cursor`, `--all`; `table`: output; `prompt`: passwords asked for; `error`: the
//!   failures and their exit codes.

mod access;
mod accounts;
mod banned;
mod client;
mod clients;
mod conf;
mod error;
mod modules;
mod node;
mod page;
mod prompt;
mod publish;
mod retained;
mod subscriptions;
mod table;
mod topics;
mod trace;

use clap::{Args, Subcommand};
use std::fmt;
use std::process::ExitCode;

use client::Api;
use error::{CtlError, CtlResult};
use table::Output;

/// The `--help` text after the options: environment and exit codes.
const AFTER_HELP: &str = "\
Credentials: --username/--password log in first (POST /api/v5/login) and use the token;
--api-key/--api-secret are sent as HTTP Basic. The default account admin/public must change
its password first: starling ctl --username admin --password public change-password.

Exit codes:
  0  success
  1  the API refused the request (HTTP 400, 401, 403, 409: its message is printed), or the
     password must be changed first, or ctl could not finish on its side (a prompt, stdout)
  2  bad command line
  3  the API cannot be reached or failed (connection refused, timeout, HTTP 5xx)
  4  not found (HTTP 404: no such client, retained message, ban, account, key or trace)";

/// `starling ctl`.
#[derive(Args, Debug)]
#[command(after_help = AFTER_HELP)]
pub(crate) struct CtlArgs {
    #[command(flatten)]
    connection: ConnectionArgs,
    #[command(subcommand)]
    command: CtlCommand,
}

/// Where the API is, who calls it, and how to print.
#[derive(Args)]
pub(crate) struct ConnectionArgs {
    /// The API's address.
    #[arg(
        long,
        global = true,
        help_heading = "API options",
        env = "STARLING_API_URL",
        default_value = "http://127.0.0.1:18083"
    )]
    url: String,
    /// A dashboard account to log in as.
    #[arg(
        long,
        global = true,
        help_heading = "API options",
        env = "STARLING_API_USERNAME"
    )]
    username: Option<String>,
    /// Its password (asked on the terminal when absent).
    #[arg(
        long,
        global = true,
        help_heading = "API options",
        env = "STARLING_API_PASSWORD",
        hide_env_values = true
    )]
    password: Option<String>,
    /// An API key (HTTP Basic), instead of an account.
    #[arg(
        long,
        global = true,
        help_heading = "API options",
        env = "STARLING_API_KEY"
    )]
    api_key: Option<String>,
    /// The API key's secret.
    #[arg(
        long,
        global = true,
        help_heading = "API options",
        env = "STARLING_API_SECRET",
        hide_env_values = true
    )]
    api_secret: Option<String>,
    /// Print the API's JSON as is (for scripts) rather than tables.
    #[arg(long, global = true, help_heading = "API options")]
    json: bool,
}

impl fmt::Debug for ConnectionArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hidden = |s: &Option<String>| s.as_ref().map(|_| "<hidden>");
        f.debug_struct("ConnectionArgs")
            .field("url", &self.url)
            .field("username", &self.username)
            .field("password", &hidden(&self.password))
            .field("api_key", &self.api_key)
            .field("api_secret", &hidden(&self.api_secret))
            .field("json", &self.json)
            .finish()
    }
}

/// The commands.
#[derive(Subcommand, Debug)]
enum CtlCommand {
    #[command(flatten)]
    Api(ApiCommand),
    /// Change the password of --username (old: --password; new: --new-password or asked).
    ChangePassword(accounts::ChangePasswordArgs),
}

/// The commands that run with the credentials given, as they are.
#[derive(Subcommand, Debug)]
enum ApiCommand {
    /// Whether the broker runs; with credentials, its node (version, uptime, memory, load).
    Status,
    /// The listeners and their state; `listeners start|stop|restart ID`.
    Listeners(node::ListenersArgs),
    /// Connected clients and offline sessions.
    #[command(subcommand)]
    Clients(clients::ClientsCommand),
    /// Subscriptions, filtered.
    Subscriptions(subscriptions::SubscriptionArgs),
    /// Topics: one row per distinct subscribed filter (the routes).
    Topics(topics::TopicArgs),
    /// Retained messages.
    #[command(subcommand)]
    Retained(retained::RetainedCommand),
    /// Banned client ids, usernames and addresses.
    #[command(subcommand)]
    Banned(banned::BannedCommand),
    /// Publish a message through the API (as the broker: no ACL applies).
    Publish(publish::PublishArgs),
    /// Modules switched on and off at run time (stored: they outlive a restart).
    #[command(subcommand)]
    Modules(modules::ModulesCommand),
    /// The running configuration: show it, set a key (live or after a restart), reload the file.
    #[command(subcommand)]
    Conf(conf::ConfCommand),
    /// Statistics: what the broker holds now (connections, sessions, subscriptions, ...).
    Stats,
    /// Metrics: totals since start (messages and bytes in, out, dropped).
    Metrics,
    /// API keys for scripts.
    #[command(subcommand)]
    ApiKeys(accounts::ApiKeyCommand),
    /// Dashboard (management API) accounts.
    #[command(subcommand)]
    Users(accounts::UserCommand),
    /// The `builtin` authenticator's users (MQTT clients' usernames and passwords).
    #[command(subcommand)]
    Auth(access::AuthCommand),
    /// The `builtin` ACL rules.
    #[command(subcommand)]
    Acl(access::AclCommand),
    /// Alarms, active and past.
    Alarms,
    /// Traces: a client id's, address's or topic filter's events written to a file.
    #[command(subcommand)]
    Trace(trace::TraceCommand),
}

/// Runs one ctl command; the exit code says how it went.
pub(crate) fn run(args: CtlArgs) -> ExitCode {
    match execute(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => e.report(),
    }
}

fn execute(args: CtlArgs) -> CtlResult<()> {
    let out = Output {
        json: args.connection.json,
    };
    match args.command {
        CtlCommand::ChangePassword(change) => {
            accounts::change_password(&args.connection, &change, out)
        }
        CtlCommand::Api(command) => {
            let mut api = open(&args.connection)?;
            let result = dispatch(&api, command, out);
            api.logout();
            result
        }
    }
}

fn dispatch(api: &Api, command: ApiCommand, out: Output) -> CtlResult<()> {
    use ApiCommand as C;
    match command {
        C::Status => node::status(api, out),
        C::Listeners(l) => node::listeners(api, &l, out),
        C::Stats => node::counters(api, "/api/v5/stats", out),
        C::Metrics => node::counters(api, "/api/v5/metrics", out),
        C::Clients(c) => clients::run(api, c, out),
        C::Subscriptions(s) => subscriptions::run(api, &s, out),
        C::Topics(t) => topics::run(api, &t, out),
        C::Retained(r) => retained::run(api, r, out),
        C::Banned(b) => banned::run(api, b, out),
        C::Publish(p) => publish::run(api, &p, out),
        C::Modules(m) => modules::run(api, m, out),
        C::Conf(c) => conf::run(api, c, out),
        C::ApiKeys(k) => accounts::api_keys(api, k, out),
        C::Users(u) => accounts::users(api, u, out),
        C::Auth(a) => access::auth(api, a, out),
        C::Acl(a) => access::acl(api, a, out),
        C::Alarms => node::alarms(api, out),
        C::Trace(t) => trace::run(api, t, out),
    }
}

/// The API with the credentials given: logged in with an account, or an API key, or none
/// (enough for `status`).
fn open(conn: &ConnectionArgs) -> CtlResult<Api> {
    let mut api = Api::new(&conn.url)?;
    match (&conn.username, &conn.api_key) {
        (Some(_), Some(_)) => Err(CtlError::Usage(
            "give either --username/--password or --api-key/--api-secret, not both".into(),
        )),
        (Some(username), None) => {
            let password = prompt::password(username, conn.password.as_deref())?;
            let login = api.login(username, &password)?;
            if login.must_change_password {
                api.logout();
                return Err(CtlError::MustChangePassword {
                    username: username.clone(),
                });
            }
            Ok(api)
        }
        (None, Some(key)) => {
            let secret = conn.api_secret.as_deref().ok_or_else(|| {
                CtlError::Usage("--api-key needs --api-secret (or STARLING_API_SECRET)".into())
            })?;
            api.use_api_key(key, secret);
            Ok(api)
        }
        (None, None) => Ok(api),
    }
}
