#![allow(clippy::unwrap_used)]

use super::*;
use crate::acl::{Action, Grant, Principal};
use crate::Authenticator;
use base64::Engine as _;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::json;
use starling_config::AuthnConfig;
use std::path::PathBuf;
use std::time::UNIX_EPOCH;

const RSA_PRIVATE: &[u8] = include_bytes!("testdata/rsa_private.pem");

fn testdata(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("src/jwt/testdata")
        .join(name)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A `jwt` authenticator from the text of one `[[auth.authn]]` (without `kind`).
fn jwt(entry: &str) -> JwtAuthn {
    let text = format!("[[auth.authn]]\nkind = \"jwt\"\n{entry}");
    let config = starling_config::parse_str(&text, "test").unwrap();
    match &config.auth.authn[0] {
        AuthnConfig::Jwt(jwt) => JwtAuthn::load(jwt).unwrap(),
        other => panic!("not jwt: {other:?}"),
    }
}

fn login(client_id: &str, username: Option<&str>, password: &[u8]) -> Credentials {
    Credentials {
        client_id: client_id.to_owned(),
        username: username.map(str::to_owned),
        password: Some(password.to_vec()),
        peer: None,
        cert_verified: false,
    }
}

fn hs256(claims: &Value, secret: &[u8]) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .unwrap()
}

fn allowed(outcome: Outcome) -> Authenticated {
    match outcome {
        Outcome::Allow(authenticated) => authenticated,
        other => panic!("expected allow, got {other:?}"),
    }
}

fn assert_denied(outcome: Outcome) {
    assert!(
        matches!(outcome, Outcome::Deny(Refusal::BadCredentials)),
        "expected deny, got {outcome:?}"
    );
}

const HS: &str = "algorithm = \"HS256\"\nsecret = \"s3cret\"\n";

#[test]
fn hs256_allows_and_the_connection_ends_at_exp() {
    let authn = jwt(HS);
    let exp = now() + 600;
    let token = hs256(&json!({ "exp": exp, "sub": "alice" }), b"s3cret");
    let ok = allowed(authn.authenticate(&login("c1", Some("alice"), token.as_bytes())));
    assert_eq!(ok.by, AllowedBy::Jwt);
    assert_eq!(ok.expires_at, Some(UNIX_EPOCH + Duration::from_secs(exp)));
    assert!(ok.acl.is_none());
    // The username does not matter unless verify_claims says so; none at all is fine too.
    let token = hs256(&json!({ "exp": exp }), b"s3cret");
    allowed(authn.authenticate(&login("c1", None, token.as_bytes())));
}

#[test]
fn a_base64_secret_is_decoded() {
    let key = [0u8, 1, 2, 250, 255];
    let encoded = base64::engine::general_purpose::STANDARD.encode(key);
    let authn = jwt(&format!(
        "algorithm = \"HS256\"\nsecret = \"{encoded}\"\nsecret_base64 = true\n"
    ));
    let token = hs256(&json!({ "exp": now() + 60 }), &key);
    allowed(authn.authenticate(&login("c", None, token.as_bytes())));
    let token = hs256(&json!({ "exp": now() + 60 }), encoded.as_bytes());
    assert_denied(authn.authenticate(&login("c", None, token.as_bytes())));
}

#[test]
fn wrong_secret_wrong_algorithm_and_unsigned_tokens_are_denied() {
    let authn = jwt(HS);
    let claims = json!({ "exp": now() + 60 });
    let wrong = hs256(&claims, b"other");
    assert_denied(authn.authenticate(&login("c", None, wrong.as_bytes())));
    let hs384 = encode(
        &Header::new(Algorithm::HS384),
        &claims,
        &EncodingKey::from_secret(b"s3cret"),
    )
    .unwrap();
    assert_denied(authn.authenticate(&login("c", None, hs384.as_bytes())));
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let unsigned = format!("{}.{}.", b64(&json!({"alg": "none"})), b64(&claims));
    assert_denied(authn.authenticate(&login("c", None, unsigned.as_bytes())));
    // A signature of the right shape that is not one.
    // A character in the middle of the signature changes (the last one may carry only
    // padding bits, and 'A' may be what it was: that made this test fail 1 run in ~20).
    let signed = hs256(&claims, b"s3cret");
    let at = signed.rfind('.').unwrap() + 10;
    let swapped = if &signed[at..=at] == "A" { "B" } else { "A" };
    let tampered = format!("{}{swapped}{}", &signed[..at], &signed[at + 1..]);
    assert_denied(authn.authenticate(&login("c", None, tampered.as_bytes())));
}

