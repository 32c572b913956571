//! `starling-auth`: who may connect, and what each client may do with which topics.
//!
//! It depends on `starling-topic` (filters) and `starling-config` (`[auth]`), not on the
//! broker: the broker asks it, at CONNECT and at every PUBLISH, SUBSCRIBE and delivery,
//! through the types exported here, and runs authentication on a blocking thread.
//!
//! # Modules
//!
//! - `authn`: [`Authenticator`], the `[[auth.authn]]` chain ([`Credentials`] in, allowed or
//!   [`Refusal`] out);
//! - `jwt`: the `jwt` authenticator, a JSON Web Token as the password (its keys, its `acl`
//!   claim);
//! - `http`: the `http` authenticator, a web service asked at CONNECT, answers cached;
//! - `authz`: [`Authorizer`], the `[[auth.authz]]` chain and `no_match`, and where the rules
//!   credentials carried ([`Carried`]) stand in it;
//! - `builtin`: [`Builtin`], the users (argon2id hashes) and ACL rules the broker keeps in its
//!   store: the `builtin` authenticator and authorization source;
//! - `acl`: [`Principal`], [`Action`], rules compiled into a topic-level trie ([`AclTrie`]),
//!   Mosquitto's ACL file ([`AclFile`]);
//! - `password_file`: Mosquitto's password file (`$6$` and `$7$` hashes) and its editing, for
//!   `starling passwd`;
//! - `scram`: SCRAM-SHA-256 / SCRAM-SHA-512 for 5.0 enhanced authentication (AUTH packets):
//!   the server's exchange ([`scram::ScramServer`]) and the credentials derived from a
//!   `builtin` user's password ([`scram::ScramCredential`]);
//! - `failures`: failed logins per address, and the growing delay before a refusal;
//! - `bounded`: reading a file with a size cap;
//! - `reload`: files swapped whole when they change, the old version kept if the new one is bad.

pub mod acl;
mod authn;
mod authz;
mod bounded;
pub mod builtin;
mod failures;
mod http;
mod jwt;
pub mod password_file;
mod reload;
pub mod scram;

pub use acl::{AclFile, AclFileError, AclTrie, Action, Decision, Grant, Principal};
pub use authn::{AllowedBy, Authenticated, Authenticator, Credentials, Refusal};
pub use authz::{Authorizer, Carried};
pub use builtin::Builtin;
pub use failures::Failures;
pub use http::HttpError;
pub use jwt::JwtKeyError;
pub use reload::Reloaded;

use starling_config::AuthConfig;

/// A file named in `[auth]` could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// A password file.
    #[error(transparent)]
    PasswordFile(#[from] password_file::PasswordFileError),
    /// An ACL file.
    #[error(transparent)]
    AclFile(#[from] AclFileError),
    /// A JWT public key or JWKS file.
    #[error(transparent)]
    JwtKey(#[from] JwtKeyError),
    /// An `http` authenticator's client could not be set up.
    #[error(transparent)]
    Http(#[from] HttpError),
}

/// Everything the broker needs for access control, loaded from `[auth]`.
#[derive(Debug)]
pub struct Auth {
    /// The authentication chain.
    pub authn: Authenticator,
    /// The authorization chain; `None`: no checks at all.
    pub authz: Option<Authorizer>,
    /// Failed logins per address.
    pub failures: Failures,
    /// Whether a denied PUBLISH closes the connection.
    pub deny_disconnects: bool,
    /// The `builtin` users and rules (asked only if `[auth]` names `builtin`).
    pub builtin: Builtin,
}

impl Auth {
    /// Loads every file `config` names.
    pub fn load(config: &AuthConfig) -> Result<Auth, AuthError> {
        let builtin = Builtin::new(config);
        Ok(Auth {
            authn: Authenticator::load_with(config, &builtin.users)?,
            authz: Authorizer::load_with(config, &builtin.rules)?,
            builtin,
            failures: Failures::new(config.failure_delay, config.max_failure_delay),
            deny_disconnects: config.deny_disconnects,
        })
    }
}
