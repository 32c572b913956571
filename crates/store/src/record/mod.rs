//! The record format: how each value (and the subscription part of a key) is laid out in bytes.
//!
//! Every value opens with the format version byte ([`FORMAT`]), then its fields in a fixed
//! order: integers big-endian, flags as one byte (0 or 1, anything else is damage), byte
//! strings and text with a `u32` length prefix, optional fields as a presence byte then the
//! value, wall-clock times as `u64` milliseconds since the UNIX epoch. Decoding checks every
//! length against the bytes left, validates strings and topics with the same constructors
//! the protocol uses, and rejects trailing bytes, so damaged input is an error, never a panic.
//!
//! - [`field`]: the primitives ([`field::Writer`], [`field::Reader`]);
//! - [`message`]: `Message`, `Delivery` and `WillSpec`;
//! - [`session`]: [`SessionRecord`], subscriptions and inflight entries;
//! - [`ban`]: [`BanRecord`], a banned client id, username or address;
//! - [`builtin`]: [`UserRecord`] and [`AclRuleRecord`], the `builtin` users and ACL rules.

pub(crate) mod ban;
pub(crate) mod builtin;
pub(crate) mod field;
pub(crate) mod message;
pub(crate) mod session;

#[cfg(test)]
mod tests;

pub use ban::{BanKind, BanRecord};
pub use builtin::{AclAction, AclRuleRecord, AclWho, ScramRecord, UserRecord};
pub use session::SessionRecord;

/// The version byte that opens every record this build writes.
pub(crate) const FORMAT: u8 = 1;
