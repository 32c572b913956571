//! [`Client`]: connecting (TCP or any stream), the handle's requests, and [`Incoming`].

use crate::connection::{self, Command, OutPublish};
use crate::error::explain_tls;
use crate::{ClientError, ClientOptions, TlsConfig, TransportKind};
use bytes::{Bytes, BytesMut};
use starling_codec::{
    decode, encode, ConnAck, Connect, DecodeOptions, Packet, Properties, ProtocolVersion, Publish,
    QoS, ReasonCode, SubAck, Subscription, SubscriptionOptions, UnsubAck, Utf8String, Will,
};
use starling_net::{quic, tls, ws};
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// A byte stream a connection runs over: TCP, TLS, WebSocket, or anything else that reads and
/// writes bytes. Writes may be buffered: the connection flushes once its buffer is written.
pub trait Transport: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Transport for T {}

/// A handle to one connection. Cheap to clone; the connection ends on [`Client::disconnect`],
/// on an error, or when every handle is dropped.
#[derive(Clone)]
pub struct Client {
    commands: mpsc::Sender<Command>,
    connack: Arc<ConnAck>,
}

/// The messages the server delivers on a connection, already acknowledged (QoS 1 PUBACK, QoS 2
/// PUBREC). Must be drained: when its channel is full the connection stops reading. Consume it
/// in a different task from the one that publishes on the same connection.
pub struct Incoming {
    messages: mpsc::Receiver<Vec<Publish>>,
    pending: std::vec::IntoIter<Publish>,
    task: Option<JoinHandle<Result<(), ClientError>>>,
}

impl Incoming {
    /// The next message; `None` once the connection has ended.
    pub async fn recv(&mut self) -> Option<Publish> {
        loop {
            if let Some(p) = self.pending.next() {
                return Some(p);
            }
            self.pending = self.messages.recv().await?.into_iter();
        }
    }

    /// A message already received, without waiting; `None` if there is none right now.
    pub fn try_recv(&mut self) -> Option<Publish> {
        loop {
            if let Some(p) = self.pending.next() {
                return Some(p);
            }
            self.pending = self.messages.try_recv().ok()?.into_iter();
        }
    }

    /// Waits for the connection task to end and returns why it ended (`Ok` after a DISCONNECT
    /// sent by this side).
    pub async fn finish(mut self) -> Result<(), ClientError> {
        self.messages.close();
        match self.task.take() {
            Some(task) => task.await.unwrap_or(Err(ClientError::Closed)),
            None => Ok(()),
        }
    }
}

impl Client {
    /// Opens a connection to `opts.addr` (from `opts.local_addr` if set) over `opts.transport`
    /// (TCP, TLS, WebSocket, WebSocket over TLS), sends CONNECT and waits for a successful
    /// CONNACK. The TLS and WebSocket handshakes are bounded by `opts.connect_timeout` too.
    pub async fn connect(opts: &ClientOptions) -> Result<(Client, Incoming), ClientError> {
        if let TransportKind::Quic(config) = &opts.transport {
            // QUIC runs over UDP: no TCP connection first.
            let server = server(opts);
            let stream = tokio::time::timeout(
                opts.connect_timeout,
                quic::connect(config, opts.addr, &host(opts), opts.local_addr),
            )
            .await
            .map_err(|_| ClientError::Quic {
                server: server.clone(),
                reason: format!("no answer within {:?}", opts.connect_timeout),
            })??;
            return Self::connect_with(stream, opts).await;
        }
        let stream = tcp(opts).await.map_err(|source| ClientError::Connect {
            addr: opts.addr,
            source,
        })?;
        match &opts.transport {
            // The fast path: no wrapper around the socket.
            TransportKind::Tcp => Self::connect_with(stream, opts).await,
            TransportKind::Tls(config) => {
                let server = server(opts);
                let stream = tls_handshake(config, opts, &server, stream).await?;
                Self::connect_with(stream, opts)
                    .await
                    .map_err(|e| explain_tls(&server, e))
            }
            TransportKind::Ws { path } => {
                let stream = ws_handshake(&ws_url("ws", opts, path), opts, stream).await?;
                Self::connect_with(stream, opts).await
            }
            TransportKind::Wss { path, tls: config } => {
                let server = server(opts);
                let stream = tls_handshake(config, opts, &server, stream).await?;
                let stream = ws_handshake(&ws_url("wss", opts, path), opts, stream)
                    .await
                    .map_err(|e| explain_tls(&server, e))?;
                Self::connect_with(stream, opts)
                    .await
                    .map_err(|e| explain_tls(&server, e))
            }
            TransportKind::Quic(_) => unreachable!("QUIC is handled above"),
        }
    }