#[test]
fn expiry_is_required_and_checked_without_leeway_and_nbf_too() {
    let authn = jwt(HS);
    let expired = hs256(&json!({ "exp": now() - 1 }), b"s3cret");
    assert_denied(authn.authenticate(&login("c", None, expired.as_bytes())));
    let no_exp = hs256(&json!({ "sub": "x" }), b"s3cret");
    assert_denied(authn.authenticate(&login("c", None, no_exp.as_bytes())));
    let not_yet = hs256(
        &json!({ "exp": now() + 600, "nbf": now() + 300 }),
        b"s3cret",
    );
    assert_denied(authn.authenticate(&login("c", None, not_yet.as_bytes())));
    let started = hs256(&json!({ "exp": now() + 600, "nbf": now() - 1 }), b"s3cret");
    allowed(authn.authenticate(&login("c", None, started.as_bytes())));
    // An audience is not checked unless asked for.
    let aud = hs256(
        &json!({ "exp": now() + 600, "aud": "elsewhere" }),
        b"s3cret",
    );
    allowed(authn.authenticate(&login("c", None, aud.as_bytes())));
}

#[test]
fn a_password_that_is_not_a_jwt_passes_on() {
    let authn = jwt(HS);
    for password in [
        &b"plain password"[..],
        b"a.b",
        b"a.b.c.d",
        b"a b.c.d",
        b".payload.sig",
        b"head..sig",
        b"\xff\xfe.a.b",
    ] {
        let outcome = authn.authenticate(&login("c", Some("u"), password));
        assert!(
            matches!(outcome, Outcome::Pass),
            "{password:?}: {outcome:?}"
        );
    }
    let mut none = login("c", Some("u"), b"");
    none.password = None;
    assert!(matches!(authn.authenticate(&none), Outcome::Pass));
    // Shaped like one but not one: refused, not passed on.
    assert_denied(authn.authenticate(&login("c", None, b"aaaa.bbbb.cccc")));
}

#[test]
fn rs256_with_a_pem_public_key() {
    let path = testdata("rsa_public.pem");
    let authn = jwt(&format!(
        "algorithm = \"RS256\"\npublic_key = {:?}\n",
        path.display().to_string()
    ));
    let key = EncodingKey::from_rsa_pem(RSA_PRIVATE).unwrap();
    let token = encode(
        &Header::new(Algorithm::RS256),
        &json!({ "exp": now() + 60 }),
        &key,
    )
    .unwrap();
    allowed(authn.authenticate(&login("c", None, token.as_bytes())));
    let other = jwt(&format!(
        "algorithm = \"RS256\"\npublic_key = {:?}\n",
        testdata("rsa_other_public.pem").display().to_string()
    ));
    assert_denied(other.authenticate(&login("c", None, token.as_bytes())));
    // An HMAC token "signed" with the public key's text: the classic confusion, refused.
    let confused = encode(
        &Header::new(Algorithm::HS256),
        &json!({ "exp": now() + 60 }),
        &EncodingKey::from_secret(&std::fs::read(&path).unwrap()),
    )
    .unwrap();
    assert_denied(authn.authenticate(&login("c", None, confused.as_bytes())));
}

