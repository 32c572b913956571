//! [`NetCounters`]: what the transports refused, counted (the broker shows them in `$SYS` and,
//! later, the API). Each refusal also logs one debug line; neither touches other connections.

use std::sync::atomic::{AtomicU64, Ordering};

/// Refusals before and during MQTT, by cause.
#[derive(Debug, Default)]
pub struct NetCounters {
    /// TLS handshakes that failed for a reason other than those below (bad records, no shared
    /// version or cipher suite, the peer hanging up).
    pub tls_handshake_failed: AtomicU64,
    /// Client certificates refused: unknown issuer, expired, revoked, missing when required.
    pub tls_bad_certificate: AtomicU64,
    /// Plain (non-TLS) bytes on a TLS port, e.g. an `mqtt://` client on 8883.
    pub tls_not_tls: AtomicU64,
    /// WebSocket upgrades refused: wrong path, no `mqtt` subprotocol, Origin not allowed, not
    /// an upgrade at all.
    pub ws_upgrade_refused: AtomicU64,
    /// Connections closed for a text frame (MQTT travels in binary frames).
    pub ws_text_frames: AtomicU64,
    /// Connections closed for a frame or message over `max_frame_size`.
    pub ws_oversize_frames: AtomicU64,
    /// Connections closed for a bad or missing PROXY protocol header.
    pub proxy_header_bad: AtomicU64,
    /// Handshakes (PROXY header, TLS, WebSocket, QUIC) not finished within the listener's
    /// `handshake_timeout`.
    pub handshake_timeouts: AtomicU64,
    /// QUIC connections that failed before their first stream.
    pub quic_handshake_failed: AtomicU64,
}

impl NetCounters {
    /// Adds one to `counter`.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Every counter with its `$SYS` suffix.
    pub fn snapshot(&self) -> [(&'static str, u64); 9] {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        [
            (
                "transport/tls/handshake_failed",
                get(&self.tls_handshake_failed),
            ),
            (
                "transport/tls/bad_certificate",
                get(&self.tls_bad_certificate),
            ),
            ("transport/tls/not_tls", get(&self.tls_not_tls)),
            (
                "transport/ws/upgrade_refused",
                get(&self.ws_upgrade_refused),
            ),
            ("transport/ws/text_frames", get(&self.ws_text_frames)),
            (
                "transport/ws/oversize_frames",
                get(&self.ws_oversize_frames),
            ),
            ("transport/proxy/bad_header", get(&self.proxy_header_bad)),
            (
                "transport/handshake_timeouts",
                get(&self.handshake_timeouts),
            ),
            (
                "transport/quic/handshake_failed",
                get(&self.quic_handshake_failed),
            ),
        ]
    }
}
