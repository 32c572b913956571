//! `RawConfig::validate`: checks every value and converts it to its typed form.
//!
//! Each check names the key's full path (`mqtt.max_packet_size`, `listener[1].bind`) and the
//! value it refused, so an operator can fix the file without reading this code. Checks are
//! done section by section in file order, and the first failure is reported.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::ConfigError;
use crate::model::{
    CertFiles, Config, DelayedConfig, DurabilityConfig, IpNet, ListenerConfig, ListenerKind,
    LogConfig, MqttConfig, NodeConfig, PeerCertField, PeerVerify, RetainConfig, SessionConfig,
    SharedConfig, SysConfig, TlsConfig, TlsVersion, WsConfig,
};
use crate::raw::{
    RawConfig, RawDelayed, RawDurability, RawListener, RawLog, RawMqtt, RawNode, RawRetain,
    RawSession, RawSys, RawTls, RawWs,
};

/// The largest packet MQTT can express: the Remaining Length's maximum plus the fixed header.
pub const MAX_PACKET_SIZE: i64 = 268_435_456;

impl RawConfig {
    /// Checks every value and returns the typed configuration, or the first problem found.
    pub fn validate(self) -> Result<Config, ConfigError> {
        Ok(Config {
            node: node(self.node)?,
            listeners: listeners(self.listeners)?,
            mqtt: mqtt(self.mqtt)?,
            session: session(self.session)?,
            retain: retain(self.retain)?,
            shared: SharedConfig {
                strategy: self.shared.strategy,
            },
            delayed: delayed(self.delayed)?,
            sys: sys(self.sys)?,
            log: log(self.log)?,
            durability: durability(self.durability)?,
            auth: crate::auth::validate(self.auth)?,
            flapping: crate::protection::flapping(self.flapping)?,
            max_bans: crate::protection::banned(self.banned)?,
            rate_limit: crate::protection::rate_limit(self.rate_limit)?,
            overload: crate::protection::overload(self.overload)?,
            api: crate::api::validate(self.api, self.prometheus)?,
            modules: crate::modules::validate(self.topic_rewrite, self.auto_subscribe)?,
            trace: crate::trace::validate(self.trace)?,
        })
    }
}

fn node(raw: RawNode) -> Result<NodeConfig, ConfigError> {
    if raw.name.is_empty() {
        return Err(ConfigError::invalid("node.name", "must not be empty"));
    }
    if let Some(c) = raw
        .name
        .chars()
        .find(|c| matches!(c, '/' | '+' | '#' | '\0'))
    {
        return Err(ConfigError::invalid(
            "node.name",
            format!(
                "must be a single topic level without {c:?}, got {:?}",
                raw.name
            ),
        ));
    }
    let worker_threads: usize = int("node.worker_threads", raw.worker_threads, 0, 1024)?;
    if raw.data_dir.is_empty() {
        return Err(ConfigError::invalid("node.data_dir", "must not be empty"));
    }
    Ok(NodeConfig {
        name: raw.name,
        worker_threads: (worker_threads > 0).then_some(worker_threads),
        data_dir: raw.data_dir.into(),
    })
}

fn durability(raw: RawDurability) -> Result<DurabilityConfig, ConfigError> {
    match raw.fsync.as_str() {
        "always" => Ok(DurabilityConfig::Always),
        "never" => Ok(DurabilityConfig::Never),
        "interval" => {
            let period = duration("durability.fsync_interval", &raw.fsync_interval)?;
            if period.is_zero() {
                return Err(ConfigError::invalid(
                    "durability.fsync_interval",
                    "must be more than 0s",
                ));
            }
            Ok(DurabilityConfig::Interval(period))
        }
        other => Err(ConfigError::invalid(
            "durability.fsync",
            format!("must be \"always\", \"interval\" or \"never\", got {other:?}"),
        )),
    }
}