/// An EC P-256 key pair: (PKCS#8 private key PEM, SPKI public key PEM, uncompressed point).
fn p256() -> (String, String, Vec<u8>) {
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    (
        pair.serialize_pem(),
        pair.public_key_pem(),
        pair.public_key_raw().to_vec(),
    )
}

fn es256(claims: &Value, private_pem: &str, kid: Option<&str>) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = kid.map(str::to_owned);
    encode(
        &header,
        claims,
        &EncodingKey::from_ec_pem(private_pem.as_bytes()).unwrap(),
    )
    .unwrap()
}

#[test]
fn es256_with_a_pem_public_key() {
    let dir = tempfile::tempdir().unwrap();
    let (private, public, _) = p256();
    let path = dir.path().join("ec.pem");
    std::fs::write(&path, public).unwrap();
    let authn = jwt(&format!(
        "algorithm = \"ES256\"\npublic_key = {:?}\n",
        path.display().to_string()
    ));
    let token = es256(&json!({ "exp": now() + 60 }), &private, None);
    allowed(authn.authenticate(&login("c", None, token.as_bytes())));
    let (stranger, _, _) = p256();
    let forged = es256(&json!({ "exp": now() + 60 }), &stranger, None);
    assert_denied(authn.authenticate(&login("c", None, forged.as_bytes())));
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A JWK for an uncompressed P-256 point.
fn ec_jwk(kid: &str, point: &[u8]) -> Value {
    json!({
        "kty": "EC", "crv": "P-256", "kid": kid, "use": "sig",
        "x": b64url(&point[1..33]), "y": b64url(&point[33..65]),
    })
}

#[test]
fn jwks_keys_are_picked_by_kid() {
    let dir = tempfile::tempdir().unwrap();
    let (private, _, point) = p256();
    let (other_private, _, other_point) = p256();
    let path = dir.path().join("jwks.json");
    let mut encryption = ec_jwk("enc", &other_point);
    encryption["use"] = json!("enc");
    let set = json!({ "keys": [
        // Skipped: of another type, an encryption key, no kid, an unknown kind.
        { "kty": "oct", "kid": "h", "k": b64url(b"x") },
        encryption,
        { "kty": "EC", "crv": "P-256", "x": b64url(&point[1..33]), "y": b64url(&point[33..65]) },
        { "kty": "weird", "kid": "w" },
        ec_jwk("e1", &point),
    ]});
    std::fs::write(&path, set.to_string()).unwrap();
    let authn = jwt(&format!(
        "algorithm = \"ES256\"\njwks = {:?}\n",
        path.display().to_string()
    ));
    let claims = json!({ "exp": now() + 60 });
    let token = es256(&claims, &private, Some("e1"));
    allowed(authn.authenticate(&login("c", None, token.as_bytes())));
    for (key, kid) in [
        (&private, None),
        (&private, Some("nope")),
        (&other_private, Some("enc")),
        (&other_private, Some("e1")),
    ] {
        let token = es256(&claims, key, kid);
        assert_denied(authn.authenticate(&login("c", None, token.as_bytes())));
    }
}

#[test]
fn jwks_reloads_when_the_file_changes() {
    let dir = tempfile::tempdir().unwrap();
    let (private_a, _, point_a) = p256();
    let (private_b, _, point_b) = p256();
    let path = dir.path().join("jwks.json");
    std::fs::write(
        &path,
        json!({ "keys": [ec_jwk("a", &point_a)] }).to_string(),
    )
    .unwrap();
    let text = format!(
        "[auth]\nallow_anonymous = false\n[[auth.authn]]\nkind = \"jwt\"\nalgorithm = \
         \"ES256\"\njwks = {:?}\n",
        path.display().to_string()
    );
    let config = starling_config::parse_str(&text, "t").unwrap();
    let authenticator = Authenticator::load(&config.auth).unwrap();
    let claims = json!({ "exp": now() + 60 });
    let token_b = es256(&claims, &private_b, Some("b"));
    let b = login("c", Some("u"), token_b.as_bytes());
    assert_eq!(
        authenticator.authenticate(&b).err(),
        Some(Refusal::BadCredentials)
    );
    assert!(authenticator.reload().is_empty(), "unchanged");
    // Longer, so the change shows even within the file system's time granularity.
    let both = json!({ "keys": [ec_jwk("a", &point_a), ec_jwk("b", &point_b)] });
    std::fs::write(&path, both.to_string()).unwrap();
    let reloaded = authenticator.reload();
    assert_eq!(reloaded.len(), 1);
    assert_eq!(reloaded[0].outcome.as_ref().ok(), Some(&2));
    assert_eq!(authenticator.authenticate(&b).unwrap().by, AllowedBy::Jwt);
    // A bad version keeps the keys in force, and says so.
    std::fs::write(
        &path,
        "{ not json, and longer than before, much longer ........ }",
    )
    .unwrap();
    let reloaded = authenticator.reload();
    let error = reloaded[0].outcome.as_ref().unwrap_err().to_string();
    assert!(
        error.contains("jwks.json") && error.contains("not JSON"),
        "{error}"
    );
    let token_a = es256(&claims, &private_a, Some("a"));
    assert!(authenticator
        .authenticate(&login("c", None, token_a.as_bytes()))
        .is_ok());
}

#[test]
fn hmac_keys_can_come_from_a_jwks_too() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwks.json");
    let set =
        json!({ "keys": [{ "kty": "oct", "kid": "h1", "k": b64url(b"k3y"), "alg": "HS256" }] });
    std::fs::write(&path, set.to_string()).unwrap();
    let authn = jwt(&format!(
        "algorithm = \"HS256\"\njwks = {:?}\n",
        path.display().to_string()
    ));
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("h1".into());
    let token = encode(
        &header,
        &json!({ "exp": now() + 60 }),
        &EncodingKey::from_secret(b"k3y"),
    )
    .unwrap();
    allowed(authn.authenticate(&login("c", None, token.as_bytes())));
}

