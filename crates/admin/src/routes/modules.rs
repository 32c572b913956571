//! Modules switched on and off at run time (`starling_broker::ModuleInfo`): list, read, change
//! (`/api/v5/modules`), and EMQX's paths for the two modules with rules
//! (`/api/v5/mqtt/topic_rewrite`, `/api/v5/mqtt/auto_subscribe`: the list itself).
//!
//! A change is stored before the answer and outlives a restart. Turning a module off acts on
//! new messages at once; `clear: true` also drops what it holds (delayed messages; retained
//! messages outside `$` topics).

use axum::extract::State;
use serde::{Deserialize, Serialize};
use starling_broker::{ModuleChange, ModuleConfig, ModuleError, ModuleInfo};
use starling_config::{AutoSubscribeTopic, RewriteAction, RewriteRule};
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::json::{Json, Path};
use crate::state::Shared;

/// One module.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ModuleView {
    /// `delayed`, `retainer`, `shared_subscription`, `exclusive_subscription`, `sys`,
    /// `topic_rewrite` or `auto_subscribe`.
    pub(crate) name: &'static str,
    /// On or off.
    pub(crate) enabled: bool,
    /// `topic_rewrite`: its rules; `auto_subscribe`: its topics; the others: the settings
    /// from the configuration file (read only).
    #[schema(schema_with = any_value)]
    pub(crate) config: serde_json::Value,
}

/// A value of any JSON type (a list of rules, or an object of settings, by module).
fn any_value() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::SchemaType::AnyValue)
        .build()
}

/// `PUT /api/v5/modules/{name}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ModuleUpdate {
    /// On or off.
    pub(crate) enabled: bool,
    /// `topic_rewrite`: a list of rules; `auto_subscribe`: a list of topics (the others have
    /// none to change).
    #[schema(schema_with = any_value)]
    pub(crate) config: Option<serde_json::Value>,
    /// Also drop what the module holds (`delayed`, `retainer`).
    #[serde(default)]
    pub(crate) clear: bool,
}

/// A topic rewrite rule.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RewriteRuleView {
    /// `publish`, `subscribe` or `all`.
    pub(crate) action: String,
    /// The filter a topic (or subscribed filter) must match.
    pub(crate) source_topic: String,
    /// A regular expression over the whole topic, with captures.
    pub(crate) re: String,
    /// The new topic; `$1`, `$2`... are the captures.
    pub(crate) dest_topic: String,
}

/// An auto-subscribe topic.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AutoSubscribeView {
    /// The filter; `${clientid}` and `${username}` are replaced by the client's.
    pub(crate) topic: String,
    /// Maximum QoS (0).
    #[serde(default)]
    pub(crate) qos: u8,
    /// No Local (false).
    #[serde(default)]
    pub(crate) nl: bool,
    /// Retain As Published (false).
    #[serde(default)]
    pub(crate) rap: bool,
    /// Retain Handling, 0 to 2 (0).
    #[serde(default)]
    pub(crate) rh: u8,
}

fn action_name(action: RewriteAction) -> &'static str {
    match action {
        RewriteAction::Publish => "publish",
        RewriteAction::Subscribe => "subscribe",
        RewriteAction::All => "all",
    }
}

fn rules_view(rules: &[RewriteRule]) -> Vec<RewriteRuleView> {
    rules
        .iter()
        .map(|r| RewriteRuleView {
            action: action_name(r.action).to_owned(),
            source_topic: r.source_topic.clone(),
            re: r.re.clone(),
            dest_topic: r.dest_topic.clone(),
        })
        .collect()
}

fn rules_of(views: Vec<RewriteRuleView>) -> Result<Vec<RewriteRule>, ApiError> {
    views
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let action = match v.action.as_str() {
                "publish" => RewriteAction::Publish,
                "subscribe" => RewriteAction::Subscribe,
                "all" => RewriteAction::All,
                other => {
                    let problem = format!("must be publish, subscribe or all, got {other:?}");
                    return Err(ApiError::field(&format!("config[{i}].action"), problem));
                }
            };
            Ok(RewriteRule {
                action,
                source_topic: v.source_topic,
                re: v.re,
                dest_topic: v.dest_topic,
            })
        })
        .collect()
}