    /// Runs the handshake over an already open `stream` (e.g. TLS) and starts the connection.
    pub async fn connect_with<T: Transport>(
        mut stream: T,
        opts: &ClientOptions,
    ) -> Result<(Client, Incoming), ClientError> {
        let mut wbuf = BytesMut::with_capacity(256);
        encode(
            &Packet::Connect(Box::new(connect_packet(opts)?)),
            opts.version,
            &mut wbuf,
        )?;
        stream.write_all(&wbuf).await?;
        stream.flush().await?;
        let mut rbuf = BytesMut::with_capacity(connection::READ_MIN);
        let connack = tokio::time::timeout(
            opts.connect_timeout,
            read_connack(&mut stream, &mut rbuf, opts),
        )
        .await
        .map_err(|_| ClientError::ConnectTimeout(opts.connect_timeout))??;
        if !connack.reason_code.is_success() {
            return Err(ClientError::Refused(connack.reason_code));
        }
        let (commands, rx) = mpsc::channel(opts.command_capacity.max(1));
        let (messages_tx, messages) = mpsc::channel(opts.incoming_capacity.max(1));
        let task = connection::spawn(stream, rbuf, rx, messages_tx, opts, &connack);
        let client = Client {
            commands,
            connack: Arc::new(connack),
        };
        Ok((
            client,
            Incoming {
                messages,
                pending: Vec::new().into_iter(),
                task: Some(task),
            },
        ))
    }

    /// The server's CONNACK (session present, assigned client id, limits).
    pub fn connack(&self) -> &ConnAck {
        &self.connack
    }

    /// Queues `publish` for sending and returns once it is queued (at QoS 1/2, once the
    /// inflight window had room). Does not wait for the acknowledgment.
    pub async fn publish(&self, message: Message) -> Result<(), ClientError> {
        self.send(Command::Publish(message.into_out(None))).await
    }

    /// Publishes and waits for the acknowledgment: PUBACK (QoS 1) or PUBCOMP (QoS 2); the reason
    /// code is the server's (always `Success` in 3.x). QoS 0 returns `Success` once queued.
    pub async fn publish_confirmed(&self, message: Message) -> Result<ReasonCode, ClientError> {
        if message.qos == QoS::AtMostOnce {
            self.publish(message).await?;
            return Ok(ReasonCode::Success);
        }
        let (tx, rx) = oneshot::channel();
        self.send(Command::Publish(message.into_out(Some(tx))))
            .await?;
        rx.await.unwrap_or(Err(ClientError::Closed))
    }

    /// Subscribes to one filter with maximum QoS `qos` and waits for the SUBACK.
    pub async fn subscribe(&self, filter: &str, qos: QoS) -> Result<SubAck, ClientError> {
        let options = SubscriptionOptions {
            qos,
            ..SubscriptionOptions::default()
        };
        self.subscribe_many(vec![Subscription {
            filter: utf8(filter)?,
            options,
        }])
        .await
    }

    /// Subscribes to several filters in one SUBSCRIBE and waits for the SUBACK.
    pub async fn subscribe_many(
        &self,
        subscriptions: Vec<Subscription>,
    ) -> Result<SubAck, ClientError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Subscribe {
            subscriptions,
            reply,
        })
        .await?;
        rx.await.unwrap_or(Err(ClientError::Closed))
    }

    /// Unsubscribes from `filters` and waits for the UNSUBACK.
    pub async fn unsubscribe(&self, filters: &[&str]) -> Result<UnsubAck, ClientError> {
        let filters = filters.iter().map(|f| utf8(f)).collect::<Result<_, _>>()?;
        let (reply, rx) = oneshot::channel();
        self.send(Command::Unsubscribe { filters, reply }).await?;
        rx.await.unwrap_or(Err(ClientError::Closed))
    }

    /// Closes gracefully: everything queued before is sent, outstanding acknowledgments are
    /// awaited (up to 5 s), DISCONNECT is sent, and the server's close awaited (up to 2 s).
    pub async fn disconnect(&self) -> Result<(), ClientError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Disconnect { reply }).await?;
        rx.await.map_err(|_| ClientError::Closed)
    }

    async fn send(&self, command: Command) -> Result<(), ClientError> {
        self.commands
            .send(command)
            .await
            .map_err(|_| ClientError::Closed)
    }
}

/// An outgoing application message. Build the topic once and clone it (a cheap reference-count
/// increment) to publish many messages without allocating.
#[derive(Debug, Clone)]
pub struct Message {
    /// Topic name.
    pub topic: Utf8String,
    /// Payload.
    pub payload: Bytes,
    /// QoS.
    pub qos: QoS,
    /// Retain flag.
    pub retain: bool,
    /// PUBLISH properties (5.0); boxed since they are rare and large.
    pub properties: Option<Box<Properties>>,
}

impl Message {
    /// A message on `topic` (validated as an MQTT string; topic rules are the server's).
    pub fn new(topic: &str, payload: impl Into<Bytes>, qos: QoS) -> Result<Self, ClientError> {
        Ok(Self {
            topic: utf8(topic)?,
            payload: payload.into(),
            qos,
            retain: false,
            properties: None,
        })
    }

    fn into_out(self, reply: crate::inflight::PublishReply) -> OutPublish {
        OutPublish {
            message: self,
            reply,
        }
    }
}

