//! The `builtin` authenticator's users and the `builtin` authorization source's rules
//! (`[[auth.authn]] kind = "builtin"`, `[[auth.authz]] kind = "builtin"`), at EMQX's paths.
//! Users are `{user_id, password, is_superuser}`; a rule names whom it applies to with one of
//! `username`, `clientid`, `ipaddress` or `cidr` (none: every client), an `action`
//! (`publish`, `subscribe`, `all`), a `permission` (`allow`, `deny`), a `topic` and `eq`.
//! Among the rules that match, the one with the lowest id decides.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use starling_broker::{BuiltinError, BuiltinUser, Permission, Rule, RuleAction, Who};
use utoipa::{IntoParams, ToSchema};

use super::page::{self, Meta};
use crate::error::{ApiError, ErrorBody};
use crate::json::{Json, Path, Query};
use crate::state::Shared;

fn error(e: BuiltinError) -> ApiError {
    match e {
        BuiltinError::UserExists(_) => ApiError::Conflict(e.to_string()),
        BuiltinError::NoSuchUser(_) | BuiltinError::NoSuchRule(_) => {
            ApiError::NotFound(e.to_string())
        }
        BuiltinError::Store(_) | BuiltinError::Hashing(_) => ApiError::Unavailable(e.to_string()),
        other => ApiError::BadRequest(other.to_string()),
    }
}

/// A `builtin` user.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BuiltinUserView {
    /// The username.
    pub(crate) user_id: String,
    /// Skips every ACL check.
    pub(crate) is_superuser: bool,
    /// When it was made (RFC 3339).
    pub(crate) created_at: String,
}

fn user_view(u: BuiltinUser) -> BuiltinUserView {
    BuiltinUserView {
        user_id: u.username,
        is_superuser: u.is_superuser,
        created_at: page::rfc3339(u.created_at),
    }
}

/// Paging of a list the broker holds whole.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct BuiltinListQuery {
    /// Page size, 1 to 1,000 (100).
    pub(crate) limit: Option<usize>,
    /// Where the previous page stopped (its `meta.cursor`).
    pub(crate) cursor: Option<String>,
}

/// A page of users.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BuiltinUserList {
    /// By username.
    pub(crate) data: Vec<BuiltinUserView>,
    /// Paging.
    pub(crate) meta: Meta,
}

/// Lists the `builtin` users.
#[utoipa::path(get, path = "/api/v5/authentication/password_based:built_in_database/users",
    tag = "access", params(BuiltinListQuery),
    responses((status = 200, body = BuiltinUserList), (status = 400, body = ErrorBody)))]
pub(crate) async fn list_users(
    State(state): State<Shared>,
    Query(q): Query<BuiltinListQuery>,
) -> Result<axum::Json<BuiltinUserList>, ApiError> {
    let limit = page::limit(q.limit)?;
    let after = q
        .cursor
        .as_deref()
        .map(|c| page::decode(c, 1))
        .transpose()?;
    let (taken, meta) = page::window(
        state.handle.builtin().users(),
        limit,
        after.map(|mut a| a.remove(0)),
        |u| u.username.clone(),
        |name| page::encode(&[name]),
    );
    Ok(axum::Json(BuiltinUserList {
        data: taken.into_iter().map(user_view).collect(),
        meta,
    }))
}

/// A new `builtin` user.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewBuiltinUser {
    /// The username.
    pub(crate) user_id: String,
    /// Its password.
    pub(crate) password: String,
    /// Skips every ACL check (default false).
    #[serde(default)]
    pub(crate) is_superuser: bool,
}