fn listeners(raw: Vec<RawListener>) -> Result<Vec<ListenerConfig>, ConfigError> {
    if raw.is_empty() {
        return Err(ConfigError::invalid(
            "listener",
            "at least one listener is required",
        ));
    }
    let mut names: HashMap<String, usize> = HashMap::new();
    let mut binds: HashMap<SocketAddr, usize> = HashMap::new();
    let mut out = Vec::with_capacity(raw.len());
    for (i, l) in raw.into_iter().enumerate() {
        let key = |field: &str| format!("listener[{i}].{field}");
        if let Some(name) = &l.name {
            if name.is_empty() {
                return Err(ConfigError::invalid(key("name"), "must not be empty"));
            }
            if let Some(first) = names.insert(name.clone(), i) {
                return Err(ConfigError::invalid(
                    key("name"),
                    format!("{name:?} is already the name of listener[{first}]"),
                ));
            }
        }
        let bind: SocketAddr = l.bind.parse().map_err(|_| {
            ConfigError::invalid(
                key("bind"),
                format!(
                    "must be a socket address like \"0.0.0.0:1883\", got {:?}",
                    l.bind
                ),
            )
        })?;
        if let Some(first) = binds.insert(bind, i) {
            return Err(ConfigError::invalid(
                key("bind"),
                format!("{bind} is already bound by listener[{first}]"),
            ));
        }
        let kind = l.kind;
        if l.proxy_protocol && kind == ListenerKind::Quic {
            return Err(ConfigError::invalid(
                key("proxy_protocol"),
                "the PROXY protocol is for TCP-based listeners, not \"quic\"",
            ));
        }
        let proxy_timeout = nonzero(&key("proxy_protocol_timeout"), &l.proxy_protocol_timeout)?;
        let handshake_timeout = nonzero(&key("handshake_timeout"), &l.handshake_timeout)?;
        let tls = match (kind.uses_tls(), l.tls) {
            (true, raw) => Some(tls(&key("tls"), raw.unwrap_or_default())?),
            (false, None) => None,
            (false, Some(_)) => {
                return Err(ConfigError::invalid(
                    key("tls"),
                    format!("only \"tls\", \"wss\" and \"quic\" listeners take TLS settings, this one is {:?}", kind.as_str()),
                ))
            }
        };
        let ws = match (kind.uses_ws(), l.ws) {
            (true, raw) => Some(ws(&key("ws"), raw.unwrap_or_default())?),
            (false, None) => None,
            (false, Some(_)) => {
                return Err(ConfigError::invalid(
                    key("ws"),
                    format!(
                    "only \"ws\" and \"wss\" listeners take WebSocket settings, this one is {:?}",
                    kind.as_str()
                ),
                ))
            }
        };
        out.push(ListenerConfig {
            name: l.name,
            kind,
            bind,
            max_connections: int(&key("max_connections"), l.max_connections, 1, u32::MAX)?,
            max_connections_per_address: limit(
                &key("max_connections_per_address"),
                l.max_connections_per_address,
            )?,
            max_connection_rate: limit(&key("max_connection_rate"), l.max_connection_rate)?,
            proxy_protocol: l.proxy_protocol.then_some(proxy_timeout),
            handshake_timeout,
            tls,
            ws,
        });
    }
    Ok(out)
}

/// A duration that must not be zero.
fn nonzero(key: &str, text: &str) -> Result<Duration, ConfigError> {
    let d = duration(key, text)?;
    if d.is_zero() {
        return Err(ConfigError::invalid(key, "must be more than 0s"));
    }
    Ok(d)
}

