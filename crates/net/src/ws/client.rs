//! The client side of the WebSocket upgrade: GET with the `mqtt` subprotocol.

use super::stream::{config, WsStream, SUBPROTOCOL};
use crate::NetError;
use std::io;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::rustls;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::header::SEC_WEBSOCKET_PROTOCOL;
use tokio_tungstenite::tungstenite::http::HeaderValue;

/// Largest message a client accepts from a server: the largest MQTT packet plus its header.
const CLIENT_MAX_MESSAGE: usize = 256 << 20;

/// Opens the WebSocket on `stream`: GET `url` (`ws://host:port/path`, or `wss://` over TLS)
/// offering the `mqtt` subprotocol.
pub async fn handshake<S>(url: &str, stream: S) -> Result<WsStream<S>, NetError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let failed = |reason: String| NetError::WebSocket {
        url: url.to_owned(),
        reason,
    };
    let mut request = url
        .into_client_request()
        .map_err(|e| failed(e.to_string()))?;
    request.headers_mut().insert(
        SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static(SUBPROTOCOL),
    );
    let done = tokio_tungstenite::client_async_with_config(
        request,
        stream,
        Some(config(CLIENT_MAX_MESSAGE)),
    )
    .await;
    let (inner, _response) = match done {
        Ok(done) => done,
        // A TLS alert (e.g. the client certificate refused): told as a TLS failure by the caller.
        Err(tungstenite::Error::Io(e))
            if e.get_ref().is_some_and(|inner| inner.is::<rustls::Error>()) =>
        {
            return Err(NetError::Io(e))
        }
        Err(e) => return Err(failed(upgrade_failure(e))),
    };
    Ok(WsStream::new(inner))
}

/// Why the upgrade failed, in words: the HTTP status when the server answered with one.
fn upgrade_failure(error: tungstenite::Error) -> String {
    match error {
        tungstenite::Error::Http(response) => {
            let status = response.status();
            format!(
                "the server answered HTTP {} {} instead of switching protocols",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            )
        }
        tungstenite::Error::Io(e)
            if matches!(
                e.kind(),
                io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset
            ) =>
        {
            "the server closed the connection during the upgrade (is it a WebSocket port?)".into()
        }
        tungstenite::Error::Protocol(tungstenite::error::ProtocolError::HandshakeIncomplete) => {
            "the server closed the connection during the upgrade (is it a WebSocket port?)".into()
        }
        other => other.to_string(),
    }
}
