//! The crate's error type, and the reason a stored record does not decode.

use std::path::PathBuf;

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another `Store` (in this process or another) holds the directory's lock.
    #[error(
        "the store directory {} is in use by another broker (its lock file is held); \
         stop that broker or choose another data directory",
        path.display()
    )]
    Locked {
        /// The lock file that could not be taken.
        path: PathBuf,
    },
    /// A file or directory operation failed.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done ("create", "lock", "move aside" ...).
        what: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The storage engine (fjall) failed.
    #[error("storage engine: {0}")]
    Engine(#[from] fjall::Error),
    /// A record read back from the engine does not decode.
    #[error("damaged record in {keyspace}: {source}")]
    Damaged {
        /// The keyspace it was read from.
        keyspace: &'static str,
        /// What is wrong with it.
        source: RecordError,
    },
    /// A key would be longer than the engine allows (65,536 bytes).
    #[error("a {keyspace} key of {len} bytes is longer than the engine's limit of 65536 bytes")]
    KeyTooLong {
        /// The keyspace it was meant for.
        keyspace: &'static str,
        /// Its length in bytes.
        len: usize,
    },
}

/// Why bytes are not a valid record (see the `record` module for the format).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The record ends before a field does.
    #[error("record ends early")]
    Truncated,
    /// The record's format version is not one this build reads.
    #[error("unknown record format version {0}")]
    Version(u8),
    /// Bytes are left over after the last field.
    #[error("{0} bytes left over after the record")]
    TrailingBytes(usize),
    /// A field holds a value outside its range (a flag that is not 0 or 1, QoS 3 ...).
    #[error("invalid {0}")]
    Invalid(&'static str),
    /// A string is not valid UTF-8 (or not a valid MQTT string).
    #[error("invalid string in {0}")]
    Utf8(&'static str),
    /// A topic name or filter does not validate.
    #[error("invalid topic: {0}")]
    Topic(#[from] starling_topic::TopicError),
}