fn tls(key: &str, raw: RawTls) -> Result<TlsConfig, ConfigError> {
    let k = |field: &str| format!("{key}.{field}");
    let path = |s: &str| (!s.is_empty()).then(|| PathBuf::from(s));
    let cert = match (path(&raw.certfile), path(&raw.keyfile)) {
        (Some(certfile), Some(keyfile)) => Some(CertFiles { certfile, keyfile }),
        (None, None) => None,
        (Some(_), None) => {
            return Err(ConfigError::invalid(
                k("keyfile"),
                "must be set when certfile is (the certificate's private key)",
            ))
        }
        (None, Some(_)) => {
            return Err(ConfigError::invalid(
                k("certfile"),
                "must be set when keyfile is (the key's certificate chain)",
            ))
        }
    };
    let verify = match raw.verify.as_str() {
        "none" => PeerVerify::None,
        "optional" => PeerVerify::Optional,
        "required" => PeerVerify::Required,
        other => {
            return Err(ConfigError::invalid(
                k("verify"),
                format!("must be \"none\", \"optional\" or \"required\", got {other:?}"),
            ))
        }
    };
    let mut versions = Vec::new();
    for v in &raw.versions {
        let version = match v.to_ascii_lowercase().as_str() {
            "tlsv1.2" | "tls1.2" | "1.2" => TlsVersion::V1_2,
            "tlsv1.3" | "tls1.3" | "1.3" => TlsVersion::V1_3,
            _ => {
                return Err(ConfigError::invalid(
                    k("versions"),
                    format!(
                        "{v:?} is not a TLS version this broker speaks (\"tlsv1.2\", \"tlsv1.3\")"
                    ),
                ))
            }
        };
        if !versions.contains(&version) {
            versions.push(version);
        }
    }
    if versions.is_empty() {
        return Err(ConfigError::invalid(
            k("versions"),
            "must name at least one version",
        ));
    }
    let field = |name: &str, value: &str| match value {
        "none" => Ok(PeerCertField::None),
        "cn" => Ok(PeerCertField::Cn),
        "san" => Ok(PeerCertField::San),
        other => Err(ConfigError::invalid(
            k(name),
            format!("must be \"cn\", \"san\" or \"none\", got {other:?}"),
        )),
    };
    let reload = duration(&k("reload_interval"), &raw.reload_interval)?;
    Ok(TlsConfig {
        cert,
        cacertfile: path(&raw.cacertfile),
        verify,
        versions,
        ciphers: raw.ciphers,
        crlfiles: raw.crlfiles.iter().map(PathBuf::from).collect(),
        peer_cert_as_username: field("peer_cert_as_username", &raw.peer_cert_as_username)?,
        peer_cert_as_clientid: field("peer_cert_as_clientid", &raw.peer_cert_as_clientid)?,
        reload_interval: (!reload.is_zero()).then_some(reload),
    })
}

fn ws(key: &str, raw: RawWs) -> Result<WsConfig, ConfigError> {
    let k = |field: &str| format!("{key}.{field}");
    if !raw.path.starts_with('/') {
        return Err(ConfigError::invalid(
            k("path"),
            format!("must start with '/', got {:?}", raw.path),
        ));
    }
    let mut trusted_proxies = Vec::new();
    for p in &raw.trusted_proxies {
        trusted_proxies.push(IpNet::parse(p).ok_or_else(|| {
            ConfigError::invalid(
                k("trusted_proxies"),
                format!("{p:?} is not an IP address or a CIDR block like \"10.0.0.0/8\""),
            )
        })?);
    }
    Ok(WsConfig {
        path: raw.path,
        max_frame_size: int(
            &k("max_frame_size"),
            raw.max_frame_size,
            1024,
            MAX_PACKET_SIZE,
        )?,
        allowed_origins: raw.allowed_origins,
        trusted_proxies,
    })
}

