//! `/api/v5/trace` with a real HTTP client: start a trace on a client id, see an MQTT
//! client's events in its download and its log window, stop it, delete it; and what bad
//! input, duplicates and unknown names get.

mod common;

use common::Api;
use serde_json::json;
use starling_codec::QoS;
use starling_testkit::{ProtocolVersion, RawClient};

#[tokio::test]
async fn a_trace_is_started_listed_read_stopped_and_deleted() {
    let api = Api::start(None).await;
    let auth = Some(api.admin().await);
    let call = |method: &'static str, path: String, body: Option<serde_json::Value>| {
        let auth = auth.clone();
        let api = &api;
        async move { api.call(method, &path, body, auth).await }
    };
    let started = call(
        "POST",
        "/api/v5/trace".into(),
        Some(json!({"name": "dev-1", "type": "clientid", "clientid": "dev"})),
    )
    .await;
    assert_eq!(started.status, 200, "{}", started.text);
    assert_eq!(started.body["status"], "running");
    assert_eq!(started.body["type"], "clientid");
    assert_eq!(started.body["clientid"], "dev");
    assert_eq!(started.body["payload_encode"], "text");
    let duplicate = call(
        "POST",
        "/api/v5/trace".into(),
        Some(json!({"name": "dev-1", "type": "topic", "topic": "a/#"})),
    )
    .await;
    assert_eq!(duplicate.status, 409, "{}", duplicate.text);
    assert_eq!(duplicate.body["code"], "ALREADY_EXISTS");

    let (mut dev, _) =
        RawClient::mqtt_connect(api.broker.addr(), ProtocolVersion::V5, "dev", true).await;
    dev.publish("a/b", b"hi", QoS::AtLeastOnce, false).await;

    // The window and the download are read once everything queued is written.
    let window = call("GET", "/api/v5/trace/dev-1/log?bytes=100000".into(), None).await;
    assert_eq!(window.status, 200, "{}", window.text);
    let items = window.body["items"].as_str().expect("items");
    assert!(items.contains("in CONNECT"), "{items}");
    assert!(items.contains("PUBLISH topic=\"a/b\" qos=1"), "{items}");
    assert!(items.contains("out PUBACK"), "{items}");
    let end = window.body["meta"]["position"].as_u64().expect("position");
    assert_eq!(end as usize, items.len());
    let tail = call(
        "GET",
        format!("/api/v5/trace/dev-1/log?position={end}"),
        None,
    )
    .await;
    assert_eq!(tail.body["items"], "");
    assert_eq!(tail.body["meta"]["position"], end);
    let listed = call("GET", "/api/v5/trace".into(), None).await;
    assert_eq!(listed.status, 200);
    let size = listed.body[0]["log_size"]
        .as_object()
        .and_then(|m| m.values().next())
        .and_then(serde_json::Value::as_u64);
    assert_eq!(size, Some(end), "{}", listed.text);

    let stopped = call("PUT", "/api/v5/trace/dev-1/stop".into(), Some(json!({}))).await;
    assert_eq!(stopped.status, 200, "{}", stopped.text);
    assert_eq!(stopped.body["status"], "stopped");
    // Stopped: the client's next packets are not written.
    dev.publish("a/c", b"after", QoS::AtLeastOnce, false).await;
    let download = download(&api, "dev-1", auth.clone().unwrap_or_default()).await;
    assert_eq!(download.0, 200);
    assert_eq!(download.1, "text/plain; charset=utf-8");
    assert_eq!(download.2, "attachment; filename=\"dev-1.log\"");
    assert_eq!(download.3, items);

    let deleted = call("DELETE", "/api/v5/trace/dev-1".into(), None).await;
    assert_eq!(deleted.status, 204, "{}", deleted.text);
    let gone = call("GET", "/api/v5/trace/dev-1/download".into(), None).await;
    assert_eq!(gone.status, 404, "{}", gone.text);

    for name in ["a", "b"] {
        let body = json!({"name": name, "type": "ip_address", "ip_address": "10.0.0.1",
                          "end_at": 4102444800u64, "payload_encode": "hex"});
        let made = call("POST", "/api/v5/trace".into(), Some(body)).await;
        assert_eq!(made.status, 400, "past trace.max_duration: {}", made.text);
        assert!(made.body["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("end_at:"));
        let body = json!({"name": name, "type": "ip_address", "ip_address": "10.0.0.1",
                          "payload_encode": "hex"});
        let made = call("POST", "/api/v5/trace".into(), Some(body)).await;
        assert_eq!(made.status, 200, "{}", made.text);
        assert_eq!(made.body["ip_address"], "10.0.0.1");
    }
    let cleared = call("DELETE", "/api/v5/trace".into(), None).await;
    assert_eq!(cleared.status, 204);
    let listed = call("GET", "/api/v5/trace".into(), None).await;
    assert_eq!(listed.body, json!([]));
}

/// Status, content type, content disposition and body of a download.
async fn download(api: &Api, name: &str, auth: String) -> (u16, String, String, String) {
    let url = format!("{}/api/v5/trace/{name}/download", api.base);
    tokio::task::spawn_blocking(move || {
        let response = ureq::get(&url)
            .header("Authorization", &auth)
            .call()
            .expect("the API answers");
        let header = |h: &str| {
            response
                .headers()
                .get(h)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let (ty, disposition) = (header("content-type"), header("content-disposition"));
        let status = response.status().as_u16();
        let body = response.into_body().read_to_string().expect("body");
        (status, ty, disposition, body)
    })
    .await
    .expect("request thread")
}

#[tokio::test]
async fn bad_trace_requests_get_400_naming_the_field_and_unknown_names_404() {
    let api = Api::start(None).await;
    let auth = Some(api.admin().await);
    let post = |body: serde_json::Value| {
        let auth = auth.clone();
        let api = &api;
        async move {
            let answer = api.call("POST", "/api/v5/trace", Some(body), auth).await;
            assert_eq!(answer.status, 400, "{}", answer.text);
            answer.body["message"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        }
    };
    let cases = [
        (
            json!({"name": "../x", "type": "clientid", "clientid": "c"}),
            "name:",
        ),
        (
            json!({"name": "", "type": "clientid", "clientid": "c"}),
            "name:",
        ),
        (
            json!({"name": "t", "type": "user", "clientid": "c"}),
            "type:",
        ),
        (json!({"name": "t", "type": "clientid"}), "clientid:"),
        (
            json!({"name": "t", "type": "topic", "topic": "a/#/b"}),
            "topic:",
        ),
        (
            json!({"name": "t", "type": "ip_address", "ip_address": "nope"}),
            "ip_address:",
        ),
        (
            json!({"name": "t", "type": "clientid", "clientid": "c", "payload_encode": "b64"}),
            "payload_encode:",
        ),
        (
            json!({"name": "t", "type": "clientid", "clientid": "c", "end_at": "yesterday"}),
            "end_at:",
        ),
        (
            json!({"name": "t", "type": "clientid", "clientid": "c", "end_at": 1}),
            "end_at:",
        ),
        (
            json!({"name": "t", "type": "clientid", "clientid": "c", "extra": 1}),
            "extra",
        ),
        (json!({"type": "clientid", "clientid": "c"}), "name"),
    ];
    for (body, field) in cases {
        let message = post(body.clone()).await;
        assert!(message.contains(field), "{body}: {message}");
    }
    for (method, path) in [
        ("PUT", "/api/v5/trace/nope/stop"),
        ("DELETE", "/api/v5/trace/nope"),
        ("GET", "/api/v5/trace/nope/download"),
        ("GET", "/api/v5/trace/nope/log"),
    ] {
        let answer = api.call(method, path, Some(json!({})), auth.clone()).await;
        assert_eq!(answer.status, 404, "{method} {path}: {}", answer.text);
        assert_eq!(answer.body["code"], "NOT_FOUND");
    }
    let bad = api
        .call("GET", "/api/v5/trace/x/log?bytes=0", None, auth.clone())
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.body["message"]
        .as_str()
        .unwrap_or_default()
        .starts_with("bytes:"));
    let bad = api
        .call("GET", "/api/v5/trace/x/log?lines=3", None, auth.clone())
        .await;
    assert_eq!(bad.status, 400, "{}", bad.text);
    let bad = api
        .call("PUT", "/api/v5/trace/a.b/stop", None, auth.clone())
        .await;
    assert_eq!(bad.status, 400, "{}", bad.text);
}
