//! The API against a broker with real MQTT clients: clients (list, filters, detail, kick,
//! discard), subscriptions, retained messages, publish, bans, statistics and Prometheus.

mod common;

use common::Api;
use serde_json::{json, Value};
use starling_codec::{Connect, QoS, ReasonCode};
use starling_testkit::{connect_packet, string, ProtocolVersion, RawClient};

async fn client(api: &Api, id: &str, username: Option<&str>, clean: bool) -> RawClient {
    let connect = Connect {
        username: username.map(string),
        clean_start: clean,
        properties: starling_codec::Properties {
            session_expiry_interval: (!clean).then_some(3600),
            ..Default::default()
        },
        ..connect_packet(ProtocolVersion::V5, id)
    };
    let (c, connack) = RawClient::connect_with(api.broker.addr(), connect).await;
    assert_eq!(connack.reason_code, ReasonCode::Success);
    c
}

#[tokio::test]
async fn clients_are_listed_filtered_paged_shown_kicked_and_discarded() {
    let api = Api::start(None).await;
    let auth = Some(api.admin().await);
    let mut sensors = Vec::new();
    for i in 0..5 {
        let mut c = client(&api, &format!("sensor-{i}"), Some("fleet"), true).await;
        c.subscribe(&format!("s/{i}/#"), QoS::AtLeastOnce).await;
        sensors.push(c);
    }
    let mut durable = client(&api, "keeper", Some("ops"), false).await;
    durable.subscribe("k/+", QoS::ExactlyOnce).await;

    let page = api
        .call("GET", "/api/v5/clients?limit=4", None, auth.clone())
        .await;
    assert_eq!(page.status, 200, "{}", page.text);
    let data = page.body["data"].as_array().unwrap();
    assert_eq!(data.len(), 4);
    assert_eq!(data[0]["clientid"], "keeper");
    assert_eq!(page.body["meta"]["hasnext"], true);
    let cursor = page.body["meta"]["cursor"].as_str().unwrap();
    let rest = api
        .call(
            "GET",
            &format!("/api/v5/clients?limit=4&cursor={cursor}"),
            None,
            auth.clone(),
        )
        .await;
    let ids: Vec<_> = rest.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["clientid"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["sensor-3", "sensor-4"]);
    assert_eq!(rest.body["meta"]["hasnext"], false);

    let fleet = api
        .call(
            "GET",
            "/api/v5/clients?like_username=flee",
            None,
            auth.clone(),
        )
        .await;
    assert_eq!(fleet.body["data"].as_array().unwrap().len(), 5);
    let one = api
        .call(
            "GET",
            "/api/v5/clients?like_clientid=or-2&proto_ver=5&ip_address=127.0.0.1",
            None,
            auth.clone(),
        )
        .await;
    assert_eq!(one.body["data"][0]["clientid"], "sensor-2");

    // Two QoS 1 messages the keeper receives and does not acknowledge: in flight.
    for n in 0..2 {
        sensors[0]
            .publish("k/x", format!("m{n}"), QoS::AtLeastOnce, false)
            .await;
    }
    durable.recv_publish().await;
    durable.recv_publish().await;
    let detail = api
        .call("GET", "/api/v5/clients/keeper", None, auth.clone())
        .await;
    let d = &detail.body;
    assert_eq!(d["inflight_cnt"], 2, "{}", detail.text);
    assert_eq!(d["mqueue_len"], 0, "{}", detail.text);
    assert_eq!(
        d["stored_msgs"], 2,
        "held in the store until acknowledged: {}",
        detail.text
    );
    assert_eq!(d["awaiting_rel_cnt"], 0, "{}", detail.text);
    assert_eq!(d["inflight_max"], 32, "{}", detail.text);
    let listed = api
        .call(
            "GET",
            "/api/v5/clients?like_clientid=keeper",
            None,
            auth.clone(),
        )
        .await;
    assert_eq!(
        listed.body["data"][0]["inflight_cnt"],
        Value::Null,
        "lists do not ask each connection"
    );
    assert_eq!(d["connected"], true);
    assert_eq!(d["username"], "ops");
    assert_eq!(d["proto_ver"], 5);
    assert_eq!(d["expiry_interval"], 3600);
    assert_eq!(d["durable"], true);
    assert_eq!(d["subscriptions_cnt"], 1);
    assert!(d["recv_oct"].as_u64().unwrap() > 0 && d["send_oct"].as_u64().unwrap() > 0);
    let subs = api
        .call(
            "GET",
            "/api/v5/clients/keeper/subscriptions",
            None,
            auth.clone(),
        )
        .await;
    assert_eq!(subs.body[0]["topic"], "k/+");
    assert_eq!(subs.body[0]["qos"], 2);

    // Kick: the connection closes with 0x98, the session stays (offline).
    let kicked = api
        .call("POST", "/api/v5/clients/keeper/kickout", None, auth.clone())
        .await;
    assert_eq!(kicked.status, 204);
    durable
        .expect_disconnect(ReasonCode::AdministrativeAction)
        .await;
    // The router learns that the connection closed after the client sees it close: ask
    // until it shows (each ask is a round trip through the router), a bounded number of times.
    let mut offline = None;
    for _ in 0..1_000 {
        let a = api
            .call(
                "GET",
                "/api/v5/clients?conn_state=disconnected",
                None,
                auth.clone(),
            )
            .await;
        if !a.body["data"].as_array().unwrap().is_empty() {
            offline = Some(a);
            break;
        }
    }
    let offline = offline.expect("the kicked session shows as disconnected");
    assert_eq!(offline.body["data"][0]["clientid"], "keeper");
    assert_eq!(offline.body["data"][0]["connected"], false);

    // Discard: the session ends; the client is gone from the list.
    assert_eq!(
        api.call("DELETE", "/api/v5/clients/keeper", None, auth.clone())
            .await
            .status,
        204
    );
    assert_eq!(
        api.call("GET", "/api/v5/clients/keeper", None, auth.clone())
            .await
            .status,
        404
    );
    // Discarding a connected client closes it too.
    assert_eq!(
        api.call("DELETE", "/api/v5/clients/sensor-0", None, auth.clone())
            .await
            .status,
        204
    );
    sensors[0]
        .expect_disconnect(ReasonCode::AdministrativeAction)
        .await;

    let all = api
        .call(
            "GET",
            "/api/v5/subscriptions?match_topic=s/3/x",
            None,
            auth.clone(),
        )
        .await;
    let topics: Vec<_> = all.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["topic"].as_str().unwrap())
        .collect();
    assert_eq!(topics, ["s/3/#"]);
}

