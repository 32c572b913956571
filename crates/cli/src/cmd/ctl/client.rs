//! The HTTP side of `starling ctl`: one blocking `ureq` agent, the `Authorization` header
//! (a login token, or an API key as HTTP Basic), JSON in and out, and the mapping of every
//! answer that is not a success onto a [`CtlError`] (hence an exit code).
//!
//! With a username and password, ctl logs in (`POST /api/v5/login`) before the command and
//! logs out after it, so that scripts calling ctl in a loop do not pile up tokens.

use base64::Engine as _;
use serde_json::{json, Value};
use std::time::Duration;
use zeroize::Zeroizing;

use super::error::{CtlError, CtlResult};

/// How long one request may take, connecting included.
const TIMEOUT: Duration = Duration::from_secs(30);
/// The largest answer read (a page of 1,000 clients is well under this).
const MAX_ANSWER_BYTES: u64 = 64 * 1024 * 1024;

/// The HTTP methods ctl uses.
#[derive(Debug, Clone, Copy)]
enum Method {
    Get,
    Post,
    Put,
    Delete,
}

/// A connection to the management API.
pub(crate) struct Api {
    agent: ureq::Agent,
    base: String,
    authorization: Option<Zeroizing<String>>,
    /// The account logged in, if any (to name it when it must change its password).
    username: Option<String>,
}

/// What a login answered that ctl uses.
pub(crate) struct Login {
    /// The account must set a new password before anything else.
    pub(crate) must_change_password: bool,
}

impl Api {
    /// An API at `url` (`http://host:port`), without credentials yet.
    pub(crate) fn new(url: &str) -> CtlResult<Api> {
        let base = url.trim_end_matches('/');
        let rest = base.strip_prefix("http://").ok_or_else(|| {
            CtlError::Usage(format!(
                "--url must be http://host:port (the API serves plain HTTP), got {url:?}"
            ))
        })?;
        if rest.is_empty() || rest.contains('/') {
            return Err(CtlError::Usage(format!(
                "--url must be http://host:port, without a path, got {url:?}"
            )));
        }
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(TIMEOUT))
            .http_status_as_error(false)
            .max_redirects(0)
            .proxy(None)
            .build()
            .new_agent();
        Ok(Api {
            agent,
            base: base.to_owned(),
            authorization: None,
            username: None,
        })
    }

    /// Whether a token or an API key will be sent.
    pub(crate) fn has_credentials(&self) -> bool {
        self.authorization.is_some()
    }

    /// Sends `key:secret` as HTTP Basic on every request.
    pub(crate) fn use_api_key(&mut self, key: &str, secret: &str) {
        let pair = Zeroizing::new(format!("{key}:{secret}"));
        let encoded = base64::engine::general_purpose::STANDARD.encode(pair.as_bytes());
        self.authorization = Some(Zeroizing::new(format!("Basic {encoded}")));
    }

    /// Logs in as `username`; later requests carry the token.
    pub(crate) fn login(&mut self, username: &str, password: &str) -> CtlResult<Login> {
        let body = Zeroizing::new(json!({"username": username, "password": password}).to_string());
        let answer = self.send(Method::Post, "/api/v5/login", Some(&body));
        let answer = answer.map_err(|e| match e {
            CtlError::Api {
                status: 401,
                message,
                code,
            } => CtlError::Api {
                status: 401,
                code,
                message: format!("login as {username:?} refused: {message}"),
            },
            other => other,
        })?;
        let token = answer["token"].as_str().ok_or_else(|| {
            CtlError::Unreachable("the login answer holds no token: is this a Starling API?".into())
        })?;
        self.authorization = Some(Zeroizing::new(format!("Bearer {token}")));
        self.username = Some(username.to_owned());
        Ok(Login {
            must_change_password: answer["must_change_password"].as_bool().unwrap_or(false),
        })
    }

    /// Ends the login token, if one was used (best effort: the token expires anyway).
    pub(crate) fn logout(&mut self) {
        if self.username.is_some() && self.authorization.is_some() {
            let _ = self.send(Method::Post, "/api/v5/logout", None);
            self.authorization = None;
        }
    }

    /// Forgets the token without logging out (after a password change ended it).
    pub(crate) fn forget_token(&mut self) {
        self.authorization = None;
    }

    /// `GET path?query`.
    pub(crate) fn get(&self, path: &str, query: &Query) -> CtlResult<Value> {
        self.send(Method::Get, &format!("{path}{}", query.render()), None)
    }

    /// `POST path` with a JSON body.
    pub(crate) fn post(&self, path: &str, body: &Value) -> CtlResult<Value> {
        self.send(Method::Post, path, Some(&body.to_string()))
    }

    /// `PUT path` with a JSON body.
    pub(crate) fn put(&self, path: &str, body: &Value) -> CtlResult<Value> {
        self.send(Method::Put, path, Some(&body.to_string()))
    }

    /// `DELETE path`.
    pub(crate) fn delete(&self, path: &str) -> CtlResult<Value> {
        self.send(Method::Delete, path, None)
    }

    /// `GET path`, for an answer that is text rather than JSON (a trace's file).
    pub(crate) fn get_text(&self, path: &str) -> CtlResult<String> {
        let url = format!("{}{}", self.base, path);
        let auth = self.authorization.as_deref().map(String::as_str);
        let sent = with_auth(self.agent.get(&url), auth).call();
        let mut response = sent.map_err(|e| self.unreachable(&e))?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER_BYTES)
            .read_to_string()
            .map_err(|e| self.unreachable(&e))?;
        if (200..300).contains(&status) {
            return Ok(text);
        }
        Err(self.refusal(status, &text, path))
    }

    /// One request; the answer's JSON (`Null` when it has no body).
    fn send(&self, method: Method, path: &str, body: Option<&str>) -> CtlResult<Value> {
        let url = format!("{}{}", self.base, path);
        let auth = self.authorization.as_deref().map(String::as_str);
        let sent = match method {
            Method::Get => with_auth(self.agent.get(&url), auth).call(),
            Method::Delete => with_auth(self.agent.delete(&url), auth).call(),
            Method::Post | Method::Put => {
                let request = match method {
                    Method::Put => self.agent.put(&url),
                    _ => self.agent.post(&url),
                };
                let request = request.content_type("application/json");
                let request = match auth {
                    Some(a) => request.header("Authorization", a),
                    None => request,
                };
                request.send(body.unwrap_or("{}"))
            }
        };
        let mut response = sent.map_err(|e| self.unreachable(&e))?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER_BYTES)
            .read_to_string()
            .map_err(|e| self.unreachable(&e))?;
        if (200..300).contains(&status) {
            if text.trim().is_empty() {
                return Ok(Value::Null);
            }
            return serde_json::from_str(&text).map_err(|e| {
                CtlError::Unreachable(format!("{method:?} {path}: the answer is not JSON: {e}"))
            });
        }
        Err(self.refusal(status, &text, path))
    }

    fn unreachable(&self, e: &ureq::Error) -> CtlError {
        CtlError::Unreachable(format!("cannot reach the API at {}: {e}", self.base))
    }

    /// The error for an answer with status `status` and body `text`.
    fn refusal(&self, status: u16, text: &str, path: &str) -> CtlError {
        let body: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        let code = body["code"].as_str().unwrap_or_default().to_owned();
        let mut message = match body["message"].as_str() {
            Some(m) => m.to_owned(),
            None => text.trim().chars().take(200).collect(),
        };
        if code == "CHANGE_PASSWORD_REQUIRED" {
            if let Some(username) = &self.username {
                return CtlError::MustChangePassword {
                    username: username.clone(),
                };
            }
        }
        if status == 401 && self.authorization.is_none() && path != "/api/v5/login" {
            message.push_str(
                " (give --username/--password or --api-key/--api-secret, or set \
                 STARLING_API_USERNAME/STARLING_API_PASSWORD or STARLING_API_KEY/STARLING_API_SECRET)",
            );
        }
        CtlError::Api {
            status,
            code,
            message,
        }
    }
}