/// Adds a `builtin` user.
#[utoipa::path(post, path = "/api/v5/authentication/password_based:built_in_database/users",
    tag = "access", request_body = NewBuiltinUser,
    responses((status = 200, body = BuiltinUserView), (status = 400, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
pub(crate) async fn add_user(
    State(state): State<Shared>,
    Json(req): Json<NewBuiltinUser>,
) -> Result<axum::Json<BuiltinUserView>, ApiError> {
    let user = state
        .handle
        .builtin()
        .add_user(&req.user_id, req.password.as_bytes(), req.is_superuser)
        .await
        .map_err(error)?;
    Ok(axum::Json(user_view(user)))
}

/// One `builtin` user.
#[utoipa::path(get, path = "/api/v5/authentication/password_based:built_in_database/users/{user_id}",
    tag = "access", params(("user_id" = String, Path, description = "the username")),
    responses((status = 200, body = BuiltinUserView), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_user(
    State(state): State<Shared>,
    Path(user_id): Path<String>,
) -> Result<axum::Json<BuiltinUserView>, ApiError> {
    state
        .handle
        .builtin()
        .user(&user_id)
        .map(|u| axum::Json(user_view(u)))
        .ok_or_else(|| ApiError::not_found(format!("user {user_id:?}")))
}

/// Changes to a `builtin` user; absent fields are kept.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BuiltinUserChange {
    /// A new password.
    #[serde(default)]
    pub(crate) password: Option<String>,
    /// Superuser or not.
    #[serde(default)]
    pub(crate) is_superuser: Option<bool>,
}

/// Changes a `builtin` user's password or superuser flag (its connections stay).
#[utoipa::path(put, path = "/api/v5/authentication/password_based:built_in_database/users/{user_id}",
    tag = "access", params(("user_id" = String, Path, description = "the username")),
    request_body = BuiltinUserChange,
    responses((status = 200, body = BuiltinUserView), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub(crate) async fn update_user(
    State(state): State<Shared>,
    Path(user_id): Path<String>,
    Json(req): Json<BuiltinUserChange>,
) -> Result<axum::Json<BuiltinUserView>, ApiError> {
    let user = state
        .handle
        .builtin()
        .update_user(
            &user_id,
            req.password.as_deref().map(str::as_bytes),
            req.is_superuser,
        )
        .await
        .map_err(error)?;
    Ok(axum::Json(user_view(user)))
}

/// Removes a `builtin` user (its connections stay until they close).
#[utoipa::path(delete, path = "/api/v5/authentication/password_based:built_in_database/users/{user_id}",
    tag = "access", params(("user_id" = String, Path, description = "the username")),
    responses((status = 204, description = "removed"), (status = 404, body = ErrorBody)))]
pub(crate) async fn delete_user(
    State(state): State<Shared>,
    Path(user_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .handle
        .builtin()
        .delete_user(&user_id)
        .map_err(error)?;
    Ok(StatusCode::NO_CONTENT)
}

/// A `builtin` ACL rule as the API takes and gives it.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BuiltinRule {
    /// Its id (given by the broker; ignored in a request).
    #[serde(default, skip_deserializing)]
    pub(crate) id: u64,
    /// For clients with this username.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) username: Option<String>,
    /// For the client with this client id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) clientid: Option<String>,
    /// For clients from this IP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) ipaddress: Option<String>,
    /// For clients from this network (`10.0.0.0/8`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) cidr: Option<String>,
    /// `publish`, `subscribe` or `all`.
    pub(crate) action: String,
    /// `allow` or `deny`.
    pub(crate) permission: String,
    /// A topic filter (`%u`, `%c` name the client).
    pub(crate) topic: String,
    /// Match the topic literally (no wildcards, no `%u`/`%c`).
    #[serde(default)]
    pub(crate) eq: bool,
}

fn rule_of(body: BuiltinRule) -> Result<Rule, ApiError> {
    let whos = [&body.username, &body.clientid, &body.ipaddress, &body.cidr]
        .iter()
        .filter(|w| w.is_some())
        .count();
    if whos > 1 {
        return Err(ApiError::field(
            "username",
            "give at most one of username, clientid, ipaddress, cidr",
        ));
    }
    let who =
        if let Some(u) = body.username {
            Who::Username(u)
        } else if let Some(c) = body.clientid {
            Who::ClientId(c)
        } else if let Some(ip) = body.ipaddress {
            Who::Address(ip.parse().map_err(|_| {
                ApiError::field("ipaddress", format!("{ip:?} is not an IP address"))
            })?)
        } else if let Some(net) = body.cidr {
            Who::Network(starling_config::IpNet::parse(&net).ok_or_else(|| {
                ApiError::field("cidr", format!("{net:?} is not a network (a.b.c.d/n)"))
            })?)
        } else {
            Who::All
        };
    let action = match body.action.as_str() {
        "publish" => RuleAction::Publish,
        "subscribe" => RuleAction::Subscribe,
        "all" => RuleAction::All,
        other => {
            return Err(ApiError::field(
                "action",
                format!("must be publish, subscribe or all, got {other:?}"),
            ))
        }
    };
    let permission = match body.permission.as_str() {
        "allow" => Permission::Allow,
        "deny" => Permission::Deny,
        other => {
            return Err(ApiError::field(
                "permission",
                format!("must be allow or deny, got {other:?}"),
            ))
        }
    };
    Ok(Rule {
        who,
        action,
        permission,
        topic: body.topic,
        eq: body.eq,
    })
}

fn rule_view(id: u64, rule: Rule) -> BuiltinRule {
    let (mut username, mut clientid, mut ipaddress, mut cidr) = (None, None, None, None);
    match rule.who {
        Who::All => {}
        Who::Username(u) => username = Some(u),
        Who::ClientId(c) => clientid = Some(c),
        Who::Address(ip) => ipaddress = Some(ip.to_string()),
        Who::Network(net) => cidr = Some(format!("{}/{}", net.addr, net.prefix)),
    }
    BuiltinRule {
        id,
        username,
        clientid,
        ipaddress,
        cidr,
        action: match rule.action {
            RuleAction::Publish => "publish",
            RuleAction::Subscribe => "subscribe",
            RuleAction::All => "all",
        }
        .to_owned(),
        permission: match rule.permission {
            Permission::Allow => "allow",
            Permission::Deny => "deny",
        }
        .to_owned(),
        topic: rule.topic,
        eq: rule.eq,
    }
}

/// A page of rules.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BuiltinRuleList {
    /// In id order (precedence: the first that matches decides).
    pub(crate) data: Vec<BuiltinRule>,
    /// Paging.
    pub(crate) meta: Meta,
}

