//! One password hash in Mosquitto's notation: the field after `username:` in a password file.
//!
//! Two kinds, both with a 12-byte random salt and a 64-byte hash, each base64-encoded (the
//! standard alphabet, padded, as OpenSSL writes it for `mosquitto_passwd`):
//!
//! - `$7$<iterations>$<salt>$<hash>`: PBKDF2-HMAC-SHA512 of the password with the salt,
//!   `iterations` rounds, 64 bytes of output. Mosquitto 2's default, with 101 rounds.
//! - `$6$<salt>$<hash>`: SHA-512 over the password's bytes followed by the salt's bytes, one
//!   round. Mosquitto 1.6 and earlier wrote these (`mosquitto_passwd -H sha512` still does);
//!   they are cheap to brute-force and kept for old files only.
//!
//! Reading is a little more lenient than writing, as OpenSSL's decoder is: padding may be
//! left out. The number of rounds a file may ask for is capped ([`Iterations::MAX`]) so that
//! a hostile file cannot make every CONNECT cost seconds. Comparison is in constant time.

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use rand::RngCore as _;
use sha2::{Digest as _, Sha512};
use std::fmt;
use std::num::NonZeroU32;
use subtle::ConstantTimeEq as _;

/// Bytes of salt, as `mosquitto_passwd` makes it and as Mosquitto's broker requires it.
pub const SALT_LEN: usize = 12;
/// Bytes of a hash: one SHA-512 output.
pub const HASH_LEN: usize = 64;

/// What the decoder accepts: the standard alphabet, padded or not, trailing bits ignored.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// The number of PBKDF2 rounds of a `$7$` hash: at least 1, at most [`Iterations::MAX`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Iterations(NonZeroU32);

impl Iterations {
    /// What `mosquitto_passwd` writes (its `PW_DEFAULT_ITERATIONS`).
    pub const DEFAULT: Iterations = Iterations(NonZeroU32::MIN.saturating_add(100));
    /// The most a file may ask for: about 10 s of one core per check, already far past any
    /// sane setting; more would let a file stall the broker's authentication.
    pub const MAX: u32 = 10_000_000;

    /// `count` rounds, or `None` if it is 0 or over [`Iterations::MAX`].
    pub fn new(count: u32) -> Option<Iterations> {
        if count > Self::MAX {
            return None;
        }
        NonZeroU32::new(count).map(Iterations)
    }

    /// The number of rounds.
    pub fn get(self) -> u32 {
        self.0.get()
    }
}

impl Default for Iterations {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// How a password is hashed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashAlgorithm {
    /// `$6$`: one round of SHA-512 over password then salt (Mosquitto 1.x; weak).
    Sha512,
    /// `$7$`: PBKDF2-HMAC-SHA512 with this many rounds (Mosquitto 2's default).
    Pbkdf2Sha512(Iterations),
}

impl Default for HashAlgorithm {
    /// PBKDF2-HMAC-SHA512 with 101 rounds, as `mosquitto_passwd` writes.
    fn default() -> Self {
        HashAlgorithm::Pbkdf2Sha512(Iterations::DEFAULT)
    }
}

/// What is wrong with a password field. Never quotes the field: it may be a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashProblem {
    /// The field does not start with `$`: a plain-text password, most likely.
    #[error(
        "the password is not hashed (a plain-text password? `starling passwd -U` hashes them)"
    )]
    NotHashed,
    /// `$<type>$` is neither `$6$` nor `$7$`.
    #[error("unknown hash type (only $6$ and $7$ are supported)")]
    UnknownType,
    /// Too few or too many `$`-separated fields for the type.
    #[error("a ${kind}$ hash has {expected} '$'-separated fields, this one {found}")]
    FieldCount {
        /// `6` or `7`.
        kind: u8,
        /// How many the type has.
        expected: usize,
        /// How many there are.
        found: usize,
    },
    /// The iterations field of a `$7$` hash is not a number.
    #[error("the iterations field is not a number")]
    IterationsNotANumber,
    /// The iterations are 0 or over the cap.
    #[error("{0} iterations: must be 1 to {max}", max = Iterations::MAX)]
    IterationsOutOfRange(u64),
    /// The salt is not base64.
    #[error("the salt is not valid base64")]
    SaltNotBase64,
    /// The salt decodes to the wrong number of bytes.
    #[error("the salt is {0} bytes, not {SALT_LEN}")]
    SaltLength(usize),
    /// The hash is not base64.
    #[error("the hash is not valid base64")]
    HashNotBase64,
    /// The hash decodes to the wrong number of bytes.
    #[error("the hash is {0} bytes, not {HASH_LEN}")]
    HashLength(usize),
}

/// A salted password hash, `$6$` or `$7$`. Its `Debug` shows the algorithm only.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash {
    algorithm: HashAlgorithm,
    salt: [u8; SALT_LEN],
    hash: [u8; HASH_LEN],
}