#[tokio::test]
async fn publish_retained_list_read_and_delete_through_the_api() {
    let api = Api::start(None).await;
    let auth = Some(api.admin().await);
    let mut sub = client(&api, "listener", None, true).await;
    sub.subscribe("api/#", QoS::AtLeastOnce).await;
    let sent = api
        .call(
            "POST",
            "/api/v5/publish",
            Some(json!({"topic": "api/hello", "payload": "hi", "qos": 1, "retain": true,
                        "properties": {"content_type": "text/plain", "user_properties": {"k": "v"}}})),
            auth.clone(),
        )
        .await;
    assert_eq!(sent.status, 200, "{}", sent.text);
    let got = sub.expect_next_publish_on("api/hello").await;
    assert_eq!(&got.payload[..], b"hi");
    assert_eq!(
        got.properties.content_type.as_ref().map(|c| c.as_str()),
        Some("text/plain")
    );

    let bulk = api
        .call(
            "POST",
            "/api/v5/publish/bulk",
            Some(json!([{"topic": "api/b1", "payload": "AQID", "payload_encoding": "base64", "retain": true},
                        {"topic": "api/b2", "payload": "two", "retain": true}])),
            auth.clone(),
        )
        .await;
    assert_eq!(bulk.body.as_array().map(Vec::len), Some(2));
    assert_eq!(
        &sub.expect_next_publish_on("api/b1").await.payload[..],
        [1, 2, 3]
    );
    sub.expect_next_publish_on("api/b2").await;

    let list = api
        .call(
            "GET",
            "/api/v5/mqtt/retainer/messages?topic=api/%23&limit=2",
            None,
            auth.clone(),
        )
        .await;
    let topics: Vec<_> = list.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["topic"].as_str().unwrap())
        .collect();
    assert_eq!(topics, ["api/b1", "api/b2"]);
    assert_eq!(list.body["meta"]["hasnext"], true);
    let one = api
        .call(
            "GET",
            "/api/v5/mqtt/retainer/message/api%2Fhello",
            None,
            auth.clone(),
        )
        .await;
    assert_eq!(one.body["payload"], "aGk=");
    assert_eq!(one.body["content_type"], "text/plain");
    assert_eq!(
        api.call(
            "DELETE",
            "/api/v5/mqtt/retainer/message/api%2Fhello",
            None,
            auth.clone()
        )
        .await
        .status,
        204
    );
    assert_eq!(
        api.call(
            "GET",
            "/api/v5/mqtt/retainer/message/api%2Fhello",
            None,
            auth.clone()
        )
        .await
        .status,
        404
    );

    // A new subscriber gets the two retained messages left, not the deleted one.
    let mut late = client(&api, "late", None, true).await;
    late.subscribe("api/#", QoS::AtMostOnce).await;
    let first = late.recv_publish().await;
    let second = late.recv_publish().await;
    assert_eq!(
        (first.topic.as_str(), second.topic.as_str()),
        ("api/b1", "api/b2")
    );
}

