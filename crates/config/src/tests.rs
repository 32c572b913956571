#![allow(clippy::unwrap_used)]

use std::time::Duration;

use super::*;

const DOC: &str = include_str!("../../../config/starling.toml");

/// The problem reported for `text`, which must be refused as invalid.
fn invalid(text: &str) -> (String, String) {
    match parse_str(text, "test.toml") {
        Err(ConfigError::Invalid { key, problem }) => (key, problem),
        other => panic!("expected an invalid value for {text:?}, got {other:?}"),
    }
}

/// The message reported for `text`, which must be refused as a syntax/type error.
fn syntax(text: &str) -> String {
    match parse_str(text, "test.toml") {
        Err(ConfigError::Syntax { origin, message }) => {
            assert_eq!(origin, "test.toml");
            message
        }
        other => panic!("expected a syntax error for {text:?}, got {other:?}"),
    }
}

#[test]
fn defaults_validate() {
    assert!(RawConfig::default().validate().is_ok());
}

#[test]
fn documented_file_equals_defaults() {
    assert_eq!(
        RawConfig::parse_str(DOC, "starling.toml").unwrap(),
        RawConfig::default()
    );
    assert_eq!(parse_str(DOC, "starling.toml").unwrap(), Config::default());
}

#[test]
fn empty_file_is_the_defaults() {
    assert_eq!(parse_str("", "empty.toml").unwrap(), Config::default());
}

#[test]
fn typed_defaults() {
    let c = Config::default();
    assert_eq!(c.node.name, "starling@127.0.0.1");
    assert_eq!(c.node.worker_threads, None);
    assert_eq!(c.listeners.len(), 5);
    assert_eq!(c.listeners[0].kind, ListenerKind::Tcp);
    assert_eq!(c.listeners[0].bind, "0.0.0.0:1883".parse().unwrap());
    assert_eq!(c.listeners[0].name, None);
    assert_eq!(c.mqtt.max_packet_size, 1_048_576);
    assert_eq!(c.mqtt.server_keep_alive, None);
    assert_eq!(c.mqtt.connect_timeout, Duration::from_secs(10));
    assert_eq!(c.mqtt.max_session_expiry, Duration::from_secs(7200));
    assert_eq!(c.mqtt.max_keepalive, Some(65_535));
    assert_eq!(c.mqtt.max_user_properties, 32);
    assert_eq!(c.mqtt.max_user_property_bytes, 8192);
    assert_eq!(c.mqtt.max_topic_alias_bytes, 65_536);
    assert_eq!(c.mqtt.max_subscriptions, Some(1000));
    assert_eq!(c.mqtt.send_timeout, Duration::from_secs(30));
    assert_eq!(c.session.queue_overflow, QueueOverflow::DropOldest);
    assert_eq!(c.retain.max_messages, Some(1_000_000));
    assert_eq!(c.shared.strategy, SharedStrategy::RoundRobin);
    assert_eq!(c.sys.interval, Some(Duration::from_secs(10)));
    assert_eq!(c.log.level, "info");
}

