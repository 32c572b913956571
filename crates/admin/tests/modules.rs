//! Modules switched at run time through the API, seen by real MQTT clients: delayed publish,
//! the retainer, shared and exclusive subscriptions, `$SYS`, auto-subscribe and topic
//! rewrite; and the API's refusals (unknown module, bad rules).

mod common;

use common::Api;
use serde_json::{json, Value};
use starling_codec::{QoS, ReasonCode};
use starling_testkit::{ProtocolVersion, RawClient};

async fn client(api: &Api, id: &str) -> RawClient {
    let (c, _) = RawClient::mqtt_connect(api.broker.addr(), ProtocolVersion::V5, id, true).await;
    c
}

async fn put(api: &Api, auth: &str, path: &str, body: Value) -> common::Answer {
    api.call("PUT", path, Some(body), Some(auth.to_owned()))
        .await
}

async fn switch(api: &Api, auth: &str, module: &str, on: bool) {
    let path = format!("/api/v5/modules/{module}");
    let answer = put(api, auth, &path, json!({ "enabled": on })).await;
    assert_eq!(answer.status, 200, "{module}: {}", answer.text);
    assert_eq!(answer.body["enabled"], on, "{}", answer.text);
}

#[tokio::test]
async fn delayed_and_retainer_switch_off_and_on_keeping_what_they_hold() {
    let api = Api::start(None).await;
    let auth = api.admin().await;
    let mut sub = client(&api, "sub").await;
    sub.subscribe("t", QoS::AtLeastOnce).await;
    sub.subscribe("$delayed/#", QoS::AtLeastOnce).await;
    // Off: `$delayed/1/t` is an ordinary topic, delivered at once as it is.
    switch(&api, &auth, "delayed", false).await;
    let mut publisher = client(&api, "pub").await;
    publisher
        .publish("$delayed/1/t", b"now", QoS::AtLeastOnce, false)
        .await;
    let got = sub.expect_next_publish_on("$delayed/1/t").await;
    assert_eq!(&got.payload[..], b"now");
    // On again: held back, then published to `t`.
    switch(&api, &auth, "delayed", true).await;
    publisher
        .publish("$delayed/1/t", b"later", QoS::AtLeastOnce, false)
        .await;
    sub.subscribe("sentinel", QoS::AtLeastOnce).await;
    sub.expect_nothing_before_own_sentinel("sentinel").await;
    let got = sub.expect_next_publish_on("t").await;
    assert_eq!(&got.payload[..], b"later");

    publisher
        .publish("r/old", b"1", QoS::AtLeastOnce, true)
        .await;
    switch(&api, &auth, "retainer", false).await;
    // Told Retain Available = 1 at CONNECT: its retained PUBLISH is taken, not stored.
    let code = publisher
        .publish("r/new", b"2", QoS::AtLeastOnce, true)
        .await;
    assert_eq!(code, ReasonCode::Success);
    let (mut late, connack) =
        RawClient::mqtt_connect(api.broker.addr(), ProtocolVersion::V5, "late", true).await;
    assert_eq!(connack.properties.retain_available, Some(0));
    late.subscribe("r/#", QoS::AtLeastOnce).await;
    assert_eq!(
        late.expect_next_publish_on("r/old").await.payload.as_ref(),
        b"1"
    );
    late.expect_nothing_before_own_sentinel("r/sentinel").await;
    let shown = api
        .call("GET", "/api/v5/modules/retainer", None, Some(auth.clone()))
        .await;
    assert_eq!(shown.body["enabled"], false, "{}", shown.text);
    // Clear drops what is held.
    let cleared = put(
        &api,
        &auth,
        "/api/v5/modules/retainer",
        json!({"enabled": false, "clear": true}),
    )
    .await;
    assert_eq!(cleared.status, 200, "{}", cleared.text);
    let messages = api
        .call("GET", "/api/v5/mqtt/retainer/messages", None, Some(auth))
        .await;
    assert_eq!(messages.body["data"], json!([]), "{}", messages.text);
}

