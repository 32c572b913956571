//! `starling ctl`, the built binary, against a broker and its management API started
//! in-process: output, `--json`, the forced password change, and the exit codes scripts rely
//! on. Each step waits for the command to exit (or for a DISCONNECT), never for time.

use serde_json::Value;
use starling_codec::{QoS, ReasonCode};
use starling_testkit::{ProtocolVersion, RawClient, TestBroker};
use std::net::SocketAddr;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_starling");
const NEW_PASSWORD: &str = "ctl-n3w-secret";

/// A broker with its API on 127.0.0.1:0.
struct Api {
    broker: TestBroker,
    url: String,
}

impl Api {
    async fn start() -> Api {
        let broker = TestBroker::start_with(|c| {
            c.api.bind = SocketAddr::from(([127, 0, 0, 1], 0));
        })
        .await;
        let running =
            starling_admin::serve(broker.running().handle(), broker.running().shutdown_token())
                .await
                .expect("the API starts");
        let url = format!("http://{}", running.local_addr);
        Api { broker, url }
    }

    /// `starling ctl --url <this API> <args>`, without credentials.
    async fn ctl(&self, args: &[&str]) -> Output {
        ctl(&self.url, args).await
    }

    /// `starling ctl` logged in as admin with the new password.
    async fn admin(&self, args: &[&str]) -> Output {
        let mut all = vec!["--username", "admin", "--password", NEW_PASSWORD];
        all.extend_from_slice(args);
        self.ctl(&all).await
    }

    /// Sets the admin's password through ctl: the API is then ready for commands.
    async fn ready() -> Api {
        let api = Api::start().await;
        let changed = api
            .ctl(&[
                "--username",
                "admin",
                "--password",
                "public",
                "change-password",
                "--new-password",
                NEW_PASSWORD,
            ])
            .await;
        ok(&changed);
        api
    }
}

/// Runs the binary on a blocking thread; the environment's `STARLING_API_*` is removed.
async fn ctl(url: &str, args: &[&str]) -> Output {
    let mut command = Command::new(BIN);
    command.args(["ctl", "--url", url]).args(args);
    for var in ["URL", "USERNAME", "PASSWORD", "KEY", "SECRET"] {
        command.env_remove(format!("STARLING_API_{var}"));
    }
    command.stdin(Stdio::null());
    tokio::task::spawn_blocking(move || command.output().expect("run starling ctl"))
        .await
        .expect("the command's thread")
}

/// stdout of a command that exited 0.
fn ok(output: &Output) -> String {
    assert_eq!(
        output.status.code(),
        Some(0),
        "stdout: {}\nstderr: {}",
        text(&output.stdout),
        text(&output.stderr)
    );
    text(&output.stdout)
}

/// stderr of a command that exited with `code`.
fn fails(output: &Output, code: i32) -> String {
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        text(&output.stdout),
        text(&output.stderr)
    );
    text(&output.stderr)
}