#[test]
fn key_files_that_are_unusable_stop_the_start_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    let empty_set = dir.path().join("empty.json");
    std::fs::write(
        &empty_set,
        r#"{"keys": [{"kty": "RSA", "kid": "r", "n": "AQAB", "e": "AQAB"}]}"#,
    )
    .unwrap();
    for (entry, needles) in [
        (
            format!(
                "algorithm = \"RS256\"\npublic_key = {:?}",
                missing.display().to_string()
            ),
            vec!["missing.pem", "cannot read"],
        ),
        (
            format!(
                "algorithm = \"RS256\"\npublic_key = {:?}",
                testdata("rsa_private.pem").display().to_string()
            ),
            vec!["rsa_private.pem", "private key"],
        ),
        (
            format!(
                "algorithm = \"ES256\"\njwks = {:?}",
                empty_set.display().to_string()
            ),
            vec!["empty.json", "no key usable with ES256"],
        ),
        (
            format!(
                "algorithm = \"ES256\"\npublic_key = {:?}",
                empty_set.display().to_string()
            ),
            vec!["empty.json", "no PEM block"],
        ),
        (
            format!(
                "algorithm = \"ES256\"\npublic_key = {:?}",
                testdata("rsa_public.pem").display().to_string()
            ),
            vec!["rsa_public.pem", "not an EC P-256 public key"],
        ),
    ] {
        let text = format!("[[auth.authn]]\nkind = \"jwt\"\n{entry}\n");
        let config = starling_config::parse_str(&text, "t").unwrap();
        let error = Authenticator::load(&config.auth).unwrap_err().to_string();
        for needle in needles {
            assert!(error.contains(needle), "{entry}: {error}");
        }
    }
}

