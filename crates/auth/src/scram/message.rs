//! The client's two SCRAM messages, parsed (RFC 5802 section 7), bounded by [`MAX_MESSAGE`].

use super::{ScramError, MAX_MESSAGE};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

/// `gs2-header client-first-message-bare`.
#[derive(Debug)]
pub(super) struct ClientFirst {
    /// `n,,` or `y,,` (the channel binding flag and an empty authzid).
    pub(super) gs2_header: String,
    /// Everything after the gs2 header: part of the AuthMessage.
    pub(super) bare: String,
    /// The username, `=2C` and `=3D` decoded.
    pub(super) username: String,
    /// The client's nonce.
    pub(super) nonce: String,
}

/// `channel-binding "," nonce ["," extensions] "," proof`.
#[derive(Debug)]
pub(super) struct ClientFinal {
    /// `c=`, decoded.
    pub(super) channel_binding: Vec<u8>,
    /// `r=`: the client's and the server's nonce.
    pub(super) nonce: String,
    /// The message up to its `,p=`: part of the AuthMessage.
    pub(super) without_proof: String,
    /// `p=`, decoded.
    pub(super) proof: Vec<u8>,
}

fn text(bytes: &[u8]) -> Result<&str, ScramError> {
    if bytes.len() > MAX_MESSAGE {
        return Err(ScramError::Malformed("longer than 2048 bytes"));
    }
    std::str::from_utf8(bytes).map_err(|_| ScramError::Malformed("not UTF-8"))
}

/// `printable = %x21-2B / %x2D-7E` (no comma), at least one.
fn nonce(value: &str) -> Result<&str, ScramError> {
    if value.is_empty()
        || !value
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b',')
    {
        return Err(ScramError::Malformed("nonce: empty or not printable"));
    }
    Ok(value)
}

/// `saslname`: `=2C` is a comma, `=3D` an equals sign, any other `=` is an error.
fn username(value: &str) -> Result<String, ScramError> {
    if value.is_empty() {
        return Err(ScramError::Malformed("username: empty"));
    }
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(at) = rest.find('=') {
        out.push_str(&rest[..at]);
        match rest.get(at..at + 3) {
            Some("=2C") => out.push(','),
            Some("=3D") => out.push('='),
            _ => return Err(ScramError::Malformed("username: a bad =XX escape")),
        }
        rest = &rest[at + 3..];
    }
    out.push_str(rest);
    Ok(out)
}

impl ClientFirst {
    pub(super) fn parse(bytes: &[u8]) -> Result<Self, ScramError> {
        let text = text(bytes)?;
        let (flag, rest) = text
            .split_once(',')
            .ok_or(ScramError::Malformed("gs2 header: no comma"))?;
        match flag {
            "n" | "y" => {}
            _ if flag.starts_with("p=") => {
                return Err(ScramError::Unsupported("channel binding"));
            }
            _ => return Err(ScramError::Malformed("gs2 header: flag not n, y or p=")),
        }
        let (authzid, bare) = rest
            .split_once(',')
            .ok_or(ScramError::Malformed("gs2 header: no second comma"))?;
        if authzid.starts_with("a=") {
            return Err(ScramError::Unsupported("authorization identity"));
        }
        if !authzid.is_empty() {
            return Err(ScramError::Malformed("gs2 header: authzid not a="));
        }
        let gs2_header = text[..flag.len() + authzid.len() + 2].to_owned();
        let mut attributes = bare.split(',');
        let user = match attributes.next() {
            Some(m) if m.starts_with("m=") => {
                return Err(ScramError::Unsupported("mandatory extension"))
            }
            Some(n) => n
                .strip_prefix("n=")
                .ok_or(ScramError::Malformed("client-first: no n="))?,
            None => return Err(ScramError::Malformed("client-first: empty")),
        };
        let client_nonce = attributes
            .next()
            .and_then(|r| r.strip_prefix("r="))
            .ok_or(ScramError::Malformed("client-first: no r="))?;
        Ok(ClientFirst {
            username: username(user)?,
            nonce: nonce(client_nonce)?.to_owned(),
            bare: bare.to_owned(),
            gs2_header,
        })
    }
}

impl ClientFinal {
    pub(super) fn parse(bytes: &[u8]) -> Result<Self, ScramError> {
        let text = text(bytes)?;
        let (without_proof, proof) = text
            .rsplit_once(",p=")
            .ok_or(ScramError::Malformed("client-final: no p="))?;
        let mut attributes = without_proof.split(',');
        let binding = attributes
            .next()
            .and_then(|c| c.strip_prefix("c="))
            .ok_or(ScramError::Malformed("client-final: no c="))?;
        let combined = attributes
            .next()
            .and_then(|r| r.strip_prefix("r="))
            .ok_or(ScramError::Malformed("client-final: no r="))?;
        Ok(ClientFinal {
            channel_binding: STANDARD
                .decode(binding)
                .map_err(|_| ScramError::Malformed("c=: not base64"))?,
            nonce: nonce(combined)?.to_owned(),
            proof: STANDARD
                .decode(proof)
                .map_err(|_| ScramError::Malformed("p=: not base64"))?,
            without_proof: without_proof.to_owned(),
        })
    }
}
