//! Re-authentication (spec 4.12.1) on a connected client: the channel hands each AUTH of the
//! exchange over as `Effect::Authenticate`; the step runs here, against the same `scram`
//! authenticator as at CONNECT, and its answer goes back to the channel, which sends AUTH 0x18,
//! AUTH 0x00 or DISCONNECT 0x87. The SCRAM state between the two client messages is kept in the
//! connection's boxed rare state (`Slow`), so an idle connection pays nothing for it. The
//! client must authenticate as the user it connected as. A failure is counted for its address
//! (`Failures`, `auth_failures`), so its next CONNECT waits; the connection itself is closed
//! at once. The steps are HMACs, no PBKDF2, so they run on the connection's task.

use crate::clients::ClientInfo;
use crate::context::Context;
use crate::metrics::Metrics;
use bytes::Bytes;
use starling_auth::scram::ServerFirstSent;
use starling_codec::{ReasonCode, Utf8String};
use starling_core::AuthAnswer;
use tracing::{debug, info};

/// Runs one step of a re-authentication: `reason` 0x19 starts one, 0x18 finishes it.
pub(super) fn step(
    ctx: &Context,
    client: Option<&ClientInfo>,
    state: &mut Option<Box<ServerFirstSent>>,
    (method, reason, data): (&Utf8String, ReasonCode, &Bytes),
) -> AuthAnswer {
    let fail = |why: &str, error: Option<starling_auth::scram::ScramError>| {
        Metrics::add(&ctx.metrics.auth_failures, 1);
        let ip = client.map(|c| c.ip);
        let delay = ctx.auth.failures.failed(ip, std::time::Instant::now());
        info!(
            client_id = client.map(|c| &*c.client_id),
            username = client.and_then(|c| c.username.as_deref()),
            why,
            error = error.map(|e| e.to_string()),
            next_delay_ms = delay.as_millis() as u64,
            "re-authentication failed"
        );
        AuthAnswer::Failed
    };
    let Some(scram) = ctx.auth.authn.scram() else {
        return fail("no scram authenticator", None);
    };
    let Some(server) = scram.server(method.as_str()) else {
        return fail("method not configured", None);
    };
    if reason == ReasonCode::ReAuthenticate {
        *state = None;
        return match scram.start(server, data) {
            Ok((started, _))
                if client.and_then(|c| c.username.as_deref()) != Some(started.username()) =>
            {
                fail("another user than the connection's", None)
            }
            Ok((started, server_first)) => {
                *state = Some(Box::new(started));
                AuthAnswer::Continue(server_first.into())
            }
            Err(error) => fail("client-first refused", Some(error)),
        };
    }
    let Some(started) = state.take() else {
        return fail("no exchange under way", None);
    };
    match started.finish(data) {
        Ok(done) => {
            ctx.auth.failures.succeeded(client.map(|c| c.ip));
            debug!(username = done.username, "re-authenticated by SCRAM");
            AuthAnswer::Success(done.server_final.into())
        }
        Err(error) => fail("client-final refused", Some(error)),
    }
}
