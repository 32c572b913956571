//! Re-authentication (spec 4.12.1): AUTH packets from a client that used enhanced
//! authentication at CONNECT.
//!
//! The channel only checks the protocol and carries the data: the method's exchange (SCRAM
//! and its crypto) is the broker's. An AUTH 0x19 (Re-authenticate) with the CONNECT's method
//! starts an exchange and an AUTH 0x18 (Continue authentication) continues it; each becomes an
//! [`Effect::Authenticate`], and the broker answers with [`Channel::handle_auth_answer`]: AUTH
//! 0x18 with the method's next message, AUTH 0x00 (Success) when it is done, or DISCONNECT
//! 0x87 when it failed. An AUTH from a client that did not use enhanced authentication, with
//! another method, a 0x18 outside an exchange, a 0x19 inside one, or any other reason code is
//! a Protocol Error (DISCONNECT 0x82) [MQTT-4.12.0-1], [MQTT-4.12.1-1]. The client keeps its
//! session and may send other packets meanwhile.

use super::{Channel, Effect};
use bytes::Bytes;
use starling_codec::{Auth, Packet, Properties, ReasonCode, Utf8String};

/// The broker's answer to an [`Effect::Authenticate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthAnswer {
    /// The method needs another round: AUTH 0x18 with this data.
    Continue(Bytes),
    /// The client is authenticated again: AUTH 0x00 with this data (SCRAM's server-final).
    Success(Bytes),
    /// It is not: DISCONNECT 0x87.
    Failed,
}

/// Enhanced authentication in force on a connection (in `Rare`).
#[derive(Debug, Clone)]
pub(super) struct Enhanced {
    /// The Authentication Method of CONNECT.
    method: Utf8String,
    /// A re-authentication is under way (0x19 came, no Success or failure yet).
    under_way: bool,
}

impl Channel {
    /// The client authenticated at CONNECT with `method` (enhanced authentication): it may
    /// re-authenticate with it.
    pub fn set_auth_method(&mut self, method: Utf8String) {
        self.rare().enhanced = Some(Enhanced {
            method,
            under_way: false,
        });
    }

    pub(super) fn handle_auth(&mut self, auth: Auth) {
        let Auth {
            reason_code,
            properties,
        } = auth;
        let Some(enhanced) = self.rare.as_mut().and_then(|r| r.enhanced.as_mut()) else {
            // No enhanced authentication at CONNECT [MQTT-4.12.0-1].
            return self.close_with(ReasonCode::ProtocolError);
        };
        if properties.authentication_method.as_ref() != Some(&enhanced.method) {
            // [MQTT-4.12.1-1]: the method must be the one of CONNECT.
            return self.close_with(ReasonCode::ProtocolError);
        }
        match (reason_code, enhanced.under_way) {
            (ReasonCode::ReAuthenticate, false) | (ReasonCode::ContinueAuthentication, true) => {
                enhanced.under_way = true;
                let method = enhanced.method.clone();
                self.effects.push(Effect::Authenticate {
                    method,
                    reason: reason_code,
                    data: properties.authentication_data.unwrap_or_default(),
                });
            }
            _ => self.close_with(ReasonCode::ProtocolError),
        }
    }

    /// The broker's answer to the last [`Effect::Authenticate`]; ignored when no exchange is
    /// under way (the connection closed meanwhile).
    pub fn handle_auth_answer(&mut self, answer: AuthAnswer) {
        if self.closed {
            return;
        }
        let Some(enhanced) = self.rare.as_mut().and_then(|r| r.enhanced.as_mut()) else {
            return;
        };
        if !enhanced.under_way {
            return;
        }
        let (reason, data) = match answer {
            AuthAnswer::Continue(data) => (ReasonCode::ContinueAuthentication, data),
            AuthAnswer::Success(data) => {
                enhanced.under_way = false;
                (ReasonCode::Success, data)
            }
            AuthAnswer::Failed => {
                enhanced.under_way = false;
                return self.close_with(ReasonCode::NotAuthorized);
            }
        };
        let packet = Packet::Auth(Auth {
            reason_code: reason,
            properties: Properties {
                authentication_method: Some(enhanced.method.clone()),
                authentication_data: Some(data),
                ..Properties::default()
            },
        });
        self.effects.push(Effect::Send(packet));
    }
}