#[test]
fn values_are_typed() {
    let c = parse_str(
        r#"
        [node]
        worker_threads = 3
        [[listener]]
        name = "a"
        bind = "127.0.0.1:1883"
        [[listener]]
        name = "b"
        bind = "[::1]:1884"
        max_connections = 10
        [mqtt]
        server_keep_alive = 60
        keepalive_multiplier = 2
        max_session_expiry = "1h 30m"
        max_keepalive = 0
        max_subscriptions = 0
        send_timeout = "1m"
        [session]
        queue_overflow = "disconnect"
        [retain]
        max_messages = 0
        [shared]
        strategy = "hash_clientid"
        [delayed]
        max_messages = 0
        [sys]
        interval = "0s"
        [log]
        level = "warn, starling_broker=debug"
        "#,
        "t",
    )
    .unwrap();
    assert_eq!(c.node.worker_threads, Some(3));
    assert_eq!(c.listeners.len(), 2);
    assert_eq!(c.listeners[1].name.as_deref(), Some("b"));
    assert_eq!(c.listeners[1].bind, "[::1]:1884".parse().unwrap());
    assert_eq!(c.listeners[1].max_connections, 10);
    assert_eq!(c.mqtt.server_keep_alive, Some(60));
    assert!((c.mqtt.keepalive_multiplier - 2.0).abs() < f64::EPSILON);
    assert_eq!(c.mqtt.max_session_expiry, Duration::from_secs(5400));
    assert_eq!(c.mqtt.max_keepalive, None);
    assert_eq!(c.mqtt.max_subscriptions, None);
    assert_eq!(c.mqtt.send_timeout, Duration::from_secs(60));
    assert_eq!(c.session.queue_overflow, QueueOverflow::Disconnect);
    assert_eq!(c.retain.max_messages, None);
    assert_eq!(c.shared.strategy, SharedStrategy::HashClientid);
    assert_eq!(c.delayed.max_messages, None);
    assert_eq!(c.sys.interval, None);
}

#[test]
fn the_documented_example_message() {
    let err = parse_str("[mqtt]\nmax_packet_size = 0\n", "t").unwrap_err();
    assert_eq!(
        err.to_string(),
        "mqtt.max_packet_size: must be between 1 and 268435456, got 0"
    );
}

