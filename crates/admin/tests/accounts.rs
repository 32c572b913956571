//! Login, the forced password change of the default account, tokens, dashboard accounts and
//! API keys, through a real HTTP client.

mod common;

use common::{Api, NEW_PASSWORD};
use serde_json::json;

#[tokio::test]
async fn the_default_account_must_change_its_password_before_anything_else() {
    let api = Api::start(None).await;
    let login = api
        .call(
            "POST",
            "/api/v5/login",
            Some(json!({"username": "admin", "password": "public"})),
            None,
        )
        .await;
    assert_eq!(login.status, 200);
    assert_eq!(login.body["must_change_password"], true);
    assert!(login.body["password_rules"].as_str().is_some());
    let token = format!("Bearer {}", login.body["token"].as_str().unwrap());

    for path in ["/api/v5/stats", "/api/v5/clients", "/api/v5/users"] {
        let refused = api.call("GET", path, None, Some(token.clone())).await;
        assert_eq!(refused.status, 403, "{path}");
        assert_eq!(refused.body["code"], "CHANGE_PASSWORD_REQUIRED");
        assert!(refused.body["message"]
            .as_str()
            .unwrap()
            .contains("change_pwd"));
    }
    let change = |old: &str, new: &str| json!({"old_pwd": old, "new_pwd": new});
    let path = "/api/v5/users/admin/change_pwd";
    let wrong_old = api
        .call(
            "POST",
            path,
            Some(change("nope", NEW_PASSWORD)),
            Some(token.clone()),
        )
        .await;
    assert_eq!(wrong_old.status, 400);
    assert!(wrong_old.body["message"]
        .as_str()
        .unwrap()
        .starts_with("old_pwd"));
    let weak = api
        .call(
            "POST",
            path,
            Some(change("public", "short")),
            Some(token.clone()),
        )
        .await;
    assert_eq!(weak.status, 400);
    assert!(weak.body["message"]
        .as_str()
        .unwrap()
        .starts_with("new_pwd"));
    let same = api
        .call(
            "POST",
            path,
            Some(change("public", "public")),
            Some(token.clone()),
        )
        .await;
    assert_eq!(
        same.status, 400,
        "the default password is refused as the new one"
    );

    let ok = api
        .call(
            "POST",
            path,
            Some(change("public", NEW_PASSWORD)),
            Some(token.clone()),
        )
        .await;
    assert_eq!(ok.status, 204, "{}", ok.text);
    let stale = api.call("GET", "/api/v5/stats", None, Some(token)).await;
    assert_eq!(
        stale.status, 401,
        "a password change ends the account's tokens"
    );

    let old = api
        .call(
            "POST",
            "/api/v5/login",
            Some(json!({"username": "admin", "password": "public"})),
            None,
        )
        .await;
    assert_eq!(old.status, 401);
    assert_eq!(old.body["code"], "BAD_USERNAME_OR_PWD");
    let token = api.login("admin", NEW_PASSWORD).await;
    let stats = api
        .call("GET", "/api/v5/stats", None, Some(token.clone()))
        .await;
    assert_eq!(stats.status, 200);
    assert!(stats.body["connections.count"].is_u64());

    let out = api
        .call("POST", "/api/v5/logout", None, Some(token.clone()))
        .await;
    assert_eq!(out.status, 204);
    let after = api.call("GET", "/api/v5/stats", None, Some(token)).await;
    assert_eq!(after.status, 401, "logout ends the token");
}

