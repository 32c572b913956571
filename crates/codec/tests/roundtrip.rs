//! Property tests: every valid packet survives encode -> decode unchanged, re-encodes to the
//! same bytes, `encoded_len` is exact, and every strict prefix decodes to "need more bytes".

mod strategy;

use bytes::BytesMut;
use proptest::prelude::*;
use starling_codec::*;
use strategy::{opts, packet};

fn check_roundtrip(p: &Packet, v: ProtocolVersion) -> Result<(), TestCaseError> {
    let mut buf = BytesMut::new();
    encode(p, v, &mut buf).map_err(|e| TestCaseError::fail(format!("encode: {e}")))?;
    prop_assert_eq!(encoded_len(p, v), Ok(buf.len()));
    let bytes = buf.clone().freeze();

    for n in 0..bytes.len() {
        let mut partial = BytesMut::from(&bytes[..n]);
        prop_assert_eq!(decode(&mut partial, &opts(v)), Ok(None), "prefix {}", n);
        prop_assert_eq!(partial.len(), n);
    }

    let mut whole = BytesMut::from(&bytes[..]);
    let decoded = decode(&mut whole, &opts(v));
    prop_assert_eq!(decoded.as_ref(), Ok(&Some(p.clone())));
    prop_assert!(whole.is_empty());

    let mut again = BytesMut::new();
    encode(p, v, &mut again).map_err(|e| TestCaseError::fail(format!("re-encode: {e}")))?;
    prop_assert_eq!(&again[..], &bytes[..]);

    if let Packet::Connect(_) = p {
        let mut first = BytesMut::from(&bytes[..]);
        let before = decode(&mut first, &DecodeOptions::new(None));
        prop_assert_eq!(before, Ok(Some(p.clone())));
    }
    Ok(())
}

/// Two packets back to back come out one at a time.
fn check_stream(a: &Packet, b: &Packet, v: ProtocolVersion) -> Result<(), TestCaseError> {
    let mut buf = BytesMut::new();
    encode(a, v, &mut buf).map_err(|e| TestCaseError::fail(e.to_string()))?;
    encode(b, v, &mut buf).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(decode(&mut buf, &opts(v)), Ok(Some(a.clone())));
    prop_assert_eq!(decode(&mut buf, &opts(v)), Ok(Some(b.clone())));
    prop_assert_eq!(decode(&mut buf, &opts(v)), Ok(None));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn roundtrip_v3_1(p in packet(ProtocolVersion::V3_1)) {
        check_roundtrip(&p, ProtocolVersion::V3_1)?;
    }

    #[test]
    fn roundtrip_v3_1_1(p in packet(ProtocolVersion::V3_1_1)) {
        check_roundtrip(&p, ProtocolVersion::V3_1_1)?;
    }

    #[test]
    fn roundtrip_v5(p in packet(ProtocolVersion::V5)) {
        check_roundtrip(&p, ProtocolVersion::V5)?;
    }

    #[test]
    fn stream_of_two_v3_1_1(a in packet(ProtocolVersion::V3_1_1), b in packet(ProtocolVersion::V3_1_1)) {
        check_stream(&a, &b, ProtocolVersion::V3_1_1)?;
    }

    #[test]
    fn stream_of_two_v5(a in packet(ProtocolVersion::V5), b in packet(ProtocolVersion::V5)) {
        check_stream(&a, &b, ProtocolVersion::V5)?;
    }
}
