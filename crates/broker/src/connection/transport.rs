//! Framing over any byte stream: a read buffer decoded packet by packet, and a write buffer that
//! collects every packet produced in one turn of the connection loop and is written once
//! (one write per socket per turn). Generic over the stream so TLS and WebSocket fit later.

use crate::metrics::Metrics;
use bytes::BytesMut;
use starling_codec::{decode, encode, DecodeError, DecodeOptions, Packet, ProtocolVersion};
use std::io;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tracing::warn;

/// A framed MQTT connection.
pub(crate) struct Transport<S> {
    stream: S,
    read: BytesMut,
    write: BytesMut,
    options: DecodeOptions,
    metrics: Arc<Metrics>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Transport<S> {
    pub(crate) fn new(stream: S, max_packet_size: u32, metrics: Arc<Metrics>) -> Self {
        Self {
            stream,
            read: BytesMut::with_capacity(4096),
            write: BytesMut::with_capacity(4096),
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
        decode(&mut self.read, &self.options)
    }

    /// Reads more bytes; `Ok(0)` means the peer closed. Cancel-safe (used inside `select!`).
    pub(crate) async fn read_more(&mut self) -> io::Result<usize> {
        if self.read.capacity() - self.read.len() < 1024 {
            self.read.reserve(4096);
        }
        let n = self.stream.read_buf(&mut self.read).await?;
        Metrics::add(&self.metrics.bytes_received, n as u64);
        Ok(n)
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
        if self.write.is_empty() {
            return Ok(());
        }
        self.stream.write_all(&self.write).await?;
        Metrics::add(&self.metrics.bytes_sent, self.write.len() as u64);
        self.write.clear();
        Ok(())
    }

    /// Flushes and closes the write side.
    pub(crate) async fn close(&mut self) {
        let _ = self.flush().await;
        let _ = self.stream.shutdown().await;
    }
}