#[tokio::test]
async fn shared_exclusive_and_sys_switch_off() {
    let api = Api::start(None).await;
    let auth = api.admin().await;
    let mut c = client(&api, "c").await;
    switch(&api, &auth, "shared_subscription", false).await;
    switch(&api, &auth, "exclusive_subscription", false).await;
    let ack = c.subscribe("$share/g/t", QoS::AtLeastOnce).await;
    assert_eq!(
        ack.reason_codes,
        [ReasonCode::SharedSubscriptionsNotSupported]
    );
    let ack = c.subscribe("$exclusive/t", QoS::AtLeastOnce).await;
    assert_eq!(ack.reason_codes, [ReasonCode::TopicFilterInvalid]);
    let (mut old, _) =
        RawClient::mqtt_connect(api.broker.addr(), ProtocolVersion::V3_1_1, "old", true).await;
    let ack = old.subscribe("$share/g/t", QoS::AtLeastOnce).await;
    assert_eq!(
        ack.reason_codes,
        [ReasonCode::UnspecifiedError],
        "3.x: 0x80"
    );
    switch(&api, &auth, "shared_subscription", true).await;
    let ack = c.subscribe("$share/g/t", QoS::AtLeastOnce).await;
    assert_eq!(ack.reason_codes, [ReasonCode::GrantedQoS1]);

    let mut watcher = client(&api, "watcher").await;
    watcher.subscribe("$SYS/#", QoS::AtLeastOnce).await;
    watcher.subscribe("sentinel", QoS::AtLeastOnce).await;
    let _a = client(&api, "a").await;
    let event = watcher.recv_publish().await;
    assert!(
        event.topic.as_str().ends_with("/clients/a/connected"),
        "{event:?}"
    );
    switch(&api, &auth, "sys", false).await;
    let _b = client(&api, "b").await;
    watcher.expect_nothing_before_own_sentinel("sentinel").await;
}

#[tokio::test]
async fn auto_subscribe_and_topic_rewrite_apply_to_new_clients_and_packets() {
    let api = Api::start(None).await;
    let auth = api.admin().await;
    let topics = json!([{"topic": "dev/${clientid}/cmd", "qos": 1}]);
    let set = put(&api, &auth, "/api/v5/mqtt/auto_subscribe", topics.clone()).await;
    assert_eq!(set.status, 200, "{}", set.text);
    assert_eq!(set.body[0]["topic"], "dev/${clientid}/cmd");
    let mut device = client(&api, "d1").await;
    let mut publisher = client(&api, "pub").await;
    publisher
        .publish("dev/d1/cmd", b"go", QoS::AtLeastOnce, false)
        .await;
    assert_eq!(
        device
            .expect_next_publish_on("dev/d1/cmd")
            .await
            .payload
            .as_ref(),
        b"go"
    );

    let rule = json!([{"action": "all", "source_topic": "x/#", "re": "^x/(.+)$",
        "dest_topic": "y/$1"}]);
    let set = put(&api, &auth, "/api/v5/mqtt/topic_rewrite", rule).await;
    assert_eq!(set.status, 200, "{}", set.text);
    let shown = api
        .call(
            "GET",
            "/api/v5/modules/topic_rewrite",
            None,
            Some(auth.clone()),
        )
        .await;
    assert_eq!(shown.body["enabled"], true);
    assert_eq!(shown.body["config"][0]["dest_topic"], "y/$1");
    let mut plain = client(&api, "plain").await;
    plain.subscribe("y/#", QoS::AtLeastOnce).await;
    publisher
        .publish("x/a", b"1", QoS::AtLeastOnce, false)
        .await;
    assert_eq!(
        plain.expect_next_publish_on("y/a").await.payload.as_ref(),
        b"1"
    );
    // Subscribing to x/# subscribes y/#.
    let mut rewritten = client(&api, "rewritten").await;
    rewritten.subscribe("x/#", QoS::AtLeastOnce).await;
    publisher
        .publish("y/b", b"2", QoS::AtLeastOnce, false)
        .await;
    assert_eq!(
        rewritten
            .expect_next_publish_on("y/b")
            .await
            .payload
            .as_ref(),
        b"2"
    );
    plain.expect_next_publish_on("y/b").await;
    // Off: the rules stay, unused.
    switch(&api, &auth, "topic_rewrite", false).await;
    publisher
        .publish("x/c", b"3", QoS::AtLeastOnce, false)
        .await;
    publisher
        .publish("y/sentinel", b"s", QoS::AtLeastOnce, false)
        .await;
    plain.expect_next_publish_on("y/sentinel").await;
}

