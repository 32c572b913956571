//! 5.0 enhanced authentication at CONNECT (spec 4.12): a CONNECT that names an Authentication
//! Method runs that method's exchange here, in AUTH packets, instead of the password chain.
//!
//! Only SCRAM (`[[auth.authn]] kind = "scram"`) is a method: any other, or SCRAM without that
//! authenticator or without the mechanism in its `algorithms`, is refused with CONNACK 0x8C.
//! The exchange: CONNECT carries the client-first-message; we answer AUTH 0x18 with the
//! server-first-message; the client answers AUTH 0x18 with the client-final-message; a right
//! proof gets CONNACK 0x00 carrying the server-final-message (added by the handshake). The
//! state machine is `starling_auth::scram`; this file only carries its messages. A refusal
//! (unknown user 0x86, wrong proof or malformed message 0x87) is counted per address and
//! delayed as the chain's are; another packet than AUTH 0x18 with the same method is a
//! Protocol Error (0x82). The handshake bounds the whole exchange by `mqtt.connect_timeout`.

use super::transport::{Stream, Transport};
use crate::context::Context;
use bytes::Bytes;
use starling_auth::scram::ScramError;
use starling_auth::{AllowedBy, Authenticated, Refusal};
use starling_codec::{Auth, Connect, Packet, Properties, ReasonCode, Utf8String};
use std::net::SocketAddr;
use tracing::debug;

/// A finished exchange: who the client is, and what CONNACK must carry.
pub(crate) struct Enhanced {
    pub(crate) authenticated: Authenticated,
    /// The authenticated username (stands for CONNECT's).
    pub(crate) username: String,
    /// The Authentication Method, echoed in CONNACK.
    pub(crate) method: Utf8String,
    /// The server-final-message, CONNACK's Authentication Data.
    pub(crate) data: Bytes,
}

/// Why the exchange ended without success.
pub(crate) enum Failed {
    /// Answer CONNACK with this reason.
    Refuse(ReasonCode),
    /// The client went away (or sent bad bytes): close without a word.
    Gone,
}

/// An AUTH packet with `reason`, `method` and `data`.
pub(crate) fn auth_packet(reason: ReasonCode, method: &Utf8String, data: Bytes) -> Packet {
    Packet::Auth(Auth {
        reason_code: reason,
        properties: Properties {
            authentication_method: Some(method.clone()),
            authentication_data: Some(data),
            ..Properties::default()
        },
    })
}

/// The SCRAM error as a refusal: an unknown user is a bad username (0x86), anything else
/// not authorized (0x87).
pub(crate) fn refusal_of(error: &ScramError) -> Refusal {
    match error {
        ScramError::UnknownUser => Refusal::BadCredentials,
        ScramError::WrongProof | ScramError::Malformed(_) | ScramError::Unsupported(_) => {
            Refusal::NotAuthorized
        }
    }
}

/// Runs the exchange `connect` asks for. The caller bounds it in time.
pub(crate) async fn exchange<S: Stream>(
    ctx: &Context,
    transport: &mut Transport<S>,
    connect: &Connect,
    client_id: &str,
    peer: SocketAddr,
) -> Result<Enhanced, Failed> {
    let Some(method) = connect.properties.authentication_method.clone() else {
        return Err(Failed::Refuse(ReasonCode::ProtocolError));
    };
    let scram = ctx.auth.authn.scram();
    let Some((scram, server)) = scram.and_then(|s| s.server(method.as_str()).map(|m| (s, m)))
    else {
        debug!(
            method = method.as_str(),
            "unsupported authentication method"
        );
        return Err(Failed::Refuse(ReasonCode::BadAuthenticationMethod));
    };
    let client_first = connect
        .properties
        .authentication_data
        .clone()
        .unwrap_or_default();
    let fail = |error: ScramError, username: Option<String>| async move {
        debug!(%error, "SCRAM exchange refused");
        Failed::Refuse(
            crate::access::failed(
                ctx,
                peer,
                client_id,
                username.as_deref(),
                refusal_of(&error),
            )
            .await,
        )
    };
    let (state, server_first) = match scram.start(server, &client_first) {
        Ok(started) => started,
        Err(error) => return Err(fail(error, None).await),
    };
    let version = connect.protocol;
    transport.set_protocol(version, ctx.connect_max_packet_size());
    let challenge = auth_packet(
        ReasonCode::ContinueAuthentication,
        &method,
        server_first.into(),
    );
    transport.queue(&challenge, version, &ctx.metrics);
    if transport.flush(&ctx.metrics).await.is_err() {
        return Err(Failed::Gone);
    }
    let answer = match next_auth(ctx, transport).await? {
        Some(auth)
            if auth.reason_code == ReasonCode::ContinueAuthentication
                && auth.properties.authentication_method.as_ref() == Some(&method) =>
        {
            auth.properties.authentication_data.unwrap_or_default()
        }
        _ => {
            debug!("not an AUTH 0x18 of the same method during the exchange");
            return Err(Failed::Refuse(ReasonCode::ProtocolError));
        }
    };
    let username = state.username().to_owned();
    match state.finish(&answer) {
        Ok(done) => {
            ctx.auth.failures.succeeded(Some(peer.ip()));
            debug!(client_id, username, "authenticated by SCRAM");
            Ok(Enhanced {
                authenticated: Authenticated {
                    superuser: done.superuser,
                    ..Authenticated::by(AllowedBy::Scram)
                },
                username: done.username,
                method,
                data: done.server_final.into(),
            })
        }
        Err(error) => Err(fail(error, Some(username)).await),
    }
}

/// The next packet, if it is an AUTH (`None` for any other packet).
async fn next_auth<S: Stream>(
    ctx: &Context,
    transport: &mut Transport<S>,
) -> Result<Option<Auth>, Failed> {
    loop {
        match transport.next_packet() {
            Ok(Some(Packet::Auth(auth))) => return Ok(Some(auth)),
            Ok(Some(Packet::Disconnect(_))) => return Err(Failed::Gone),
            Ok(Some(_)) => return Ok(None),
            Ok(None) => {}
            Err(error) => {
                debug!(%error, "bad packet during the authentication exchange");
                return Err(Failed::Gone);
            }
        }
        match transport.read_more(&ctx.metrics).await {
            Ok(0) | Err(_) => return Err(Failed::Gone),
            Ok(_) => {}
        }
    }
}
