//! [`ServerWsStream`]: the server side of an MQTT-over-WebSocket connection after the upgrade,
//! as a byte stream that holds no buffer while the connection is idle.
//!
//! tungstenite does the upgrade (`server`), then hands the socket over. Its own stream would keep
//! a frame buffer for the connection's life (4 KiB at least, the most of an idle WebSocket
//! connection's memory), so the frames are read here instead, straight into the caller's buffer
//! (the connection's read buffer, which exists only while it is reading): headers are parsed
//! with tungstenite's [`FrameHeader::parse`] and stripped in place, payloads unmasked in place.
//! Only a header split across reads (at most 14 bytes) and the current frame's position are kept
//! between reads.
//!
//! - Binary frames and their continuations are the byte stream; MQTT packets need not align
//!   with them.
//! - A text frame, a frame or message over `max_size`, an unmasked client frame, reserved bits or
//!   opcodes, or a fragmented or oversized control frame end the stream with an `InvalidData`
//!   error (text and oversize are counted in [`NetCounters`]).
//! - Ping is answered with pong, close with close (then end of stream); pong is ignored.
//! - A write becomes one unmasked binary frame, written with the header in one vectored write;
//!   only what the socket did not take is copied and kept, until the next flush.

use crate::counters::NetCounters;
use std::io::{self, Cursor, IoSlice};
use std::pin::Pin;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Control, Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::FrameHeader;

/// The longest frame header (client to server: 64-bit length and mask).
const MAX_HEADER: usize = 14;
/// The largest control frame payload (RFC 6455 5.5).
const MAX_CONTROL: usize = 125;
/// Pongs are queued only while less than this is waiting to be written.
const MAX_QUEUED_CONTROL: usize = 4096;

/// What the bytes being read belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    /// A frame header, `header_len` bytes of it so far.
    Header,
    /// The payload of a binary (or continued binary) frame.
    Data,
    /// The payload of a control frame, collected in `control`.
    Control(Control),
}

/// The server side of an MQTT-over-WebSocket connection.
pub struct ServerWsStream<S> {
    inner: S,
    part: Part,
    header: [u8; MAX_HEADER],
    header_len: u8,
    mask: [u8; 4],
    /// Offset into the mask of the next payload byte.
    mask_pos: u8,
    /// Payload bytes left in the current frame.
    remaining: u64,
    /// Bytes of the current (possibly fragmented) data message so far.
    message_len: u64,
    /// A data message is open (its next frame must be a continuation).
    in_message: bool,
    /// The peer sent close, or the stream failed: reads return end of stream.
    eof: bool,
    /// A close frame was queued or sent.
    close_sent: bool,
    max_size: u64,
    /// A control frame's payload being collected (empty, no allocation, otherwise).
    control: Vec<u8>,
    /// Frame bytes the socket has not taken yet (pong, close, or the tail of a data frame); empty
    /// (no allocation) when idle.
    out: Vec<u8>,
    counters: Arc<NetCounters>,
}

impl<S> ServerWsStream<S> {
    /// The stream over `inner`, just after a successful upgrade.
    pub(crate) fn new(inner: S, max_size: usize, counters: Arc<NetCounters>) -> Self {
        Self {
            inner,
            part: Part::Header,
            header: [0; MAX_HEADER],
            header_len: 0,
            mask: [0; 4],
            mask_pos: 0,
            remaining: 0,
            message_len: 0,
            in_message: false,
            eof: false,
            close_sent: false,
            max_size: max_size as u64,
            control: Vec::new(),
            out: Vec::new(),
            counters,
        }
    }

    fn refuse(
        &mut self,
        what: &'static str,
        counter: Option<fn(&NetCounters) -> &AtomicU64>,
    ) -> io::Error {
        if let Some(counter) = counter {
            NetCounters::bump(counter(&self.counters));
        }
        tracing::debug!("WebSocket connection closed: {what}");
        self.eof = true;
        io::Error::new(io::ErrorKind::InvalidData, what)
    }

    /// Queues a frame of `opcode` carrying `payload` (unmasked, as a server sends).
    fn queue_frame(&mut self, opcode: OpCode, payload: &[u8]) {
        let header = FrameHeader {
            opcode,
            ..FrameHeader::default()
        };
        // Writing into a Vec cannot fail.
        let _ = header.format(payload.len() as u64, &mut self.out);
        self.out.extend_from_slice(payload);
    }

