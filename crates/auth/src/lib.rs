//! `starling-auth`: who may connect, and what each client may do with which topics.
//!
//! It depends on `starling-topic` only (topic names and filters), not on the broker: the
//! broker asks it, at CONNECT and at every PUBLISH, SUBSCRIBE and delivery, through the types
//! exported here.
//!
//! # Modules