#[tokio::test]
async fn a_ban_through_the_api_closes_the_client_refuses_it_and_can_be_lifted() {
    let api = Api::start(None).await;
    let auth = Some(api.admin().await);
    let mut victim = client(&api, "noisy", None, true).await;
    let made = api
        .call(
            "POST",
            "/api/v5/banned",
            Some(json!({"as": "clientid", "who": "noisy", "reason": "spam"})),
            auth.clone(),
        )
        .await;
    assert_eq!(made.status, 200, "{}", made.text);
    assert_eq!(made.body["by"], "api");
    victim
        .expect_disconnect(ReasonCode::AdministrativeAction)
        .await;
    let (_c, connack) = RawClient::connect_with(
        api.broker.addr(),
        connect_packet(ProtocolVersion::V5, "noisy"),
    )
    .await;
    assert_eq!(connack.reason_code, ReasonCode::Banned);
    let list = api.call("GET", "/api/v5/banned", None, auth.clone()).await;
    assert_eq!(list.body["data"][0]["who"], "noisy");
    assert_eq!(list.body["data"][0]["as"], "clientid");
    let net = api
        .call(
            "POST",
            "/api/v5/banned",
            Some(json!({"as": "peerhost", "who": "10.0.0.0/8", "until": "2999-01-01T00:00:00Z"})),
            auth.clone(),
        )
        .await;
    assert_eq!(net.status, 200, "{}", net.text);
    // One ban, read and edited (reason, end), by its exact network.
    let one = api
        .call(
            "GET",
            "/api/v5/banned/peerhost/10.0.0.0%2F8",
            None,
            auth.clone(),
        )
        .await;
    assert_eq!(one.status, 200, "{}", one.text);
    assert_eq!(one.body["until"], "2999-01-01T00:00:00Z");
    let edited = api
        .call(
            "PUT",
            "/api/v5/banned/peerhost/10.0.0.0%2F8",
            Some(json!({"reason": "lab", "until": null})),
            auth.clone(),
        )
        .await;
    assert_eq!(edited.status, 200, "{}", edited.text);
    assert_eq!(edited.body["reason"], "lab");
    assert_eq!(edited.body["until"], Value::Null);
    let again = api
        .call(
            "GET",
            "/api/v5/banned/peerhost/10.0.0.0%2F8",
            None,
            auth.clone(),
        )
        .await;
    assert_eq!(
        (again.body["reason"].clone(), again.body["until"].clone()),
        (json!("lab"), Value::Null)
    );
    let past = api
        .call(
            "PUT",
            "/api/v5/banned/peerhost/10.0.0.0%2F8",
            Some(json!({"until": "2000-01-01T00:00:00Z"})),
            auth.clone(),
        )
        .await;
    assert_eq!(past.status, 400, "{}", past.text);
    let none = api
        .call("GET", "/api/v5/banned/username/nobody", None, auth.clone())
        .await;
    assert_eq!(none.status, 404, "{}", none.text);
    assert_eq!(
        api.call(
            "DELETE",
            "/api/v5/banned/clientid/noisy",
            None,
            auth.clone()
        )
        .await
        .status,
        204
    );
    let (_c, connack) = RawClient::connect_with(
        api.broker.addr(),
        connect_packet(ProtocolVersion::V5, "noisy"),
    )
    .await;
    assert_eq!(connack.reason_code, ReasonCode::Success);
}

