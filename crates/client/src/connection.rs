//! The connection task: one per connection, owning the socket, both buffers and the inflight
//! table.
//!
//! Each turn of its loop waits for whichever comes first: bytes to read, room to write, a
//! command, or a keep-alive tick. Reading decodes every complete packet in the buffer, answers
//! acknowledgments into the write buffer, and hands the messages of that read to
//! [`crate::Incoming`] as one batch (one channel operation per read, not per message; and a
//! channel slot the size of a `Vec`, which keeps an idle connection small). A command wakes the loop and then every
//! command already queued is drained too (up to [`COMMAND_BATCH`]), all encoded into the same
//! write buffer, so a burst of publishes costs one `write` system call. Writing never blocks
//! reading: the write is one more branch of the loop, taken when the buffer is not empty, and
//! new commands are refused while the buffer is above [`WRITE_HIGH_WATER`] or the inflight
//! window is full, which is how back-pressure reaches [`crate::Client::publish`].

use crate::client::Transport;
use crate::inflight::{Inflight, Pending, PublishReply};
use crate::{ClientError, ClientOptions, Message};
use bytes::{Buf, BytesMut};
use futures_util::FutureExt;
use starling_codec::{
    decode, encode, ConnAck, DecodeOptions, Disconnect, Packet, ProtocolVersion, PubResp, Publish,
    QoS, SubAck, Subscribe, Subscription, UnsubAck, Unsubscribe, Utf8String,
};
use std::collections::HashSet;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

/// First read buffer size; a read that fills the buffer doubles it, up to [`READ_MAX`], so an
/// idle connection holds little and a busy one reads in large chunks.
pub(crate) const READ_MIN: usize = 2048;
/// Largest read size.
const READ_MAX: usize = 64 * 1024;
/// Above this many unwritten bytes, no new command is taken.
const WRITE_HIGH_WATER: usize = 256 * 1024;
/// Most commands encoded per turn.
const COMMAND_BATCH: usize = 512;

/// A queued publish and who waits for its acknowledgment.
pub(crate) struct OutPublish {
    pub(crate) message: Message,
    pub(crate) reply: PublishReply,
}

/// A request from a [`crate::Client`] handle.
pub(crate) enum Command {
    Publish(OutPublish),
    Subscribe {
        subscriptions: Vec<Subscription>,
        reply: oneshot::Sender<Result<SubAck, ClientError>>,
    },
    Unsubscribe {
        filters: Vec<Utf8String>,
        reply: oneshot::Sender<Result<UnsubAck, ClientError>>,
    },
    Disconnect {
        reply: oneshot::Sender<()>,
    },
}

/// Starts the task for an established connection; `rbuf` holds bytes read after CONNACK.
pub(crate) fn spawn<T: Transport>(
    stream: T,
    rbuf: BytesMut,
    commands: mpsc::Receiver<Command>,
    messages: mpsc::Sender<Vec<Publish>>,
    opts: &ClientOptions,
    connack: &ConnAck,
) -> JoinHandle<Result<(), ClientError>> {
    let props = &connack.properties;
    let max_inflight = opts
        .max_inflight
        .min(props.receive_maximum.unwrap_or(u16::MAX));
    let keep_alive = props
        .server_keep_alive
        .map(|s| Duration::from_secs(s.into()))
        .unwrap_or(opts.keep_alive);
    let (reader, writer) = tokio::io::split(stream);
    let conn = Connection {
        reader,
        writer,
        rbuf,
        read_size: READ_MIN,
        wbuf: BytesMut::new(),
        unflushed: false,
        commands,
        messages,
        batch: Vec::new(),
        deliver: true,
        inflight: Inflight::new(max_inflight),
        incoming_qos2: HashSet::new(),
        version: opts.version,
        decode: DecodeOptions::new(Some(opts.version)),
        keep_alive: KeepAlive::new(keep_alive),
        close: Close::Open,
    };
    tokio::spawn(conn.run())
}

/// What [`write_or_flush`] did.
enum Out {
    Written(usize),
    Flushed,
}

/// Writes from `wbuf`, or when it is empty, flushes what the transport still buffers.
async fn write_or_flush<W: AsyncWrite + Unpin>(
    writer: &mut W,
    wbuf: &[u8],
) -> std::io::Result<Out> {
    if wbuf.is_empty() {
        writer.flush().await.map(|()| Out::Flushed)
    } else {
        writer.write(wbuf).await.map(Out::Written)
    }
}

