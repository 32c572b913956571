//! The server side of the WebSocket upgrade: the configured path, the `mqtt` (or `mqttv3.1`)
//! subprotocol, an optional Origin check, and the client's real address from `X-Forwarded-For`
//! or `X-Real-IP` when the connection comes from a trusted proxy.

use super::frames::ServerWsStream;
use super::stream::config;
use crate::counters::NetCounters;
use starling_config::{IpNet, WsConfig};
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderMap, HeaderValue, StatusCode};

/// Subprotocols accepted, in order of preference: MQTT 3.1.1/5.0's, then MQTT 3.1's.
const SUBPROTOCOLS: [&str; 2] = ["mqtt", "mqttv3.1"];

/// An accepted upgrade.
pub struct Upgraded<S> {
    /// The MQTT byte stream.
    pub stream: ServerWsStream<S>,
    /// The client's address as a trusted proxy reported it.
    pub forwarded_for: Option<IpAddr>,
}

/// Why an upgrade was refused (the client got an HTTP error status, or nothing).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WsRefusal {
    /// The request's path is not the listener's (404).
    #[error("upgrade on path {0:?}, not the listener's")]
    WrongPath(String),
    /// Neither `mqtt` nor `mqttv3.1` was offered (400).
    #[error("upgrade without the mqtt subprotocol (offered: {0:?})")]
    NoSubprotocol(Option<String>),
    /// The Origin is not allowed (403).
    #[error("upgrade from origin {0:?}, which is not allowed")]
    Origin(Option<String>),
    /// Not a valid WebSocket upgrade, or the connection failed during it.
    #[error("not a WebSocket upgrade: {0}")]
    Invalid(String),
}

/// Answers the upgrade on `stream` from `peer` (the TCP peer, or the PROXY header's source) as
/// `settings` say. A refusal is counted and logged at debug level.
pub async fn accept<S>(
    stream: S,
    peer: IpAddr,
    settings: &WsConfig,
    counters: &Arc<NetCounters>,
) -> Result<Upgraded<S>, WsRefusal>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut refusal = None;
    let mut forwarded_for = None;
    #[allow(clippy::result_large_err)] // the callback's type is tungstenite's
    let callback = |request: &Request, mut response: Response| match check(request, settings) {
        Ok(subprotocol) => {
            response.headers_mut().insert(
                "sec-websocket-protocol",
                HeaderValue::from_static(subprotocol),
            );
            if settings
                .trusted_proxies
                .iter()
                .any(|net| net.contains(peer))
            {
                forwarded_for = forwarded(request.headers(), &settings.trusted_proxies);
            }
            Ok(response)
        }
        Err(why) => {
            let status = match &why {
                WsRefusal::WrongPath(_) => StatusCode::NOT_FOUND,
                WsRefusal::Origin(_) => StatusCode::FORBIDDEN,
                _ => StatusCode::BAD_REQUEST,
            };
            let mut answer = ErrorResponse::new(Some(why.to_string()));
            *answer.status_mut() = status;
            // Counted before the answer is written (a client that reads it sees the count).
            NetCounters::bump(&counters.ws_upgrade_refused);
            refusal = Some(why);
            Err(answer)
        }
    };
    let accepted = tokio_tungstenite::accept_hdr_async_with_config(
        Lent(Some(stream)),
        callback,
        Some(config(settings.max_frame_size as usize)),
    )
    .await;
    match accepted {
        Ok(mut ws) => {
            // The socket back from tungstenite: frames are read by `ServerWsStream`, which keeps
            // no buffer while idle. Nothing is lost: tungstenite stops reading at the end of the
            // request and refuses bytes that came with it (`JunkAfterRequest`; a client sends
            // nothing before the 101 answer, RFC 6455 4.1).
            let Some(mut socket) = ws.get_mut().0.take() else {
                return Err(WsRefusal::Invalid(
                    "the socket was lost in the upgrade".into(),
                ));
            };
            drop(ws);
            if let Err(e) = socket.flush().await {
                return Err(WsRefusal::Invalid(e.to_string()));
            }
            Ok(Upgraded {
                stream: ServerWsStream::new(
                    socket,
                    settings.max_frame_size as usize,
                    Arc::clone(counters),
                ),
                forwarded_for,
            })
        }
        Err(error) => {
            let why = match refusal {
                Some(why) => why,
                None => {
                    NetCounters::bump(&counters.ws_upgrade_refused);
                    WsRefusal::Invalid(error.to_string())
                }
            };
            tracing::debug!(%peer, reason = %why, "WebSocket upgrade refused");
            Err(why)
        }
    }
}