#[tokio::test]
async fn statistics_metrics_listeners_and_prometheus_agree_with_the_traffic() {
    let api = Api::start(None).await;
    let auth = Some(api.admin().await);
    let mut sub = client(&api, "s", None, true).await;
    sub.subscribe("m", QoS::AtLeastOnce).await;
    let mut publisher = client(&api, "p", None, true).await;
    publisher
        .send(&starling_codec::Packet::Publish(
            starling_testkit::publish_packet("m", b"x", QoS::AtLeastOnce, false, Some(1)),
        ))
        .await;
    sub.expect_next_publish_on("m").await;
    let stats = api.call("GET", "/api/v5/stats", None, auth.clone()).await;
    assert_eq!(stats.body["connections.count"], 2);
    assert_eq!(stats.body["subscriptions.count"], 1);
    assert_eq!(stats.body["topics.count"], 1);
    let topics = api.call("GET", "/api/v5/topics", None, auth.clone()).await;
    assert_eq!(topics.body["data"][0]["topic"], "m");
    assert_eq!(topics.body["data"][0]["subscribers"], 1);
    assert_eq!(topics.body["meta"]["count"], 1);
    let one = api
        .call("GET", "/api/v5/topics/m", None, auth.clone())
        .await;
    assert_eq!(one.body["topic"], "m");
    let none = api
        .call("GET", "/api/v5/topics/n%2F%2B", None, auth.clone())
        .await;
    assert_eq!(none.status, 404);
    let bad = api
        .call(
            "GET",
            "/api/v5/topics?match_topic=a/%2B",
            None,
            auth.clone(),
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.text);
    let metrics = api.call("GET", "/api/v5/metrics", None, auth.clone()).await;
    assert_eq!(metrics.body["messages.qos1.received"], 1);
    assert!(metrics.body["messages.qos1.sent"].as_u64() >= Some(1));
    let listeners = api
        .call("GET", "/api/v5/listeners", None, auth.clone())
        .await;
    assert_eq!(listeners.body[0]["type"], "tcp");
    assert_eq!(listeners.body[0]["running"], true);
    let status = api.call("GET", "/api/v5/status", None, None).await;
    assert!(status.text.contains("is running"));
    let prom = api
        .call("GET", "/api/v5/prometheus/stats", None, auth.clone())
        .await;
    assert_eq!(prom.status, 200);
    assert!(prom
        .text
        .contains("# TYPE starling_messages_received counter"));
    assert!(
        prom.text
            .contains("starling_connections_count{node=\"starling@127.0.0.1\"} 2"),
        "{}",
        prom.text
    );
    assert_eq!(
        api.call("GET", "/api/v5/prometheus/stats", None, None)
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn builtin_users_and_rules_made_through_the_api_govern_mqtt_clients() {
    use starling_config::{AuthnConfig, AuthzConfig};
    let api = Api::start_with(|c| {
        c.auth.authn = vec![AuthnConfig::Builtin];
        c.auth.authz = vec![AuthzConfig::Builtin];
        c.auth.no_match_allows = false;
        c.auth.allow_anonymous = false;
        c.auth.failure_delay = std::time::Duration::from_millis(1);
        c.auth.max_failure_delay = std::time::Duration::from_millis(2);
    })
    .await;
    let auth = Some(api.admin().await);
    let users = "/api/v5/authentication/password_based:built_in_database/users";
    let rules = "/api/v5/authorization/sources/built_in_database/rules";
    let made = api
        .call(
            "POST",
            users,
            Some(json!({"user_id": "dev1", "password": "dev-pass-1"})),
            auth.clone(),
        )
        .await;
    assert_eq!(made.status, 200, "{}", made.text);
    assert_eq!(made.body["is_superuser"], false);
    let twice = api
        .call(
            "POST",
            users,
            Some(json!({"user_id": "dev1", "password": "x"})),
            auth.clone(),
        )
        .await;
    assert_eq!(twice.status, 409);
    let rule = api
        .call(
            "POST",
            rules,
            Some(json!({"username": "dev1", "action": "all", "permission": "allow", "topic": "dev/%u/#"})),
            auth.clone(),
        )
        .await;
    assert_eq!(rule.status, 200, "{}", rule.text);
    let id = rule.body["id"].as_u64().unwrap();
    let bad = api
        .call(
            "POST",
            rules,
            Some(json!({"cidr": "nope", "action": "all", "permission": "allow", "topic": "t"})),
            auth.clone(),
        )
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.body["message"].as_str().unwrap().starts_with("cidr"));

    let login = |id: &str, user: &str, pass: &str| Connect {
        username: Some(string(user)),
        password: Some(bytes::Bytes::copy_from_slice(pass.as_bytes())),
        ..connect_packet(ProtocolVersion::V5, id)
    };
    let (_c, refused) =
        RawClient::connect_with(api.broker.addr(), login("d", "dev1", "wrong")).await;
    assert_eq!(refused.reason_code, ReasonCode::BadUserNameOrPassword);
    let (mut c, ok) =
        RawClient::connect_with(api.broker.addr(), login("d", "dev1", "dev-pass-1")).await;
    assert_eq!(ok.reason_code, ReasonCode::Success);
    let granted = c.subscribe("dev/dev1/+", QoS::AtLeastOnce).await;
    assert_eq!(granted.reason_codes, [ReasonCode::GrantedQoS1]);
    let denied = c.subscribe("other/#", QoS::AtLeastOnce).await;
    assert_eq!(denied.reason_codes, [ReasonCode::NotAuthorized]);

    let listed = api.call("GET", rules, None, auth.clone()).await;
    assert_eq!(listed.body["data"][0]["topic"], "dev/%u/#");
    assert_eq!(listed.body["data"][0]["username"], "dev1");
    assert_eq!(
        api.call("DELETE", &format!("{rules}/{id}"), None, auth.clone())
            .await
            .status,
        204
    );
    // With the rule gone, no_match denies: the next SUBSCRIBE of the connected client is refused.
    let after = c.subscribe("dev/dev1/x", QoS::AtLeastOnce).await;
    assert_eq!(after.reason_codes, [ReasonCode::NotAuthorized]);
    let changed = api
        .call(
            "PUT",
            &format!("{users}/dev1"),
            Some(json!({"is_superuser": true})),
            auth.clone(),
        )
        .await;
    assert_eq!(changed.body["is_superuser"], true);
    assert_eq!(
        api.call("DELETE", &format!("{users}/dev1"), None, auth.clone())
            .await
            .status,
        204
    );
    assert_eq!(
        api.call("GET", &format!("{users}/dev1"), None, auth)
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn an_overload_raises_an_alarm_the_api_lists_while_active_and_after() {
    use starling_config::{MemoryWatermark, OverloadConfig};
    let api = Api::start_with(|c| {
        c.overload = Some(OverloadConfig {
            // Any broker is over one byte of memory.
            memory_high: Some(MemoryWatermark::Bytes(1)),
            run_queue_high: None,
            check_interval: std::time::Duration::from_secs(3600),
        });
    })
    .await;
    let auth = Some(api.admin().await);
    assert_eq!(
        api.call("GET", "/api/v5/alarms", None, auth.clone())
            .await
            .body["data"]
            .as_array()
            .map(Vec::len),
        Some(0)
    );
    api.broker.running().check_overload();
    let active = api
        .call("GET", "/api/v5/alarms?activated=true", None, auth.clone())
        .await;
    assert_eq!(active.body["data"][0]["name"], "overloaded");
    assert_eq!(active.body["data"][0]["activated"], true);
    assert!(active.body["data"][0]["message"]
        .as_str()
        .unwrap()
        .contains("resident memory"));
    let past = api
        .call("GET", "/api/v5/alarms?activated=false", None, auth.clone())
        .await;
    assert_eq!(past.body["data"].as_array().map(Vec::len), Some(0));
    assert_eq!(
        api.call("DELETE", "/api/v5/alarms", None, auth.clone())
            .await
            .status,
        204
    );
    let still = api
        .call("GET", "/api/v5/alarms?activated=true", None, auth)
        .await;
    assert_eq!(
        still.body["data"].as_array().map(Vec::len),
        Some(1),
        "active alarms stay"
    );
}

#[tokio::test]
async fn a_stopped_listener_refuses_new_clients_keeps_open_ones_and_starts_again() {
    let api = Api::start(None).await;
    let auth = Some(api.admin().await);
    let listeners = api
        .call("GET", "/api/v5/listeners", None, auth.clone())
        .await;
    assert_eq!(listeners.body[0]["id"], "tcp:default", "{}", listeners.text);
    let mut kept = client(&api, "kept", None, true).await;
    kept.subscribe("l/t", QoS::AtMostOnce).await;

    let stopped = api
        .call(
            "PUT",
            "/api/v5/listeners/tcp:default/stop",
            None,
            auth.clone(),
        )
        .await;
    assert_eq!(stopped.status, 200, "{}", stopped.text);
    assert_eq!(stopped.body["running"], false);
    let refused = tokio::net::TcpStream::connect(api.broker.addr()).await;
    assert!(refused.is_err(), "a stopped listener's port is closed");
    // The open connection still works: a publish through the API reaches it.
    let published = api
        .call(
            "POST",
            "/api/v5/publish",
            Some(json!({"topic": "l/t", "payload": "still here"})),
            auth.clone(),
        )
        .await;
    assert!(published.status < 300, "{}", published.text);
    kept.expect_next_publish_on("l/t").await;
    // Stopping twice changes nothing.
    let again = api
        .call(
            "PUT",
            "/api/v5/listeners/tcp:default/stop",
            None,
            auth.clone(),
        )
        .await;
    assert_eq!(again.status, 200);

    let started = api
        .call(
            "PUT",
            "/api/v5/listeners/tcp:default/start",
            None,
            auth.clone(),
        )
        .await;
    assert_eq!(started.status, 200, "{}", started.text);
    assert_eq!(started.body["running"], true);
    let _new = client(&api, "new", None, true).await;
    let restarted = api
        .call(
            "PUT",
            "/api/v5/listeners/tcp:default/restart",
            None,
            auth.clone(),
        )
        .await;
    assert_eq!(restarted.body["running"], true);
    let _after = client(&api, "after-restart", None, true).await;

    let unknown = api
        .call("PUT", "/api/v5/listeners/tcp:nope/stop", None, auth.clone())
        .await;
    assert_eq!(unknown.status, 404);
    let bad = api
        .call(
            "PUT",
            "/api/v5/listeners/tcp:default/pause",
            None,
            auth.clone(),
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.text);
    let one = api
        .call("GET", "/api/v5/listeners/tcp:default", None, auth)
        .await;
    assert_eq!(one.body["running"], true);
}
