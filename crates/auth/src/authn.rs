//! The authentication chain: every `[[auth.authn]]` in order. Each allows the client, denies
//! it, or passes it on ("not mine"); a client no authenticator decided on gets in only if it
//! sent no username and `allow_anonymous` is on.
//!
//! [`Authenticator::authenticate`] does CPU work (password hashes are slow on purpose): the
//! broker runs it on a blocking thread, never on the async runtime.

use crate::password_file::{PasswordFile, PasswordFileError};
use crate::reload::{Reloadable, Reloaded};
use starling_config::{AuthConfig, AuthnConfig};
use std::net::IpAddr;

/// What a client presents at CONNECT (owned: it moves to the blocking thread).
#[derive(Clone, Default)]
pub struct Credentials {
    /// The client id in use.
    pub client_id: String,
    /// The username, as sent or as the client certificate set it.
    pub username: Option<String>,
    /// The password, as sent. Never logged.
    pub password: Option<Vec<u8>>,
    /// The client's address.
    pub peer: Option<IpAddr>,
    /// True when a TLS listener verified a client certificate for this connection.
    pub cert_verified: bool,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("client_id", &self.client_id)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("peer", &self.peer)
            .field("cert_verified", &self.cert_verified)
            .finish()
    }
}

/// Why a client was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A wrong password, or a username nobody knows (5.0: 0x86; 3.x: return code 4).
    BadCredentials,
    /// No username, and anonymous clients are not allowed (5.0: 0x87; 3.x: return code 5).
    NotAuthorized,
}

/// Who let a client in, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllowedBy {
    /// A password file.
    PasswordFile,
    /// A verified client certificate.
    X509,
    /// Nobody claimed it, it sent no username, and `allow_anonymous` is on.
    Anonymous,
}

/// A client let in, and what its authenticator says about it beyond "yes".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    /// Who let it in.
    pub by: AllowedBy,
    /// When its credentials stop being valid (a token's expiry): the broker closes the
    /// connection then. `None`: never.
    pub expires_at: Option<std::time::SystemTime>,
}

impl Authenticated {
    fn by(by: AllowedBy) -> Self {
        Self {
            by,
            expires_at: None,
        }
    }
}

enum Authn {
    PasswordFile(Reloadable<PasswordFile>),
    X509,
}

/// The configured chain, for the whole broker.
pub struct Authenticator {
    chain: Vec<Authn>,
    allow_anonymous: bool,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("chain", &self.chain.len())
            .field("allow_anonymous", &self.allow_anonymous)
            .finish()
    }
}

impl Authenticator {
    /// Loads every authenticator's files; an error stops the broker's start.
    pub fn load(config: &AuthConfig) -> Result<Authenticator, PasswordFileError> {
        let mut chain = Vec::with_capacity(config.authn.len());
        for authn in &config.authn {
            chain.push(match authn {
                AuthnConfig::PasswordFile { path } => {
                    Authn::PasswordFile(Reloadable::load(path, PasswordFile::load)?)
                }
                AuthnConfig::X509 => Authn::X509,
            });
        }
        Ok(Authenticator {
            chain,
            allow_anonymous: config.allow_anonymous,
        })
    }

    /// True when every client gets in without a check (no authenticator, anonymous allowed):
    /// the broker then skips the blocking thread.
    pub fn lets_everyone_in(&self) -> bool {
        self.chain.is_empty() && self.allow_anonymous
    }

    /// Runs the chain. Blocking: hashes passwords.
    pub fn authenticate(&self, credentials: &Credentials) -> Result<Authenticated, Refusal> {
        for authn in &self.chain {
            match authn {
                Authn::PasswordFile(file) => {
                    let Some(username) = &credentials.username else {
                        continue;
                    };
                    let password = credentials.password.as_deref().unwrap_or_default();
                    match file.get().verify(username, password) {
                        Some(true) => return Ok(Authenticated::by(AllowedBy::PasswordFile)),
                        Some(false) => return Err(Refusal::BadCredentials),
                        None => {}
                    }
                }
                Authn::X509 => {
                    if credentials.cert_verified {
                        return Ok(Authenticated::by(AllowedBy::X509));
                    }
                }
            }
        }
        match &credentials.username {
            None if self.allow_anonymous => Ok(Authenticated::by(AllowedBy::Anonymous)),
            None => Err(Refusal::NotAuthorized),
            // Sent a username nobody here knows. With no authenticator at all, a username is
            // just a name: the client is anonymous as far as checks go.
            Some(_) if self.chain.is_empty() && self.allow_anonymous => {
                Ok(Authenticated::by(AllowedBy::Anonymous))
            }
            Some(_) => Err(Refusal::BadCredentials),
        }
    }

    /// Loads again every file that changed; a file that fails keeps its old contents.
    pub fn reload(&self) -> Vec<Reloaded<PasswordFileError>> {
        self.chain
            .iter()
            .filter_map(|authn| match authn {
                Authn::PasswordFile(file) => file.reload(PasswordFile::load, PasswordFile::len),
                Authn::X509 => None,
            })
            .collect()
    }
}