#[test]
fn each_invalid_value_names_its_key() {
    let cases: &[(&str, &str, &str)] = &[
        ("[node]\nname = \"\"", "node.name", "must not be empty"),
        ("[node]\nname = \"a/b\"", "node.name", "'/'"),
        ("[node]\nworker_threads = -1", "node.worker_threads", "between 0 and 1024"),
        ("listener = []", "listener", "at least one"),
        ("[[listener]]\nname = \"\"", "listener[0].name", "must not be empty"),
        (
            "[[listener]]\nname = \"x\"\nbind = \"0.0.0.0:1\"\n[[listener]]\nname = \"x\"\nbind = \"0.0.0.0:2\"",
            "listener[1].name",
            "listener[0]",
        ),
        ("[[listener]]\n[[listener]]", "listener[1].bind", "already bound by listener[0]"),
        ("[[listener]]\nkind = \"tcp\"\n[listener.tls]", "listener[0].tls", "only \"tls\""),
        ("[[listener]]\nkind = \"tls\"\n[listener.ws]", "listener[0].ws", "only \"ws\""),
        ("[[listener]]\nkind = \"quic\"\nproxy_protocol = true", "listener[0].proxy_protocol", "not \"quic\""),
        ("[[listener]]\nkind = \"tls\"\n[listener.tls]\nverify = \"yes\"", "listener[0].tls.verify", "\"yes\""),
        ("[[listener]]\nkind = \"tls\"\n[listener.tls]\nversions = [\"tlsv1.1\"]", "listener[0].tls.versions", "\"tlsv1.1\""),
        ("[[listener]]\nkind = \"tls\"\n[listener.tls]\nversions = []", "listener[0].tls.versions", "at least one"),
        ("[[listener]]\nkind = \"tls\"\n[listener.tls]\ncertfile = \"a.pem\"", "listener[0].tls.keyfile", "must be set"),
        ("[[listener]]\nkind = \"wss\"\n[listener.tls]\npeer_cert_as_username = \"dn\"", "listener[0].tls.peer_cert_as_username", "\"dn\""),
        ("[[listener]]\nkind = \"ws\"\n[listener.ws]\npath = \"mqtt\"", "listener[0].ws.path", "start with '/'"),
        ("[[listener]]\nkind = \"ws\"\n[listener.ws]\nmax_frame_size = 10", "listener[0].ws.max_frame_size", "got 10"),
        ("[[listener]]\nkind = \"ws\"\n[listener.ws]\ntrusted_proxies = [\"10.0.0.0/33\"]", "listener[0].ws.trusted_proxies", "10.0.0.0/33"),
        ("[[listener]]\nhandshake_timeout = \"0s\"", "listener[0].handshake_timeout", "more than 0s"),
        ("[[listener]]\nbind = \"localhost\"", "listener[0].bind", "\"localhost\""),
        ("[[listener]]\nmax_connections = 0", "listener[0].max_connections", "got 0"),
        ("[mqtt]\nmax_packet_size = 268435457", "mqtt.max_packet_size", "got 268435457"),
        ("[mqtt]\nmax_client_id_len = 22", "mqtt.max_client_id_len", "between 23 and 65535"),
        ("[mqtt]\nmax_client_id_len = 65536", "mqtt.max_client_id_len", "got 65536"),
        ("[mqtt]\nmax_topic_levels = 0", "mqtt.max_topic_levels", "got 0"),
        ("[mqtt]\nmax_qos = 3", "mqtt.max_qos", "between 0 and 2, got 3"),
        ("[mqtt]\nmax_qos = -1", "mqtt.max_qos", "got -1"),
        ("[mqtt]\ntopic_alias_maximum = 65536", "mqtt.topic_alias_maximum", "got 65536"),
        ("[mqtt]\nreceive_maximum = 0", "mqtt.receive_maximum", "between 1 and 65535"),
        ("[mqtt]\nmax_inflight = 0", "mqtt.max_inflight", "between 1 and 65535"),
        ("[mqtt]\nkeepalive_multiplier = 0.5", "mqtt.keepalive_multiplier", "between 1.0 and 100.0, got 0.5"),
        ("[mqtt]\nkeepalive_multiplier = nan", "mqtt.keepalive_multiplier", "NaN"),
        ("[mqtt]\nkeepalive_multiplier = 1e300", "mqtt.keepalive_multiplier", "between 1.0 and 100.0"),
        ("[mqtt]\nkeepalive_multiplier = inf", "mqtt.keepalive_multiplier", "between 1.0 and 100.0"),
        ("[mqtt]\nmax_keepalive = 65536", "mqtt.max_keepalive", "between 0 and 65535"),
        ("[mqtt]\nmax_keepalive = -1", "mqtt.max_keepalive", "got -1"),
        ("[mqtt]\nmax_user_properties = -1", "mqtt.max_user_properties", "between 0 and 65535"),
        ("[mqtt]\nmax_user_property_bytes = 268435457", "mqtt.max_user_property_bytes", "got 268435457"),
        ("[mqtt]\nmax_topic_alias_bytes = -1", "mqtt.max_topic_alias_bytes", "got -1"),
        ("[mqtt]\nmax_subscriptions = -1", "mqtt.max_subscriptions", "got -1"),
        ("[mqtt]\nsend_timeout = \"500ms\"", "mqtt.send_timeout", "at least 1s"),
        ("[mqtt]\nsend_timeout = \"soon\"", "mqtt.send_timeout", "\"soon\""),
        ("[mqtt]\nserver_keep_alive = 65536", "mqtt.server_keep_alive", "got 65536"),
        ("[mqtt]\nconnect_timeout = \"10\"", "mqtt.connect_timeout", "\"10\""),
        ("[mqtt]\nconnect_timeout = \"0s\"", "mqtt.connect_timeout", "more than 0s"),
        ("[mqtt]\nmax_session_expiry = \"200y\"", "mqtt.max_session_expiry", "at most 4294967295s"),
        ("[mqtt]\nmax_awaiting_rel = 0", "mqtt.max_awaiting_rel", "got 0"),
        ("[mqtt]\nmax_awaiting_rel = 10", "mqtt.max_awaiting_rel", "mqtt.receive_maximum (32)"),
        ("[session]\nmax_queue_len = -1", "session.max_queue_len", "got -1"),
        ("[retain]\nmax_messages = -1", "retain.max_messages", "got -1"),
        ("[retain]\nmax_payload_size = 0", "retain.max_payload_size", "got 0"),
        ("[delayed]\nmax_messages = 4294967296", "delayed.max_messages", "got 4294967296"),
        ("[sys]\ninterval = \"500ms\"", "sys.interval", "at least 1s"),
        ("[sys]\ninterval = \"often\"", "sys.interval", "\"often\""),
        ("[node]\ndata_dir = \"\"", "node.data_dir", "must not be empty"),
        ("[durability]\nfsync = \"sometimes\"", "durability.fsync", "\"sometimes\""),
        ("[durability]\nfsync = \"interval\"\nfsync_interval = \"0s\"", "durability.fsync_interval", "more than 0s"),
        ("[durability]\nfsync = \"interval\"\nfsync_interval = \"x\"", "durability.fsync_interval", "\"x\""),
        ("[auth]\nno_match = \"maybe\"", "auth.no_match", "\"maybe\""),
        ("[auth]\ndeny_action = \"shout\"", "auth.deny_action", "\"shout\""),
        ("[auth]\nfailure_delay = \"9s\"", "auth.max_failure_delay", "at least auth.failure_delay"),
        ("[[auth.authn]]\nkind = \"ldap\"", "auth.authn[0].kind", "\"ldap\""),
        ("[[auth.authn]]\nkind = \"password_file\"", "auth.authn[0].path", "needs a path"),
        ("[[auth.authn]]\nkind = \"x509\"\npath = \"x\"", "auth.authn[0].path", "takes no path"),
        ("[[auth.authn]]\nkind = \"builtin\"\npath = \"x\"", "auth.authn[0].path", "users are in the store"),
        ("[[auth.authz]]\nkind = \"builtin\"\npath = \"x\"", "auth.authz[0].path", "rules are in the store"),
        ("[auth]\nmax_users = 0", "auth.max_users", "got 0"),
        ("[auth]\nmax_rules = -1", "auth.max_rules", "got -1"),
        ("[[auth.authz]]\nkind = \"acl_file\"\npath = \"a\"\n[[auth.authz]]\nkind = \"http\"", "auth.authz[1].kind", "\"http\""),
        ("[overload]\nmemory_high = \"120%\"", "overload.memory_high", "1% to 100%"),
        ("[overload]\nmemory_high = \"lots\"", "overload.memory_high", "\"lots\""),
        ("[overload]\ncheck_interval = \"10ms\"", "overload.check_interval", "at least 100ms"),
        ("[flapping]\nmax_count = 0", "flapping.max_count", "got 0"),
        ("[flapping]\nwindow = \"0s\"", "flapping.window", "more than 0s"),
        ("[banned]\nmax_entries = 0", "banned.max_entries", "got 0"),
        ("[rate_limit]\nmessages_per_second = -1", "rate_limit.messages_per_second", "got -1"),
        ("[[auth.authn]]\nkind = \"password_file\"\npath = \"p\"\nalgorithm = \"HS256\"", "auth.authn[0].algorithm", "takes no algorithm"),
        ("[[auth.authn]]\nkind = \"x509\"\nurl = \"http://a\"", "auth.authn[0].url", "takes no url"),
        ("[[auth.authn]]\nkind = \"jwt\"\nsecret = \"s\"", "auth.authn[0].algorithm", "needs an algorithm"),
        ("[[auth.authn]]\nkind = \"jwt\"\nalgorithm = \"HS257\"\nsecret = \"s\"", "auth.authn[0].algorithm", "\"HS257\""),
        ("[[auth.authn]]\nkind = \"jwt\"\nalgorithm = \"none\"\nsecret = \"s\"", "auth.authn[0].algorithm", "\"none\""),
        ("[[auth.authn]]\nkind = \"jwt\"\nalgorithm = \"HS256\"", "auth.authn[0].secret", "exactly one of secret, public_key or jwks"),
        ("[[auth.authn]]\nkind = \"jwt\"\nalgorithm = \"HS256\"\nsecret = \"s\"\njwks = \"k.json\"", "auth.authn[0].jwks", "only one of"),
        ("[[auth.authn]]\nkind = \"jwt\"\nalgorithm = \"RS256\"\npublic_key = \"k.pem\"\njwks = \"k.json\"", "auth.authn[0].jwks", "public_key is too"),
        ("[[auth.authn]]\nkind = \"jwt\"\nalgorithm = \"RS256\"\nsecret = \"s\"", "auth.authn[0].secret", "RS256 verifies with a public_key or jwks"),
        ("[[auth.authn]]\nkind = \"jwt\"\nalgorithm = \"HS512\"\npublic_key = \"k.pem\"", "auth.authn[0].public_key", "HS512 verifies with a secret"),
        ("[[auth.authn]]\nkind = \"jwt\"\nalgorithm = \"HS256\"\nsecret = \"not base64!\"\nsecret_base64 = true", "auth.authn[0].secret", "not valid base64"),
        ("[[auth.authn]]\nkind = \"jwt\"\nalgorithm = \"HS256\"\nsecret_base64 = true", "auth.authn[0].secret", "secret is empty"),
        ("[[auth.authn]]\nkind = \"jwt\"\nalgorithm = \"ES256\"\npublic_key = \"k.pem\"\nsecret_base64 = true", "auth.authn[0].secret_base64", "secret only"),
        ("[[auth.authn]]\nkind = \"jwt\"\nalgorithm = \"HS256\"\nsecret = \"s\"\nverify_claims = { \"\" = \"x\" }", "auth.authn[0].verify_claims", "must not be empty"),
        ("[[auth.authn]]\nkind = \"jwt\"\nalgorithm = \"HS256\"\nsecret = \"s\"\ntimeout = \"1s\"", "auth.authn[0].timeout", "kind \"jwt\" takes no timeout"),
        ("[[auth.authn]]\nkind = \"http\"", "auth.authn[0].url", "needs a url"),
        ("[[auth.authn]]\nkind = \"http\"\nurl = \"ftp://auth\"", "auth.authn[0].url", "http:// or https://, got \"ftp://auth\""),
        ("[[auth.authn]]\nkind = \"http\"\nurl = \"https:///path\"", "auth.authn[0].url", "has no host"),
        ("[[auth.authn]]\nkind = \"http\"\nurl = \"http://a b/\"", "auth.authn[0].url", "blanks"),
        ("[[auth.authn]]\nkind = \"http\"\nurl = \"http://a\"\ntimeout = \"50ms\"", "auth.authn[0].timeout", "between 100ms and 60s, got 50ms"),
        ("[[auth.authn]]\nkind = \"http\"\nurl = \"http://a\"\ntimeout = \"61s\"", "auth.authn[0].timeout", "got 61s"),
        ("[[auth.authn]]\nkind = \"http\"\nurl = \"http://a\"\ntimeout = \"quick\"", "auth.authn[0].timeout", "\"quick\""),
        ("[[auth.authn]]\nkind = \"http\"\nurl = \"http://a\"\ncache_ttl = \"long\"", "auth.authn[0].cache_ttl", "\"long\""),
        ("[[auth.authn]]\nkind = \"http\"\nurl = \"http://a\"\ncache_size = -1", "auth.authn[0].cache_size", "got -1"),
        ("[[auth.authn]]\nkind = \"http\"\nurl = \"http://a\"\non_error = \"retry\"", "auth.authn[0].on_error", "\"retry\""),
        ("[[auth.authn]]\nkind = \"x509\"\n[[auth.authn]]\nkind = \"http\"\nurl = \"http://a\"\nsecret = \"s\"", "auth.authn[1].secret", "kind \"http\" takes no secret"),
        ("[log]\nlevel = \"\"", "log.level", "must not be empty"),
        ("[log]\nlevel = \"loud\"", "log.level", "\"loud\""),
        ("[log]\nlevel = \"info,a=b\"", "log.level", "\"a=b\""),
    ];
    for (text, key, needle) in cases {
        let (k, problem) = invalid(text);
        assert_eq!(&k, key, "for {text:?}: {problem}");
        assert!(
            problem.contains(needle),
            "for {text:?}: {problem:?} lacks {needle:?}"
        );
    }
}

