//! SCRAM (RFC 5802; SCRAM-SHA-256 is RFC 7677) for MQTT 5.0 enhanced authentication: the
//! server's side of the exchange, and the credentials it checks against.
//!
//! # The exchange
//!
//! A client names the mechanism as its Authentication Method and sends the
//! client-first-message (`n,,n=user,r=<client nonce>`) as Authentication Data, in CONNECT
//! (or in AUTH 0x19 to re-authenticate). [`ScramServer::start`] parses it, finds the user's
//! [`ScramCredential`] for that mechanism, and answers the server-first-message
//! (`r=<client nonce><server nonce>,s=<salt>,i=<iterations>`), sent in AUTH 0x18. The client
//! answers with the client-final-message (`c=biws,r=<nonce>,p=<proof>`) in AUTH 0x18;
//! [`ServerFirstSent::finish`] checks the nonce, the channel binding and the proof:
//!
//! ```text
//! AuthMessage     = client-first-bare "," server-first "," client-final-without-proof
//! ClientSignature = HMAC(StoredKey, AuthMessage)
//! ClientKey       = ClientProof XOR ClientSignature;   H(ClientKey) must be StoredKey
//! ServerSignature = HMAC(ServerKey, AuthMessage)       -> server-final "v=<signature>"
//! ```
//!
//! The server never holds the password, only what [`ScramCredential::derive`] made from it
//! when it was set: `SaltedPassword = PBKDF2(password, salt, i)`, `StoredKey =
//! H(HMAC(SaltedPassword, "Client Key"))`, `ServerKey = HMAC(SaltedPassword, "Server Key")`.
//! A stolen credential does not let anyone log in (the proof needs ClientKey), though it does
//! let its holder pose as the server.
//!
//! No channel binding (`p=` is refused, `y` and `n` accepted), no authorization identity
//! (`a=` refused), no SASLprep: the password is taken as its UTF-8 bytes, which is what
//! SASLprep leaves of an ASCII password. Every message is at most [`MAX_MESSAGE`] bytes;
//! anything malformed is an error, never a panic. This module does no I/O: the broker carries
//! the messages in AUTH packets and runs [`ScramCredential::derive`] on a blocking thread.

mod message;
#[cfg(test)]
mod tests;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};
use std::sync::Arc;
use subtle::ConstantTimeEq as _;

pub use starling_config::{ScramAlgorithm, ScramConfig};

use message::{ClientFinal, ClientFirst};

/// The longest SCRAM message taken from a client, in bytes.
pub const MAX_MESSAGE: usize = 2048;
/// The salt length of derived credentials, in bytes.
const SALT_LEN: usize = 16;
/// Random bytes in a server nonce (base64: 32 characters).
const NONCE_LEN: usize = 24;

/// Why a SCRAM exchange failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScramError {
    /// A message that is not SCRAM as RFC 5802 writes it (names the part).
    #[error("malformed SCRAM message: {0}")]
    Malformed(&'static str),
    /// Something SCRAM allows that this server does not do (channel binding, authzid).
    #[error("unsupported: {0}")]
    Unsupported(&'static str),
    /// No user of that name, or one without credentials for this mechanism.
    #[error("unknown user")]
    UnknownUser,
    /// The client's proof is wrong: a wrong password.
    #[error("wrong proof")]
    WrongProof,
}

/// One user's credentials for one mechanism: what the server keeps instead of the password.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramCredential {
    /// The mechanism.
    pub algorithm: ScramAlgorithm,
    /// The salt.
    pub salt: Vec<u8>,
    /// PBKDF2 iterations.
    pub iterations: u32,
    /// `H(ClientKey)`, as long as the hash.
    pub stored_key: Vec<u8>,
    /// `HMAC(SaltedPassword, "Server Key")`, as long as the hash.
    pub server_key: Vec<u8>,
}

impl std::fmt::Debug for ScramCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramCredential")
            .field("algorithm", &self.algorithm)
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