/// Longest wait for outstanding acknowledgments before DISCONNECT is sent anyway.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest wait, after DISCONNECT, for the server to close its side.
const LINGER: Duration = Duration::from_secs(2);

/// Where the connection is in closing. A close is graceful: requests awaiting acknowledgment
/// are completed first (up to [`DRAIN_TIMEOUT`]), then DISCONNECT is written, the write side
/// shut down, and what the server still sends is read until it closes (up to [`LINGER`]).
/// Closing a socket with unread bytes in it makes the kernel send a reset, which can discard
/// the last packets the server has not read yet: the reason for the linger.
enum Close {
    /// Taking commands.
    Open,
    /// No more commands; waiting for outstanding acknowledgments until `deadline`.
    Draining {
        reply: Option<oneshot::Sender<()>>,
        deadline: Instant,
    },
    /// DISCONNECT queued; finish writing, linger, then answer `reply` (if a handle asked).
    Sent(Option<oneshot::Sender<()>>),
}

/// Client keep alive: send PINGREQ when nothing was written for half the interval; fail when
/// a PINGREQ stays unanswered for a whole interval.
struct KeepAlive {
    interval: Duration,
    wrote: bool,
    ping_sent: Option<Instant>,
}

impl KeepAlive {
    fn new(interval: Duration) -> Self {
        Self {
            interval,
            wrote: false,
            ping_sent: None,
        }
    }

    /// The tick period; a disabled keep alive ticks rarely and does nothing.
    fn period(&self) -> Duration {
        if self.interval.is_zero() {
            Duration::from_secs(3600)
        } else {
            (self.interval / 2).max(Duration::from_millis(100))
        }
    }

    /// On a tick: `Ok(true)` when a PINGREQ is due.
    fn tick(&mut self, now: Instant) -> Result<bool, ClientError> {
        if self.interval.is_zero() {
            return Ok(false);
        }
        if let Some(sent) = self.ping_sent {
            if now.duration_since(sent) >= self.interval {
                return Err(ClientError::KeepAliveTimeout);
            }
        }
        let due = !std::mem::take(&mut self.wrote) && self.ping_sent.is_none();
        if due {
            self.ping_sent = Some(now);
        }
        Ok(due)
    }
}

struct Connection<T> {
    reader: ReadHalf<T>,
    writer: WriteHalf<T>,
    rbuf: BytesMut,
    read_size: usize,
    wbuf: BytesMut,
    /// The transport holds written bytes that a flush has not pushed out yet.
    unflushed: bool,
    commands: mpsc::Receiver<Command>,
    messages: mpsc::Sender<Vec<Publish>>,
    /// Messages decoded from the current read, handed over together.
    batch: Vec<Publish>,
    deliver: bool,
    inflight: Inflight,
    incoming_qos2: HashSet<u16>,
    version: ProtocolVersion,
    decode: DecodeOptions,
    keep_alive: KeepAlive,
    close: Close,
}

impl<T: Transport> Connection<T> {
    async fn run(mut self) -> Result<(), ClientError> {
        let period = self.keep_alive.period();
        let mut ticker = tokio::time::interval_at(Instant::now() + period, period);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        self.handle_read().await?;
        loop {
            let mut drain_deadline = None;
            match &mut self.close {
                Close::Open => {}
                Close::Draining { reply, deadline } => {
                    if !self.inflight.has_pending() || Instant::now() >= *deadline {
                        let reply = reply.take();
                        self.put(&Packet::Disconnect(Disconnect::default()))?;
                        self.close = Close::Sent(reply);
                        continue;
                    }
                    drain_deadline = Some(*deadline);
                }
                Close::Sent(reply) => {
                    if self.wbuf.is_empty() {
                        let reply = reply.take();
                        self.linger().await;
                        if let Some(reply) = reply {
                            let _ = reply.send(());
                        }
                        return Ok(());
                    }
                }
            }
            self.rbuf.reserve(self.read_size);
            let spare = self.rbuf.capacity() - self.rbuf.len();
            let accept = matches!(self.close, Close::Open)
                && self.wbuf.len() < WRITE_HIGH_WATER
                && self.inflight.has_room();
            tokio::select! {
                biased;
                read = self.reader.read_buf(&mut self.rbuf) => {
                    let n = read?;
                    if n == 0 {
                        return Err(ClientError::ConnectionClosed);
                    }
                    if n >= spare {
                        self.read_size = (self.read_size * 2).min(READ_MAX);
                    }
                    self.handle_read().await?;
                }
                out = write_or_flush(&mut self.writer, &self.wbuf),
                    if !self.wbuf.is_empty() || self.unflushed =>
                {
                    match out? {
                        Out::Flushed => self.unflushed = false,
                        Out::Written(0) => return Err(ClientError::ConnectionClosed),
                        Out::Written(n) => {
                            self.wbuf.advance(n);
                            self.keep_alive.wrote = true;
                            if self.wbuf.is_empty() {
                                // TLS and WebSocket buffer writes; TCP's flush is done at once.
                                match self.writer.flush().now_or_never() {
                                    Some(flushed) => flushed?,
                                    None => self.unflushed = true,
                                }
                            }
                        }
                    }
                }
                command = self.commands.recv(), if accept => {
                    self.handle_command(command)?;
                    self.drain_commands()?;
                }
                now = ticker.tick() => {
                    if self.keep_alive.tick(now)? {
                        self.put(&Packet::PingReq)?;
                    }
                }
                _ = sleep_until_some(drain_deadline) => {}
            }
        }
    }

