//! The CONNECT handshake: wait (bounded by `connect_timeout`) for the first packet, which must be
//! CONNECT ([MQTT-3.1.0-1]); negotiate; register with the router, taking over any previous
//! connection of the same client id and resuming its session unless Clean Start
//! (`takeover`); answer CONNACK. A CONNECT with an Authentication Method runs its exchange
//! first (`enhanced`), all within `mqtt.connect_timeout`. A verified client certificate's names may stand for the
//! username and client id ([`CertIdentity`]).

use super::transport::{Stream, Transport};
use super::{enhanced, resume, takeover};
use crate::access::ClientAccess;
use crate::context::Context;
use crate::mailbox::Inbox;
use crate::metrics::Metrics;
use starling_auth::{Credentials, Principal};
use starling_codec::{Connect, DecodeError, Packet, ProtocolVersion, ReasonCode, Utf8String};
use starling_core::{
    connack_fitting, connack_refused, negotiate, publish_rules, Access, Channel, SessionState,
};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tracing::{debug, info};

/// How long a refusal before CONNECT may take to write: a few bytes.
const CLOSE_BEFORE_CONNECT: Duration = Duration::from_secs(5);

/// An accepted connection, ready for the online loop.
pub(crate) struct Accepted<S> {
    pub(crate) transport: Transport<S>,
    pub(crate) channel: Channel,
    pub(crate) inbox: Inbox,
}

/// What the handshake hands the online loop: the connection, and for a session resumed from
/// the store, where its stored queue continues after the inflight window read back (told to
/// the router with the first `Resume`; not kept in [`Accepted`], which every connection holds
/// for its whole life).
pub(crate) type Handshaken<S> = (Accepted<S>, Option<u64>);

/// What a verified client certificate says the client is, as the listener's
/// `peer_cert_as_username` / `peer_cert_as_clientid` pick it: it replaces what CONNECT says.
#[derive(Debug, Clone, Default)]
pub(crate) struct CertIdentity {
    pub(crate) username: Option<String>,
    pub(crate) client_id: Option<String>,
}

impl CertIdentity {
    /// Puts the certificate's names into `connect`; true when the client sent no client id and
    /// the certificate gave it one (a 5.0 client must then be told it; one that sent an id of
    /// its own must not be: libmosquitto, for one, takes that as a protocol error).
    fn apply(self, connect: &mut Connect) -> bool {
        if let Some(Ok(name)) = self.username.map(Utf8String::try_from) {
            connect.username = Some(name);
        }
        match self.client_id.map(Utf8String::try_from) {
            Some(Ok(id)) if id.as_str() != connect.client_id.as_str() => {
                let sent_none = connect.client_id.is_empty();
                connect.client_id = id;
                sent_none
            }
            _ => false,
        }
    }
}