impl PasswordHash {
    /// Hashes `password` with a new random salt (from the operating system).
    pub fn generate(password: &[u8], algorithm: HashAlgorithm) -> PasswordHash {
        let mut salt = [0u8; SALT_LEN];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        PasswordHash {
            algorithm,
            salt,
            hash: digest(algorithm, password, &salt),
        }
    }

    /// Reads a field such as `$7$101$<salt>$<hash>` (no surrounding blanks).
    pub fn parse(field: &str) -> Result<PasswordHash, HashProblem> {
        let rest = field.strip_prefix('$').ok_or(HashProblem::NotHashed)?;
        let parts: Vec<&str> = rest.split('$').collect();
        let (algorithm, salt, hash) = match parts[0] {
            "6" => {
                let [_, salt, hash] = parts[..] else {
                    return Err(field_count(6, 3, parts.len()));
                };
                (HashAlgorithm::Sha512, salt, hash)
            }
            "7" => {
                let [_, iterations, salt, hash] = parts[..] else {
                    return Err(field_count(7, 4, parts.len()));
                };
                let count: u64 = iterations
                    .parse()
                    .map_err(|_| HashProblem::IterationsNotANumber)?;
                let iterations = u32::try_from(count)
                    .ok()
                    .and_then(Iterations::new)
                    .ok_or(HashProblem::IterationsOutOfRange(count))?;
                (HashAlgorithm::Pbkdf2Sha512(iterations), salt, hash)
            }
            _ => return Err(HashProblem::UnknownType),
        };
        let salt = decode::<SALT_LEN>(salt, HashProblem::SaltNotBase64, HashProblem::SaltLength)?;
        let hash = decode::<HASH_LEN>(hash, HashProblem::HashNotBase64, HashProblem::HashLength)?;
        Ok(PasswordHash {
            algorithm,
            salt,
            hash,
        })
    }

    /// Whether `password` is the one hashed, compared in constant time. CPU work: up to
    /// [`Iterations::MAX`] rounds of HMAC-SHA512, so async callers run it off the runtime.
    pub fn verify(&self, password: &[u8]) -> bool {
        let computed = digest(self.algorithm, password, &self.salt);
        computed.ct_eq(&self.hash).into()
    }

    /// How it was hashed.
    pub fn algorithm(&self) -> HashAlgorithm {
        self.algorithm
    }

