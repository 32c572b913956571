//! Access control at the broker: authentication at CONNECT (on a blocking thread, the hashes
//! are slow on purpose), the delay before a refusal, and [`ClientAccess`], the ACL of one
//! connected client as the core's [`Access`] asks it.

use crate::context::Context;
use crate::mailbox::WeakMailbox;
use crate::metrics::Metrics;
use starling_auth::{
    AclTrie, Action, AllowedBy, Auth, Authenticated, Carried, Credentials, Principal, Refusal,
};
use starling_codec::ReasonCode;
use starling_core::{Access, ChannelStats};
use starling_topic::{TopicFilter, TopicName};
use std::net::SocketAddr;
use std::sync::Arc;
use tracing::info;

/// Decisions one connection remembers: a publisher sends to the same few topics, a subscriber
/// receives from them, so most checks are a string compare.
const CACHE: usize = 8;

/// One connected client's permissions, with its recent decisions.
pub(crate) struct ClientAccess {
    auth: Arc<Auth>,
    principal: Principal,
    /// Rules that came with the credentials (a JWT's `acl` claim, an http service's `acl`),
    /// and who issued them: asked first, or where the chain's `jwt`/`http` source stands.
    claims: Option<(AllowedBy, Arc<AclTrie>)>,
    /// The rules' generation the cache was filled under.
    generation: u64,
    cache: [Option<(Action, Arc<str>, bool)>; CACHE],
    next: usize,
}

impl std::fmt::Debug for ClientAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientAccess")
            .field("principal", &self.principal)
            .finish_non_exhaustive()
    }
}

impl ClientAccess {
    /// The access of `principal`; `None` when there is nothing to check: no authorization
    /// source configured and no rules in its credentials.
    pub(crate) fn new(
        auth: &Arc<Auth>,
        principal: Principal,
        claims: Option<(AllowedBy, Arc<AclTrie>)>,
    ) -> Option<Self> {
        if auth.authz.is_none() && claims.is_none() {
            return None;
        }
        Some(Self {
            generation: auth.authz.as_ref().map_or(0, |a| a.generation()),
            auth: Arc::clone(auth),
            principal,
            claims,
            cache: Default::default(),
            next: 0,
        })
    }

    fn decide(&self, action: Action, topic: &str) -> bool {
        if let Some(authz) = self.auth.authz.as_ref().filter(|a| a.places_carried()) {
            let carried = self
                .claims
                .as_ref()
                .map(|(by, rules)| Carried { by: *by, rules });
            return authz.allows_with(&self.principal, action, topic, carried);
        }
        if let Some((_, claims)) = &self.claims {
            if let Some(grant) = claims.check(&self.principal, action, topic) {
                return grant.allow;
            }
        }
        match &self.auth.authz {
            Some(authz) => authz.allows(&self.principal, action, topic),
            // Only the credentials' rules, and none matched.
            None => true,
        }
    }

    fn allows(&mut self, action: Action, topic: &str) -> bool {
        let generation = self.auth.authz.as_ref().map_or(0, |a| a.generation());
        if generation != self.generation {
            self.cache = Default::default();
            self.generation = generation;
        }
        for (a, t, allowed) in self.cache.iter().flatten() {
            if *a == action && **t == *topic {
                return *allowed;
            }
        }
        let allowed = self.decide(action, topic);
        self.cache[self.next] = Some((action, topic.into(), allowed));
        self.next = (self.next + 1) % CACHE;
        allowed
    }
}

impl Access for ClientAccess {
    fn may_publish(&mut self, topic: &TopicName) -> bool {
        self.allows(Action::Publish, topic.as_str())
    }

    fn may_subscribe(&mut self, filter: &TopicFilter) -> bool {
        self.allows(Action::Subscribe, filter.as_str())
    }

    fn may_read(&mut self, topic: &TopicName) -> bool {
        self.allows(Action::Read, topic.as_str())
    }
}

/// Runs the authentication chain for a CONNECT. On refusal, waits the growing delay for the
/// client's address first, then returns the CONNACK reason.
pub(crate) async fn authenticate(
    ctx: &Context,
    credentials: Credentials,
    peer: SocketAddr,
) -> Result<Option<Authenticated>, ReasonCode> {
    let auth = Arc::clone(&ctx.auth);
    if auth.authn.lets_everyone_in() {
        return Ok(None);
    }
    let client_id = credentials.client_id.clone();
    let username = credentials.username.clone();
    let checked = tokio::task::spawn_blocking({
        let auth = Arc::clone(&auth);
        move || auth.authn.authenticate(&credentials)
    })
    .await;
    let refusal = match checked {
        Ok(Ok(authenticated)) => {
            auth.failures.succeeded(Some(peer.ip()));
            tracing::debug!(client_id, by = ?authenticated.by, "authenticated");
            return Ok(Some(authenticated));
        }
        Ok(Err(refusal)) => refusal,
        // The blocking pool is shutting down.
        Err(_) => Refusal::NotAuthorized,
    };
    Err(failed(ctx, peer, &client_id, username.as_deref(), refusal).await)
}

