//! [`Stream`]: the byte stream a broker connection runs over, with read readiness that needs no
//! buffer, so that a connection waiting for its next packet holds none.

use std::io;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// A byte stream a connection runs over: reads, writes, and read readiness.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {
    /// Ready when a read may make progress (data, end of stream or an error). It may be ready
    /// spuriously (a read then returns `Pending`), but it must never stay pending while a read
    /// would return data: a TLS stream is ready while rustls holds decrypted bytes, whatever the
    /// socket says.
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
}

impl Stream for TcpStream {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        TcpStream::poll_read_ready(self, cx)
    }
}

impl<S: Stream> Stream for tokio_rustls::server::TlsStream<S> {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let (io, conn) = self.get_ref();
        // `wants_read` is false exactly when rustls holds plaintext, has seen close_notify, or
        // has handshake bytes to send: a read makes progress without the socket. Complete
        // records read from the socket are always decrypted at once (rustls'
        // `process_new_packets` takes every one), so nothing else hides behind the socket.
        if conn.wants_read() {
            io.poll_read_ready(cx)
        } else {
            Poll::Ready(Ok(()))
        }
    }
}
