//! The running configuration through the API: read (secrets hidden), changed with validation
//! (live keys in force for the next client, the others saved for a restart), reloaded from the
//! file; bad changes refused naming the key, changing nothing.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use common::Api;
use serde_json::{json, Value};
use starling_broker::{ConfigSource, LoadedConfig};
use starling_testkit::{ProtocolVersion, RawClient};

/// A configuration file, layered as the binary does (file, then saved changes); records the
/// log levels it was told to put in force.
#[derive(Clone)]
struct FileSource {
    path: PathBuf,
    levels: Arc<Mutex<Vec<String>>>,
}

impl ConfigSource for FileSource {
    fn layer(&self, overrides: &toml::Table) -> Result<toml::Table, String> {
        let text = std::fs::read_to_string(&self.path).map_err(|e| e.to_string())?;
        let mut table: toml::Table = text.parse().map_err(|e| format!("{e}"))?;
        starling_config::keys::merge(&mut table, overrides.clone());
        Ok(table)
    }

    fn set_log_level(&self, level: &str) -> Result<(), String> {
        self.levels.lock().unwrap().push(level.to_owned());
        Ok(())
    }
}

fn file_text(dir: &Path, level: &str) -> String {
    format!(
        "[node]\ndata_dir = {:?}\n[log]\nlevel = {level:?}\n[mqtt]\nmax_keepalive = 0\n\
         [sys]\ninterval = \"0s\"\n[api]\nbind = \"127.0.0.1:0\"\n\
         [[listener]]\nkind = \"tcp\"\nbind = \"127.0.0.1:0\"\n",
        dir.join("data").display().to_string()
    )
}

struct Fixture {
    api: Api,
    auth: String,
    source: FileSource,
    _dir: tempfile::TempDir,
}

async fn start_on(dir: tempfile::TempDir) -> Fixture {
    let path = dir.path().join("starling.toml");
    if !path.exists() {
        std::fs::write(&path, file_text(dir.path(), "info")).unwrap();
    }
    let source = FileSource {
        path,
        levels: Arc::default(),
    };
    let loaded: LoadedConfig = starling_broker::load_config(&source).expect("the config loads");
    let config = loaded.config.clone();
    let api = Api::start_with(move |c| *c = config).await;
    api.broker
        .running()
        .handle()
        .attach_config(Box::new(source.clone()), &loaded);
    let auth = api.admin().await;
    Fixture {
        api,
        auth,
        source,
        _dir: dir,
    }
}

async fn start() -> Fixture {
    start_on(tempfile::tempdir().unwrap()).await
}

impl Fixture {
    async fn get(&self, path: &str) -> common::Answer {
        self.api
            .call("GET", path, None, Some(self.auth.clone()))
            .await
    }

    async fn put(&self, path: &str, body: Value) -> common::Answer {
        self.api
            .call("PUT", path, Some(body), Some(self.auth.clone()))
            .await
    }
}

#[tokio::test]
async fn the_running_config_is_read_whole_or_by_root_with_secrets_hidden() {
    let f = start().await;
    let all = f.get("/api/v5/configs").await;
    assert_eq!(all.status, 200, "{}", all.text);
    assert_eq!(all.body["mqtt"]["max_qos"], 2, "{}", all.text);
    assert_eq!(all.body["log"]["level"], "info");
    assert_eq!(
        all.body["api"]["default_password"], "******",
        "{}",
        all.text
    );
    assert!(all.body["listener"].is_array(), "{}", all.text);
    let mqtt = f.get("/api/v5/configs/mqtt").await;
    assert_eq!(mqtt.status, 200);
    assert_eq!(mqtt.body["max_packet_size"], 1_048_576);
    let none = f.get("/api/v5/configs/nope").await;
    assert_eq!(none.status, 404, "{}", none.text);
}

#[tokio::test]
async fn a_live_key_holds_for_the_next_client_at_once() {
    let f = start().await;
    let answer = f.put("/api/v5/configs/mqtt", json!({"max_qos": 1})).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(
        answer.body["applied"],
        json!(["mqtt.max_qos"]),
        "{}",
        answer.text
    );
    assert_eq!(answer.body["restart_required"], json!([]));
    let (_c, connack) =
        RawClient::mqtt_connect(f.api.broker.addr(), ProtocolVersion::V5, "after", true).await;
    assert_eq!(connack.properties.maximum_qos, Some(1));
    assert_eq!(f.get("/api/v5/configs/mqtt").await.body["max_qos"], 1);
}

