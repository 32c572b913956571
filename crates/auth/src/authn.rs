//! The authentication chain: every `[[auth.authn]]` in order. Each allows the client, denies
//! it, or passes it on ("not mine"); a client no authenticator decided on gets in only if it
//! sent no username and `allow_anonymous` is on.
//!
//! [`Authenticator::authenticate`] blocks: password hashes are slow on purpose, and the `http`
//! authenticator waits for its service. The broker runs it on a blocking thread, never on the
//! async runtime.

use crate::acl::AclTrie;
use crate::builtin::BuiltinUsers;
use crate::http::HttpAuthn;
use crate::jwt::JwtAuthn;
use crate::password_file::PasswordFile;
use crate::reload::{Reloadable, Reloaded};
use crate::scram::ScramAuthn;
use crate::AuthError;
use starling_config::{AuthConfig, AuthnConfig};
use std::net::IpAddr;
use std::sync::Arc;

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
    /// A user of the `builtin` authenticator (kept in the store).
    Builtin,
    /// A password file.
    PasswordFile,
    /// A verified client certificate.
    X509,
    /// A JSON Web Token sent as the password.
    Jwt,
    /// A web service (`kind = "http"`).
    Http,
    /// A SCRAM exchange over AUTH packets against a `builtin` user's SCRAM credentials.
    Scram,
    /// Nobody claimed it, it sent no username, and `allow_anonymous` is on.
    Anonymous,
}

/// A client let in, and what its authenticator says about it beyond "yes".
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// Who let it in.
    pub by: AllowedBy,
    /// When its credentials stop being valid (a token's expiry): the broker closes the
    /// connection then. `None`: never.
    pub expires_at: Option<std::time::SystemTime>,
    /// ACL rules that came with the credentials (a JWT's `acl` claim), compiled with `%u` /
    /// `%c` templates, for this connection only. Meant to be asked before `[[auth.authz]]`,
    /// as EMQX does: a rule that matches decides, and with none the configured sources do.
    /// `None`: the credentials carried no rules (every authenticator but `jwt`).
    pub acl: Option<Arc<AclTrie>>,
    /// A superuser (a `builtin` user so flagged): no ACL check applies to it.
    pub superuser: bool,
}

impl Authenticated {
    /// Let in by `by`, with nothing more to say (no expiry, no rules, not a superuser).
    pub fn by(by: AllowedBy) -> Self {
        Self {
            by,
            expires_at: None,
            acl: None,
            superuser: false,
        }
    }
}

/// One authenticator's answer.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Let the client in.
    Allow(Authenticated),
    /// Refuse it; the chain stops.
    Deny(Refusal),
    /// "Not mine": the next authenticator decides.
    Pass,
}

enum Authn {
    Builtin(Arc<BuiltinUsers>),
    PasswordFile(Reloadable<PasswordFile>),
    X509,
    Jwt(JwtAuthn),
    Http(HttpAuthn),
    /// Asked only through [`Authenticator::scram`], by a CONNECT that names its method.
    Scram,
}

/// The configured chain, for the whole broker.
pub struct Authenticator {
    chain: Vec<Authn>,
    scram: Option<ScramAuthn>,
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
    /// Loads every authenticator's files; an error stops the broker's start. A `builtin`
    /// authenticator gets an empty table of its own (see [`Authenticator::load_with`]).
    pub fn load(config: &AuthConfig) -> Result<Authenticator, AuthError> {
        Self::load_with(config, &Arc::new(BuiltinUsers::new(config.max_users)))
    }

    /// Loads every authenticator's files; a `builtin` one asks `users`.
    pub fn load_with(
        config: &AuthConfig,
        users: &Arc<BuiltinUsers>,
    ) -> Result<Authenticator, AuthError> {
        let mut chain = Vec::with_capacity(config.authn.len());
        let mut scram = None;
        for authn in &config.authn {
            chain.push(match authn {
                AuthnConfig::Builtin => Authn::Builtin(Arc::clone(users)),
                AuthnConfig::PasswordFile { path } => {
                    Authn::PasswordFile(Reloadable::load(path, PasswordFile::load)?)
                }
                AuthnConfig::X509 => Authn::X509,
                AuthnConfig::Jwt(jwt) => Authn::Jwt(JwtAuthn::load(jwt)?),
                AuthnConfig::Http(http) => Authn::Http(HttpAuthn::load(http)?),
                AuthnConfig::Scram(config) => {
                    // The first one configured is the one asked.
                    if scram.is_none() {
                        scram = Some(ScramAuthn::new(config.clone(), Arc::clone(users)));
                    }
                    Authn::Scram
                }
            });
        }
        Ok(Authenticator {
            chain,
            scram,
            allow_anonymous: config.allow_anonymous,
        })
    }

    /// True when every client gets in without a check (no authenticator, anonymous allowed):
    /// the broker then skips the blocking thread.
    pub fn lets_everyone_in(&self) -> bool {
        self.chain.is_empty() && self.allow_anonymous
    }

    /// The `scram` authenticator, if one is configured: a CONNECT with an Authentication
    /// Method goes to it instead of the chain.
    pub fn scram(&self) -> Option<&ScramAuthn> {
        self.scram.as_ref()
    }

    /// Runs the chain. Blocking: hashes passwords, and waits for web services.
    pub fn authenticate(&self, credentials: &Credentials) -> Result<Authenticated, Refusal> {
        for authn in &self.chain {
            let outcome = match authn {
                Authn::Builtin(users) => crate::builtin::authenticate(users, credentials),
                Authn::PasswordFile(file) => password_file(&file.get(), credentials),
                Authn::X509 if credentials.cert_verified => {
                    Outcome::Allow(Authenticated::by(AllowedBy::X509))
                }
                Authn::X509 => Outcome::Pass,
                Authn::Jwt(jwt) => jwt.authenticate(credentials),
                Authn::Http(http) => http.authenticate(credentials),
                // A password is not SCRAM's business: it takes AUTH exchanges only.
                Authn::Scram => Outcome::Pass,
            };
            match outcome {
                Outcome::Allow(authenticated) => return Ok(authenticated),
                Outcome::Deny(refusal) => return Err(refusal),
                Outcome::Pass => {}
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

    /// Loads again every file that changed (password files, JWT keys); a file that fails
    /// keeps its old contents. The size is the new version's users or keys.
    pub fn reload(&self) -> Vec<Reloaded<AuthError>> {
        self.chain
            .iter()
            .filter_map(|authn| match authn {
                Authn::PasswordFile(file) => file
                    .reload(PasswordFile::load, PasswordFile::len)
                    .map(Reloaded::err_into),
                Authn::Jwt(jwt) => jwt.reload().map(Reloaded::err_into),
                Authn::Builtin(_) | Authn::X509 | Authn::Http(_) | Authn::Scram => None,
            })
            .collect()
    }
}

/// A password file's answer: a user it does not have is not its business.
fn password_file(file: &PasswordFile, credentials: &Credentials) -> Outcome {
    let Some(username) = &credentials.username else {
        return Outcome::Pass;
    };
    let password = credentials.password.as_deref().unwrap_or_default();
    match file.verify(username, password) {
        Some(true) => Outcome::Allow(Authenticated::by(AllowedBy::PasswordFile)),
        Some(false) => Outcome::Deny(Refusal::BadCredentials),
        None => Outcome::Pass,
    }
}
