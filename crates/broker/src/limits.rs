//! Turns the validated configuration into the protocol limits the core works with.

use starling_codec::QoS;
use starling_config::{Config, QueueOverflow as ConfigOverflow};
use starling_core::{QueueLimits, QueueOverflow, ServerLimits};
use starling_topic::TopicLimits;

pub(crate) fn from_config(config: &Config) -> ServerLimits {
    // Wall-clock deadlines are counted from this moment on tokio's clock (`crate::clock`).
    let clock = starling_core::WallClock::new(crate::clock::now(), std::time::SystemTime::now());
    let mqtt = &config.mqtt;
    ServerLimits {
        max_packet_size: mqtt.max_packet_size,
        receive_maximum: mqtt.receive_maximum,
        max_awaiting_rel: mqtt.max_awaiting_rel,
        topic_alias_maximum: mqtt.topic_alias_maximum,
        max_inflight: mqtt.max_inflight,
        max_qos: QoS::from_bits(mqtt.max_qos).unwrap_or(QoS::ExactlyOnce),
        wildcard_subscription_available: mqtt.wildcard_subscription_available,
        subscription_identifier_available: mqtt.subscription_identifier_available,
        keepalive_multiplier: mqtt.keepalive_multiplier,
        server_keep_alive: mqtt.server_keep_alive.unwrap_or(0),
        max_session_expiry: mqtt.max_session_expiry,
        max_client_id_len: usize::from(mqtt.max_client_id_len),
        strict_3_1_client_id: mqtt.strict_3_1_client_id,
        response_information: mqtt.response_information.clone(),
        max_keepalive: mqtt.max_keepalive.unwrap_or(0),
        switches: std::sync::Arc::new(crate::modules::initial_switches(config)),
        deny_disconnects: config.auth.deny_disconnects,
        message_rate: config.rate_limit.messages,
        byte_rate: config.rate_limit.bytes,
        max_user_properties: mqtt.max_user_properties as usize,
        max_user_property_bytes: mqtt.max_user_property_bytes as usize,
        max_topic_alias_bytes: mqtt.max_topic_alias_bytes as usize,
        max_subscriptions: mqtt.max_subscriptions.map_or(usize::MAX, |n| n as usize),
        max_pending_answers: ServerLimits::default().max_pending_answers,
        send_timeout: mqtt.send_timeout,
        // The broker always has a store: acks of QoS 1/2 wait for the router's answer and
        // for what it wrote to be durable (`core::channel::gate`).
        acks_wait_for_router: true,
        clock,
        topic: TopicLimits {
            max_levels: usize::from(mqtt.max_topic_levels),
            ..TopicLimits::default()
        },
        queue: QueueLimits {
            max_len: config.session.max_queue_len as usize,
            max_bytes: usize::try_from(config.session.max_queue_bytes).unwrap_or(usize::MAX),
            overflow: match config.session.queue_overflow {
                ConfigOverflow::DropOldest => QueueOverflow::DropOldest,
                ConfigOverflow::DropNewest => QueueOverflow::DropNewest,
                ConfigOverflow::Disconnect => QueueOverflow::Disconnect,
            },
            queue_qos0_offline: config.session.queue_qos0,
        },
    }
}

/// The limits of `config` that a connection reads when it connects, on top of `current`: the
/// clock, the module switches, the topic and queue limits (which the router holds too), the
/// inflight window, the session expiry cap, the subscription cap and the auth behaviour stay as
/// the broker started with them (see `starling_config::keys::LIVE_KEYS`).
pub(crate) fn live_from_config(current: &ServerLimits, config: &Config) -> ServerLimits {
    let fresh = from_config(config);
    ServerLimits {
        clock: current.clock,
        switches: std::sync::Arc::clone(&current.switches),
        topic: current.topic,
        queue: current.queue,
        max_inflight: current.max_inflight,
        max_session_expiry: current.max_session_expiry,
        max_subscriptions: current.max_subscriptions,
        deny_disconnects: current.deny_disconnects,
        max_pending_answers: current.max_pending_answers,
        acks_wait_for_router: current.acks_wait_for_router,
        ..fresh
    }
}