    /// Handles the complete header in `header[..len]`; `Err` ends the stream.
    fn start_frame(&mut self, header: FrameHeader, length: u64) -> io::Result<()> {
        if header.rsv1 || header.rsv2 || header.rsv3 {
            return Err(self.refuse("a WebSocket frame with reserved bits set", None));
        }
        let Some(mask) = header.mask else {
            return Err(self.refuse("an unmasked WebSocket frame from the client", None));
        };
        self.mask = mask;
        self.mask_pos = 0;
        self.remaining = length;
        match header.opcode {
            OpCode::Data(Data::Text) => Err(self.refuse(
                "a text WebSocket message: MQTT goes in binary messages",
                Some(|c| &c.ws_text_frames),
            )),
            OpCode::Data(Data::Reserved(_)) | OpCode::Control(Control::Reserved(_)) => {
                Err(self.refuse("a WebSocket frame with a reserved opcode", None))
            }
            OpCode::Data(data) => {
                let continues = data == Data::Continue;
                if continues != self.in_message {
                    return Err(self.refuse("a WebSocket continuation out of place", None));
                }
                self.message_len = if continues { self.message_len } else { 0 } + length;
                if length > self.max_size || self.message_len > self.max_size {
                    return Err(self.refuse(
                        "a WebSocket frame or message over the maximum frame size",
                        Some(|c| &c.ws_oversize_frames),
                    ));
                }
                self.in_message = !header.is_final;
                self.part = Part::Data;
                Ok(())
            }
            OpCode::Control(control) => {
                if !header.is_final || length > MAX_CONTROL as u64 {
                    return Err(
                        self.refuse("a fragmented or oversized WebSocket control frame", None)
                    );
                }
                self.control.clear();
                self.part = Part::Control(control);
                Ok(())
            }
        }
    }

    /// A control frame's payload is complete.
    fn finish_control(&mut self, control: Control) {
        let payload = std::mem::take(&mut self.control);
        match control {
            // A client that pings and never reads must not grow `out`: past a bound the pong is
            // left out (RFC 6455 5.5.3 lets a pong answer only the latest ping).
            Control::Ping if self.out.len() < MAX_QUEUED_CONTROL => {
                self.queue_frame(OpCode::Control(Control::Pong), &payload)
            }
            Control::Ping => {
                tracing::debug!("WebSocket ping not answered: the client reads nothing")
            }
            Control::Close => {
                if !self.close_sent {
                    // Echo the status code (RFC 6455 5.5.1), without the reason.
                    let code = payload.get(..2).unwrap_or(&[]).to_vec();
                    self.queue_frame(OpCode::Control(Control::Close), &code);
                    self.close_sent = true;
                }
                self.eof = true;
            }
            Control::Pong | Control::Reserved(_) => {}
        }
        self.part = Part::Header;
    }

    /// Turns the frame bytes in `buf` into payload bytes at its start; returns how many.
    fn deframe(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let (mut at, mut out) = (0, 0);
        while at < buf.len() && !self.eof {
            match self.part {
                Part::Header => {
                    let have = self.header_len as usize;
                    let take = (MAX_HEADER - have).min(buf.len() - at);
                    self.header[have..have + take].copy_from_slice(&buf[at..at + take]);
                    let mut cursor = Cursor::new(&self.header[..have + take]);
                    match FrameHeader::parse(&mut cursor) {
                        Ok(Some((header, length))) => {
                            let used = cursor.position() as usize - have;
                            at += used;
                            self.header_len = 0;
                            self.start_frame(header, length)?;
                            if length == 0 {
                                self.frame_done();
                            }
                        }
                        Ok(None) => {
                            self.header_len = (have + take) as u8;
                            at += take;
                        }
                        Err(_) => {
                            return Err(self.refuse("a malformed WebSocket frame header", None));
                        }
                    }
                }
                Part::Data => {
                    let n =
                        (buf.len() - at).min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
                    self.mask_pos = unmask(&mut buf[at..at + n], self.mask, self.mask_pos);
                    buf.copy_within(at..at + n, out);
                    at += n;
                    out += n;
                    self.remaining -= n as u64;
                    if self.remaining == 0 {
                        self.frame_done();
                    }
                }
                Part::Control(_) => {
                    let n = (buf.len() - at).min(self.remaining as usize);
                    for &byte in &buf[at..at + n] {
                        self.control.push(byte ^ self.mask[self.mask_pos as usize]);
                        self.mask_pos = (self.mask_pos + 1) & 3;
                    }
                    at += n;
                    self.remaining -= n as u64;
                    if self.remaining == 0 {
                        self.frame_done();
                    }
                }
            }
        }
        Ok(out)
    }