    /// Shuts down the write side and reads (discarding) until the server closes or [`LINGER`].
    async fn linger(&mut self) {
        let _ = self.writer.shutdown().await;
        let deadline = Instant::now() + LINGER;
        loop {
            self.rbuf.clear();
            self.rbuf.reserve(READ_MIN);
            match tokio::time::timeout_at(deadline, self.reader.read_buf(&mut self.rbuf)).await {
                Ok(Ok(n)) if n > 0 => {}
                _ => return,
            }
        }
    }

    /// Takes the commands already queued, as long as the buffer and window allow.
    fn drain_commands(&mut self) -> Result<(), ClientError> {
        for _ in 0..COMMAND_BATCH {
            if !matches!(self.close, Close::Open)
                || self.wbuf.len() >= WRITE_HIGH_WATER
                || !self.inflight.has_room()
            {
                break;
            }
            match self.commands.try_recv() {
                Ok(command) => self.handle_command(Some(command))?,
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => self.handle_command(None)?,
            }
        }
        Ok(())
    }

    /// Encodes `packet` into the write buffer.
    fn put(&mut self, packet: &Packet) -> Result<(), ClientError> {
        Ok(encode(packet, self.version, &mut self.wbuf)?)
    }

    /// One command; `None` means every handle is gone, which closes the connection.
    fn handle_command(&mut self, command: Option<Command>) -> Result<(), ClientError> {
        match command {
            None => self.start_close(None),
            Some(Command::Disconnect { reply }) => self.start_close(Some(reply)),
            Some(Command::Publish(out)) => self.handle_publish(out),
            Some(Command::Subscribe {
                subscriptions,
                reply,
            }) => {
                let Some(packet_id) = self.inflight.insert(Pending::SubAck(reply)) else {
                    return Ok(());
                };
                self.put(&Packet::Subscribe(Subscribe {
                    packet_id,
                    subscriptions,
                    properties: Default::default(),
                }))
            }
            Some(Command::Unsubscribe { filters, reply }) => {
                let Some(packet_id) = self.inflight.insert(Pending::UnsubAck(reply)) else {
                    return Ok(());
                };
                self.put(&Packet::Unsubscribe(Unsubscribe {
                    packet_id,
                    filters,
                    properties: Default::default(),
                }))
            }
        }
    }

    fn start_close(&mut self, reply: Option<oneshot::Sender<()>>) -> Result<(), ClientError> {
        if matches!(self.close, Close::Open) {
            self.close = Close::Draining {
                reply,
                deadline: Instant::now() + DRAIN_TIMEOUT,
            };
        }
        Ok(())
    }

    fn handle_publish(&mut self, out: OutPublish) -> Result<(), ClientError> {
        let OutPublish { message, reply } = out;
        let packet_id = match message.qos {
            QoS::AtMostOnce => None,
            QoS::AtLeastOnce => self.inflight.insert(Pending::PubAck(reply)),
            QoS::ExactlyOnce => self.inflight.insert(Pending::PubRec(reply)),
        };
        if message.qos != QoS::AtMostOnce && packet_id.is_none() {
            return Ok(()); // unreachable while `accept` checks the window; the reply is dropped
        }
        self.put(&Packet::Publish(Publish {
            dup: false,
            qos: message.qos,
            retain: message.retain,
            topic: message.topic,
            packet_id,
            properties: message.properties.map(|p| *p).unwrap_or_default(),
            payload: message.payload,
        }))
    }

