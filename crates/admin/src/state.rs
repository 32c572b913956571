//! What every handler shares.

use std::sync::Arc;

use starling_broker::BrokerHandle;

use crate::accounts::Accounts;
use crate::session::Tokens;

/// The API's state: the broker, the accounts, the live tokens, failed logins.
#[derive(Debug)]
pub(crate) struct AppState {
    /// The broker.
    pub(crate) handle: BrokerHandle,
    /// Dashboard accounts and API keys.
    pub(crate) accounts: Accounts,
    /// Login tokens.
    pub(crate) tokens: Tokens,
    /// Failed logins per address, and the growing delay before a refusal.
    pub(crate) failures: starling_auth::Failures,
    /// `[api]`.
    pub(crate) config: starling_config::ApiConfig,
}

/// The state as handlers take it.
pub(crate) type Shared = Arc<AppState>;

/// Who made a request (set by `guard` on every authenticated route).
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    /// The account, for a login token; `None` for an API key.
    pub(crate) username: Option<String>,
    /// The token used, if any (logout ends it).
    pub(crate) token: Option<String>,
}