#[tokio::test]
async fn unknown_modules_and_bad_rules_are_refused_naming_the_field() {
    let api = Api::start(None).await;
    let auth = api.admin().await;
    let get = api
        .call("GET", "/api/v5/modules/nope", None, Some(auth.clone()))
        .await;
    assert_eq!(get.status, 404, "{}", get.text);
    let set = put(
        &api,
        &auth,
        "/api/v5/modules/nope",
        json!({"enabled": true}),
    )
    .await;
    assert_eq!(set.status, 404, "{}", set.text);
    let bad_re = json!({"enabled": true, "config": [{"action": "all", "source_topic": "x/#",
        "re": "(", "dest_topic": "y"}]});
    let set = put(&api, &auth, "/api/v5/modules/topic_rewrite", bad_re).await;
    assert_eq!(set.status, 400, "{}", set.text);
    assert!(
        set.body["message"]
            .as_str()
            .unwrap()
            .starts_with("config[0].re"),
        "{}",
        set.text
    );
    let rule = json!({"action": "all", "source_topic": "x/#", "re": "x", "dest_topic": "y"});
    let many = Value::Array(vec![rule; 101]);
    let set = put(&api, &auth, "/api/v5/mqtt/topic_rewrite", many).await;
    assert_eq!(set.status, 400, "{}", set.text);
    let settings = json!({"enabled": true, "config": {"max_messages": 1}});
    let set = put(&api, &auth, "/api/v5/modules/delayed", settings).await;
    assert_eq!(set.status, 400, "{}", set.text);
    assert!(
        set.body["message"].as_str().unwrap().starts_with("config"),
        "{}",
        set.text
    );
    let set = put(&api, &auth, "/api/v5/modules/retainer", json!({})).await;
    assert_eq!(set.status, 400, "missing enabled: {}", set.text);
    let list = api.call("GET", "/api/v5/modules", None, Some(auth)).await;
    let names: Vec<_> = list
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].clone())
        .collect();
    assert_eq!(names.len(), 7, "{}", list.text);
    // Nothing was changed by the refusals.
    assert!(
        list.body
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["enabled"] == true),
        "{}",
        list.text
    );
}

#[tokio::test]
async fn module_changes_outlive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let api = Api::start(Some(dir.path().to_owned())).await;
        let auth = api.admin().await;
        switch(&api, &auth, "retainer", false).await;
        let topics = json!([{"topic": "dev/${clientid}/cmd", "qos": 1}]);
        let set = put(&api, &auth, "/api/v5/mqtt/auto_subscribe", topics).await;
        assert_eq!(set.status, 200, "{}", set.text);
        switch(&api, &auth, "topic_rewrite", false).await;
        api.broker.shutdown().await;
    }
    let api = Api::start(Some(dir.path().to_owned())).await;
    let auth = api.login("admin", common::NEW_PASSWORD).await;
    let modules = api
        .call("GET", "/api/v5/modules", None, Some(auth.clone()))
        .await;
    let enabled = |name: &str| {
        modules
            .body
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == name)
            .unwrap()["enabled"]
            .clone()
    };
    assert_eq!(enabled("retainer"), false, "{}", modules.text);
    assert_eq!(enabled("topic_rewrite"), false);
    assert_eq!(
        enabled("delayed"),
        true,
        "an unchanged module is as the file says"
    );
    // The stored auto-subscribe topics apply to a client connecting after the restart.
    let mut device = client(&api, "d7").await;
    let mut publisher = client(&api, "pub").await;
    publisher
        .publish("dev/d7/cmd", b"after", QoS::AtLeastOnce, false)
        .await;
    assert_eq!(
        device
            .expect_next_publish_on("dev/d7/cmd")
            .await
            .payload
            .as_ref(),
        b"after"
    );
}