#[test]
fn log_filters_accepted() {
    for level in [
        "trace",
        "DEBUG",
        "off",
        "starling=debug",
        "info,a::b=trace, c-d=warn",
    ] {
        let text = format!("[log]\nlevel = {level:?}");
        assert!(parse_str(&text, "t").is_ok(), "{level}");
    }
}

#[test]
fn unknown_keys_are_refused_by_name() {
    let m = syntax("[mqtt]\nmax_packet_sise = 1\n");
    assert!(m.contains("unknown field `max_packet_sise`"), "{m}");
    assert!(m.contains("line 2"), "{m}");
    let m = syntax("[mqttt]\n");
    assert!(m.contains("unknown field `mqttt`"), "{m}");
    let m = syntax("[[listener]]\nport = 1\n");
    assert!(m.contains("unknown field `port`"), "{m}");
}

#[test]
fn type_and_enum_errors_name_the_key() {
    let m = syntax("[mqtt]\nmax_qos = \"2\"\n");
    assert!(m.contains("max_qos") || m.contains("line 2"), "{m}");
    let m = syntax("[session]\nqueue_overflow = \"drop_all\"\n");
    assert!(m.contains("drop_all") && m.contains("line 2"), "{m}");
    let m = syntax("[[listener]]\nkind = \"udp\"\n");
    assert!(m.contains("udp"), "{m}");
    let m = syntax("[shared]\nstrategy = \"fair\"\n");
    assert!(m.contains("fair"), "{m}");
}

