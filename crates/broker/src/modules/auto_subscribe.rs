//! Auto-subscribe: topics every client is subscribed to when it connects, with `${clientid}`
//! and `${username}` replaced by its own.
//!
//! A value that would change the filter's shape (empty, or holding `/`, `+` or `#`) is not
//! put in: that topic is skipped for that client, so a client id such as `#` cannot
//! subscribe its owner to every topic. A topic naming `${username}` is skipped for a client
//! without one. The subscriptions are the router's (`router::modules`): made as if the
//! client had sent SUBSCRIBE (no SUBACK goes to it, and the subscribe ACL is not asked: the
//! operator chose them; deliveries still pass the client's ACL).

use super::ModuleError;
use starling_codec::{QoS, RetainHandling, SubscriptionOptions};
use starling_config::AutoSubscribeTopic;
use starling_core::SubscribeRequest;
use starling_topic::{SubscriptionTarget, TopicLimits};

const CLIENT_ID: &str = "${clientid}";
const USERNAME: &str = "${username}";

/// The topics, checked.
#[derive(Debug, Default)]
pub(crate) struct AutoSubscribe {
    topics: Vec<(String, SubscriptionOptions)>,
}

impl AutoSubscribe {
    /// Checks `topics` (each must be a valid filter once its placeholders are filled); errors
    /// name `prefix[i].field`.
    pub(crate) fn compile(
        topics: &[AutoSubscribeTopic],
        prefix: &str,
        limits: &TopicLimits,
    ) -> Result<Self, ModuleError> {
        starling_config::check_auto_subscribe(topics, prefix)?;
        let mut out = Vec::with_capacity(topics.len());
        for (i, topic) in topics.iter().enumerate() {
            let sample = fill(&topic.topic, "c", Some("u")).unwrap_or_default();
            if let Err(e) = SubscriptionTarget::parse(&sample, limits) {
                return Err(ModuleError::Invalid {
                    field: format!("{prefix}[{i}].topic"),
                    problem: format!("{e}: {:?}", topic.topic),
                });
            }
            let options = SubscriptionOptions {
                qos: QoS::from_bits(topic.qos).unwrap_or(QoS::AtMostOnce),
                no_local: topic.nl,
                retain_as_published: topic.rap,
                retain_handling: match topic.rh {
                    1 => RetainHandling::SendIfNew,
                    2 => RetainHandling::DoNotSend,
                    _ => RetainHandling::SendAtSubscribe,
                },
            };
            out.push((topic.topic.clone(), options));
        }
        Ok(Self { topics: out })
    }

    /// No topics: the router does nothing at connect.
    pub(crate) fn is_empty(&self) -> bool {
        self.topics.is_empty()
    }

    /// The subscriptions for one client (those its id or username cannot fill are left out).
    pub(crate) fn requests(
        &self,
        client_id: &str,
        username: Option<&str>,
        limits: &TopicLimits,
    ) -> Vec<SubscribeRequest> {
        self.topics
            .iter()
            .filter_map(|(template, options)| {
                let filter = fill(template, client_id, username)?;
                let target = SubscriptionTarget::parse(&filter, limits).ok()?;
                Some(SubscribeRequest {
                    target,
                    options: *options,
                    subscription_id: None,
                })
            })
            .collect()
    }
}

/// `template` with its placeholders filled, or `None` when a value is missing or would change
/// the filter's levels.
fn fill(template: &str, client_id: &str, username: Option<&str>) -> Option<String> {
    let safe = |v: &str| !v.is_empty() && !v.contains(['/', '+', '#']);
    let mut out = template.to_owned();
    if out.contains(CLIENT_ID) {
        if !safe(client_id) {
            return None;
        }
        out = out.replace(CLIENT_ID, client_id);
    }
    if out.contains(USERNAME) {
        let username = username.filter(|u| safe(u))?;
        out = out.replace(USERNAME, username);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(t: &str) -> AutoSubscribeTopic {
        AutoSubscribeTopic {
            topic: t.into(),
            qos: 1,
            nl: false,
            rap: false,
            rh: 0,
        }
    }

    #[test]
    fn placeholders_are_filled_and_unsafe_values_skip_the_topic() {
        let limits = TopicLimits::default();
        let auto = AutoSubscribe::compile(
            &[topic("dev/${clientid}/cmd"), topic("user/${username}")],
            "config",
            &limits,
        )
        .expect("valid");
        let filters = |c: &str, u: Option<&str>| -> Vec<String> {
            auto.requests(c, u, &limits)
                .into_iter()
                .map(|r| r.target.filter().as_str().to_owned())
                .collect()
        };
        assert_eq!(filters("c1", Some("bob")), ["dev/c1/cmd", "user/bob"]);
        assert_eq!(filters("c1", None), ["dev/c1/cmd"]);
        assert_eq!(filters("#", Some("a/b")), Vec::<String>::new());
    }

    #[test]
    fn a_bad_topic_is_refused_naming_the_field() {
        let limits = TopicLimits::default();
        match AutoSubscribe::compile(&[topic("a"), topic("a/#/b")], "config", &limits) {
            Err(ModuleError::Invalid { field, .. }) => assert_eq!(field, "config[1].topic"),
            other => panic!("{other:?}"),
        }
    }
}