#[test]
fn verify_claims_with_templates() {
    let authn = jwt(&format!(
        "{HS}verify_claims = {{ client_id = \"%c\", user = \"%u\", tenant = \"t-1\", level = \"3\" }}\n"
    ));
    let token = hs256(
        &json!({ "exp": now() + 60, "client_id": "c1", "user": "alice", "tenant": "t-1", "level": 3 }),
        b"s3cret",
    );
    allowed(authn.authenticate(&login("c1", Some("alice"), token.as_bytes())));
    // Another client id, another username, no username at all.
    assert_denied(authn.authenticate(&login("c2", Some("alice"), token.as_bytes())));
    assert_denied(authn.authenticate(&login("c1", Some("bob"), token.as_bytes())));
    assert_denied(authn.authenticate(&login("c1", None, token.as_bytes())));
    // A claim missing.
    let partial = hs256(
        &json!({ "exp": now() + 60, "client_id": "c1", "user": "alice", "level": 3 }),
        b"s3cret",
    );
    assert_denied(authn.authenticate(&login("c1", Some("alice"), partial.as_bytes())));
}

fn who(username: &str, client_id: &str) -> Principal {
    Principal::new(Some(username.to_owned()), client_id, None)
}

fn grant(rank: u64, allow: bool) -> Option<Grant> {
    Some(Grant { rank, allow })
}

#[test]
fn the_acl_claim_list_form_first_match_wins() {
    let authn = jwt(HS);
    let acl = json!([
        { "permission": "deny", "action": "publish", "topic": "t/secret" },
        { "permission": "allow", "action": "all", "topic": "t/#" },
        { "permission": "allow", "action": "publish", "topic": "dev/%c/up" },
        { "permission": "allow", "action": "subscribe", "topic": "users/${username}/#" },
        { "permission": "deny", "action": "all", "topic": "#" },
    ]);
    let token = hs256(&json!({ "exp": now() + 60, "acl": acl }), b"s3cret");
    let ok = allowed(authn.authenticate(&login("c1", Some("alice"), token.as_bytes())));
    let trie = ok.acl.unwrap();
    assert_eq!(trie.len(), 5);
    let alice = who("alice", "c1");
    for (action, topic, expect) in [
        (Action::Publish, "t/secret", grant(0, false)),
        (Action::Subscribe, "t/secret", grant(1, true)),
        (Action::Publish, "t/open", grant(1, true)),
        (Action::Read, "t/open", grant(1, true)),
        (Action::Publish, "dev/c1/up", grant(2, true)),
        (Action::Publish, "dev/c2/up", grant(4, false)),
        (Action::Subscribe, "users/alice/inbox", grant(3, true)),
        (Action::Subscribe, "users/bob/inbox", grant(4, false)),
        (Action::Publish, "other", grant(4, false)),
        (Action::Read, "$SYS/uptime", None),
    ] {
        assert_eq!(
            trie.check(&alice, action, topic),
            expect,
            "{action:?} {topic}"
        );
    }
}

#[test]
fn the_acl_claim_map_form_allows() {
    let authn = jwt(HS);
    let acl = json!({ "pub": ["up/%c"], "sub": ["down/#"], "all": ["both"] });
    let token = hs256(&json!({ "exp": now() + 60, "acl": acl }), b"s3cret");
    let ok = allowed(authn.authenticate(&login("c1", Some("u"), token.as_bytes())));
    let trie = ok.acl.unwrap();
    let w = who("u", "c1");
    let allows = |action, topic| trie.check(&w, action, topic).map(|g| g.allow);
    assert_eq!(allows(Action::Publish, "up/c1"), Some(true));
    assert_eq!(allows(Action::Publish, "up/c2"), None);
    assert_eq!(allows(Action::Subscribe, "up/c1"), None);
    assert_eq!(allows(Action::Subscribe, "down/x"), Some(true));
    assert_eq!(allows(Action::Publish, "down/x"), None);
    assert_eq!(allows(Action::Publish, "both"), Some(true));
    assert_eq!(allows(Action::Read, "both"), Some(true));
}