fn mqtt(raw: RawMqtt) -> Result<MqttConfig, ConfigError> {
    let k = |field: &str| format!("mqtt.{field}");
    let receive_maximum = int(&k("receive_maximum"), raw.receive_maximum, 1, u16::MAX)?;
    let max_awaiting_rel = int(&k("max_awaiting_rel"), raw.max_awaiting_rel, 1, u16::MAX)?;
    if max_awaiting_rel < receive_maximum {
        return Err(ConfigError::invalid(
            k("max_awaiting_rel"),
            format!(
                "must be at least mqtt.receive_maximum ({receive_maximum}), got {max_awaiting_rel}"
            ),
        ));
    }
    let m = raw.keepalive_multiplier;
    // Bounded above too: the deadline (keep alive x multiplier) must stay a representable time.
    if !(1.0..=100.0).contains(&m) {
        return Err(ConfigError::invalid(
            k("keepalive_multiplier"),
            format!("must be a number between 1.0 and 100.0, got {m}"),
        ));
    }
    let connect_timeout = duration(&k("connect_timeout"), &raw.connect_timeout)?;
    if connect_timeout.is_zero() {
        return Err(ConfigError::invalid(
            k("connect_timeout"),
            "must be more than 0s",
        ));
    }
    let max_session_expiry = duration(&k("max_session_expiry"), &raw.max_session_expiry)?;
    if max_session_expiry > Duration::from_secs(u64::from(u32::MAX)) {
        return Err(ConfigError::invalid(
            k("max_session_expiry"),
            format!(
                "must be at most {}s (the largest Session Expiry Interval), got {:?}",
                u32::MAX,
                raw.max_session_expiry
            ),
        ));
    }
    let server_keep_alive: u16 = int(&k("server_keep_alive"), raw.server_keep_alive, 0, u16::MAX)?;
    let max_keepalive: u16 = int(&k("max_keepalive"), raw.max_keepalive, 0, u16::MAX)?;
    let max_subscriptions: u32 = int(&k("max_subscriptions"), raw.max_subscriptions, 0, u32::MAX)?;
    let send_timeout = duration(&k("send_timeout"), &raw.send_timeout)?;
    if send_timeout < Duration::from_secs(1) {
        return Err(ConfigError::invalid(
            k("send_timeout"),
            format!("must be at least 1s, got {:?}", raw.send_timeout),
        ));
    }
    Ok(MqttConfig {
        max_packet_size: int(
            &k("max_packet_size"),
            raw.max_packet_size,
            1,
            MAX_PACKET_SIZE,
        )?,
        max_client_id_len: int(&k("max_client_id_len"), raw.max_client_id_len, 23, u16::MAX)?,
        max_topic_levels: int(&k("max_topic_levels"), raw.max_topic_levels, 1, u16::MAX)?,
        max_qos: int(&k("max_qos"), raw.max_qos, 0, 2)?,
        retain_available: raw.retain_available,
        wildcard_subscription_available: raw.wildcard_subscription_available,
        shared_subscription_available: raw.shared_subscription_available,
        subscription_identifier_available: raw.subscription_identifier_available,
        topic_alias_maximum: int(
            &k("topic_alias_maximum"),
            raw.topic_alias_maximum,
            0,
            u16::MAX,
        )?,
        receive_maximum,
        max_inflight: int(&k("max_inflight"), raw.max_inflight, 1, u16::MAX)?,
        keepalive_multiplier: m,
        server_keep_alive: (server_keep_alive != 0).then_some(server_keep_alive),
        connect_timeout,
        max_session_expiry,
        max_awaiting_rel,
        strict_3_1_client_id: raw.strict_3_1_client_id,
        response_information: response_information(
            &k("response_information"),
            raw.response_information,
        )?,
        max_keepalive: (max_keepalive != 0).then_some(max_keepalive),
        max_user_properties: int(
            &k("max_user_properties"),
            raw.max_user_properties,
            0,
            u16::MAX,
        )?,
        max_user_property_bytes: int(
            &k("max_user_property_bytes"),
            raw.max_user_property_bytes,
            0,
            MAX_PACKET_SIZE,
        )?,
        max_topic_alias_bytes: int(
            &k("max_topic_alias_bytes"),
            raw.max_topic_alias_bytes,
            0,
            u32::MAX,
        )?,
        max_subscriptions: (max_subscriptions != 0).then_some(max_subscriptions),
        send_timeout,
    })
}

/// A response information string goes out as an MQTT UTF-8 string: no U+0000, at most 65535
/// bytes; empty means none.
fn response_information(key: &str, value: String) -> Result<Option<String>, ConfigError> {
    if value.contains('\0') || value.len() > usize::from(u16::MAX) {
        return Err(ConfigError::Invalid {
            key: key.to_owned(),
            problem: "must be at most 65535 bytes without U+0000".to_owned(),
        });
    }
    Ok((!value.is_empty()).then_some(value))
}

fn session(raw: RawSession) -> Result<SessionConfig, ConfigError> {
    Ok(SessionConfig {
        max_queue_len: int("session.max_queue_len", raw.max_queue_len, 0, u32::MAX)?,
        max_queue_bytes: int(
            "session.max_queue_bytes",
            raw.max_queue_bytes,
            1024,
            i64::MAX,
        )?,
        queue_overflow: raw.queue_overflow,
        queue_qos0: raw.queue_qos0,
        max_offline: limit("session.max_offline", raw.max_offline)?,
        max_stored_messages: int(
            "session.max_stored_messages",
            raw.max_stored_messages,
            1,
            i64::MAX,
        )?,
        max_stored_bytes: int(
            "session.max_stored_bytes",
            raw.max_stored_bytes,
            1,
            i64::MAX,
        )?,
    })
}

