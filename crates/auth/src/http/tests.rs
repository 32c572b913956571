#![allow(clippy::unwrap_used)]

use super::*;
use crate::Authenticator;
use serde_json::Value;
use starling_config::AuthnConfig;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A canned authentication service on 127.0.0.1: it answers by the username it is sent.
struct Service {
    addr: SocketAddr,
    requests: Arc<AtomicUsize>,
    bodies: Arc<Mutex<Vec<Value>>>,
}

/// How long `slow` makes the client wait.
const SLOW: Duration = Duration::from_millis(1500);

impl Service {
    /// Serves at most 64 connections, one thread each, then stops accepting.
    fn start() -> Service {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(AtomicUsize::new(0));
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let (count, seen) = (Arc::clone(&requests), Arc::clone(&bodies));
        std::thread::spawn(move || {
            for stream in listener.incoming().take(64) {
                let Ok(stream) = stream else { continue };
                let (count, seen) = (Arc::clone(&count), Arc::clone(&seen));
                std::thread::spawn(move || answer(stream, &count, &seen));
            }
        });
        Service {
            addr,
            requests,
            bodies,
        }
    }

    fn url(&self) -> String {
        format!("http://{}/auth", self.addr)
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// Reads one request and answers it, by the username in its body.
fn answer(stream: TcpStream, count: &AtomicUsize, seen: &Mutex<Vec<Value>>) {
    let mut reader = BufReader::new(stream);
    let mut length = 0;
    let mut line = String::new();
    let mut first = true;
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        if first {
            assert!(line.starts_with("POST /auth "), "{line}");
            first = false;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(value) = lower.strip_prefix("content-length:") {
            length = value.trim().parse().unwrap();
        }
        if line == "\r\n" {
            break;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    count.fetch_add(1, Ordering::SeqCst);
    let body: Value = serde_json::from_slice(&body).unwrap();
    let username = body["username"].as_str().unwrap_or_default().to_owned();
    seen.lock().unwrap().push(body);
    let (status, text) = match username.as_str() {
        "allow" | "" => ("200 OK", r#"{"result": "allow", "is_superuser": false}"#),
        "deny" => ("200 OK", r#"{"result": "deny"}"#),
        "root" => ("200 OK", r#"{"result": "allow", "is_superuser": true}"#),
        "ruled" => (
            "200 OK",
            r##"{"result": "allow", "acl": [
                {"permission": "allow", "action": "publish", "topic": "up/${clientid}/#"},
                {"permission": "deny", "action": "all", "topic": "#"}]}"##,
        ),
        "badrule" => (
            "200 OK",
            r#"{"result": "allow", "acl": [{"permission": "allow", "topic": "t", "qos": 1}]}"#,
        ),
        "ignore" => ("200 OK", r#"{"result": "ignore"}"#),
        "empty" => ("204 No Content", ""),
        "junk" => ("200 OK", "<html>hello</html>"),
        "maybe" => ("200 OK", r#"{"result": "maybe"}"#),
        "moved" => ("302 Found", ""),
        "slow" => {
            std::thread::sleep(SLOW);
            ("200 OK", r#"{"result": "allow"}"#)
        }
        _ => ("500 Internal Server Error", "oops"),
    };
    let mut stream = reader.into_inner();
    let location = if status.starts_with("302") {
        "Location: /elsewhere\r\n"
    } else {
        ""
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{location}Content-Length: {}\r\n\
         Connection: close\r\n\r\n{text}",
        text.len()
    );
}

fn http(url: &str, extra: &str) -> HttpAuthn {
    let text = format!("[[auth.authn]]\nkind = \"http\"\nurl = {url:?}\n{extra}");
    let config = starling_config::parse_str(&text, "test").unwrap();
    match &config.auth.authn[0] {
        AuthnConfig::Http(http) => HttpAuthn::load(http).unwrap(),
        other => panic!("not http: {other:?}"),
    }
}

fn login(username: &str, password: &[u8]) -> Credentials {
    Credentials {
        client_id: "c1".to_owned(),
        username: Some(username.to_owned()),
        password: Some(password.to_vec()),
        peer: Some("192.0.2.7".parse().unwrap()),
        cert_verified: false,
    }
}

fn kind(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Allow(a) if a.by == AllowedBy::Http && a.acl.is_none() => "allow",
        Outcome::Allow(_) => "allow by someone else",
        Outcome::Deny(Refusal::BadCredentials) => "deny",
        Outcome::Deny(Refusal::NotAuthorized) => "error deny",
        Outcome::Pass => "pass",
    }
}

#[test]
fn the_service_decides() {
    let service = Service::start();
    let authn = http(&service.url(), "cache_ttl = \"0s\"\n");
    for (username, expect) in [
        ("allow", "allow"),
        ("deny", "deny"),
        ("ignore", "pass"),
        ("empty", "allow"),
        ("broken", "error deny"),
        ("junk", "error deny"),
        ("maybe", "error deny"),
        ("moved", "error deny"),
    ] {
        let outcome = authn.authenticate(&login(username, b"pw"));
        assert_eq!(kind(&outcome), expect, "{username}");
    }
    assert_eq!(service.requests(), 8);
}

#[test]
fn the_request_carries_emqx_fields() {
    let service = Service::start();
    let authn = http(&service.url(), "");
    let outcome = authn.authenticate(&login("allow", b"p\xffw"));
    assert_eq!(kind(&outcome), "allow");
    let mut anonymous = login("", b"");
    anonymous.username = None;
    anonymous.password = None;
    anonymous.peer = None;
    anonymous.client_id = "c2".into();
    assert_eq!(kind(&authn.authenticate(&anonymous)), "allow");
    let bodies = service.bodies.lock().unwrap();
    assert_eq!(
        bodies[0],
        serde_json::json!({
            "clientid": "c1", "username": "allow", "password": "p\u{fffd}w",
            "peerhost": "192.0.2.7",
        })
    );
    assert_eq!(
        bodies[1],
        serde_json::json!({ "clientid": "c2", "username": "", "password": "", "peerhost": "" })
    );
}

#[test]
fn a_slow_service_times_out_and_on_error_decides() {
    let service = Service::start();
    for (on_error, expect) in [("deny", "error deny"), ("ignore", "pass")] {
        let authn = http(
            &service.url(),
            &format!("timeout = \"200ms\"\non_error = \"{on_error}\"\n"),
        );
        let started = Instant::now();
        let outcome = authn.authenticate(&login("slow", b"pw"));
        assert_eq!(kind(&outcome), expect, "{on_error}");
        assert!(started.elapsed() < SLOW, "{:?}", started.elapsed());
    }
}

#[test]
fn a_service_that_is_down_is_an_error() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/auth");
    assert_eq!(
        kind(&http(&url, "").authenticate(&login("allow", b"pw"))),
        "error deny"
    );
    let ignoring = http(&url, "on_error = \"ignore\"\n");
    assert_eq!(kind(&ignoring.authenticate(&login("allow", b"pw"))), "pass");
}

#[test]
fn answers_are_cached_per_login() {
    let service = Service::start();
    let authn = http(&service.url(), "");
    for _ in 0..3 {
        assert_eq!(kind(&authn.authenticate(&login("allow", b"pw"))), "allow");
    }
    assert_eq!(service.requests(), 1, "asked once");
    // Another password, another client id, another address: asked again.
    assert_eq!(
        kind(&authn.authenticate(&login("allow", b"other"))),
        "allow"
    );
    let mut other_client = login("allow", b"pw");
    other_client.client_id = "c9".into();
    assert_eq!(kind(&authn.authenticate(&other_client)), "allow");
    let mut other_peer = login("allow", b"pw");
    other_peer.peer = Some("192.0.2.8".parse().unwrap());
    assert_eq!(kind(&authn.authenticate(&other_peer)), "allow");
    assert_eq!(service.requests(), 4);
    // Denials are remembered too; ignore and errors are not.
    for _ in 0..2 {
        assert_eq!(kind(&authn.authenticate(&login("deny", b"pw"))), "deny");
        assert_eq!(kind(&authn.authenticate(&login("ignore", b"pw"))), "pass");
        assert_eq!(
            kind(&authn.authenticate(&login("broken", b"pw"))),
            "error deny"
        );
    }
    assert_eq!(service.requests(), 4 + 1 + 2 + 2);
}

#[test]
fn cached_answers_expire() {
    let service = Service::start();
    let authn = http(&service.url(), "cache_ttl = \"300ms\"\n");
    authn.authenticate(&login("allow", b"pw"));
    authn.authenticate(&login("allow", b"pw"));
    assert_eq!(service.requests(), 1);
    std::thread::sleep(Duration::from_millis(400));
    authn.authenticate(&login("allow", b"pw"));
    assert_eq!(service.requests(), 2);
    let uncached = http(&service.url(), "cache_ttl = \"0s\"\n");
    uncached.authenticate(&login("allow", b"pw"));
    uncached.authenticate(&login("allow", b"pw"));
    assert_eq!(service.requests(), 4);
}

#[test]
fn the_cache_is_bounded_and_drops_the_oldest() {
    let cache = Cache::new(Duration::from_secs(60), 3);
    let key = |n: u8| [n; 32];
    let answer = |allow: bool| if allow { Answer::ALLOW } else { Answer::Deny };
    let allowed = |a: Option<Answer>| a.map(|a| matches!(a, Answer::Allow { .. }));
    for n in 0..5 {
        cache.put(key(n), answer(n % 2 == 0));
    }
    assert_eq!(cache.len(), 3);
    assert_eq!(allowed(cache.get(&key(0))), None);
    assert_eq!(allowed(cache.get(&key(1))), None);
    assert_eq!(allowed(cache.get(&key(2))), Some(true));
    assert_eq!(allowed(cache.get(&key(3))), Some(false));
    assert_eq!(allowed(cache.get(&key(4))), Some(true));
    // Stored again: counted once.
    cache.put(key(4), answer(false));
    assert_eq!(cache.len(), 3);
    assert_eq!(allowed(cache.get(&key(4))), Some(false));
    let off = Cache::new(Duration::from_secs(60), 0);
    off.put(key(1), Answer::ALLOW);
    assert_eq!((off.len(), off.get(&key(1)).is_none()), (0, true));
}

#[test]
fn in_a_chain_ignore_passes_to_the_next_authenticator() {
    let service = Service::start();
    let dir = tempfile::tempdir().unwrap();
    let passwd = dir.path().join("passwd");
    let hash = crate::password_file::hash_password(b"pw");
    std::fs::write(&passwd, format!("ignore:{hash}\n")).unwrap();
    let text = format!(
        "[auth]\nallow_anonymous = false\n[[auth.authn]]\nkind = \"http\"\nurl = {:?}\n\
         [[auth.authn]]\nkind = \"password_file\"\npath = {:?}\n",
        service.url(),
        passwd.display().to_string()
    );
    let config = starling_config::parse_str(&text, "t").unwrap();
    let authenticator = Authenticator::load(&config.auth).unwrap();
    let passed = authenticator.authenticate(&login("ignore", b"pw")).unwrap();
    assert_eq!(passed.by, AllowedBy::PasswordFile);
    let wrong = authenticator.authenticate(&login("ignore", b"nope"));
    assert_eq!(wrong.err(), Some(Refusal::BadCredentials));
    let by_service = authenticator.authenticate(&login("allow", b"x")).unwrap();
    assert_eq!(by_service.by, AllowedBy::Http);
}

#[test]
fn an_https_url_loads_with_the_system_roots() {
    // No request: the client is only set up.
    let authn = http("https://auth.example.invalid/mqtt", "");
    assert_eq!(authn.url, "https://auth.example.invalid/mqtt");
}

#[test]
fn an_https_service_that_fails_the_handshake_is_an_error() {
    // A server that hangs up at once: the TLS setup (ring, system roots) is built and used.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("https://{}/auth", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().take(1) {
            drop(stream);
        }
    });
    let authn = http(&url, "timeout = \"2s\"\n");
    assert_eq!(
        kind(&authn.authenticate(&login("allow", b"pw"))),
        "error deny"
    );
}

#[test]
fn an_allow_may_make_a_superuser_or_carry_the_clients_rules() {
    use crate::acl::{Action, Principal};
    let service = Service::start();
    let authn = http(&service.url(), "");
    match authn.authenticate(&login("root", b"pw")) {
        Outcome::Allow(a) => assert!(a.superuser && a.acl.is_none()),
        other => panic!("{other:?}"),
    }
    let Outcome::Allow(ruled) = authn.authenticate(&login("ruled", b"pw")) else {
        panic!("ruled is let in");
    };
    assert!(!ruled.superuser);
    let acl = ruled.acl.expect("the answer's rules");
    let who = Principal::new(Some("ruled".to_owned()), "c1", None);
    let decide = |action, topic: &str| acl.check(&who, action, topic).map(|g| g.allow);
    assert_eq!(decide(Action::Publish, "up/c1/t"), Some(true));
    assert_eq!(decide(Action::Publish, "up/c2/t"), Some(false));
    assert_eq!(decide(Action::Subscribe, "up/c1/t"), Some(false));
    // From the cache, with its rules.
    let requests = service.requests();
    let Outcome::Allow(again) = authn.authenticate(&login("ruled", b"pw")) else {
        panic!("cached");
    };
    assert!(again.acl.is_some());
    assert_eq!(service.requests(), requests);
    // A rule it cannot read is a service error: `on_error` (deny) decides, not a partial ACL.
    assert_eq!(
        kind(&authn.authenticate(&login("badrule", b"pw"))),
        "error deny"
    );
}