impl ScramCredential {
    /// Derives the credentials of `password` with `salt` and `iterations` (PBKDF2). Blocking
    /// (4096 iterations take milliseconds): call it from a blocking thread.
    pub fn derive(
        algorithm: ScramAlgorithm,
        password: &[u8],
        salt: &[u8],
        iterations: u32,
    ) -> ScramCredential {
        let salted = zeroize::Zeroizing::new(match algorithm {
            ScramAlgorithm::Sha256 => {
                let mut out = vec![0; 32];
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out);
                out
            }
            ScramAlgorithm::Sha512 => {
                let mut out = vec![0; 64];
                pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations, &mut out);
                out
            }
        });
        let client_key = zeroize::Zeroizing::new(hmac(algorithm, &salted, b"Client Key"));
        ScramCredential {
            algorithm,
            salt: salt.to_vec(),
            iterations,
            stored_key: hash(algorithm, &client_key),
            server_key: hmac(algorithm, &salted, b"Server Key"),
        }
    }

    /// Derives credentials for every mechanism, each with a fresh random salt. Blocking.
    pub fn derive_all(password: &[u8], iterations: u32) -> Vec<ScramCredential> {
        ScramAlgorithm::ALL
            .into_iter()
            .map(|algorithm| {
                let salt: [u8; SALT_LEN] = rand::random();
                ScramCredential::derive(algorithm, password, &salt, iterations)
            })
            .collect()
    }

    /// Whether the keys are as long as the mechanism's hash (a stored record that is not is
    /// damaged), the salt is not empty and the iterations are at least 1.
    pub fn is_well_formed(&self) -> bool {
        let len = self.algorithm.hash_len();
        self.stored_key.len() == len
            && self.server_key.len() == len
            && !self.salt.is_empty()
            && self.iterations > 0
    }
}

trait HashLen {
    fn hash_len(self) -> usize;
}

impl HashLen for ScramAlgorithm {
    fn hash_len(self) -> usize {
        match self {
            ScramAlgorithm::Sha256 => 32,
            ScramAlgorithm::Sha512 => 64,
        }
    }
}

fn hmac(algorithm: ScramAlgorithm, key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC takes a key of any length: `new_from_slice` cannot fail here.
    match algorithm {
        ScramAlgorithm::Sha256 => Hmac::<Sha256>::new_from_slice(key)
            .map(|mac| mac.chain_update(data).finalize().into_bytes().to_vec())
            .unwrap_or_default(),
        ScramAlgorithm::Sha512 => Hmac::<Sha512>::new_from_slice(key)
            .map(|mac| mac.chain_update(data).finalize().into_bytes().to_vec())
            .unwrap_or_default(),
    }
}

fn hash(algorithm: ScramAlgorithm, data: &[u8]) -> Vec<u8> {
    match algorithm {
        ScramAlgorithm::Sha256 => Sha256::digest(data).to_vec(),
        ScramAlgorithm::Sha512 => Sha512::digest(data).to_vec(),
    }
}

/// A user found for a client-first-message.
#[derive(Debug, Clone)]
pub struct ScramUser {
    /// Its credentials for the mechanism asked.
    pub credential: ScramCredential,
    /// A superuser (no ACL checks).
    pub superuser: bool,
}

/// The server's side of one exchange, before the client-first-message.
#[derive(Debug, Clone, Copy)]
pub struct ScramServer {
    algorithm: ScramAlgorithm,
}

impl ScramServer {
    /// An exchange of `algorithm`.
    pub fn new(algorithm: ScramAlgorithm) -> Self {
        Self { algorithm }
    }

    /// Takes the client-first-message, finds its user with `lookup` (username -> user, for
    /// this mechanism), and returns the server-first-message to send with the state that
    /// waits for the client-final-message. `server_nonce` is made fresh when `None` (tests
    /// pass one).
    pub fn start(
        self,
        client_first: &[u8],
        lookup: impl FnOnce(&str, ScramAlgorithm) -> Option<ScramUser>,
        server_nonce: Option<&str>,
    ) -> Result<(ServerFirstSent, Vec<u8>), ScramError> {
        let first = ClientFirst::parse(client_first)?;
        let user = lookup(&first.username, self.algorithm).ok_or(ScramError::UnknownUser)?;
        if user.credential.algorithm != self.algorithm || !user.credential.is_well_formed() {
            return Err(ScramError::UnknownUser);
        }
        let fresh;
        let server_nonce = match server_nonce {
            Some(nonce) => nonce,
            None => {
                fresh = STANDARD.encode(rand::random::<[u8; NONCE_LEN]>());
                &fresh
            }
        };
        let nonce = format!("{}{server_nonce}", first.nonce);
        let server_first = format!(
            "r={nonce},s={},i={}",
            STANDARD.encode(&user.credential.salt),
            user.credential.iterations
        );
        let state = ServerFirstSent {
            username: first.username,
            gs2_header: first.gs2_header,
            client_first_bare: first.bare,
            server_first: server_first.clone(),
            nonce,
            user,
        };
        Ok((state, server_first.into_bytes()))
    }
}