#[test]
fn syntax_error_names_the_origin() {
    let err = parse_str("[mqtt\n", "/etc/starling.toml").unwrap_err();
    assert!(err.to_string().starts_with("/etc/starling.toml: "), "{err}");
}

#[test]
fn from_table_names_the_key() {
    let mut mqtt = toml::Table::new();
    mqtt.insert("max_qos".into(), toml::Value::String("x".into()));
    let mut table = toml::Table::new();
    table.insert("mqtt".into(), toml::Value::Table(mqtt));
    let err = Config::from_table(table, "env").unwrap_err();
    let ConfigError::Syntax { origin, message } = err else {
        panic!("{err:?}")
    };
    assert_eq!(origin, "env");
    assert!(message.contains("mqtt.max_qos"), "{message}");
}

#[test]
fn from_table_of_defaults() {
    let table: toml::Table = DOC.parse().unwrap();
    assert_eq!(Config::from_table(table, "t").unwrap(), Config::default());
}

#[test]
fn response_information_is_optional_and_checked() {
    let config =
        crate::parse_str("[mqtt]\nresponse_information = \"reply/\"\n", "t.toml").expect("valid");
    assert_eq!(config.mqtt.response_information.as_deref(), Some("reply/"));
    let err = crate::parse_str("[mqtt]\nresponse_information = \"a\\u0000\"\n", "t.toml")
        .expect_err("NUL refused")
        .to_string();
    assert!(err.contains("mqtt.response_information"), "{err}");
}