/// Runs the handshake; `None` when the connection was refused or went away.
pub(crate) async fn accept<S>(
    stream: S,
    peer: SocketAddr,
    ctx: Arc<Context>,
    identity: Option<Box<CertIdentity>>,
) -> Option<Handshaken<S>>
where
    S: Stream,
{
    let ctx = &*ctx;
    // CONNECT and any authentication exchange after it must be done by then.
    let deadline = tokio::time::Instant::now() + ctx.connect_timeout;
    let mut transport = Transport::new(stream, ctx.connect_max_packet_size());
    let mut connect = tokio::select! {
        connect = tokio::time::timeout(ctx.connect_timeout, read_connect(&mut transport, &ctx.metrics)) => {
            match connect {
                Ok(Some(connect)) => connect,
                Ok(None) => return None,
                Err(_) => {
                    debug!("no CONNECT within the connect timeout; closing");
                    return None;
                }
            }
        }
        () = ctx.shutdown.cancelled() => return None,
    };
    let cert_verified = identity.is_some();
    let replaced_id = identity.is_some_and(|identity| identity.apply(&mut connect));
    let version = connect.protocol;
    let now = crate::clock::now();
    // The limits in force now (a config change applies to connections made after it): one
    // version for the whole handshake and the channel it makes.
    let limits = ctx.limits.load_full();
    let mut neg = match negotiate(&connect, &limits, assign_client_id) {
        Ok(neg) => neg,
        Err(reason) => {
            debug!(%reason, "CONNECT refused");
            let traced = (connect.client_id.as_str(), peer);
            crate::trace::connect(ctx, traced.0, peer, &connect);
            return refuse(transport, reason, version, ctx, traced).await;
        }
    };
    crate::trace::connect(ctx, &neg.client_id, peer, &connect);
    let client_id_now = neg.client_id.clone();
    let traced = (&*client_id_now, peer);
    if ctx.overloaded.is_active() {
        crate::metrics::Metrics::add(&ctx.metrics.overload_refused, 1);
        debug!(%peer, "overloaded: CONNECT refused");
        return refuse(transport, ReasonCode::ServerBusy, version, ctx, traced).await;
    }
    let username = connect.username.as_ref().map(|u| u.as_str().to_owned());
    if let Some(reason) = crate::access::banned(ctx, &neg.client_id, username.as_deref(), peer) {
        debug!(%peer, reason, "banned client refused");
        return refuse(transport, ReasonCode::Banned, version, ctx, traced).await;
    }
    let asked = (&connect, &*neg.client_id, peer, cert_verified);
    let Identified {
        authenticated,
        username,
        enhanced_auth,
    } = match identify(ctx, &mut transport, asked, username, deadline).await {
        Ok(identified) => identified,
        Err(Some(reason)) => return refuse(transport, reason, version, ctx, traced).await,
        Err(None) => return None,
    };
    let (expires_at, claims, superuser) = authenticated.map_or((None, None, false), |a| {
        (a.expires_at, a.acl.map(|acl| (a.by, acl)), a.superuser)
    });
    let username_shown: Option<Arc<str>> = username.as_deref().map(Arc::from);
    let principal = Principal::new(username, &neg.client_id, Some(peer.ip()));
    // A superuser is not checked at all.
    let mut access = if superuser {
        None
    } else {
        ClientAccess::new(&ctx.auth, principal, claims)
    };
    if let (Some(access), Some(will)) = (&mut access, &neg.will) {
        let target = publish_rules::target_topic(&will.message.topic, &limits);
        if !access.may_publish(&target) {
            debug!(topic = target.as_str(), "will refused by the ACL");
            crate::metrics::Metrics::add(&ctx.metrics.acl_denied_publish, 1);
            return refuse(transport, ReasonCode::NotAuthorized, version, ctx, traced).await;
        }
    }
    // A 5.0 client that sent no id learns the one its certificate gave it.
    neg.assigned_id |= replaced_id;
    let span = tracing::Span::current();
    span.record("client_id", &*neg.client_id);
    span.record("proto", version.to_string());

    // [MQTT-3.1.2-24]: a CONNACK the client cannot take is not sent. Checked before the
    // router hears of the client (Session Present does not change the size).
    let Some(mut connack) = connack_fitting(&neg, &limits, false) else {
        debug!("even the smallest CONNACK exceeds the client's Maximum Packet Size; closing");
        transport.close(&ctx.metrics, CLOSE_BEFORE_CONNECT).await;
        return None;
    };
    let conn_id = ctx.conn_id();
    let (mailbox, inbox) = crate::mailbox::mailbox();
    if let Some(at) = expires_at {
        crate::access::close_at_expiry(ctx, at, inbox.downgrade());
    }
    let client_id = neg.client_id.clone();
    let clean_start = neg.clean_start;
    let info = Arc::new(crate::clients::ClientInfo {
        client_id: client_id.clone(),
        conn_id,
        username: username_shown,
        ip: peer.ip(),
        port: peer.port(),
        protocol: version,
        keep_alive: neg.keep_alive,
        clean_start,
        expiry_interval: neg.session_expiry,
        connected_at_ms: crate::clock::wall(&limits)
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
        counters: crate::clients::ClientCounters::default(),
        trace: crate::trace::TraceCache::default(),
    });
    transport.set_client(Arc::clone(&info));
    let registering = takeover::Registering {
        client_id: client_id.clone(),
        conn_id,
        peer,
        clean_start,
        expiry_interval: neg.session_expiry,
        will: neg.will.clone(),
        info,
    };
    let (previous, from_store) = takeover::register(ctx, registering, mailbox).await?;
    let session = takeover::settle(ctx, previous, &client_id, conn_id, clean_start).await?;
    let session_present = session.is_some();
    let mut session = session.unwrap_or_else(|| SessionState::new(client_id, neg.session_expiry));
    // Even when the previous holder did not hand it over: the store has the session. Its
    // stored queue is streamed from the start (what the window holds is skipped).
    let (resume_from, in_window) = match &ctx.store {
        Some(store) if from_store => (Some(0), resume::load(store, &mut session, ctx)),
        _ => (None, Vec::new()),
    };
    info!(
        %peer,
        client_id = &*neg.client_id,
        session_present,
        keep_alive = neg.keep_alive,
        "client connected"
    );
    connack.session_present = session_present;
    let mut enhanced_method = None;
    if let Some((method, data)) = enhanced_auth {
        connack.properties.authentication_method = Some(method.clone());
        connack.properties.authentication_data = Some(data);
        enhanced_method = Some(method);
    }
    let connack = Packet::ConnAck(connack);
    crate::trace::connack(ctx, &client_id_now, peer, &connack);
    transport.queue(&connack, version, &ctx.metrics);
    transport.set_protocol(version, limits.max_packet_size);
    let mut channel = Channel::new(neg, Arc::clone(&limits), session, now);
    if let Some(access) = access {
        channel.set_access(Box::new(access));
    }
    if let Some(method) = enhanced_method {
        channel.set_auth_method(method);
    }
    channel.skip_stored(in_window);
    let accepted = Accepted {
        transport,
        channel,
        inbox,
    };
    Some((accepted, resume_from))
}