/// Lists the `builtin` ACL rules.
#[utoipa::path(get, path = "/api/v5/authorization/sources/built_in_database/rules",
    tag = "access", params(BuiltinListQuery),
    responses((status = 200, body = BuiltinRuleList), (status = 400, body = ErrorBody)))]
pub(crate) async fn list_rules(
    State(state): State<Shared>,
    Query(q): Query<BuiltinListQuery>,
) -> Result<axum::Json<BuiltinRuleList>, ApiError> {
    let limit = page::limit(q.limit)?;
    let after = match q.cursor.as_deref() {
        Some(c) => Some(
            page::decode(c, 1)?[0]
                .parse::<u64>()
                .map_err(|_| ApiError::field("cursor", "is not a cursor this API gave"))?,
        ),
        None => None,
    };
    let (taken, meta) = page::window(
        state.handle.builtin().rules(),
        limit,
        after,
        |(id, _)| *id,
        |id| page::encode(&[&id.to_string()]),
    );
    Ok(axum::Json(BuiltinRuleList {
        data: taken.into_iter().map(|(id, r)| rule_view(id, r)).collect(),
        meta,
    }))
}

/// Adds a `builtin` ACL rule after the others (it decides only where no earlier one does).
#[utoipa::path(post, path = "/api/v5/authorization/sources/built_in_database/rules",
    tag = "access", request_body = BuiltinRule,
    responses((status = 200, body = BuiltinRule), (status = 400, body = ErrorBody)))]
pub(crate) async fn add_rule(
    State(state): State<Shared>,
    Json(body): Json<BuiltinRule>,
) -> Result<axum::Json<BuiltinRule>, ApiError> {
    let rule = rule_of(body)?;
    let id = state
        .handle
        .builtin()
        .add_rule(rule.clone())
        .map_err(error)?;
    Ok(axum::Json(rule_view(id, rule)))
}

/// One `builtin` ACL rule.
#[utoipa::path(get, path = "/api/v5/authorization/sources/built_in_database/rules/{id}",
    tag = "access", params(("id" = u64, Path, description = "the rule's id")),
    responses((status = 200, body = BuiltinRule), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_rule(
    State(state): State<Shared>,
    Path(id): Path<u64>,
) -> Result<axum::Json<BuiltinRule>, ApiError> {
    state
        .handle
        .builtin()
        .rules()
        .into_iter()
        .find(|(rid, _)| *rid == id)
        .map(|(id, r)| axum::Json(rule_view(id, r)))
        .ok_or_else(|| ApiError::not_found(format!("rule {id}")))
}

/// Replaces a `builtin` ACL rule (it keeps its id and its place).
#[utoipa::path(put, path = "/api/v5/authorization/sources/built_in_database/rules/{id}",
    tag = "access", params(("id" = u64, Path, description = "the rule's id")),
    request_body = BuiltinRule,
    responses((status = 200, body = BuiltinRule), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub(crate) async fn update_rule(
    State(state): State<Shared>,
    Path(id): Path<u64>,
    Json(body): Json<BuiltinRule>,
) -> Result<axum::Json<BuiltinRule>, ApiError> {
    let rule = rule_of(body)?;
    state
        .handle
        .builtin()
        .update_rule(id, rule.clone())
        .map_err(error)?;
    Ok(axum::Json(rule_view(id, rule)))
}

/// Removes a `builtin` ACL rule.
#[utoipa::path(delete, path = "/api/v5/authorization/sources/built_in_database/rules/{id}",
    tag = "access", params(("id" = u64, Path, description = "the rule's id")),
    responses((status = 204, description = "removed"), (status = 404, body = ErrorBody)))]
pub(crate) async fn delete_rule(
    State(state): State<Shared>,
    Path(id): Path<u64>,
) -> Result<StatusCode, ApiError> {
    state.handle.builtin().delete_rule(id).map_err(error)?;
    Ok(StatusCode::NO_CONTENT)
}