/// The exchange after the server-first-message: waits for the client-final-message.
#[derive(Clone)]
pub struct ServerFirstSent {
    username: String,
    gs2_header: String,
    client_first_bare: String,
    server_first: String,
    nonce: String,
    user: ScramUser,
}

impl std::fmt::Debug for ServerFirstSent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerFirstSent")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// A finished exchange: who the client is, and the server-final-message to send it.
#[derive(Debug, Clone)]
pub struct ScramSuccess {
    /// The authenticated username.
    pub username: String,
    /// A superuser (no ACL checks).
    pub superuser: bool,
    /// The server-final-message (`v=<server signature>`).
    pub server_final: Vec<u8>,
}

impl ServerFirstSent {
    /// The username the client named.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// Takes the client-final-message and checks it: the nonce, the channel binding and the
    /// proof.
    pub fn finish(self, client_final: &[u8]) -> Result<ScramSuccess, ScramError> {
        let last = ClientFinal::parse(client_final)?;
        if last.nonce != self.nonce {
            return Err(ScramError::Malformed("nonce: not the one of this exchange"));
        }
        if last.channel_binding != self.gs2_header.as_bytes() {
            return Err(ScramError::Malformed(
                "channel binding: not the client-first-message's gs2 header",
            ));
        }
        let credential = &self.user.credential;
        let algorithm = credential.algorithm;
        let auth_message = format!(
            "{},{},{}",
            self.client_first_bare, self.server_first, last.without_proof
        );
        if last.proof.len() != algorithm.hash_len() {
            return Err(ScramError::WrongProof);
        }
        let signature = hmac(algorithm, &credential.stored_key, auth_message.as_bytes());
        let client_key: Vec<u8> = last
            .proof
            .iter()
            .zip(&signature)
            .map(|(p, s)| p ^ s)
            .collect();
        let stored = hash(algorithm, &client_key);
        if !bool::from(stored.ct_eq(&credential.stored_key)) {
            return Err(ScramError::WrongProof);
        }
        let server_signature = hmac(algorithm, &credential.server_key, auth_message.as_bytes());
        Ok(ScramSuccess {
            username: self.username,
            superuser: self.user.superuser,
            server_final: format!("v={}", STANDARD.encode(server_signature)).into_bytes(),
        })
    }
}

/// The `scram` authenticator as configured: the mechanisms it takes.
#[derive(Debug, Clone)]
pub struct ScramAuthn {
    config: ScramConfig,
    users: Arc<crate::builtin::BuiltinUsers>,
}

impl ScramAuthn {
    pub(crate) fn new(config: ScramConfig, users: Arc<crate::builtin::BuiltinUsers>) -> Self {
        Self { config, users }
    }

    /// The exchange for Authentication Method `method`, if it is one configured.
    pub fn server(&self, method: &str) -> Option<ScramServer> {
        let algorithm = ScramAlgorithm::from_name(method)?;
        self.config
            .algorithms
            .contains(&algorithm)
            .then(|| ScramServer::new(algorithm))
    }

    /// Starts an exchange against the `builtin` users.
    pub fn start(
        &self,
        server: ScramServer,
        client_first: &[u8],
    ) -> Result<(ServerFirstSent, Vec<u8>), ScramError> {
        server.start(
            client_first,
            |username, algorithm| {
                let entry = self.users.get(username)?;
                let credential = entry.scram.iter().find(|c| c.algorithm == algorithm)?;
                Some(ScramUser {
                    credential: credential.clone(),
                    superuser: entry.superuser,
                })
            },
            None,
        )
    }
}