/// The socket lent to tungstenite for the upgrade, and taken back after it.
struct Lent<S>(Option<S>);

fn gone() -> io::Error {
    io::ErrorKind::NotConnected.into()
}

impl<S: AsyncRead + Unpin> AsyncRead for Lent<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.get_mut().0 {
            Some(s) => Pin::new(s).poll_read(cx, buf),
            None => Poll::Ready(Err(gone())),
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Lent<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().0 {
            Some(s) => Pin::new(s).poll_write(cx, buf),
            None => Poll::Ready(Err(gone())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().0 {
            Some(s) => Pin::new(s).poll_flush(cx),
            None => Poll::Ready(Err(gone())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().0 {
            Some(s) => Pin::new(s).poll_shutdown(cx),
            None => Poll::Ready(Err(gone())),
        }
    }
}

/// The subprotocol to answer with, or why the request is refused.
fn check(request: &Request, settings: &WsConfig) -> Result<&'static str, WsRefusal> {
    let path = request.uri().path();
    if path != settings.path {
        return Err(WsRefusal::WrongPath(path.to_owned()));
    }
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    if !settings.allowed_origins.is_empty() {
        let origin = header("origin");
        if !origin
            .as_deref()
            .is_some_and(|o| settings.allowed_origins.iter().any(|a| a == o))
        {
            return Err(WsRefusal::Origin(origin));
        }
    }
    let offered = header("sec-websocket-protocol");
    let chosen = offered.as_deref().and_then(|list| {
        SUBPROTOCOLS.into_iter().find(|wanted| {
            list.split(',')
                .any(|p| p.trim().eq_ignore_ascii_case(wanted))
        })
    });
    chosen.ok_or(WsRefusal::NoSubprotocol(offered))
}

/// The client's address from the forwarding headers of a trusted proxy: in `X-Forwarded-For`
/// the rightmost address that is not itself a trusted proxy (what the nearest untrusted hop
/// said cannot be believed), else `X-Real-IP`.
fn forwarded(headers: &HeaderMap, trusted: &[IpNet]) -> Option<IpAddr> {
    let parse = |s: &str| {
        s.trim()
            .trim_matches(|c| c == '[' || c == ']')
            .parse::<IpAddr>()
            .ok()
    };
    let chain: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map_while(parse)
        .collect();
    if let Some(first) = chain.first() {
        let untrusted = chain
            .iter()
            .rev()
            .find(|ip| !trusted.iter().any(|net| net.contains(**ip)));
        return Some(*untrusted.unwrap_or(first));
    }
    headers
        .get("x-real-ip")
        .and_then(|v| v.to_str().ok())
        .and_then(parse)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn the_rightmost_untrusted_forwarded_address_is_the_client() {
        let trusted = [IpNet::parse("10.0.0.0/8").unwrap()];
        let h = headers(&[("x-forwarded-for", "1.2.3.4, 5.6.7.8, 10.0.0.2")]);
        assert_eq!(forwarded(&h, &trusted), Some("5.6.7.8".parse().unwrap()));
        let h = headers(&[("x-forwarded-for", "10.1.1.1")]);
        assert_eq!(forwarded(&h, &trusted), Some("10.1.1.1".parse().unwrap()));
        let h = headers(&[("x-real-ip", "9.9.9.9")]);
        assert_eq!(forwarded(&h, &trusted), Some("9.9.9.9".parse().unwrap()));
        assert_eq!(forwarded(&headers(&[]), &trusted), None);
    }
}
