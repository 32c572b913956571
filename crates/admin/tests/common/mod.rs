//! A broker with its management API on loopback, and a real HTTP client (ureq) to call it.

#![allow(dead_code, unreachable_pub)]

use serde_json::Value;
use starling_testkit::TestBroker;
use std::net::SocketAddr;

/// The new password tests set on the default account.
pub const NEW_PASSWORD: &str = "n3w-secret-pw";

/// A broker and its API.
pub struct Api {
    pub broker: TestBroker,
    pub base: String,
    pub addr: SocketAddr,
}

/// One answer: the status and the body (JSON when it parses, else a string).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub text: String,
}

impl Api {
    /// A broker (on `data_dir` when given) with its API on 127.0.0.1:0.
    pub async fn start(data_dir: Option<std::path::PathBuf>) -> Api {
        Self::start_with(move |c| {
            if let Some(dir) = data_dir {
                c.node.data_dir = dir;
            }
        })
        .await
    }

    /// A broker configured by `tweak`, with its API on 127.0.0.1:0.
    pub async fn start_with(tweak: impl FnOnce(&mut starling_config::Config)) -> Api {
        let broker = TestBroker::start_with(|c| {
            c.api.bind = SocketAddr::from(([127, 0, 0, 1], 0));
            tweak(c);
        })
        .await;
        let running =
            starling_admin::serve(broker.running().handle(), broker.running().shutdown_token())
                .await
                .expect("the API starts");
        let addr = running.local_addr;
        Api {
            broker,
            base: format!("http://{addr}"),
            addr,
        }
    }

    /// Calls `method path` with an optional JSON body and `Authorization` value.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        auth: Option<String>,
    ) -> Answer {
        let url = format!("{}{}", self.base, path);
        let method = method.to_owned();
        tokio::task::spawn_blocking(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build()
                .into();
            let with = |mut req: ureq::RequestBuilder<ureq::typestate::WithBody>| {
                if let Some(auth) = &auth {
                    req = req.header("Authorization", auth);
                }
                req.header("Content-Type", "application/json")
                    .send(body.as_ref().map(Value::to_string).unwrap_or_default())
            };
            let without = |mut req: ureq::RequestBuilder<ureq::typestate::WithoutBody>| {
                if let Some(auth) = &auth {
                    req = req.header("Authorization", auth);
                }
                req.call()
            };
            let response = match method.as_str() {
                "GET" => without(agent.get(&url)),
                "DELETE" => without(agent.delete(&url)),
                "POST" => with(agent.post(&url)),
                "PUT" => with(agent.put(&url)),
                other => panic!("method {other}"),
            }
            .expect("the API answers");
            let status = response.status().as_u16();
            let text = response.into_body().read_to_string().unwrap_or_default();
            let body = serde_json::from_str(&text).unwrap_or(Value::Null);
            Answer { status, body, text }
        })
        .await
        .expect("request task")
    }

    /// Logs in; returns the `Authorization` value.
    pub async fn login(&self, username: &str, password: &str) -> String {
        let answer = self
            .call(
                "POST",
                "/api/v5/login",
                Some(serde_json::json!({"username": username, "password": password})),
                None,
            )
            .await;
        assert_eq!(answer.status, 200, "login {username}: {}", answer.text);
        format!("Bearer {}", answer.body["token"].as_str().expect("token"))
    }

    /// Logs in as admin/public, sets [`NEW_PASSWORD`], logs in again.
    pub async fn admin(&self) -> String {
        let first = self.login("admin", "public").await;
        let changed = self
            .call(
                "POST",
                "/api/v5/users/admin/change_pwd",
                Some(serde_json::json!({"old_pwd": "public", "new_pwd": NEW_PASSWORD})),
                Some(first),
            )
            .await;
        assert_eq!(changed.status, 204, "{}", changed.text);
        self.login("admin", NEW_PASSWORD).await
    }
}
