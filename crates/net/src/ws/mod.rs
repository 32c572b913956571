//! MQTT over WebSocket: the client's upgrade (`client`) and its stream [`WsStream`]
//! (tungstenite's messages as a byte stream); the server's upgrade (`server`: path,
//! subprotocol, Origin, forwarding headers) and its stream [`ServerWsStream`] (`frames`: frames
//! read in place, no buffer kept while idle).

mod client;
mod frames;
mod server;
mod stream;

pub use client::handshake;
pub use frames::ServerWsStream;
pub use server::{accept, Upgraded, WsRefusal};
pub use stream::{WsStream, SUBPROTOCOL};