/// Validates `s` as an MQTT UTF-8 string (copying it once).
pub(crate) fn utf8(s: &str) -> Result<Utf8String, ClientError> {
    Ok(Utf8String::from_bytes(Bytes::copy_from_slice(
        s.as_bytes(),
    ))?)
}

async fn tcp(opts: &ClientOptions) -> std::io::Result<TcpStream> {
    let stream = match opts.local_addr {
        None => TcpStream::connect(opts.addr).await?,
        Some(ip) => {
            let socket = if ip.is_ipv4() {
                TcpSocket::new_v4()?
            } else {
                TcpSocket::new_v6()?
            };
            socket.bind((ip, 0).into())?;
            socket.connect(opts.addr).await?
        }
    };
    stream.set_nodelay(opts.nodelay)?;
    Ok(stream)
}

/// The server's host name: `server_name`, or the IP address of `addr`.
fn host(opts: &ClientOptions) -> String {
    opts.server_name
        .clone()
        .unwrap_or_else(|| opts.addr.ip().to_string())
}

/// `host:port` for errors (`[v6]:port` for an IPv6 address).
fn server(opts: &ClientOptions) -> String {
    let host = host(opts);
    if host.contains(':') {
        format!("[{host}]:{}", opts.addr.port())
    } else {
        format!("{host}:{}", opts.addr.port())
    }
}

fn ws_url(scheme: &str, opts: &ClientOptions, path: &str) -> String {
    let slash = if path.starts_with('/') { "" } else { "/" };
    format!("{scheme}://{}{slash}{path}", server(opts))
}

async fn tls_handshake(
    config: &TlsConfig,
    opts: &ClientOptions,
    server: &str,
    stream: TcpStream,
) -> Result<tls::ClientTlsStream<TcpStream>, ClientError> {
    let name = host(opts);
    tokio::time::timeout(
        opts.connect_timeout,
        tls::handshake(config, &name, server, stream),
    )
    .await
    .map(|r| r.map_err(ClientError::from))
    .map_err(|_| ClientError::Tls {
        server: server.to_owned(),
        reason: format!("no answer within {:?}", opts.connect_timeout),
    })?
}

async fn ws_handshake<S: Transport>(
    url: &str,
    opts: &ClientOptions,
    stream: S,
) -> Result<ws::WsStream<S>, ClientError> {
    tokio::time::timeout(opts.connect_timeout, ws::handshake(url, stream))
        .await
        .map(|r| r.map_err(ClientError::from))
        .map_err(|_| ClientError::WebSocket {
            url: url.to_owned(),
            reason: format!("no answer within {:?}", opts.connect_timeout),
        })?
}

fn connect_packet(opts: &ClientOptions) -> Result<Connect, ClientError> {
    let will = match &opts.will {
        None => None,
        Some(w) => Some(Will {
            qos: w.qos,
            retain: w.retain,
            topic: utf8(&w.topic)?,
            payload: w.payload.clone(),
            properties: Properties {
                will_delay_interval: w.delay_interval,
                ..Properties::default()
            },
        }),
    };
    let user_properties = match opts.version {
        ProtocolVersion::V5 => opts
            .user_properties
            .iter()
            .map(|(k, v)| Ok((utf8(k)?, utf8(v)?)))
            .collect::<Result<_, ClientError>>()?,
        _ => Vec::new(),
    };
    let properties = Properties {
        session_expiry_interval: opts.session_expiry,
        user_properties,
        ..Properties::default()
    };
    Ok(Connect {
        protocol: opts.version,
        clean_start: opts.clean_start,
        keep_alive: u16::try_from(opts.keep_alive.as_secs()).unwrap_or(u16::MAX),
        client_id: utf8(&opts.client_id)?,
        will,
        username: opts.username.as_deref().map(utf8).transpose()?,
        password: opts.password.clone(),
        properties,
    })
}

async fn read_connack<T: Transport>(
    stream: &mut T,
    rbuf: &mut BytesMut,
    opts: &ClientOptions,
) -> Result<ConnAck, ClientError> {
    let dopts = DecodeOptions::new(Some(opts.version));
    loop {
        match decode(rbuf, &dopts)? {
            Some(Packet::ConnAck(c)) => return Ok(c),
            Some(_) => return Err(ClientError::Protocol("the first packet was not CONNACK")),
            None => {}
        }
        if stream.read_buf(rbuf).await? == 0 {
            return Err(ClientError::ConnectionClosed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_carries_user_properties_on_5_only() {
        let mut opts = ClientOptions::new(([127, 0, 0, 1], 1883).into());
        opts.user_properties = vec![("a".into(), "1".into()), ("a".into(), "2".into())];
        let connect = connect_packet(&opts).expect("connect");
        let got: Vec<_> = connect
            .properties
            .user_properties
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(got, [("a", "1"), ("a", "2")]);
        let connect = connect_packet(&opts.version(ProtocolVersion::V3_1_1)).expect("connect");
        assert!(connect.properties.user_properties.is_empty());
    }
}
