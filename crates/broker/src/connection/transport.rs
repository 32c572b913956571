//! Framing over any byte stream: a read buffer decoded packet by packet, and a write buffer that
//! collects every packet produced in one turn of the connection loop and is written once
//! (one write per socket per turn). Generic over the stream: TCP, TLS, WebSocket and QUIC
//! ([`Stream`], from `starling-net`).
//!
//! Memory: an idle connection holds neither buffer. The read buffer is allocated only once the
//! socket is readable and given back when every byte in it has been decoded; the write buffer is
//! given back after each flush. With thousands of idle clients this is most of their footprint.

use crate::clients::{ClientCounters, ClientInfo};
use crate::metrics::Metrics;
use bytes::{Buf, BytesMut};
use starling_codec::{decode, encode, DecodeError, DecodeOptions, Packet, ProtocolVersion};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use tokio::io::AsyncWriteExt;
use tokio_util::io::poll_read_buf;
use tracing::warn;

pub(crate) use starling_net::Stream;

/// Bytes reserved for one read.
const READ_CHUNK: usize = 4096;

/// A framed MQTT connection.
pub(crate) struct Transport<S> {
    stream: S,
    /// Both buffers, boxed together and only while either holds bytes: an idle connection
    /// keeps one null pointer here instead of two empty `BytesMut` (64 bytes).
    buffers: Option<Box<Buffers>>,
    /// Written to the stream but not yet flushed through it.
    unflushed: bool,
    /// Some bytes were written since [`Transport::take_progress`] last looked.
    progressed: bool,
    options: DecodeOptions,
    /// Who the client is, once CONNECT was accepted: its traffic is counted there too.
    client: Option<Arc<ClientInfo>>,
}

/// The read and write buffers of a busy connection.
#[derive(Default)]
struct Buffers {
    read: BytesMut,
    write: BytesMut,
}

impl<S: Stream> Transport<S> {
    pub(crate) fn new(stream: S, max_packet_size: u32) -> Self {
        Self {
            stream,
            buffers: None,
            unflushed: false,
            progressed: false,
            options: DecodeOptions {
                version: None,
                max_packet_size,
            },
            client: None,
        }
    }

    /// From now on the client's own counters count its traffic too.
    pub(crate) fn set_client(&mut self, client: Arc<ClientInfo>) {
        self.client = Some(client);
    }

    /// The connection's number (0 before CONNECT was accepted). Kept in the client's info
    /// rather than beside the transport: every byte of an idle connection's task counts.
    pub(crate) fn conn_id(&self) -> u64 {
        self.client.as_ref().map_or(0, |c| c.conn_id)
    }

    /// Who the client is, once CONNECT was accepted.
    pub(crate) fn client(&self) -> Option<&ClientInfo> {
        self.client.as_deref()
    }

    /// Counts a PUBLISH read from the client in its own counters.
    pub(crate) fn count_publish_in(&self) {
        if let Some(client) = &self.client {
            ClientCounters::add(&client.counters.messages_in, 1);
        }
    }

    /// After CONNECT: the version to decode with and the negotiated size limit.
    pub(crate) fn set_protocol(&mut self, version: ProtocolVersion, max_packet_size: u32) {
        self.options = DecodeOptions {
            version: Some(version),
            max_packet_size,
        };
    }

    /// Gives the buffers back once both are empty.
    fn release_if_idle(&mut self) {
        if let Some(b) = &mut self.buffers {
            if b.read.is_empty() && b.write.is_empty() {
                self.buffers = None;
            } else if b.read.is_empty() && b.read.capacity() > 0 {
                b.read = BytesMut::new();
            }
        }
    }

    /// The next complete packet already buffered, if any.
    pub(crate) fn next_packet(&mut self) -> Result<Option<Packet>, DecodeError> {
        let Some(buffers) = &mut self.buffers else {
            return Ok(None);
        };
        let packet = decode(&mut buffers.read, &self.options)?;
        if packet.is_none() {
            self.release_if_idle(); // idle: hold no buffer
        }
        Ok(packet)
    }

    /// Reads more bytes; `Ok(0)` means the peer closed. Cancel-safe.
    pub(crate) async fn read_more(&mut self, metrics: &Metrics) -> io::Result<usize> {
        std::future::poll_fn(|cx| self.poll_read_more(cx, metrics)).await
    }