    /// Decodes and handles every complete packet in the read buffer.
    async fn handle_read(&mut self) -> Result<(), ClientError> {
        while let Some(packet) = decode(&mut self.rbuf, &self.decode)? {
            self.handle_packet(packet)?;
        }
        if !self.batch.is_empty() {
            let next = Vec::with_capacity(self.batch.len());
            let batch = std::mem::replace(&mut self.batch, next);
            if self.deliver && self.messages.send(batch).await.is_err() {
                self.deliver = false;
            }
        }
        Ok(())
    }

    fn handle_packet(&mut self, packet: Packet) -> Result<(), ClientError> {
        match packet {
            Packet::Publish(p) => return self.handle_incoming(p),
            Packet::PubAck(r) | Packet::PubComp(r) => match self.inflight.remove(r.packet_id) {
                Some(Pending::PubAck(reply) | Pending::PubComp(reply)) => {
                    answer(reply, r.reason_code)
                }
                Some(other) => return self.mismatch(r.packet_id, other),
                None => {}
            },
            Packet::PubRec(r) => match self.inflight.remove(r.packet_id) {
                Some(Pending::PubRec(reply)) if r.reason_code.is_success() => {
                    self.put(&Packet::PubRel(PubResp::new(r.packet_id)))?;
                    self.inflight.restore(r.packet_id, Pending::PubComp(reply));
                }
                Some(Pending::PubRec(reply)) => answer(reply, r.reason_code),
                Some(other) => return self.mismatch(r.packet_id, other),
                None => self.put(&Packet::PubRel(PubResp::new(r.packet_id)))?,
            },
            Packet::PubRel(r) => {
                self.incoming_qos2.remove(&r.packet_id.get());
                self.put(&Packet::PubComp(PubResp::new(r.packet_id)))?;
            }
            Packet::SubAck(s) => match self.inflight.remove(s.packet_id) {
                Some(Pending::SubAck(reply)) => {
                    let _ = reply.send(Ok(s));
                }
                Some(other) => return self.mismatch(s.packet_id, other),
                None => {}
            },
            Packet::UnsubAck(u) => match self.inflight.remove(u.packet_id) {
                Some(Pending::UnsubAck(reply)) => {
                    let _ = reply.send(Ok(u));
                }
                Some(other) => return self.mismatch(u.packet_id, other),
                None => {}
            },
            Packet::PingResp => self.keep_alive.ping_sent = None,
            Packet::Disconnect(d) => return Err(ClientError::ServerDisconnect(d.reason_code)),
            Packet::Auth(_) => return Err(ClientError::Protocol("AUTH is not supported")),
            Packet::Connect(_)
            | Packet::ConnAck(_)
            | Packet::Subscribe(_)
            | Packet::Unsubscribe(_)
            | Packet::PingReq => return Err(ClientError::Protocol("a packet only clients send")),
        }
        Ok(())
    }

    /// An acknowledgment of the wrong kind for the identifier: a server fault.
    fn mismatch(
        &mut self,
        id: starling_codec::PacketId,
        pending: Pending,
    ) -> Result<(), ClientError> {
        self.inflight.restore(id, pending);
        Err(ClientError::Protocol(
            "acknowledgment of the wrong type for the packet id",
        ))
    }

    /// Acknowledges an incoming PUBLISH and adds it to the batch for [`crate::Incoming`].
    fn handle_incoming(&mut self, p: Publish) -> Result<(), ClientError> {
        match (p.qos, p.packet_id) {
            (QoS::AtLeastOnce, Some(id)) => self.put(&Packet::PubAck(PubResp::new(id)))?,
            (QoS::ExactlyOnce, Some(id)) => {
                self.put(&Packet::PubRec(PubResp::new(id)))?;
                if !self.incoming_qos2.insert(id.get()) {
                    return Ok(()); // a resent message not yet released: deliver it once
                }
            }
            _ => {}
        }
        if self.deliver {
            self.batch.push(p);
        }
        Ok(())
    }
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until_some(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

fn answer(reply: PublishReply, code: starling_codec::ReasonCode) {
    if let Some(reply) = reply {
        let _ = reply.send(Ok(code));
    }
}