/// A failed login (the chain's or a SCRAM exchange's): counted, logged (never a secret),
/// answered after the growing delay for the client's address. Returns the reason code.
pub(crate) async fn failed(
    ctx: &Context,
    peer: SocketAddr,
    client_id: &str,
    username: Option<&str>,
    refusal: Refusal,
) -> ReasonCode {
    Metrics::add(&ctx.metrics.auth_failures, 1);
    let delay = ctx
        .auth
        .failures
        .failed(Some(peer.ip()), std::time::Instant::now());
    info!(%peer, client_id, username, ?refusal, delay_ms = delay.as_millis() as u64, "authentication failed");
    tokio::select! {
        () = tokio::time::sleep(delay) => {}
        () = ctx.shutdown.cancelled() => {}
    }
    match refusal {
        Refusal::BadCredentials => ReasonCode::BadUserNameOrPassword,
        Refusal::NotAuthorized => ReasonCode::NotAuthorized,
    }
}

/// Closes the connection when its credentials expire (a token's `exp`): a small task that
/// sleeps until then and orders the session out, a no-op if it has gone already.
pub(crate) fn close_at_expiry(ctx: &Context, at: std::time::SystemTime, mailbox: WeakMailbox) {
    let deadline = ctx.limits.load().clock.instant(at);
    let shutdown = ctx.shutdown.clone();
    tokio::spawn(async move {
        tokio::select! {
            () = tokio::time::sleep_until(deadline.into()) => {
                mailbox.control(crate::router::command::SessionControl::CredentialsExpired);
            }
            () = shutdown.cancelled() => {}
        }
    });
}

/// Why this CONNECT is refused as banned, if it is.
pub(crate) fn banned(
    ctx: &Context,
    client_id: &str,
    username: Option<&str>,
    peer: SocketAddr,
) -> Option<String> {
    let now = crate::clock::wall(&ctx.limits.load());
    let reason = ctx.bans.check(client_id, username, peer.ip(), now)?;
    Metrics::add(&ctx.metrics.banned_refused, 1);
    Some(reason)
}

/// A connection of `client_id` ended: counted for flapping detection, which bans it once it
/// ended too often (its next CONNECT is refused).
pub(crate) fn disconnected(ctx: &Context, client_id: &str) {
    let Some(flapping) = &ctx.flapping else {
        return;
    };
    let Some((count, flapping)) = flapping.disconnected(client_id, crate::clock::now()) else {
        return;
    };
    let now = crate::clock::wall(&ctx.limits.load());
    let reason = format!(
        "flapping: {count} disconnects within {}",
        humantime_secs(flapping.window)
    );
    tracing::warn!(
        client_id,
        ban_secs = flapping.ban_time.as_secs(),
        reason,
        "client id banned"
    );
    let ban = starling_store::BanRecord {
        kind: starling_store::BanKind::ClientId,
        who: client_id.to_owned(),
        at: now,
        until: Some(now + flapping.ban_time),
        reason,
        by: "flapping".to_owned(),
    };
    if let Err(error) = ctx.bans.add(ban, now) {
        tracing::warn!(%error, client_id, "flapping client not banned");
        return;
    }
    Metrics::add(&ctx.metrics.flapping_bans, 1);
}

fn humantime_secs(d: std::time::Duration) -> String {
    format!("{}s", d.as_secs())
}

/// Adds a turn's ACL denials to the broker's counters.
pub(crate) fn count_denials(metrics: &Metrics, stats: &ChannelStats) {
    for (counter, n) in [
        (&metrics.acl_denied_publish, stats.denied_publish),
        (&metrics.acl_denied_subscribe, stats.denied_subscribe),
        (&metrics.acl_denied_delivery, stats.denied_delivery),
    ] {
        if n > 0 {
            Metrics::add(counter, u64::from(n));
        }
    }
}

/// Loads `[auth]`'s files, and says at start what is checked.
pub(crate) fn load(config: &starling_config::Config) -> Result<Auth, crate::StartError> {
    let auth = Auth::load(&config.auth).map_err(|error| crate::StartError::Auth { error })?;
    let authn = config.auth.authn.len();
    match &auth.authz {
        Some(authz) => info!(
            authenticators = authn,
            acl_rules = authz.rules(),
            no_match = if config.auth.no_match_allows {
                "allow"
            } else {
                "deny"
            },
            "access control on"
        ),
        None => info!(
            authenticators = authn,
            "no ACL configured: every topic is allowed"
        ),
    }
    if auth.authz.is_some() && config.auth.authn.is_empty() {
        tracing::warn!(
            "ACL rules are configured but no authenticator: usernames are taken as sent, \
             unverified"
        );
    }
    if config.auth.allow_anonymous {
        tracing::warn!(
            "anonymous clients are allowed (auth.allow_anonymous = true): a client without a \
             username gets in"
        );
    }
    Ok(auth)
}

/// Loads again the `[auth]` files that changed, and logs the outcome; a file that fails keeps
/// its previous contents.
pub(crate) fn reload(auth: &Auth) {
    for done in auth.authn.reload() {
        match done.outcome {
            Ok(entries) => {
                info!(path = %done.path.display(), entries, "authentication file reloaded")
            }
            Err(error) => {
                tracing::warn!(%error, "authentication file not reloaded; the previous one stays in use")
            }
        }
    }
    if let Some(authz) = &auth.authz {
        for done in authz.reload() {
            match done.outcome {
                Ok(rules) => info!(path = %done.path.display(), rules, "ACL file reloaded"),
                Err(error) => {
                    tracing::warn!(%error, "ACL file not reloaded; the previous rules stay in force")
                }
            }
        }
    }
}