fn json(output: &Output) -> Value {
    let out = ok(output);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A 5.0 client whose session outlives its connection (an hour).
async fn client(api: &Api, id: &str, username: &str) -> RawClient {
    let connect = starling_codec::Connect {
        username: Some(starling_testkit::string(username)),
        clean_start: false,
        properties: starling_codec::Properties {
            session_expiry_interval: Some(3600),
            ..Default::default()
        },
        ..starling_testkit::connect_packet(ProtocolVersion::V5, id)
    };
    let (c, connack) = RawClient::connect_with(api.broker.addr(), connect).await;
    assert_eq!(connack.reason_code, ReasonCode::Success);
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_password_must_change_before_anything_else() {
    let api = Api::start().await;
    // The health check needs no login.
    assert!(ok(&api.ctl(&["status"]).await).contains("is running"));
    let health = json(&api.ctl(&["--json", "status"]).await);
    assert_eq!(health["status"]["status"], "running");

    let first = api
        .ctl(&[
            "--username",
            "admin",
            "--password",
            "public",
            "clients",
            "list",
        ])
        .await;
    let message = fails(&first, 1);
    assert!(
        message.contains("default password")
            && message.contains("starling ctl --username admin change-password"),
        "{message}"
    );
    // Without credentials, a route that needs them: 401, exit 1, and how to give them.
    assert!(fails(&api.ctl(&["stats"]).await, 1).contains("--api-key"));

    let change = api
        .ctl(&[
            "--username",
            "admin",
            "--password",
            "public",
            "change-password",
            "--new-password",
            NEW_PASSWORD,
        ])
        .await;
    assert!(ok(&change).contains("changed the password"));
    let old = api
        .ctl(&["--username", "admin", "--password", "public", "stats"])
        .await;
    assert!(fails(&old, 1).contains("login as \"admin\" refused"));

    let status = json(&api.admin(&["status", "--json"]).await);
    assert_eq!(status["nodes"][0]["node_status"], "running");
    let human = ok(&api.admin(&["status"]).await);
    assert!(
        human.contains("uptime:") && human.contains("connections:"),
        "{human}"
    );
    let stats = json(&api.admin(&["--json", "stats"]).await);
    assert!(stats["connections.count"].is_u64());
    assert!(ok(&api.admin(&["metrics"]).await).contains("messages.received"));
    let listeners = json(&api.admin(&["--json", "listeners"]).await);
    assert_eq!(listeners[0]["type"], "tcp");
    assert!(ok(&api.admin(&["listeners"]).await).starts_with("ID "));
    let stopped = ok(&api.admin(&["listeners", "stop", "tcp:default"]).await);
    assert!(stopped.contains("stopped"), "{stopped}");
    assert!(
        tokio::net::TcpStream::connect(api.broker.addr())
            .await
            .is_err(),
        "the port is closed"
    );
    let after = json(&api.admin(&["--json", "listeners", "list"]).await);
    assert_eq!(after[0]["running"], false);
    ok(&api.admin(&["listeners", "start", "tcp:default"]).await);
    ok(&api.admin(&["listeners", "restart", "tcp:default"]).await);
    let back = json(&api.admin(&["--json", "listeners"]).await);
    assert_eq!(back[0]["running"], true);
    fails(&api.admin(&["listeners", "stop", "tcp:none"]).await, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_are_listed_shown_kicked_and_discarded() {
    let api = Api::ready().await;
    let mut sensor = client(&api, "ctl-sensor", "fleet").await;
    sensor.subscribe("s/#", QoS::AtLeastOnce).await;
    let _others = [
        client(&api, "ctl-a", "ops").await,
        client(&api, "ctl-b", "ops").await,
    ];

    let table = ok(&api.admin(&["clients", "list"]).await);
    let header = table.lines().next().unwrap_or_default();
    assert!(
        header.starts_with("CLIENTID") && header.contains("USERNAME"),
        "{table}"
    );
    let row = table
        .lines()
        .find(|l| l.starts_with("ctl-sensor"))
        .expect("a row");
    assert!(
        row.contains("fleet") && row.contains("connected") && row.contains("5.0"),
        "{row}"
    );

    let one = json(
        &api.admin(&["--json", "clients", "list", "--like-username", "flee"])
            .await,
    );
    assert_eq!(one["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(one["data"][0]["clientid"], "ctl-sensor");
    let paged = json(
        &api.admin(&["clients", "list", "--limit", "1", "--all", "--json"])
            .await,
    );
    assert_eq!(paged["data"].as_array().map(Vec::len), Some(3));
    assert_eq!(paged["meta"]["hasnext"], false);
    let first_page = json(
        &api.admin(&["clients", "list", "--limit", "1", "--json"])
            .await,
    );
    assert_eq!(first_page["meta"]["hasnext"], true);

    let shown = ok(&api.admin(&["clients", "show", "ctl-sensor"]).await);
    assert!(
        shown.contains("clientid:") && shown.contains("s/#"),
        "{shown}"
    );
    let subs = json(
        &api.admin(&["subscriptions", "--clientid", "ctl-sensor", "--json"])
            .await,
    );
    assert_eq!(subs["data"][0]["topic"], "s/#");
    let topics = ok(&api.admin(&["topics", "--match-topic", "s/1"]).await);
    assert!(
        topics.contains("TOPIC") && topics.contains("s/#"),
        "{topics}"
    );

    assert!(ok(&api.admin(&["clients", "kick", "ctl-sensor"]).await).contains("kicked out"));
    sensor
        .expect_disconnect(ReasonCode::AdministrativeAction)
        .await;
    fails(&api.admin(&["clients", "kick", "nobody"]).await, 4);
    fails(&api.admin(&["clients", "show", "nobody"]).await, 4);

    ok(&api.admin(&["clients", "discard", "ctl-sensor"]).await);
    fails(&api.admin(&["clients", "show", "ctl-sensor"]).await, 4);
    // A value clap checks: exit 2.
    fails(
        &api.admin(&["clients", "list", "--proto-ver", "7"]).await,
        2,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retained_messages_are_published_listed_shown_and_deleted() {
    let api = Api::ready().await;
    let published = api
        .admin(&["publish", "-t", "ctl/kept", "-m", "hello", "-q", "1", "-r"])
        .await;
    assert!(ok(&published).contains("published"));

    let table = ok(&api.admin(&["retained", "list"]).await);
    assert!(table.lines().any(|l| l.starts_with("ctl/kept")), "{table}");
    let listed = json(
        &api.admin(&["retained", "list", "--topic", "ctl/#", "--json"])
            .await,
    );
    assert_eq!(listed["data"][0]["topic"], "ctl/kept");
    let shown = ok(&api.admin(&["retained", "show", "ctl/kept"]).await);
    assert!(
        shown
            .lines()
            .any(|l| l.starts_with("payload:") && l.ends_with("hello")),
        "{shown}"
    );

    ok(&api.admin(&["retained", "delete", "ctl/kept"]).await);
    fails(&api.admin(&["retained", "delete", "ctl/kept"]).await, 4);
    let empty = json(&api.admin(&["--json", "retained", "list"]).await);
    assert_eq!(empty["data"].as_array().map(Vec::len), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bans_are_added_listed_and_lifted() {
    let api = Api::ready().await;
    let until = "2099-01-01T00:00:00Z";
    let added = api
        .admin(&[
            "banned",
            "add",
            "--as",
            "clientid",
            "--who",
            "bad/actor",
            "--reason",
            "spam",
            "--until",
            until,
        ])
        .await;
    assert!(ok(&added).contains("banned clientid"));
    let table = ok(&api.admin(&["banned", "list"]).await);
    let row = table
        .lines()
        .find(|l| l.contains("bad/actor"))
        .expect("a row");
    assert!(
        row.starts_with("clientid") && row.contains("spam") && row.contains("2099"),
        "{row}"
    );
    let listed = json(&api.admin(&["banned", "list", "--json"]).await);
    assert_eq!(listed["data"][0]["who"], "bad/actor");
    assert_eq!(listed["data"][0]["by"], "ctl");

    // A client id with `/` travels percent-encoded in the path.
    ok(&api
        .admin(&["banned", "delete", "clientid", "bad/actor"])
        .await);
    fails(
        &api.admin(&["banned", "delete", "clientid", "bad/actor"])
            .await,
        4,
    );
    let bad_time = api
        .admin(&[
            "banned", "add", "--as", "username", "--who", "x", "--until", "soon",
        ])
        .await;
    fails(&bad_time, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_and_accounts_are_managed_and_secrets_shown_once() {
    let api = Api::ready().await;
    let made = json(
        &api.admin(&["--json", "api-keys", "add", "ci", "--desc", "for CI"])
            .await,
    );
    let key = made["api_key"].as_str().expect("a key").to_owned();
    let secret = made["api_secret"].as_str().expect("a secret").to_owned();
    let listed = ok(&api.admin(&["api-keys", "list"]).await);
    assert!(
        listed.contains(&key) && !listed.contains(&secret),
        "{listed}"
    );
    let listed = ok(&api.admin(&["api-keys", "list", "--json"]).await);
    assert!(!listed.contains(&secret));

    // The key works; a wrong secret is refused with exit 1.
    let stats = api
        .ctl(&[
            "--api-key",
            &key,
            "--api-secret",
            &secret,
            "--json",
            "stats",
        ])
        .await;
    assert!(json(&stats)["sessions.count"].is_u64());
    fails(
        &api.ctl(&["--api-key", &key, "--api-secret", "wrong", "stats"])
            .await,
        1,
    );

    ok(&api
        .admin(&[
            "users",
            "add",
            "ops",
            "--new-password",
            "0ps-passw0rd",
            "--description",
            "night shift",
        ])
        .await);
    let users = ok(&api.admin(&["users", "list"]).await);
    assert!(
        users
            .lines()
            .any(|l| l.starts_with("ops") && l.contains("night shift")),
        "{users}"
    );
    fails(
        &api.admin(&["users", "add", "ops", "--new-password", "0ps-passw0rd"])
            .await,
        1,
    );
    ok(&api.admin(&["users", "delete", "ops"]).await);
    fails(&api.admin(&["users", "delete", "ops"]).await, 4);
    ok(&api.admin(&["api-keys", "delete", "ci"]).await);
    fails(
        &api.ctl(&["--api-key", &key, "--api-secret", &secret, "stats"])
            .await,
        1,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_that_cannot_be_reached_exits_3_and_a_bad_url_2() {
    let unreachable = ctl("http://127.0.0.1:1", &["status"]).await;
    assert!(fails(&unreachable, 3).contains("cannot reach the API"));
    fails(&ctl("https://127.0.0.1:1", &["status"]).await, 2);
    fails(&ctl("http://127.0.0.1:1", &["no-such-command"]).await, 2);
}

#[tokio::test]
async fn builtin_users_acl_rules_and_alarms() {
    let api = Api::ready().await;
    let added = ok(&api
        .admin(&[
            "auth",
            "users",
            "add",
            "dev1",
            "--new-password",
            "dev-pass-1",
        ])
        .await);
    assert!(added.contains("dev1"), "{added}");
    let users = ok(&api.admin(&["auth", "users", "list"]).await);
    assert!(users.contains("USER") && users.contains("dev1"), "{users}");
    let rule = ok(&api
        .admin(&[
            "--json",
            "acl",
            "add",
            "--for-username",
            "dev1",
            "--action",
            "publish",
            "--permission",
            "allow",
            "--topic",
            "dev/%u/#",
        ])
        .await);
    let rule: serde_json::Value = serde_json::from_str(&rule).expect("json");
    let id = rule["id"].as_u64().expect("id").to_string();
    let rules = ok(&api.admin(&["acl", "list"]).await);
    assert!(
        rules.contains("username=dev1") && rules.contains("dev/%u/#"),
        "{rules}"
    );
    ok(&api.admin(&["acl", "delete", &id]).await);
    assert_eq!(
        api.admin(&["acl", "delete", &id]).await.status.code(),
        Some(4)
    );
    let bad = api
        .admin(&[
            "acl",
            "add",
            "--for-cidr",
            "nope",
            "--action",
            "all",
            "--permission",
            "deny",
            "--topic",
            "t",
        ])
        .await;
    assert_eq!(bad.status.code(), Some(1), "the API refuses a bad network");
    ok(&api.admin(&["auth", "users", "delete", "dev1"]).await);
    let alarms = ok(&api.admin(&["--json", "alarms"]).await);
    let alarms: serde_json::Value = serde_json::from_str(&alarms).expect("json");
    assert_eq!(
        alarms["data"].as_array().map(Vec::len),
        Some(0),
        "a quiet broker has none"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modules_are_listed_shown_and_switched() {
    let api = Api::ready().await;
    let table = ok(&api.admin(&["modules", "list"]).await);
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("delayed") && l.contains("true")),
        "{table}"
    );
    ok(&api
        .admin(&["modules", "disable", "delayed", "--clear"])
        .await);
    let shown = json(&api.admin(&["--json", "modules", "show", "delayed"]).await);
    assert_eq!(shown["enabled"], false);
    ok(&api.admin(&["modules", "enable", "delayed"]).await);
    let shown = ok(&api.admin(&["modules", "show", "delayed"]).await);
    assert!(
        shown
            .lines()
            .any(|l| l == "enabled:  true" || l.ends_with("true")),
        "{shown}"
    );
    fails(&api.admin(&["modules", "enable", "nope"]).await, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_are_started_listed_downloaded_stopped_and_deleted() {
    let api = Api::ready().await;
    ok(&api
        .admin(&[
            "trace",
            "start",
            "dev-t",
            "--clientid",
            "dev",
            "--duration",
            "5m",
        ])
        .await);
    let table = ok(&api.admin(&["trace", "list"]).await);
    let row = table
        .lines()
        .find(|l| l.starts_with("dev-t"))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(
        row.contains("clientid") && row.contains("dev") && row.contains("running"),
        "{row}"
    );
    // A duplicate is refused (409: exit 1); a start without a target is a usage error.
    fails(
        &api.admin(&["trace", "start", "dev-t", "--topic", "a/#"])
            .await,
        1,
    );
    fails(&api.admin(&["trace", "start", "x"]).await, 2);

    let mut dev = client(&api, "dev", "u").await;
    dev.publish("a/b", b"traced", QoS::AtLeastOnce, false).await;
    let stopped = json(&api.admin(&["--json", "trace", "stop", "dev-t"]).await);
    assert_eq!(stopped["status"], "stopped");
    let file = ok(&api.admin(&["trace", "download", "dev-t"]).await);
    assert!(file.contains("in CONNECT"), "{file}");
    assert!(file.contains("payload=\"traced\""), "{file}");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("out.log");
    let path_arg = path.to_str().expect("utf-8 path");
    ok(&api
        .admin(&["trace", "download", "dev-t", "-o", path_arg])
        .await);
    assert_eq!(std::fs::read_to_string(&path).expect("written"), file);
    let listed = json(&api.admin(&["--json", "trace", "list"]).await);
    assert_eq!(listed[0]["status"], "stopped");

    ok(&api.admin(&["trace", "delete", "dev-t"]).await);
    fails(&api.admin(&["trace", "stop", "dev-t"]).await, 4);
    fails(&api.admin(&["trace", "download", "dev-t"]).await, 4);
}