#[test]
fn the_default_listeners_are_the_five_emqx_ports() {
    let c = Config::default();
    let kinds: Vec<_> = c
        .listeners
        .iter()
        .map(|l| (l.kind.as_str(), l.bind.port()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("tcp", 1883),
            ("tls", 8883),
            ("ws", 8083),
            ("wss", 8084),
            ("quic", 14567)
        ]
    );
    assert!(c.listeners[1].tls.is_some() && c.listeners[1].ws.is_none());
    assert!(c.listeners[3].tls.is_some() && c.listeners[3].ws.is_some());
    assert_eq!(
        c.listeners[2].ws.as_ref().map(|w| w.path.as_str()),
        Some("/mqtt")
    );
}

#[test]
fn a_tls_listener_without_a_section_gets_the_defaults() {
    let c = parse_str(
        "[[listener]]\nkind = \"tls\"\nbind = \"127.0.0.1:8883\"\n",
        "t",
    )
    .unwrap();
    assert_eq!(c.listeners[0].tls, Some(crate::TlsConfig::default()));
}

#[test]
fn ip_networks_match_their_addresses() {
    use crate::IpNet;
    let net = IpNet::parse("10.1.0.0/16").unwrap();
    assert!(net.contains("10.1.200.3".parse().unwrap()));
    assert!(!net.contains("10.2.0.1".parse().unwrap()));
    assert!(net.contains("::ffff:10.1.0.9".parse().unwrap()));
    let one = IpNet::parse("127.0.0.1").unwrap();
    assert!(one.contains("127.0.0.1".parse().unwrap()));
    assert!(!one.contains("127.0.0.2".parse().unwrap()));
    assert!(IpNet::parse("0.0.0.0/0")
        .unwrap()
        .contains("8.8.8.8".parse().unwrap()));
    assert!(IpNet::parse("::1/128")
        .unwrap()
        .contains("::1".parse().unwrap()));
    assert!(IpNet::parse("::/0")
        .unwrap()
        .contains("2001:db8::1".parse().unwrap()));
    assert_eq!(IpNet::parse("1.2.3.4/40"), None);
    assert_eq!(IpNet::parse("host"), None);
}

