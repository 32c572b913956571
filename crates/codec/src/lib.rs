//! `starling-codec`: the MQTT 3.1, 3.1.1 and 5.0 wire format.
//!
//! Owns the packet model (one model for all versions; 5.0-only data in [`Properties`] and reason
//! codes), a streaming decoder that slices payloads and strings out of the read buffer without
//! copying, and a byte-exact encoder with an exact [`encoded_len`]. It knows nothing about
//! sessions, topics beyond their wire rules, or I/O, and must never depend on tokio.
//!
//! Map:
//! - [`version`]: `ProtocolVersion`, `QoS`, `PacketId`.
//! - [`string`]: `Utf8String`, the validated zero-copy string.
//! - [`reason`]: `ReasonCode`, every 5.0 code and the 3.x CONNACK mapping.
//! - [`properties`]: `Properties` and the per-packet "allowed in" table.
//! - [`packet`]: `Packet` and one struct per control packet.
//! - [`error`]: `DecodeError` (with spec clause and reason code), `EncodeError`.
//! - [`decode`]: `decode` and `DecodeOptions`: streaming, bounded, zero-copy, strict.
//! - [`encode`]: `encode` and `encoded_len`: byte-exact, canonical, one reservation.
//!
//! ```
//! use bytes::{Bytes, BytesMut};
//! use starling_codec::{decode, encode, encoded_len, DecodeOptions, Packet, PacketId};
//! use starling_codec::{Properties, ProtocolVersion, Publish, QoS, Utf8String};
//!
//! let publish = Packet::Publish(Publish {
//!     dup: false,
//!     qos: QoS::AtLeastOnce,
//!     retain: false,
//!     topic: Utf8String::from_static("sensors/1/temp"),
//!     packet_id: PacketId::new(7),
//!     properties: Properties::default(),
//!     payload: Bytes::from_static(b"21.5"),
//! });
//! let mut wire = BytesMut::new();
//! encode(&publish, ProtocolVersion::V5, &mut wire).unwrap();
//! assert_eq!(wire.len(), encoded_len(&publish, ProtocolVersion::V5).unwrap());
//!
//! // A partial buffer asks for more bytes; the whole packet decodes to what was encoded.
//! let options = DecodeOptions { version: Some(ProtocolVersion::V5), max_packet_size: 1024 };
//! let mut partial = BytesMut::from(&wire[..5]);
//! assert_eq!(decode(&mut partial, &options).unwrap(), None);
//! assert_eq!(decode(&mut wire, &options).unwrap(), Some(publish));
//! ```

pub mod decode;
pub mod encode;
pub mod error;
pub mod packet;
pub mod properties;
pub mod reason;
pub mod string;
pub mod version;

pub use decode::{decode, DecodeOptions, MAX_PACKET_SIZE};
pub use encode::{encode, encoded_len};
pub use error::{DecodeError, EncodeError};
pub use packet::{
    Auth, ConnAck, Connect, Disconnect, Packet, PacketType, PubResp, Publish, RetainHandling,
    SubAck, Subscribe, Subscription, SubscriptionOptions, UnsubAck, Unsubscribe, Will,
};
pub use properties::{Properties, PropertyContext, PropertyId};
pub use reason::ReasonCode;
pub use string::{Utf8String, Utf8StringError};
pub use version::{PacketId, ProtocolVersion, QoS};
