//! MQTT over WebSocket: the HTTP upgrade (subprotocol `mqtt`) and [`WsStream`], which turns the
//! stream of binary WebSocket messages into the byte stream a connection reads and writes.
//!
//! Every write becomes one binary message (the connection writes one batch per turn), and a
//! message read may hold any part of a packet: MQTT packets are not aligned with messages.

use crate::ClientError;
use bytes::Bytes;
use futures_util::{Sink, Stream};
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_rustls::rustls;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::header::SEC_WEBSOCKET_PROTOCOL;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::WebSocketStream;

/// The subprotocol MQTT registers for WebSocket (MQTT 3.1.1 section 6, 5.0 section 6).
pub(crate) const SUBPROTOCOL: &str = "mqtt";

/// The byte stream of an MQTT-over-WebSocket connection.
pub(crate) struct WsStream<S> {
    inner: WebSocketStream<S>,
    /// What is left of the last binary message read.
    read: Bytes,
    eof: bool,
}

/// Opens the WebSocket on `stream`: GET `url` (`ws://host:port/path`, or `wss://` over TLS)
/// offering the `mqtt` subprotocol.
pub(crate) async fn handshake<S>(url: &str, stream: S) -> Result<WsStream<S>, ClientError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let failed = |reason: String| ClientError::WebSocket {
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
    let (inner, _response) = match tokio_tungstenite::client_async(request, stream).await {
        Ok(done) => done,
        // A TLS alert (e.g. the client certificate refused): told as a TLS failure by the caller.
        Err(tungstenite::Error::Io(e))
            if e.get_ref().is_some_and(|inner| inner.is::<rustls::Error>()) =>
        {
            return Err(ClientError::Io(e))
        }
        Err(e) => return Err(failed(upgrade_failure(e))),
    };
    Ok(WsStream {
        inner,
        read: Bytes::new(),
        eof: false,
    })
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

fn io_error(error: tungstenite::Error) -> io::Error {
    match error {
        tungstenite::Error::Io(e) => e,
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
            io::ErrorKind::BrokenPipe.into()
        }
        other => io::Error::other(other),
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for WsStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if buf.remaining() == 0 {
                return Poll::Ready(Ok(()));
            }
            if !this.read.is_empty() {
                let n = this.read.len().min(buf.remaining());
                buf.put_slice(&this.read.split_to(n));
                return Poll::Ready(Ok(()));
            }
            if this.eof {
                return Poll::Ready(Ok(()));
            }
            match ready!(Pin::new(&mut this.inner).poll_next(cx)) {
                Some(Ok(Message::Binary(data))) => this.read = data,
                // Ping is answered by tungstenite on the next read or write.
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                Some(Ok(Message::Text(_))) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "a text WebSocket message: MQTT goes in binary messages",
                    )))
                }
                Some(Ok(Message::Close(_))) | None => this.eof = true,
                Some(Err(e)) => return Poll::Ready(Err(io_error(e))),
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for WsStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let inner = &mut self.get_mut().inner;
        ready!(Pin::new(&mut *inner).poll_ready(cx)).map_err(io_error)?;
        Pin::new(inner)
            .start_send(Message::Binary(Bytes::copy_from_slice(buf)))
            .map_err(io_error)?;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner)
            .poll_flush(cx)
            .map_err(io_error)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match ready!(Pin::new(&mut self.get_mut().inner).poll_close(cx)) {
            Ok(()) | Err(tungstenite::Error::ConnectionClosed) => Poll::Ready(Ok(())),
            Err(e) => Poll::Ready(Err(io_error(e))),
        }
    }
}