    /// The field as a password file holds it: `$7$101$<salt>$<hash>` or `$6$<salt>$<hash>`.
    pub fn encode(&self) -> String {
        let salt = STANDARD.encode(self.salt);
        let hash = STANDARD.encode(self.hash);
        match self.algorithm {
            HashAlgorithm::Sha512 => format!("$6${salt}${hash}"),
            HashAlgorithm::Pbkdf2Sha512(iterations) => {
                format!("$7${}${salt}${hash}", iterations.get())
            }
        }
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordHash")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// A new `$7$101$<salt>$<hash>` field for `password`, with a random salt: what
/// `mosquitto_passwd` writes by default.
pub fn hash_password(password: &[u8]) -> String {
    PasswordHash::generate(password, HashAlgorithm::default()).encode()
}

fn field_count(kind: u8, expected: usize, found: usize) -> HashProblem {
    HashProblem::FieldCount {
        kind,
        expected,
        found,
    }
}

fn decode<const N: usize>(
    text: &str,
    not_base64: HashProblem,
    length: fn(usize) -> HashProblem,
) -> Result<[u8; N], HashProblem> {
    let bytes = LENIENT.decode(text).map_err(|_| not_base64)?;
    <[u8; N]>::try_from(bytes.as_slice()).map_err(|_| length(bytes.len()))
}

fn digest(algorithm: HashAlgorithm, password: &[u8], salt: &[u8; SALT_LEN]) -> [u8; HASH_LEN] {
    let mut out = [0u8; HASH_LEN];
    match algorithm {
        HashAlgorithm::Sha512 => {
            let digest = Sha512::new()
                .chain_update(password)
                .chain_update(salt)
                .finalize();
            out.copy_from_slice(&digest);
        }
        HashAlgorithm::Pbkdf2Sha512(iterations) => {
            pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations.get(), &mut out);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Made by Debian's `mosquitto_passwd` 2.0.11 (`-b`, password `correct horse`).
    const PBKDF2_101: &str = "$7$101$634cyH5cv6hbdUNX$GhHFCz98A+GHaPLSpys8lrTVOo/s8uNe4C9HXY75MvECOciphu06Gu6EDoh6yku7kFRyS1oUq3wGaO2vlVf/ZQ==";

    /// Made by Debian's `mosquitto_passwd -H sha512` 2.0.11 (password `carol pass`).
    const SHA512: &str = "$6$V9gLYNK8YaP+RNPH$3kzgnEmilST/I6VLMb1BxIrCxjjiMC10+dlYa91gJt7Ge3TNEllcF8dneGlV6OI/rASu9KU8loSdES8Ax3LTeA==";

    /// Computed here from the algorithm (SHA-512 of `sixpass` then the salt bytes 0..=11),
    /// independently of Mosquitto: base64 of the salt is `AAECAwQFBgcICQoL`.
    const SHA512_COMPUTED: &str = "$6$AAECAwQFBgcICQoL$3Pgi2Qu3KWHu0YcUCIVt+iBzx/FoRkn3pMWaiElvoMuXuOPfiA/Cv4RVLMFyp6mY9sshHAsXgaj7D+aj8xT4LA==";

    fn parse(field: &str) -> PasswordHash {
        PasswordHash::parse(field).expect("a valid hash")
    }

    #[test]
    fn verifies_mosquitto_made_pbkdf2() {
        let hash = parse(PBKDF2_101);
        assert_eq!(
            hash.algorithm(),
            HashAlgorithm::Pbkdf2Sha512(Iterations::DEFAULT)
        );
        assert!(hash.verify(b"correct horse"));
        assert!(!hash.verify(b"correct horse "));
        assert!(!hash.verify(b""));
    }

    #[test]
    fn verifies_sha512_from_mosquitto_and_from_the_algorithm() {
        let hash = parse(SHA512);
        assert_eq!(hash.algorithm(), HashAlgorithm::Sha512);
        assert!(hash.verify(b"carol pass"));
        assert!(!hash.verify(b"carol"));
        let computed = parse(SHA512_COMPUTED);
        assert_eq!(
            computed.salt,
            *b"\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b"
        );
        assert!(computed.verify(b"sixpass"));
        assert!(!computed.verify(b"sixpasS"));
    }

    #[test]
    fn encode_is_parse_inverse() {
        for field in [PBKDF2_101, SHA512, SHA512_COMPUTED] {
            assert_eq!(parse(field).encode(), field);
        }
    }

    #[test]
    fn generated_hashes_round_trip() {
        let field = hash_password(b"s3cret");
        assert!(field.starts_with("$7$101$"), "{field}");
        let hash = parse(&field);
        assert!(hash.verify(b"s3cret"));
        assert!(!hash.verify(b"s3cre"));
        // A new salt each time.
        assert_ne!(hash_password(b"s3cret"), field);
        let legacy = PasswordHash::generate(b"old", HashAlgorithm::Sha512);
        assert!(parse(&legacy.encode()).verify(b"old"));
        let slow = HashAlgorithm::Pbkdf2Sha512(Iterations::new(1000).expect("in range"));
        let slow = PasswordHash::generate(b"x", slow);
        assert!(slow.encode().starts_with("$7$1000$"));
        assert!(parse(&slow.encode()).verify(b"x"));
    }

    #[test]
    fn padding_may_be_left_out() {
        let unpadded = PBKDF2_101.trim_end_matches('=');
        assert!(parse(unpadded).verify(b"correct horse"));
    }

    #[test]
    fn malformed_fields_say_what_is_wrong() {
        let salt = "634cyH5cv6hbdUNX";
        let hash = "GhHFCz98A+GHaPLSpys8lrTVOo/s8uNe4C9HXY75MvECOciphu06Gu6EDoh6yku7kFRyS1oUq3wGaO2vlVf/ZQ==";
        let cases = [
            ("hunter2".to_string(), HashProblem::NotHashed),
            ("$5$abc$def".to_string(), HashProblem::UnknownType),
            ("$".to_string(), HashProblem::UnknownType),
            (format!("$7${salt}${hash}"), field_count(7, 4, 3)),
            (format!("$6$101${salt}${hash}"), field_count(6, 3, 4)),
            (
                format!("$7$lots${salt}${hash}"),
                HashProblem::IterationsNotANumber,
            ),
            (
                format!("$7$0${salt}${hash}"),
                HashProblem::IterationsOutOfRange(0),
            ),
            (
                format!("$7$10000001${salt}${hash}"),
                HashProblem::IterationsOutOfRange(10_000_001),
            ),
            (
                format!("$7$99999999999999999999${salt}${hash}"),
                HashProblem::IterationsNotANumber,
            ),
            (format!("$7$101$!!${hash}"), HashProblem::SaltNotBase64),
            (format!("$7$101$AAAA${hash}"), HashProblem::SaltLength(3)),
            (format!("$7$101${salt}$@@"), HashProblem::HashNotBase64),
            (format!("$6${salt}$AAAA"), HashProblem::HashLength(3)),
        ];
        for (field, problem) in cases {
            assert_eq!(PasswordHash::parse(&field), Err(problem), "{field}");
        }
    }

    #[test]
    fn iterations_are_bounded() {
        assert_eq!(Iterations::new(0), None);
        assert_eq!(Iterations::new(Iterations::MAX + 1), None);
        assert_eq!(
            Iterations::new(Iterations::MAX).map(Iterations::get),
            Some(Iterations::MAX)
        );
        assert_eq!(Iterations::DEFAULT.get(), 101);
    }

    #[test]
    fn debug_shows_no_hash_or_salt() {
        let debug = format!("{:?}", parse(PBKDF2_101));
        assert!(
            !debug.contains("634cyH5c") && !debug.contains('['),
            "{debug}"
        );
    }
}
