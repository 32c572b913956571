//! Framing over any byte stream: a read buffer decoded packet by packet, and a write buffer that
//! collects every packet produced in one turn of the connection loop and is written once
//! (one write per socket per turn). Generic over the stream so TLS and WebSocket fit later.
//!
//! Memory: an idle connection holds neither buffer. The read buffer is allocated only once the
//! socket is readable and given back when every byte in it has been decoded; the write buffer is
//! given back after each flush. With thousands of idle clients this is most of their footprint.

use crate::metrics::Metrics;
use bytes::{Buf, BytesMut};
use starling_codec::{decode, encode, DecodeError, DecodeOptions, Packet, ProtocolVersion};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::io::poll_read_buf;
use tracing::warn;

/// Bytes reserved for one read.
const READ_CHUNK: usize = 4096;

/// A byte stream a connection runs over: reads, writes, and read readiness (so that waiting for
/// the next packet needs no buffer).
pub(crate) trait Stream: AsyncRead + AsyncWrite + Unpin + Send {
    /// Ready when a read would make progress (data, end of stream or an error).
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
}

impl Stream for TcpStream {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        TcpStream::poll_read_ready(self, cx)
    }
}

/// A framed MQTT connection.
pub(crate) struct Transport<S> {
    stream: S,
    read: BytesMut,
    write: BytesMut,
    /// Written to the stream but not yet flushed through it.
    unflushed: bool,
    options: DecodeOptions,
    metrics: Arc<Metrics>,
}

impl<S: Stream> Transport<S> {
    pub(crate) fn new(stream: S, max_packet_size: u32, metrics: Arc<Metrics>) -> Self {
        Self {
            stream,
            read: BytesMut::new(),
            write: BytesMut::new(),
            unflushed: false,
            options: DecodeOptions {
                version: None,
                max_packet_size,
            },
            metrics,
        }
    }

    /// After CONNECT: the version to decode with and the negotiated size limit.
    pub(crate) fn set_protocol(&mut self, version: ProtocolVersion, max_packet_size: u32) {
        self.options = DecodeOptions {
            version: Some(version),
            max_packet_size,
        };
    }

    /// The next complete packet already buffered, if any.
    pub(crate) fn next_packet(&mut self) -> Result<Option<Packet>, DecodeError> {
        let packet = decode(&mut self.read, &self.options)?;
        if packet.is_none() && self.read.is_empty() && self.read.capacity() > 0 {
            self.read = BytesMut::new(); // idle: hold no buffer
        }
        Ok(packet)
    }

    /// Reads more bytes; `Ok(0)` means the peer closed. Cancel-safe.
    pub(crate) async fn read_more(&mut self) -> io::Result<usize> {
        std::future::poll_fn(|cx| self.poll_read_more(cx)).await
    }

    /// Polls for more bytes: one read attempt, registering `cx` for readiness when there are
    /// none. The buffer is allocated only once the socket is readable, and given back if that
    /// readiness was stale (nothing to read), so a waiting connection holds no buffer.
    pub(crate) fn poll_read_more(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.read.is_empty() {
            ready!(self.stream.poll_read_ready(cx))?;
        }
        if self.read.capacity() - self.read.len() < 1024 {
            self.read.reserve(READ_CHUNK);
        }
        match poll_read_buf(Pin::new(&mut self.stream), cx, &mut self.read) {
            Poll::Ready(Ok(n)) => {
                Metrics::add(&self.metrics.bytes_received, n as u64);
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                if self.read.is_empty() {
                    self.read = BytesMut::new();
                }
                Poll::Pending
            }
        }
    }

    /// Adds a packet to the write buffer, encoded for `version`.
    pub(crate) fn queue(&mut self, packet: &Packet, version: ProtocolVersion) {
        if let Err(e) = encode(packet, version, &mut self.write) {
            warn!(error = %e, "dropping a packet that cannot be encoded");
            return;
        }
        if matches!(packet, Packet::Publish(_)) {
            Metrics::add(&self.metrics.messages_sent, 1);
        }
    }

    /// Writes everything queued.
    pub(crate) async fn flush(&mut self) -> io::Result<()> {
        std::future::poll_fn(|cx| self.poll_flush(cx)).await
    }

    /// Polls the write buffer out to the stream; the buffer is given back once empty.
    pub(crate) fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.write.is_empty() {
            while !self.write.is_empty() {
                let n = ready!(Pin::new(&mut self.stream).poll_write(cx, &self.write))?;
                if n == 0 {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                Metrics::add(&self.metrics.bytes_sent, n as u64);
                self.write.advance(n);
            }
            self.write = BytesMut::new();
            self.unflushed = true;
        }
        if self.unflushed {
            // A no-op on TCP; TLS and WebSocket streams buffer.
            ready!(Pin::new(&mut self.stream).poll_flush(cx))?;
            self.unflushed = false;
        }
        Poll::Ready(Ok(()))
    }

    /// Flushes and closes the write side.
    pub(crate) async fn close(&mut self) {
        let _ = self.flush().await;
        let _ = self.stream.shutdown().await;
    }
}
