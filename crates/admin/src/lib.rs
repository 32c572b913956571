//! `starling-admin`: the management REST API on port 18083, under `/api/v5` in the shape of
//! EMQX 5's, with its OpenAPI 3 document at `/api-docs/openapi.json` (generated from the
//! handlers with utoipa) and a page that shows it at `/api-docs`.
//!
//! It reaches the broker only through [`starling_broker::BrokerHandle`]: questions to the
//! router are bounded commands (pages with cursors), counters are atomics, and the API's own
//! records (dashboard accounts, API keys) go to the store's `admin` keyspace. It must not
//! depend on the broker's internals.
//!
//! # Modules
//!
//! - `routes`: every route and the OpenAPI document (`routes::build`);
//! - `guard`: the login check every `/api/v5/` route passes, and the forced password change;
//! - `accounts`: dashboard accounts and API keys (stored); `password`: argon2id hashes and
//!   the rules of a new password; `session`: login tokens;
//! - `json`: extractors whose refusals name the field (400);
//! - `error`: [`ApiError`], the JSON error body;
//! - `state`: what handlers share; `system`: memory, load and CPU from `/proc`;
//! - `dashboard`: the web dashboard's embedded files, served at `/` (every path outside
//!   `/api/` that names one).

mod accounts;
mod dashboard;
mod error;
mod guard;
mod json;
mod password;
mod routes;
mod session;
mod state;
mod system;

pub use error::{ApiError, ErrorBody};

use std::net::SocketAddr;
use std::sync::Arc;

use axum::routing::get;
use starling_broker::BrokerHandle;
use tokio_util::sync::CancellationToken;

/// Why the API could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The address could not be bound.
    #[error("api.bind: cannot listen on {addr}: {error}")]
    Bind {
        /// `api.bind`.
        addr: SocketAddr,
        /// The OS error.
        error: std::io::Error,
    },
    /// The accounts could not be read or the default one made.
    #[error("management API accounts: {0}")]
    Accounts(ApiError),
}

/// A running API.
#[derive(Debug)]
pub struct RunningApi {
    /// The address bound (useful with port 0).
    pub local_addr: SocketAddr,
    /// Ends when the server stopped (after `shutdown` is cancelled).
    pub task: tokio::task::JoinHandle<()>,
}

/// The OpenAPI document, as JSON (also served at `/api-docs/openapi.json`).
pub fn openapi_json() -> String {
    routes::build().1.to_pretty_json().unwrap_or_default()
}

/// A path no route has: a dashboard file (outside `/api/`, for GET and HEAD), else 404.
async fn not_routed(
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let path = uri.path();
    let reading = method == axum::http::Method::GET || method == axum::http::Method::HEAD;
    if reading && !path.starts_with("/api/") {
        if let Some(found) = dashboard::respond(path, &headers) {
            return found;
        }
    }
    ApiError::NotFound("no such route".into()).into_response()
}

/// Binds `api.bind` and serves the API until `shutdown` is cancelled.
pub async fn serve(
    handle: BrokerHandle,
    shutdown: CancellationToken,
) -> Result<RunningApi, ServeError> {
    let config = handle.config().api.clone();
    let accounts = accounts::Accounts::load(handle.clone(), &config)
        .await
        .map_err(ServeError::Accounts)?;
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .map_err(|error| ServeError::Bind {
            addr: config.bind,
            error,
        })?;
    let local_addr = listener.local_addr().map_err(|error| ServeError::Bind {
        addr: config.bind,
        error,
    })?;
    let state = Arc::new(state::AppState {
        handle,
        accounts,
        tokens: session::Tokens::new(config.token_ttl, config.max_tokens),
        failures: starling_auth::Failures::new(
            std::time::Duration::from_millis(500),
            std::time::Duration::from_secs(5),
        ),
        config: config.clone(),
    });
    let (api, doc) = routes::build();
    let doc = doc.to_pretty_json().unwrap_or_default();
    let app = api
        .route(
            "/api-docs/openapi.json",
            get(move || routes::docs::openapi_json(doc.clone())),
        )
        .route("/api-docs", get(routes::docs::page))
        .fallback(not_routed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::require_login,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(config.max_body))
        .with_state(state);
    tracing::info!(addr = %local_addr, "management API listening (dashboard at /, REST under /api/v5, OpenAPI at /api-docs)");
    let task = tokio::spawn(async move {
        let service = app.into_make_service_with_connect_info::<SocketAddr>();
        let served = axum::serve(listener, service)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "the management API stopped");
        }
    });
    Ok(RunningApi { local_addr, task })
}