/// Who the client is: as the chain or an enhanced authentication exchange found it.
struct Identified {
    authenticated: Option<starling_auth::Authenticated>,
    /// CONNECT's username, or the one the exchange authenticated.
    username: Option<String>,
    /// Enhanced authentication: the method and the data for CONNACK (SCRAM's server-final).
    enhanced_auth: Option<(Utf8String, bytes::Bytes)>,
}

/// Authenticates the client: the exchange of its Authentication Method (bounded by
/// `deadline`), or the chain. `Err(Some(reason))`: refuse it; `Err(None)`: just close.
async fn identify<S: Stream>(
    ctx: &Context,
    transport: &mut Transport<S>,
    (connect, client_id, peer, cert_verified): (&Connect, &str, SocketAddr, bool),
    username: Option<String>,
    deadline: tokio::time::Instant,
) -> Result<Identified, Option<ReasonCode>> {
    if connect.properties.authentication_method.is_none() {
        let credentials = Credentials {
            client_id: client_id.to_owned(),
            username: username.clone(),
            password: connect.password.as_ref().map(|p| p.to_vec()),
            peer: Some(peer.ip()),
            cert_verified,
        };
        let authenticated = crate::access::authenticate(ctx, credentials, peer).await?;
        return Ok(Identified {
            authenticated,
            username,
            enhanced_auth: None,
        });
    }
    let exchange = enhanced::exchange(ctx, transport, connect, client_id, peer);
    let done = tokio::select! {
        done = tokio::time::timeout_at(deadline, exchange) => done,
        () = ctx.shutdown.cancelled() => return Err(None),
    };
    match done {
        Ok(Ok(done)) => {
            // The exchange named the user: it stands for CONNECT's, and may be banned.
            if let Some(reason) = crate::access::banned(ctx, client_id, Some(&done.username), peer)
            {
                debug!(%peer, reason, "banned client refused");
                return Err(Some(ReasonCode::Banned));
            }
            Ok(Identified {
                authenticated: Some(done.authenticated),
                username: Some(done.username),
                enhanced_auth: Some((done.method, done.data)),
            })
        }
        Ok(Err(enhanced::Failed::Refuse(reason))) => Err(Some(reason)),
        Ok(Err(enhanced::Failed::Gone)) => Err(None),
        Err(_) => {
            debug!("authentication exchange not done within the connect timeout; closing");
            Err(None)
        }
    }
}

/// Answers CONNACK with `reason` and closes; always `None`.
async fn refuse<S: Stream, T>(
    mut transport: Transport<S>,
    reason: ReasonCode,
    version: ProtocolVersion,
    ctx: &Context,
    (client_id, peer): (&str, SocketAddr),
) -> Option<T> {
    let refusal = Packet::ConnAck(connack_refused(reason));
    crate::trace::connack(ctx, client_id, peer, &refusal);
    transport.queue(&refusal, version, &ctx.metrics);
    transport.close(&ctx.metrics, ctx.close_timeout()).await;
    None
}

/// Reads until a CONNECT is decoded. Anything else first, or bad bytes, ends the connection;
/// an unknown protocol level is answered with CONNACK 0x01 / 0x84 first ([MQTT-3.1.2-2]).
async fn read_connect<S>(transport: &mut Transport<S>, metrics: &Metrics) -> Option<Connect>
where
    S: Stream,
{
    loop {
        match transport.next_packet() {
            Ok(Some(Packet::Connect(connect))) => return Some(*connect),
            Ok(Some(_)) => return None,
            Ok(None) => {}
            Err(error) => {
                debug!(%error, "bad CONNECT");
                if let DecodeError::Invalid {
                    reason: ReasonCode::UnsupportedProtocolVersion,
                    ..
                } = error
                {
                    let refusal =
                        Packet::ConnAck(connack_refused(ReasonCode::UnsupportedProtocolVersion));
                    transport.queue(&refusal, ProtocolVersion::V3_1_1, metrics);
                    transport.close(metrics, CLOSE_BEFORE_CONNECT).await;
                }
                return None;
            }
        }
        match transport.read_more(metrics).await {
            Ok(0) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// A client id for a client that sent none: unique, recognisable in logs.
fn assign_client_id() -> String {
    format!("starling-{:016x}", rand::random::<u64>())
}
