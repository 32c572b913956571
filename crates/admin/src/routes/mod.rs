//! Every route, and the OpenAPI document made from the handlers' annotations.
//!
//! Routes are registered through `utoipa_axum`'s `routes!`, so a route cannot exist without
//! its entry in the document: the test that walks the document without credentials walks
//! every route there is. [`Secured`] adds the security schemes and, on every route that needs
//! a login, the 401 and 403 answers the guard gives.

pub(crate) mod accounts;
pub(crate) mod alarms;
pub(crate) mod banned;
pub(crate) mod builtin;
pub(crate) mod clients;
pub(crate) mod configs;
pub(crate) mod docs;
pub(crate) mod modules;
pub(crate) mod node;
pub(crate) mod page;
pub(crate) mod publish;
pub(crate) mod retained;
pub(crate) mod subscriptions;
pub(crate) mod topics;
pub(crate) mod trace;

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::RefOr;
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::Shared;

#[derive(OpenApi)]
#[openapi(
    info(title = "Starling management API", description = "REST API of the Starling MQTT broker, in the shape of EMQX 5's /api/v5."),
    security(("bearer" = []), ("basic" = [])),
    components(schemas(crate::error::ErrorBody)),
)]
struct ApiDoc;

/// Adds the security schemes and the guard's answers.
struct Secured;

impl Modify for Secured {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
        );
        let error = |what: &str| {
            RefOr::T(
                utoipa::openapi::ResponseBuilder::new()
                    .description(what)
                    .content(
                        "application/json",
                        utoipa::openapi::ContentBuilder::new()
                            .schema(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody")))
                            .build(),
                    )
                    .build(),
            )
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            let public = matches!(path.as_str(), "/api/v5/login" | "/api/v5/status")
                || !path.starts_with("/api/v5/");
            for op in operations(item) {
                let responses = &mut op.responses.responses;
                responses
                    .entry("400".into())
                    .or_insert_with(|| error("malformed request"));
                if !public {
                    responses
                        .entry("401".into())
                        .or_insert_with(|| error("no credentials, or wrong ones"));
                    responses
                        .entry("403".into())
                        .or_insert_with(|| error("the default password must be changed first"));
                }
            }
        }
    }
}

fn operations(item: &mut utoipa::openapi::PathItem) -> Vec<&mut utoipa::openapi::path::Operation> {
    [
        item.get.as_mut(),
        item.post.as_mut(),
        item.put.as_mut(),
        item.delete.as_mut(),
        item.patch.as_mut(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The router and its document.
pub(crate) fn build() -> (axum::Router<Shared>, utoipa::openapi::OpenApi) {
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(accounts::login))
        .routes(routes!(accounts::logout))
        .routes(routes!(accounts::change_pwd))
        .routes(routes!(accounts::list_users, accounts::add_user))
        .routes(routes!(accounts::update_user, accounts::delete_user))
        .routes(routes!(accounts::list_keys, accounts::add_key))
        .routes(routes!(
            accounts::get_key,
            accounts::update_key,
            accounts::delete_key
        ))
        .routes(routes!(node::status))
        .routes(routes!(node::nodes))
        .routes(routes!(node::node))
        .routes(routes!(node::stats))
        .routes(routes!(node::metrics))
        .routes(routes!(node::listeners))
        .routes(routes!(node::listener))
        .routes(routes!(node::listener_action))
        .routes(routes!(node::prometheus))
        .routes(routes!(alarms::list, alarms::clear))
        .routes(routes!(clients::list))
        .routes(routes!(clients::get, clients::discard))
        .routes(routes!(clients::kick))
        .routes(routes!(clients::subscriptions))
        .routes(routes!(subscriptions::list))
        .routes(routes!(topics::list))
        .routes(routes!(topics::get))
        .routes(routes!(retained::list))
        .routes(routes!(retained::get, retained::delete))
        .routes(routes!(publish::publish))
        .routes(routes!(publish::bulk))
        .routes(routes!(modules::list))
        .routes(routes!(modules::get, modules::update))
        .routes(routes!(modules::get_rewrite, modules::put_rewrite))
        .routes(routes!(
            modules::get_auto_subscribe,
            modules::put_auto_subscribe
        ))
        .routes(routes!(banned::list, banned::add))
        .routes(routes!(banned::get, banned::update, banned::delete))
        .routes(routes!(builtin::list_users, builtin::add_user))
        .routes(routes!(
            builtin::get_user,
            builtin::update_user,
            builtin::delete_user
        ))
        .routes(routes!(builtin::list_rules, builtin::add_rule))
        .routes(routes!(
            builtin::get_rule,
            builtin::update_rule,
            builtin::delete_rule
        ))
        .routes(routes!(configs::all))
        .routes(routes!(configs::get, configs::put))
        .routes(routes!(configs::reload))
        .routes(routes!(trace::list, trace::create, trace::clear))
        .routes(routes!(trace::stop))
        .routes(routes!(trace::delete))
        .routes(routes!(trace::download))
        .routes(routes!(trace::log))
        .split_for_parts();
    // After the routes are in: a modifier in `#[openapi]` would see no paths yet.
    Secured.modify(&mut doc);
    (router, doc)
}
