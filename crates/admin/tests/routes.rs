//! Every route in the OpenAPI document, walked without credentials: each answers 401, except
//! login, the health check and the documents themselves. And what bad input gets.

mod common;

use common::Api;
use serde_json::json;

#[tokio::test]
async fn every_route_in_the_document_needs_credentials_but_login_and_status() {
    let api = Api::start(None).await;
    let doc = api.call("GET", "/api-docs/openapi.json", None, None).await;
    assert_eq!(doc.status, 200);
    assert_eq!(doc.body["openapi"].as_str().map(|v| &v[..2]), Some("3."));
    let paths = doc.body["paths"].as_object().expect("paths");
    assert!(paths.len() >= 20, "{} paths", paths.len());
    let mut walked = 0;
    for (path, item) in paths {
        let concrete = path
            .split('/')
            .map(|seg| if seg.starts_with('{') { "x" } else { seg })
            .collect::<Vec<_>>()
            .join("/");
        for method in ["get", "post", "put", "delete"] {
            if item.get(method).is_none() {
                continue;
            }
            walked += 1;
            let answer = api
                .call(&method.to_uppercase(), &concrete, Some(json!({})), None)
                .await;
            let public = matches!(path.as_str(), "/api/v5/login" | "/api/v5/status");
            if public {
                assert_ne!(answer.status, 401, "{method} {path} is public");
            } else {
                assert_eq!(
                    answer.status, 401,
                    "{method} {path} without credentials: {}",
                    answer.text
                );
                assert_eq!(answer.body["code"], "BAD_USERNAME_OR_PWD");
            }
            // And the document says so for every non-public route.
            let responses = &item[method]["responses"];
            if !public {
                assert!(
                    responses.get("401").is_some(),
                    "{method} {path} documents 401"
                );
            }
        }
    }
    assert!(walked >= 30, "walked {walked} operations");
    let page = api.call("GET", "/api-docs", None, None).await;
    assert_eq!(page.status, 200);
    assert!(page.text.contains("openapi.json"));
    let bad_token = api
        .call("GET", "/api/v5/stats", None, Some("Bearer nope".into()))
        .await;
    assert_eq!(bad_token.status, 401);
}

#[tokio::test]
async fn bad_input_gets_400_naming_the_field_and_unknown_things_404() {
    let api = Api::start(None).await;
    let token = api.admin().await;
    let auth = Some(token);
    let cases = [
        (
            "POST",
            "/api/v5/publish",
            json!({"topic": "t", "qos": 3}),
            "qos",
        ),
        (
            "POST",
            "/api/v5/publish",
            json!({"topic": "a/+", "payload": "x"}),
            "topic",
        ),
        (
            "POST",
            "/api/v5/publish",
            json!({"topic": "t", "colour": "red"}),
            "colour",
        ),
        (
            "POST",
            "/api/v5/publish",
            json!({"topic": 7}),
            "invalid type",
        ),
        ("POST", "/api/v5/publish", json!({"payload": "x"}), "topic"),
        (
            "POST",
            "/api/v5/publish",
            json!({"topic": "$SYS/x"}),
            "$SYS",
        ),
        (
            "POST",
            "/api/v5/banned",
            json!({"as": "ip", "who": "x"}),
            "as",
        ),
        (
            "POST",
            "/api/v5/banned",
            json!({"as": "peerhost", "who": "not-an-ip"}),
            "who",
        ),
        (
            "POST",
            "/api/v5/banned",
            json!({"as": "clientid", "who": "c", "until": "yesterday"}),
            "until",
        ),
        (
            "POST",
            "/api/v5/users",
            json!({"username": "a b", "password": "passw0rd!"}),
            "username",
        ),
        (
            "POST",
            "/api/v5/api_key",
            json!({"name": "k", "expired_at": "soon"}),
            "expired_at",
        ),
    ];
    for (method, path, body, field) in cases {
        let answer = api
            .call(method, path, Some(body.clone()), auth.clone())
            .await;
        assert_eq!(
            answer.status, 400,
            "{method} {path} {body}: {}",
            answer.text
        );
        assert_eq!(answer.body["code"], "BAD_REQUEST");
        let message = answer.body["message"].as_str().unwrap_or_default();
        assert!(message.contains(field), "{body}: {message:?} names {field}");
    }
    for query in [
        "limit=0",
        "limit=5000",
        "cursor=%21%21",
        "conn_state=maybe",
        "proto_ver=9",
        "ip_address=x",
        "bogus=1",
    ] {
        let answer = api
            .call(
                "GET",
                &format!("/api/v5/clients?{query}"),
                None,
                auth.clone(),
            )
            .await;
        assert_eq!(answer.status, 400, "{query}: {}", answer.text);
    }
    let not_json = api
        .call("POST", "/api/v5/publish", None, auth.clone())
        .await;
    assert_eq!(not_json.status, 400);
    for path in [
        "/api/v5/clients/nobody",
        "/api/v5/nodes/elsewhere",
        "/api/v5/mqtt/retainer/message/none",
        "/api/v5/no/such/route",
    ] {
        let answer = api.call("GET", path, None, auth.clone()).await;
        assert_eq!(answer.status, 404, "{path}");
        assert_eq!(answer.body["code"], "NOT_FOUND");
    }
    assert_eq!(
        api.call(
            "DELETE",
            "/api/v5/banned/clientid/nobody",
            None,
            auth.clone()
        )
        .await
        .status,
        404
    );
    // Nothing changed: no ban, no retained message.
    let bans = api.call("GET", "/api/v5/banned", None, auth.clone()).await;
    assert_eq!(bans.body["data"].as_array().map(Vec::len), Some(0));
}

#[tokio::test]
async fn repeated_wrong_passwords_from_one_address_are_slowed_down() {
    let api = Api::start(None).await;
    let wrong = || json!({"username": "admin", "password": "wrong"});
    let first = api.call("POST", "/api/v5/login", Some(wrong()), None).await;
    assert_eq!(first.status, 401);
    // The delay is counted on the broker's failures table: the second refusal waits longer
    // than the first. Measured as "at least the configured first delay", never as an upper
    // bound.
    let started = std::time::Instant::now();
    let second = api.call("POST", "/api/v5/login", Some(wrong()), None).await;
    assert_eq!(second.status, 401);
    assert!(started.elapsed() >= std::time::Duration::from_millis(500));
}

/// Every `$ref` in `value`.
fn refs<'a>(value: &'a serde_json::Value, out: &mut Vec<&'a str>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v.as_str()) {
                    ("$ref", Some(r)) => out.push(r),
                    _ => refs(v, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn every_reference_in_the_document_resolves() {
    let api = Api::start(None).await;
    let doc = api.call("GET", "/api-docs/openapi.json", None, None).await;
    let mut found = Vec::new();
    refs(&doc.body, &mut found);
    assert!(!found.is_empty());
    for r in found {
        let pointer = r.strip_prefix('#').expect("a local reference");
        assert!(
            doc.body.pointer(pointer).is_some(),
            "{r} does not resolve (a schema used but not registered)"
        );
    }
}