fn topics_view(topics: &[AutoSubscribeTopic]) -> Vec<AutoSubscribeView> {
    topics
        .iter()
        .map(|t| AutoSubscribeView {
            topic: t.topic.clone(),
            qos: t.qos,
            nl: t.nl,
            rap: t.rap,
            rh: t.rh,
        })
        .collect()
}

fn topics_of(views: Vec<AutoSubscribeView>) -> Vec<AutoSubscribeTopic> {
    views
        .into_iter()
        .map(|v| AutoSubscribeTopic {
            topic: v.topic,
            qos: v.qos,
            nl: v.nl,
            rap: v.rap,
            rh: v.rh,
        })
        .collect()
}

impl ModuleView {
    fn of(info: &ModuleInfo) -> Self {
        let config = match &info.config {
            ModuleConfig::Settings(settings) => serde_json::Value::Object(
                settings
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), serde_json::Value::String(v.clone())))
                    .collect(),
            ),
            ModuleConfig::TopicRewrite(rules) => serde_json::json!(rules_view(rules)),
            ModuleConfig::AutoSubscribe(topics) => serde_json::json!(topics_view(topics)),
        };
        Self {
            name: info.name.as_str(),
            enabled: info.enabled,
            config,
        }
    }
}

impl From<ModuleError> for ApiError {
    fn from(e: ModuleError) -> Self {
        match e {
            ModuleError::Unknown(name) => ApiError::not_found(format!("module {name:?}")),
            ModuleError::Invalid { field, problem } => ApiError::field(&field, problem),
            ModuleError::Stopped(stopped) => stopped.into(),
            e @ ModuleError::Store(_) => ApiError::Unavailable(e.to_string()),
        }
    }
}

/// The config of a PUT, typed for the module it is for.
fn config_of(name: &str, config: serde_json::Value) -> Result<ModuleConfig, ApiError> {
    let bad = |e: serde_json::Error| ApiError::field("config", e);
    Ok(match name {
        "topic_rewrite" => {
            ModuleConfig::TopicRewrite(rules_of(serde_json::from_value(config).map_err(bad)?)?)
        }
        "auto_subscribe" => {
            ModuleConfig::AutoSubscribe(topics_of(serde_json::from_value(config).map_err(bad)?))
        }
        // The broker says why the others take none.
        _ => ModuleConfig::Settings(Vec::new()),
    })
}

/// Every module.
#[utoipa::path(get, path = "/api/v5/modules", tag = "modules",
    responses((status = 200, body = Vec<ModuleView>)))]
pub(crate) async fn list(State(state): State<Shared>) -> axum::Json<Vec<ModuleView>> {
    let modules = state.handle.modules().await;
    axum::Json(modules.iter().map(ModuleView::of).collect())
}

/// One module.
#[utoipa::path(get, path = "/api/v5/modules/{name}", tag = "modules",
    params(("name" = String, Path, description = "the module's name")),
    responses((status = 200, body = ModuleView), (status = 404, body = ErrorBody)))]
pub(crate) async fn get(
    State(state): State<Shared>,
    Path(name): Path<String>,
) -> Result<axum::Json<ModuleView>, ApiError> {
    let modules = state.handle.modules().await;
    let info = modules
        .iter()
        .find(|m| m.name.as_str() == name)
        .ok_or_else(|| ApiError::not_found(format!("module {name:?}")))?;
    Ok(axum::Json(ModuleView::of(info)))
}