    /// Polls for more bytes: one read attempt, registering `cx` for readiness when there are
    /// none. The buffer is allocated only once the socket is readable, and given back if that
    /// readiness was stale (nothing to read), so a waiting connection holds no buffer.
    pub(crate) fn poll_read_more(
        &mut self,
        cx: &mut Context<'_>,
        metrics: &Metrics,
    ) -> Poll<io::Result<usize>> {
        if self.buffers.as_ref().is_none_or(|b| b.read.is_empty()) {
            ready!(self.stream.poll_read_ready(cx))?;
        }
        let read = &mut self.buffers.get_or_insert_with(Box::default).read;
        if read.capacity() - read.len() < 1024 {
            read.reserve(READ_CHUNK);
        }
        match poll_read_buf(Pin::new(&mut self.stream), cx, read) {
            Poll::Ready(Ok(n)) => {
                Metrics::add(&metrics.bytes_received, n as u64);
                if let Some(client) = &self.client {
                    ClientCounters::add(&client.counters.bytes_in, n as u64);
                }
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                self.release_if_idle();
                Poll::Pending
            }
        }
    }

    /// Adds a packet to the write buffer, encoded for `version`.
    pub(crate) fn queue(&mut self, packet: &Packet, version: ProtocolVersion, metrics: &Metrics) {
        let write = &mut self.buffers.get_or_insert_with(Box::default).write;
        if let Err(e) = encode(packet, version, write) {
            warn!(error = %e, "dropping a packet that cannot be encoded");
            return;
        }
        if let Packet::Publish(publish) = packet {
            Metrics::add(&metrics.messages_sent, 1);
            Metrics::add(&metrics.messages_sent_qos[publish.qos as usize], 1);
            if let Some(client) = &self.client {
                ClientCounters::add(&client.counters.messages_out, 1);
            }
        }
    }

    /// Writes everything queued.
    pub(crate) async fn flush(&mut self, metrics: &Metrics) -> io::Result<()> {
        std::future::poll_fn(|cx| self.poll_flush(cx, metrics)).await
    }

    /// Polls the write buffer out to the stream; the buffer is given back once empty.
    pub(crate) fn poll_flush(
        &mut self,
        cx: &mut Context<'_>,
        metrics: &Metrics,
    ) -> Poll<io::Result<()>> {
        if let Some(buffers) = &mut self.buffers {
            let write = &mut buffers.write;
            if !write.is_empty() {
                while !write.is_empty() {
                    let n = ready!(Pin::new(&mut self.stream).poll_write(cx, write))?;
                    if n == 0 {
                        return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                    }
                    Metrics::add(&metrics.bytes_sent, n as u64);
                    if let Some(client) = &self.client {
                        ClientCounters::add(&client.counters.bytes_out, n as u64);
                    }
                    write.advance(n);
                    self.progressed = true;
                }
                *write = BytesMut::new();
                self.unflushed = true;
            }
            self.release_if_idle();
        }
        if self.unflushed {
            // A no-op on TCP; TLS and WebSocket streams buffer.
            ready!(Pin::new(&mut self.stream).poll_flush(cx))?;
            self.unflushed = false;
        }
        Poll::Ready(Ok(()))
    }

    /// Drops what is queued but not written: the peer takes nothing (send timeout), so closing
    /// must not wait to flush it.
    pub(crate) fn discard_writes(&mut self) {
        if let Some(buffers) = &mut self.buffers {
            buffers.write = BytesMut::new();
        }
        self.release_if_idle();
    }

    /// True when some bytes went out since the last call (for the send timeout).
    pub(crate) fn take_progress(&mut self) -> bool {
        std::mem::take(&mut self.progressed)
    }

    /// Flushes and closes the write side, giving up after `timeout` (a client that reads
    /// nothing must not hold the end of its connection).
    pub(crate) async fn close(&mut self, metrics: &Metrics, timeout: std::time::Duration) {
        let close = async {
            let _ = self.flush(metrics).await;
            let _ = self.stream.shutdown().await;
        };
        let _ = tokio::time::timeout(timeout, close).await;
    }
}
