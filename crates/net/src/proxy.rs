//! The PROXY protocol (HAProxy's, v1 text and v2 binary) in front of a TCP or TLS listener: the
//! header a load balancer sends first, naming the client's real address. Parsed with `ppp`.
//!
//! The header is read exactly, never a byte more, so the socket stays a plain `TcpStream` for
//! what follows (TLS or MQTT): v2 says its length in its first 16 bytes; v1 ends at the first
//! CRLF within 107 bytes, found by peeking and consuming only what belongs to the header.

use ppp::{v1, v2, HeaderResult};
use std::net::SocketAddr;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// The v2 signature.
const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
/// The longest v1 header, CRLF included.
const V1_MAX: usize = 107;

/// Why a PROXY header was refused.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The bytes are not a PROXY header (or the connection closed within it).
    #[error("bad PROXY protocol header: {0}")]
    Bad(String),
    /// Reading failed.
    #[error("reading the PROXY protocol header: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads the header from `stream`. `Ok(Some(addr))`: the client's address; `Ok(None)`: the
/// header carries none (v1 `UNKNOWN`, v2 `LOCAL`, e.g. the balancer's health check), so the
/// TCP peer stands.
pub async fn read_header(stream: &mut TcpStream) -> Result<Option<SocketAddr>, ProxyError> {
    let bad = |s: &str| ProxyError::Bad(s.to_owned());
    let mut head = Vec::with_capacity(V1_MAX);
    let mut peek = [0u8; V1_MAX];
    let n = stream.peek(&mut peek[..16]).await?;
    if n == 0 {
        return Err(bad("the connection closed before it"));
    }
    if V2_SIGNATURE.starts_with(&peek[..n.min(12)]) {
        let mut fixed = [0u8; 16];
        stream.read_exact(&mut fixed).await?;
        if &fixed[..12] != V2_SIGNATURE {
            return Err(bad("not a v2 signature"));
        }
        let len = u16::from_be_bytes([fixed[14], fixed[15]]) as usize;
        head.extend_from_slice(&fixed);
        head.resize(16 + len, 0);
        stream.read_exact(&mut head[16..]).await?;
        let header = v2::Header::try_from(&head[..]).map_err(|e| ProxyError::Bad(e.to_string()))?;
        return Ok(match (header.command, header.addresses) {
            (v2::Command::Local, _) => None,
            (_, v2::Addresses::IPv4(a)) => {
                Some(SocketAddr::from((a.source_address, a.source_port)))
            }
            (_, v2::Addresses::IPv6(a)) => {
                Some(SocketAddr::from((a.source_address, a.source_port)))
            }
            _ => None,
        });
    }
    if !b"PROXY ".starts_with(&peek[..n.min(6)]) {
        return Err(bad("the connection does not start with one"));
    }
    loop {
        let n = stream.peek(&mut peek[..V1_MAX - head.len()]).await?;
        if n == 0 {
            return Err(bad("the connection closed within it"));
        }
        let seen = head.len();
        head.extend_from_slice(&peek[..n]);
        // The CR may be the last byte already consumed.
        let from = seen.saturating_sub(1);
        if let Some(at) = head[from..].windows(2).position(|w| w == b"\r\n") {
            let end = from + at + 2;
            head.truncate(end);
            let mut rest = vec![0u8; end - seen];
            stream.read_exact(&mut rest).await?;
            break;
        }
        if head.len() >= V1_MAX {
            return Err(bad("a v1 header longer than 107 bytes"));
        }
        let mut rest = vec![0u8; n];
        stream.read_exact(&mut rest).await?;
    }
    match HeaderResult::parse(&head) {
        HeaderResult::V1(Ok(header)) => Ok(match header.addresses {
            v1::Addresses::Tcp4(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
            v1::Addresses::Tcp6(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
            v1::Addresses::Unknown => None,
        }),
        HeaderResult::V1(Err(e)) => Err(ProxyError::Bad(e.to_string())),
        HeaderResult::V2(Err(e)) => Err(ProxyError::Bad(e.to_string())),
        HeaderResult::V2(Ok(_)) => Err(bad("a v2 header where v1 was expected")),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    /// Sends `bytes` in `pieces` writes, then reads the header and the byte after it.
    async fn parse(pieces: &[&[u8]]) -> (Result<Option<SocketAddr>, ProxyError>, Option<u8>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let pieces: Vec<Vec<u8>> = pieces.iter().map(|p| p.to_vec()).collect();
        let client = tokio::spawn(async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            for p in pieces {
                s.write_all(&p).await.unwrap();
                s.flush().await.unwrap();
                tokio::task::yield_now().await;
            }
            s.write_all(b"X").await.unwrap();
            s
        });
        let (mut server, _) = listener.accept().await.unwrap();
        let header = read_header(&mut server).await;
        let mut next = [0u8; 1];
        let after = if header.is_ok() {
            server.read_exact(&mut next).await.ok().map(|_| next[0])
        } else {
            None
        };
        drop(client.await.unwrap());
        (header, after)
    }

    #[tokio::test]
    async fn a_v1_header_gives_the_client_address_and_nothing_more_is_read() {
        let (addr, next) = parse(&[b"PROXY TCP4 192.0.2.7 10.0.0.1 5555 1883\r\n"]).await;
        assert_eq!(addr.unwrap(), Some("192.0.2.7:5555".parse().unwrap()));
        assert_eq!(next, Some(b'X'));
        let (addr, next) = parse(&[b"PROXY TCP6 2001:db8::1 ::1 7 1883\r", b"\n"]).await;
        assert_eq!(addr.unwrap(), Some("[2001:db8::1]:7".parse().unwrap()));
        assert_eq!(next, Some(b'X'));
        let (addr, _) = parse(&[b"PROX", b"Y UNKNOWN\r\n"]).await;
        assert_eq!(addr.unwrap(), None);
    }

    #[tokio::test]
    async fn a_v2_header_gives_the_client_address() {
        let header = v2::Builder::with_addresses(
            v2::Version::Two | v2::Command::Proxy,
            v2::Protocol::Stream,
            (
                "198.51.100.9:4242".parse::<SocketAddr>().unwrap(),
                "10.0.0.1:1883".parse::<SocketAddr>().unwrap(),
            ),
        )
        .build()
        .unwrap();
        let (addr, next) = parse(&[&header[..10], &header[10..]]).await;
        assert_eq!(addr.unwrap(), Some("198.51.100.9:4242".parse().unwrap()));
        assert_eq!(next, Some(b'X'));
    }

    #[tokio::test]
    async fn anything_else_is_refused() {
        // An MQTT CONNECT where the header should be.
        let (r, _) = parse(&[&[0x10, 0x0c, 0x00, 0x04, b'M', b'Q', b'T', b'T']]).await;
        assert!(matches!(r, Err(ProxyError::Bad(_))), "{r:?}");
        let (r, _) = parse(&[b"PROXY TCP4 nonsense\r\n"]).await;
        assert!(matches!(r, Err(ProxyError::Bad(_))), "{r:?}");
        let (r, _) = parse(&[&[b'P'; 120]]).await;
        assert!(matches!(r, Err(ProxyError::Bad(_))), "{r:?}");
    }
}
