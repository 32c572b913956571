//! MQTT over WebSocket: [`WsStream`] (messages as a byte stream, both sides), the client's
//! upgrade (`client`) and the server's (`server`: path, subprotocol, Origin, forwarding headers).

mod client;
mod server;
mod stream;

pub use client::handshake;
pub use server::{accept, Upgraded, WsRefusal};
pub use stream::{WsStream, SUBPROTOCOL};