#[tokio::test]
async fn a_bad_change_names_the_key_and_changes_nothing() {
    let f = start().await;
    for (body, names) in [
        (json!({"max_qos": 7}), "mqtt.max_qos"),
        (json!({"max_qos": "two"}), "max_qos"),
        (json!({"no_such_key": 1}), "no_such_key"),
        (json!({"max_qos": null}), "mqtt.max_qos"),
        (json!([1]), "not a key"),
        (json!({"max_packet_size": 0}), "mqtt.max_packet_size"),
    ] {
        let answer = f.put("/api/v5/configs/mqtt", body.clone()).await;
        assert_eq!(answer.status, 400, "{body}: {}", answer.text);
        assert!(answer.text.contains(names), "{body}: {}", answer.text);
    }
    let fixed = f
        .put(
            "/api/v5/configs/node",
            json!({"data_dir": "/tmp/elsewhere"}),
        )
        .await;
    assert_eq!(fixed.status, 400, "{}", fixed.text);
    assert!(fixed.text.contains("node.data_dir"), "{}", fixed.text);
    let unknown = f.put("/api/v5/configs/nope", json!({"a": 1})).await;
    assert_eq!(unknown.status, 404, "{}", unknown.text);
    assert_eq!(f.get("/api/v5/configs/mqtt").await.body["max_qos"], 2);
    let (_c, connack) =
        RawClient::mqtt_connect(f.api.broker.addr(), ProtocolVersion::V5, "c", true).await;
    assert_eq!(
        connack.properties.maximum_qos, None,
        "QoS 2 is still announced"
    );
}

#[tokio::test]
async fn a_restart_only_key_is_saved_and_holds_after_a_restart() {
    let f = start().await;
    let answer = f
        .put("/api/v5/configs/session", json!({"max_queue_len": 5}))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.body["applied"], json!([]));
    assert_eq!(
        answer.body["restart_required"],
        json!(["session.max_queue_len"])
    );
    assert_eq!(
        answer.body["pending_restart"],
        json!(["session.max_queue_len"])
    );
    let saved = std::fs::read_to_string(f._dir.path().join("data/configs/overrides.toml")).unwrap();
    assert!(saved.contains("max_queue_len = 5"), "{saved}");
    // What a restart reads: the file with the saved change on top.
    let loaded = starling_broker::load_config(&f.source).unwrap();
    assert_eq!(loaded.config.session.max_queue_len, 5);
    // Set back to the file's value, the key leaves the saved changes.
    let back = f
        .put("/api/v5/configs/session", json!({"max_queue_len": 1000}))
        .await;
    assert_eq!(back.status, 200, "{}", back.text);
    assert_eq!(back.body["pending_restart"], json!([]), "{}", back.text);
}

#[tokio::test]
async fn a_module_key_switches_the_module() {
    let f = start().await;
    let answer = f
        .put("/api/v5/configs/mqtt", json!({"retain_available": false}))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.body["applied"], json!(["mqtt.retain_available"]));
    let module = f.get("/api/v5/modules/retainer").await;
    assert_eq!(module.body["enabled"], false, "{}", module.text);
}

#[tokio::test]
async fn reload_reads_the_file_again_and_a_bad_file_changes_nothing() {
    let f = start().await;
    let dir = f._dir.path().to_owned();
    std::fs::write(&f.source.path, file_text(&dir, "debug")).unwrap();
    let reload = f
        .api
        .call("POST", "/api/v5/configs/reload", None, Some(f.auth.clone()))
        .await;
    assert_eq!(reload.status, 200, "{}", reload.text);
    assert_eq!(
        reload.body["applied"],
        json!(["log.level"]),
        "{}",
        reload.text
    );
    assert_eq!(*f.source.levels.lock().unwrap(), vec!["debug".to_owned()]);
    std::fs::write(&f.source.path, file_text(&dir, "loud")).unwrap();
    let bad = f
        .api
        .call("POST", "/api/v5/configs/reload", None, Some(f.auth.clone()))
        .await;
    assert_eq!(bad.status, 400, "{}", bad.text);
    assert!(bad.text.contains("log.level"), "{}", bad.text);
    assert_eq!(f.get("/api/v5/configs/log").await.body["level"], "debug");
}

#[tokio::test]
async fn without_a_source_the_config_routes_answer_503() {
    let api = Api::start(None).await;
    let auth = api.admin().await;
    let answer = api.call("GET", "/api/v5/configs", None, Some(auth)).await;
    assert_eq!(answer.status, 503, "{}", answer.text);
}