#[test]
fn no_match_denies_once_an_authz_source_is_configured() {
    let none = parse_str("", "t").unwrap();
    assert!(none.auth.no_match_allows && none.auth.authz.is_empty());
    let acl = parse_str("[[auth.authz]]\nkind = \"acl_file\"\npath = \"acl\"\n", "t").unwrap();
    assert!(!acl.auth.no_match_allows);
    let explicit = parse_str(
        "[auth]\nno_match = \"allow\"\n[[auth.authz]]\nkind = \"acl_file\"\npath = \"acl\"\n",
        "t",
    )
    .unwrap();
    assert!(explicit.auth.no_match_allows);
    assert_eq!(
        explicit.auth.authz,
        vec![crate::AuthzConfig::AclFile { path: "acl".into() }]
    );
}

#[test]
fn builtin_is_an_authenticator_and_an_authorization_source() {
    use crate::{AuthnConfig, AuthzConfig};
    let text = "[auth]\nmax_users = 7\nmax_rules = 9\n[[auth.authn]]\nkind = \"builtin\"\n\
                [[auth.authn]]\nkind = \"x509\"\n[[auth.authz]]\nkind = \"builtin\"\n\
                [[auth.authz]]\nkind = \"acl_file\"\npath = \"acl\"\n";
    let config = parse_str(text, "t").unwrap();
    assert_eq!(
        config.auth.authn,
        vec![AuthnConfig::Builtin, AuthnConfig::X509]
    );
    assert_eq!(
        config.auth.authz,
        vec![
            AuthzConfig::Builtin,
            AuthzConfig::AclFile { path: "acl".into() }
        ]
    );
    assert_eq!((config.auth.max_users, config.auth.max_rules), (7, 9));
    assert!(!config.auth.no_match_allows);
    let defaults = parse_str("", "t").unwrap();
    assert_eq!(
        (defaults.auth.max_users, defaults.auth.max_rules),
        (100_000, 100_000)
    );
}