#[tokio::test]
async fn accounts_and_a_changed_password_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let api = Api::start(Some(dir.path().to_owned())).await;
        let token = api.admin().await;
        let added = api
            .call(
                "POST",
                "/api/v5/users",
                Some(json!({"username": "ops", "password": "0ps-password", "description": "on call"})),
                Some(token.clone()),
            )
            .await;
        assert_eq!(added.status, 200, "{}", added.text);
        let twice = api
            .call(
                "POST",
                "/api/v5/users",
                Some(json!({"username": "ops", "password": "0ps-password"})),
                Some(token.clone()),
            )
            .await;
        assert_eq!(twice.status, 409);
        api.broker.shutdown().await;
    }
    let api = Api::start(Some(dir.path().to_owned())).await;
    let refused = api
        .call(
            "POST",
            "/api/v5/login",
            Some(json!({"username": "admin", "password": "public"})),
            None,
        )
        .await;
    assert_eq!(
        refused.status, 401,
        "the default password is not back after a restart"
    );
    let token = api.login("admin", NEW_PASSWORD).await;
    let users = api
        .call("GET", "/api/v5/users", None, Some(token.clone()))
        .await;
    let names: Vec<_> = users
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["admin", "ops"]);
    let ops = api.login("ops", "0ps-password").await;
    let me = api
        .call("DELETE", "/api/v5/users/ops", None, Some(ops))
        .await;
    assert_eq!(me.status, 400, "an account cannot delete itself");
    let updated = api
        .call(
            "PUT",
            "/api/v5/users/ops",
            Some(json!({"description": "day shift"})),
            Some(token.clone()),
        )
        .await;
    assert_eq!(updated.body["description"], "day shift");
    let gone = api
        .call("DELETE", "/api/v5/users/ops", None, Some(token.clone()))
        .await;
    assert_eq!(gone.status, 204);
    let missing = api
        .call("DELETE", "/api/v5/users/ops", None, Some(token))
        .await;
    assert_eq!(missing.status, 404);
}

#[tokio::test]
async fn an_api_key_authenticates_scripts_until_disabled_or_deleted() {
    let api = Api::start(None).await;
    let token = api.admin().await;
    let made = api
        .call(
            "POST",
            "/api/v5/api_key",
            Some(json!({"name": "ci", "desc": "pipeline"})),
            Some(token.clone()),
        )
        .await;
    assert_eq!(made.status, 200, "{}", made.text);
    let key = made.body["api_key"].as_str().unwrap().to_owned();
    let secret = made.body["api_secret"].as_str().unwrap().to_owned();
    use base64::Engine;
    let basic = |k: &str, s: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{k}:{s}"))
        )
    };
    let ok = api
        .call("GET", "/api/v5/nodes", None, Some(basic(&key, &secret)))
        .await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.body[0]["node_status"], "running");
    let wrong = api
        .call("GET", "/api/v5/nodes", None, Some(basic(&key, "nope")))
        .await;
    assert_eq!(wrong.status, 401);
    let listed = api
        .call("GET", "/api/v5/api_key/ci", None, Some(token.clone()))
        .await;
    assert!(
        listed.body.get("api_secret").is_none(),
        "the secret is shown once"
    );
    let off = api
        .call(
            "PUT",
            "/api/v5/api_key/ci",
            Some(json!({"enable": false})),
            Some(token.clone()),
        )
        .await;
    assert_eq!(off.body["enable"], false);
    let refused = api
        .call("GET", "/api/v5/nodes", None, Some(basic(&key, &secret)))
        .await;
    assert_eq!(refused.status, 401);
    let expired = api
        .call(
            "POST",
            "/api/v5/api_key",
            Some(json!({"name": "old", "expired_at": "2000-01-01T00:00:00Z"})),
            Some(token.clone()),
        )
        .await;
    let (k, s) = (
        expired.body["api_key"].as_str().unwrap(),
        expired.body["api_secret"].as_str().unwrap(),
    );
    assert_eq!(
        api.call("GET", "/api/v5/nodes", None, Some(basic(k, s)))
            .await
            .status,
        401
    );
    assert_eq!(
        api.call("DELETE", "/api/v5/api_key/ci", None, Some(token.clone()))
            .await
            .status,
        204
    );
    assert_eq!(
        api.call("GET", "/api/v5/api_key/ci", None, Some(token))
            .await
            .status,
        404
    );
}