fn retain(raw: RawRetain) -> Result<RetainConfig, ConfigError> {
    let max: u32 = int("retain.max_messages", raw.max_messages, 0, u32::MAX)?;
    Ok(RetainConfig {
        max_messages: (max != 0).then_some(max),
        max_payload_size: int(
            "retain.max_payload_size",
            raw.max_payload_size,
            1,
            MAX_PACKET_SIZE,
        )?,
        max_bytes: {
            let max: u64 = int("retain.max_bytes", raw.max_bytes, 0, i64::MAX)?;
            (max != 0).then_some(max)
        },
    })
}

/// A count where 0 means "no limit": `None` for 0, else the value (at most `u32::MAX`).
fn limit(key: &str, value: i64) -> Result<Option<u32>, ConfigError> {
    let n: u32 = int(key, value, 0, u32::MAX)?;
    Ok((n != 0).then_some(n))
}

fn delayed(raw: RawDelayed) -> Result<DelayedConfig, ConfigError> {
    let max: u32 = int("delayed.max_messages", raw.max_messages, 0, u32::MAX)?;
    let max_bytes: u64 = int("delayed.max_bytes", raw.max_bytes, 0, i64::MAX)?;
    Ok(DelayedConfig {
        enabled: raw.enabled,
        max_messages: (max != 0).then_some(max),
        max_bytes: (max_bytes != 0).then_some(max_bytes),
    })
}

fn sys(raw: RawSys) -> Result<SysConfig, ConfigError> {
    let interval = duration("sys.interval", &raw.interval)?;
    if !interval.is_zero() && interval < Duration::from_secs(1) {
        return Err(ConfigError::invalid(
            "sys.interval",
            format!(
                "must be \"0s\" (disabled) or at least 1s, got {:?}",
                raw.interval
            ),
        ));
    }
    Ok(SysConfig {
        interval: (!interval.is_zero()).then_some(interval),
        client_events: raw.client_events,
    })
}

fn log(raw: RawLog) -> Result<LogConfig, ConfigError> {
    check_filter(&raw.level).map_err(|problem| {
        ConfigError::invalid("log.level", format!("{problem}, got {:?}", raw.level))
    })?;
    Ok(LogConfig { level: raw.level })
}

/// Accepts what `tracing_subscriber::EnvFilter` accepts in its common forms: a comma-separated
/// list of `level` or `target=level` directives (span and field filters are not accepted).
fn check_filter(filter: &str) -> Result<(), String> {
    const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];
    let is_level = |s: &str| LEVELS.iter().any(|l| l.eq_ignore_ascii_case(s));
    let is_target = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':' | '.'))
    };
    if filter.trim().is_empty() {
        return Err("must not be empty".to_owned());
    }
    for directive in filter.split(',').map(str::trim) {
        let ok = match directive.split_once('=') {
            Some((target, level)) => is_target(target.trim()) && is_level(level.trim()),
            None => is_level(directive),
        };
        if !ok {
            return Err(format!(
                "{directive:?} is not a level (trace|debug|info|warn|error|off) or `target=level`"
            ));
        }
    }
    Ok(())
}

/// `value` as a `T` if it lies in `lo..=hi`, else an error naming `key` and the bounds.
pub(crate) fn int<T: TryFrom<i64>>(
    key: &str,
    value: i64,
    lo: i64,
    hi: impl Into<i64>,
) -> Result<T, ConfigError> {
    let hi = hi.into();
    let out_of_range =
        || ConfigError::invalid(key, format!("must be between {lo} and {hi}, got {value}"));
    if !(lo..=hi).contains(&value) {
        return Err(out_of_range());
    }
    T::try_from(value).map_err(|_| out_of_range())
}

/// A humantime duration such as "10s", "2h" or "1h 30m".
pub(crate) fn duration(key: &str, text: &str) -> Result<Duration, ConfigError> {
    humantime::parse_duration(text).map_err(|e| {
        ConfigError::invalid(
            key,
            format!("must be a duration like \"10s\" or \"2h\", got {text:?} ({e})"),
        )
    })
}
