//! Property tests: decoding arbitrary bytes never panics, for every version and before CONNECT,
//! and whatever decodes re-encodes to something that decodes to the same packet.

mod strategy;

use bytes::BytesMut;
use proptest::prelude::*;
use starling_codec::*;

fn drain(bytes: &[u8], opts: DecodeOptions) {
    let mut buf = BytesMut::from(bytes);
    let mut version = opts.version;
    while let Ok(Some(p)) = decode(&mut buf, &DecodeOptions { version, ..opts }) {
        let v = match (&p, version) {
            (Packet::Connect(c), _) => c.protocol,
            (_, Some(v)) => v,
            (_, None) => unreachable!("only CONNECT decodes before CONNECT"),
        };
        let mut out = BytesMut::new();
        encode(&p, v, &mut out).expect("a decoded packet encodes");
        assert_eq!(encoded_len(&p, v), Ok(out.len()));
        let back = decode(&mut out, &DecodeOptions::new(Some(v)));
        assert_eq!(back, Ok(Some(p)));
        version = Some(v);
    }
}

/// Bytes that often start like a real packet, so the fuzzing reaches past the fixed header.
fn near_packet() -> impl Strategy<Value = Vec<u8>> {
    (
        0u8..=15,
        0u8..=15,
        proptest::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(|(kind, flags, body)| {
            let mut v = vec![(kind << 4) | flags, body.len() as u8];
            v.extend(body);
            v
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        drain(&bytes, DecodeOptions::new(None));
        for v in strategy::VERSIONS {
            drain(&bytes, DecodeOptions::new(Some(v)));
        }
    }

    #[test]
    fn decode_never_panics_on_framed_bytes(bytes in near_packet()) {
        for v in strategy::VERSIONS {
            drain(&bytes, DecodeOptions::new(Some(v)));
        }
    }

    #[test]
    fn decode_never_panics_with_small_limit(bytes in proptest::collection::vec(any::<u8>(), 0..64), max in 0u32..64) {
        for v in strategy::VERSIONS {
            drain(&bytes, DecodeOptions { version: Some(v), max_packet_size: max });
        }
    }
}