fn with_auth(
    request: ureq::RequestBuilder<ureq::typestate::WithoutBody>,
    auth: Option<&str>,
) -> ureq::RequestBuilder<ureq::typestate::WithoutBody> {
    match auth {
        Some(a) => request.header("Authorization", a),
        None => request,
    }
}

/// A query string, built from optional parameters.
#[derive(Debug, Default)]
pub(crate) struct Query(Vec<(&'static str, String)>);

impl Query {
    /// An empty query.
    pub(crate) fn new() -> Query {
        Query::default()
    }

    /// Adds `key=value` when `value` is given.
    pub(crate) fn opt(mut self, key: &'static str, value: Option<impl ToString>) -> Query {
        if let Some(v) = value {
            self.0.push((key, v.to_string()));
        }
        self
    }

    /// Adds `key=value`, replacing an earlier `key`.
    pub(crate) fn set(&mut self, key: &'static str, value: String) {
        self.0.retain(|(k, _)| *k != key);
        self.0.push((key, value));
    }

    /// `?a=1&b=2`, or nothing.
    fn render(&self) -> String {
        let pairs: Vec<String> = self
            .0
            .iter()
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect();
        if pairs.is_empty() {
            String::new()
        } else {
            format!("?{}", pairs.join("&"))
        }
    }
}

/// `text` percent-encoded for a path segment or a query value: every byte but the
/// unreserved ones (RFC 3986: letters, digits, `-._~`), so `/` becomes `%2F`.
pub(crate) fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_and_query_values_are_percent_encoded() {
        assert_eq!(encode("a/b c+#é"), "a%2Fb%20c%2B%23%C3%A9");
        assert_eq!(encode("sensor-1_x.y~"), "sensor-1_x.y~");
        let mut q = Query::new()
            .opt("topic", Some("a/#"))
            .opt("qos", None::<u8>);
        q.set("limit", "5".into());
        q.set("limit", "6".into());
        assert_eq!(q.render(), "?topic=a%2F%23&limit=6");
        assert_eq!(Query::new().render(), "");
    }

    #[test]
    fn only_a_plain_http_url_without_a_path_is_taken() {
        assert!(Api::new("http://127.0.0.1:18083/").is_ok());
        for bad in [
            "https://h:1",
            "127.0.0.1:18083",
            "http://",
            "http://h:1/api",
        ] {
            assert!(matches!(Api::new(bad), Err(CtlError::Usage(_))), "{bad}");
        }
    }
}