/// Turns a module on or off, with new rules (`topic_rewrite`, `auto_subscribe`) or dropping
/// what it holds (`clear`: `delayed`, `retainer`). Stored before the answer: it outlives a
/// restart.
#[utoipa::path(put, path = "/api/v5/modules/{name}", tag = "modules",
    params(("name" = String, Path, description = "the module's name")),
    request_body = ModuleUpdate,
    responses((status = 200, body = ModuleView), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub(crate) async fn update(
    State(state): State<Shared>,
    Path(name): Path<String>,
    Json(update): Json<ModuleUpdate>,
) -> Result<axum::Json<ModuleView>, ApiError> {
    let config = update.config.map(|c| config_of(&name, c)).transpose()?;
    let change = ModuleChange {
        enabled: Some(update.enabled),
        config,
        clear: update.clear,
    };
    let info = state.handle.set_module(&name, change).await?;
    Ok(axum::Json(ModuleView::of(&info)))
}

async fn rules_in_force(state: &Shared, name: &str) -> Option<ModuleConfig> {
    let modules = state.handle.modules().await;
    modules
        .into_iter()
        .find(|m| m.name.as_str() == name)
        .map(|m| m.config)
}

/// The topic rewrite rules (EMQX's path).
#[utoipa::path(get, path = "/api/v5/mqtt/topic_rewrite", tag = "modules",
    responses((status = 200, body = Vec<RewriteRuleView>)))]
pub(crate) async fn get_rewrite(State(state): State<Shared>) -> axum::Json<Vec<RewriteRuleView>> {
    match rules_in_force(&state, "topic_rewrite").await {
        Some(ModuleConfig::TopicRewrite(rules)) => axum::Json(rules_view(&rules)),
        _ => axum::Json(Vec::new()),
    }
}

/// Replaces the topic rewrite rules (EMQX's path; the module stays on or off as it is).
#[utoipa::path(put, path = "/api/v5/mqtt/topic_rewrite", tag = "modules",
    request_body = Vec<RewriteRuleView>,
    responses((status = 200, body = Vec<RewriteRuleView>), (status = 400, body = ErrorBody)))]
pub(crate) async fn put_rewrite(
    State(state): State<Shared>,
    Json(rules): Json<Vec<RewriteRuleView>>,
) -> Result<axum::Json<Vec<RewriteRuleView>>, ApiError> {
    let change = ModuleChange {
        config: Some(ModuleConfig::TopicRewrite(rules_of(rules)?)),
        ..ModuleChange::default()
    };
    match state
        .handle
        .set_module("topic_rewrite", change)
        .await?
        .config
    {
        ModuleConfig::TopicRewrite(rules) => Ok(axum::Json(rules_view(&rules))),
        _ => Ok(axum::Json(Vec::new())),
    }
}

/// The auto-subscribe topics (EMQX's path).
#[utoipa::path(get, path = "/api/v5/mqtt/auto_subscribe", tag = "modules",
    responses((status = 200, body = Vec<AutoSubscribeView>)))]
pub(crate) async fn get_auto_subscribe(
    State(state): State<Shared>,
) -> axum::Json<Vec<AutoSubscribeView>> {
    match rules_in_force(&state, "auto_subscribe").await {
        Some(ModuleConfig::AutoSubscribe(topics)) => axum::Json(topics_view(&topics)),
        _ => axum::Json(Vec::new()),
    }
}

/// Replaces the auto-subscribe topics (EMQX's path; the module stays on or off as it is).
#[utoipa::path(put, path = "/api/v5/mqtt/auto_subscribe", tag = "modules",
    request_body = Vec<AutoSubscribeView>,
    responses((status = 200, body = Vec<AutoSubscribeView>), (status = 400, body = ErrorBody)))]
pub(crate) async fn put_auto_subscribe(
    State(state): State<Shared>,
    Json(topics): Json<Vec<AutoSubscribeView>>,
) -> Result<axum::Json<Vec<AutoSubscribeView>>, ApiError> {
    let change = ModuleChange {
        config: Some(ModuleConfig::AutoSubscribe(topics_of(topics))),
        ..ModuleChange::default()
    };
    match state
        .handle
        .set_module("auto_subscribe", change)
        .await?
        .config
    {
        ModuleConfig::AutoSubscribe(topics) => Ok(axum::Json(topics_view(&topics))),
        _ => Ok(axum::Json(Vec::new())),
    }
}