#[test]
fn jwt_and_http_authenticators_validate_with_their_defaults() {
    use crate::{AuthnConfig, HttpConfig, HttpOnError, JwtAlgorithm, JwtConfig, JwtKey};
    let text = "[[auth.authn]]\nkind = \"jwt\"\nalgorithm = \"ES384\"\njwks = \"keys.json\"\n\
                verify_claims = { client_id = \"%c\", sub = \"%u\" }\n\
                [[auth.authn]]\nkind = \"jwt\"\nalgorithm = \"HS256\"\nsecret = \"AAEC\"\nsecret_base64 = true\n\
                [[auth.authn]]\nkind = \"http\"\nurl = \"https://auth.local:8443/mqtt?x=1\"\n\
                [[auth.authn]]\nkind = \"http\"\nurl = \"http://127.0.0.1/a\"\ntimeout = \"100ms\"\n\
                cache_ttl = \"0s\"\ncache_size = 0\non_error = \"ignore\"\n";
    let authn = parse_str(text, "t").unwrap().auth.authn;
    assert_eq!(
        authn[0],
        AuthnConfig::Jwt(JwtConfig {
            algorithm: JwtAlgorithm::Es384,
            key: JwtKey::Jwks("keys.json".into()),
            verify_claims: vec![
                ("client_id".into(), "%c".into()),
                ("sub".into(), "%u".into())
            ],
        })
    );
    let AuthnConfig::Jwt(JwtConfig {
        key: JwtKey::Secret(secret),
        ..
    }) = &authn[1]
    else {
        panic!("{:?}", authn[1]);
    };
    assert_eq!(secret.as_bytes(), [0, 1, 2]);
    assert!(!format!("{secret:?}").contains("AAEC"));
    assert_eq!(
        authn[2],
        AuthnConfig::Http(HttpConfig {
            url: "https://auth.local:8443/mqtt?x=1".into(),
            timeout: Duration::from_secs(5),
            cache_ttl: Duration::from_secs(60),
            cache_size: 10_000,
            on_error: HttpOnError::Deny,
        })
    );
    assert_eq!(
        authn[3],
        AuthnConfig::Http(HttpConfig {
            url: "http://127.0.0.1/a".into(),
            timeout: Duration::from_millis(100),
            cache_ttl: Duration::ZERO,
            cache_size: 0,
            on_error: HttpOnError::Ignore,
        })
    );
}

#[test]
fn the_commented_authn_examples_of_the_documented_file_validate() {
    // Each example is a `# [[auth.authn]]` line and the `# key = value` lines after it.
    let lines: Vec<&str> = DOC.lines().collect();
    let mut examples = 0;
    for (at, _) in lines
        .iter()
        .enumerate()
        .filter(|(_, l)| **l == "# [[auth.authn]]")
    {
        let mut text = String::from("[[auth.authn]]\n");
        for line in &lines[at + 1..] {
            match line.strip_prefix("# ") {
                Some(kv) if kv.contains(" = ") && !kv.starts_with(' ') => {
                    text.push_str(kv);
                    text.push('\n');
                }
                _ => break,
            }
        }
        if let Err(e) = parse_str(&text, "example") {
            panic!("{text}: {e}");
        }
        examples += 1;
    }
    assert!(examples >= 3, "{examples}");
}

#[test]
fn scram_validates_with_its_defaults_and_names_a_bad_key() {
    use crate::{AuthnConfig, ScramAlgorithm, ScramConfig};
    let text = "[[auth.authn]]\nkind = \"scram\"\n\
                [[auth.authn]]\nkind = \"scram\"\nalgorithms = [\"SCRAM-SHA-512\"]\niterations = 10000\n";
    let config = parse_str(text, "t").unwrap();
    assert_eq!(
        config.auth.authn,
        vec![
            AuthnConfig::Scram(ScramConfig {
                algorithms: vec![ScramAlgorithm::Sha256, ScramAlgorithm::Sha512],
                iterations: 4096,
            }),
            AuthnConfig::Scram(ScramConfig {
                algorithms: vec![ScramAlgorithm::Sha512],
                iterations: 10_000,
            }),
        ]
    );
    for (entry, key) in [
        ("iterations = 100", "auth.authn[0].iterations"),
        ("iterations = 2000000", "auth.authn[0].iterations"),
        ("algorithms = []", "auth.authn[0].algorithms"),
        ("algorithms = [\"SCRAM-SHA-1\"]", "auth.authn[0].algorithms"),
        (
            "algorithms = [\"SCRAM-SHA-256\", \"SCRAM-SHA-256\"]",
            "auth.authn[0].algorithms",
        ),
        ("path = \"x\"", "auth.authn[0].path"),
    ] {
        let (got, problem) = invalid(&format!("[[auth.authn]]\nkind = \"scram\"\n{entry}\n"));
        assert_eq!(got, key, "{entry}: {problem}");
    }
}