#[test]
fn an_acl_claim_the_broker_cannot_honour_refuses_the_token() {
    let authn = jwt(HS);
    for acl in [
        json!([{ "permission": "allow", "action": "publish", "topic": "t", "qos": [0] }]),
        json!([{ "permission": "allow", "action": "publish", "topic": "a/#/b" }]),
        json!([{ "permission": "allow", "action": "publish", "topic": "eq t/#" }]),
        json!([{ "permission": "maybe", "action": "publish", "topic": "t" }]),
        json!([{ "permission": "allow", "action": "read", "topic": "t" }]),
        json!([{ "permission": "allow", "action": "publish" }]),
        json!(["t/#"]),
        json!({ "pub": ["t"], "write": ["u"] }),
        json!({ "pub": "t" }),
        json!("t/#"),
    ] {
        let token = hs256(&json!({ "exp": now() + 60, "acl": acl }), b"s3cret");
        assert_denied(authn.authenticate(&login("c", None, token.as_bytes())));
    }
    let token = hs256(&json!({ "exp": now() + 60, "acl": [] }), b"s3cret");
    assert!(
        allowed(authn.authenticate(&login("c", None, token.as_bytes())))
            .acl
            .is_none()
    );
}

#[test]
fn tokens_are_capped_in_rules_and_size() {
    let authn = jwt(HS);
    let rule = json!({ "permission": "allow", "action": "publish", "topic": "t/#" });
    let at_cap = hs256(
        &json!({ "exp": now() + 60, "acl": vec![rule.clone(); acl::MAX_RULES] }),
        b"s3cret",
    );
    let ok = allowed(authn.authenticate(&login("c", None, at_cap.as_bytes())));
    assert_eq!(ok.acl.unwrap().len(), acl::MAX_RULES);
    let over = hs256(
        &json!({ "exp": now() + 60, "acl": vec![rule; acl::MAX_RULES + 1] }),
        b"s3cret",
    );
    assert_denied(authn.authenticate(&login("c", None, over.as_bytes())));
    let topics = vec!["t"; acl::MAX_RULES / 2 + 1];
    let map_over = hs256(
        &json!({ "exp": now() + 60, "acl": { "pub": topics, "sub": topics } }),
        b"s3cret",
    );
    assert_denied(authn.authenticate(&login("c", None, map_over.as_bytes())));
    let big = hs256(
        &json!({ "exp": now() + 60, "pad": "x".repeat(MAX_TOKEN_BYTES) }),
        b"s3cret",
    );
    assert!(big.len() > MAX_TOKEN_BYTES);
    assert_denied(authn.authenticate(&login("c", None, big.as_bytes())));
}

#[test]
fn in_a_chain_a_password_that_is_not_a_jwt_reaches_the_next_authenticator() {
    let dir = tempfile::tempdir().unwrap();
    let passwd = dir.path().join("passwd");
    let line = crate::password_file::hash_password(b"pw");
    std::fs::write(&passwd, format!("alice:{line}\n")).unwrap();
    let text = format!(
        "[auth]\nallow_anonymous = false\n[[auth.authn]]\nkind = \"jwt\"\n{HS}\n\
         [[auth.authn]]\nkind = \"password_file\"\npath = {:?}\n",
        passwd.display().to_string()
    );
    let config = starling_config::parse_str(&text, "t").unwrap();
    let authenticator = Authenticator::load(&config.auth).unwrap();
    let by_password = authenticator.authenticate(&login("c", Some("alice"), b"pw"));
    assert_eq!(by_password.unwrap().by, AllowedBy::PasswordFile);
    let token = hs256(&json!({ "exp": now() + 60 }), b"s3cret");
    let by_token = authenticator.authenticate(&login("c", Some("alice"), token.as_bytes()));
    assert_eq!(by_token.unwrap().by, AllowedBy::Jwt);
    let bad = hs256(&json!({ "exp": now() + 60 }), b"nope");
    let refused = authenticator.authenticate(&login("c", Some("alice"), bad.as_bytes()));
    assert_eq!(refused.err(), Some(Refusal::BadCredentials));
}