    /// The current frame's payload is all read.
    fn frame_done(&mut self) {
        match self.part {
            Part::Control(control) => self.finish_control(control),
            _ => self.part = Part::Header,
        }
    }
}

/// XORs `buf` with `mask` starting at mask offset `pos`, eight bytes at a time; returns the
/// offset after it.
fn unmask(buf: &mut [u8], mask: [u8; 4], pos: u8) -> u8 {
    let rotated: [u8; 4] = std::array::from_fn(|i| mask[(pos as usize + i) & 3]);
    let mut wide = [0u8; 8];
    wide[..4].copy_from_slice(&rotated);
    wide[4..].copy_from_slice(&rotated);
    let wide = u64::from_ne_bytes(wide);
    let mut chunks = buf.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(word) ^ wide).to_ne_bytes());
    }
    for (i, byte) in chunks.into_remainder().iter_mut().enumerate() {
        *byte ^= rotated[i & 3];
    }
    ((pos as usize + buf.len()) & 3) as u8
}

impl<S: AsyncWrite + Unpin> ServerWsStream<S> {
    /// Writes out what is queued; the queue's memory is given back once empty.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut written = 0;
        while written < self.out.len() {
            match Pin::new(&mut self.inner).poll_write(cx, &self.out[written..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => written += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {
                    self.out.drain(..written);
                    return Poll::Pending;
                }
            }
        }
        self.out = Vec::new();
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for ServerWsStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            // A pong or close answer goes out as soon as possible, even if nothing is written.
            if !this.out.is_empty() {
                if let Poll::Ready(Err(e)) = this.poll_drain(cx) {
                    return Poll::Ready(Err(e));
                }
            }
            if this.eof || buf.remaining() == 0 {
                return Poll::Ready(Ok(()));
            }
            // Read straight into the caller's buffer, then strip headers and unmask in place.
            let before = buf.filled().len();
            ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
            let n = buf.filled().len() - before;
            if n == 0 {
                // The peer closed the socket without a close frame.
                this.eof = true;
                return Poll::Ready(Ok(()));
            }
            let payload = this.deframe(&mut buf.filled_mut()[before..]);
            buf.set_filled(before + payload.as_ref().map_or(0, |n| *n));
            if payload? > 0 {
                return Poll::Ready(Ok(()));
            }
            // Only headers or control frames: read on (Pending registers the waker).
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for ServerWsStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.close_sent {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        ready!(this.poll_drain(cx))?;
        let header = FrameHeader {
            opcode: OpCode::Data(Data::Binary),
            ..FrameHeader::default()
        };
        // On the stack: a server frame header is at most 10 bytes (no mask).
        let mut space = [0u8; 10];
        let mut free = &mut space[..];
        let _ = header.format(buf.len() as u64, &mut free);
        let used = 10 - free.len();
        let head = &space[..used];
        let slices = [IoSlice::new(head), IoSlice::new(buf)];
        let written = match Pin::new(&mut this.inner).poll_write_vectored(cx, &slices) {
            Poll::Ready(Ok(n)) => n,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => 0,
        };
        // The frame is accepted whole; what the socket did not take waits for the flush.
        if written < head.len() {
            this.out.extend_from_slice(&head[written..]);
            this.out.extend_from_slice(buf);
        } else {
            this.out.extend_from_slice(&buf[written - head.len()..]);
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.close_sent {
            // 1000: normal closure.
            this.queue_frame(OpCode::Control(Control::Close), &1000u16.to_be_bytes());
            this.close_sent = true;
        }
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> crate::Stream for ServerWsStream<S>
where
    S: crate::Stream,
{
    /// As the socket says: everything read is handed over at once, nothing waits here (a
    /// partial header is not readable data).
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.eof || !self.out.is_empty() {
            return Poll::Ready(Ok(()));
        }
        self.inner.poll_read_ready(cx)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn frame(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
        let mask = [1, 2, 3, 4];
        let mut v = vec![opcode | if fin { 0x80 } else { 0 }];
        match payload.len() {
            n if n < 126 => v.push(0x80 | n as u8),
            n if n < 65536 => {
                v.push(0x80 | 126);
                v.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                v.push(0x80 | 127);
                v.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        v.extend_from_slice(&mask);
        v.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        v
    }

    async fn read_all(input: Vec<u8>, chunk: usize, max: usize) -> (io::Result<Vec<u8>>, Vec<u8>) {
        let (client, server) = tokio::io::duplex(1 << 20);
        let (mut client_read, mut client_write) = tokio::io::split(client);
        let writer = tokio::spawn(async move {
            for piece in input.chunks(chunk) {
                client_write.write_all(piece).await.unwrap();
            }
            client_write.shutdown().await.unwrap();
        });
        let mut ws = ServerWsStream::new(server, max, Arc::default());
        let mut got = Vec::new();
        let mut buf = [0u8; 37];
        let result = loop {
            match ws.read(&mut buf).await {
                Ok(0) => break Ok(got),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) => break Err(e),
            }
        };
        writer.await.unwrap();
        drop(ws);
        let mut answers = Vec::new();
        client_read.read_to_end(&mut answers).await.unwrap();
        (result, answers)
    }

    #[tokio::test]
    async fn binary_frames_fragments_and_pings_become_the_byte_stream() {
        let mut input = frame(0x2, true, b"hello ");
        input.extend(frame(0x9, true, b"p"));
        input.extend(frame(0x2, false, b"wor"));
        input.extend(frame(0x0, true, b"ld"));
        input.extend(frame(0x2, true, &vec![7u8; 70_000]));
        input.extend(frame(0x8, true, &[0x03, 0xE8, b'b', b'y', b'e']));
        for chunk in [1, 3, 14, 1000, 1 << 20] {
            let (got, answers) = read_all(input.clone(), chunk, 1 << 20).await;
            let got = got.unwrap();
            assert_eq!(&got[..11], b"hello world", "chunk {chunk}");
            assert_eq!(got.len(), 11 + 70_000);
            // A pong with the ping's payload, then a close with the status code.
            assert_eq!(
                answers,
                [0x8A, 1, b'p', 0x88, 2, 0x03, 0xE8],
                "chunk {chunk}"
            );
        }
    }

    #[tokio::test]
    async fn text_oversize_unmasked_and_reserved_frames_end_the_stream() {
        let unmasked = vec![0x82, 1, b'x'];
        let mut reserved = frame(0x2, true, b"x");
        reserved[0] |= 0x40;
        for (input, what) in [
            (frame(0x1, true, b"text"), "text"),
            (frame(0x2, true, &[0u8; 2000]), "maximum frame size"),
            (unmasked, "unmasked"),
            (reserved, "reserved"),
            (frame(0x0, true, b"x"), "continuation"),
            (frame(0x9, true, &[0u8; 126]), "control"),
        ] {
            let (got, _) = read_all(input, 1 << 20, 1024).await;
            let err = got.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData);
            assert!(err.to_string().contains(what), "{err}");
        }
    }

    #[tokio::test]
    async fn pings_from_a_client_that_reads_nothing_queue_a_bounded_answer() {
        // The server's writes go nowhere: a duplex of 64 bytes that nobody reads.
        let (mut client, server) = tokio::io::duplex(64);
        let mut ws = ServerWsStream::new(server, 1 << 20, Arc::default());
        let mut pings = Vec::new();
        for _ in 0..1000 {
            pings.extend(frame(0x9, true, &[7u8; 100]));
        }
        pings.extend(frame(0x2, true, b"end"));
        let writer = tokio::spawn(async move {
            client.write_all(&pings).await.unwrap();
            client
        });
        let mut buf = [0u8; 16];
        let n = ws.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"end");
        assert!(
            ws.out.len() < MAX_QUEUED_CONTROL + 2 + MAX_CONTROL,
            "{}",
            ws.out.len()
        );
        drop(writer.await.unwrap());
    }

    #[tokio::test]
    async fn writes_are_unmasked_binary_frames() {
        let (client, server) = tokio::io::duplex(1 << 20);
        let mut ws = ServerWsStream::new(server, 1 << 20, Arc::default());
        ws.write_all(b"abc").await.unwrap();
        ws.write_all(&[9u8; 300]).await.unwrap();
        ws.shutdown().await.unwrap();
        drop(ws);
        let mut client = client;
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.unwrap();
        assert_eq!(&got[..5], &[0x82, 3, b'a', b'b', b'c']);
        assert_eq!(&got[5..9], &[0x82, 126, 1, 44]);
        assert_eq!(&got[9 + 300..], &[0x88, 2, 0x03, 0xE8]);
    }
}
