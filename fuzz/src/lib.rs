//! Shared bodies of the fuzz targets.

use bytes::BytesMut;
use starling_codec::{decode, encode, encoded_len, DecodeOptions, Packet, ProtocolVersion};

/// Decodes packets from `data` until more bytes are needed or an error; every packet decoded
/// must encode (with an exact `encoded_len`) and decode back to itself. `version: None` starts
/// before CONNECT and continues with the version the CONNECT announced.
pub fn decode_roundtrip(data: &[u8], version: Option<ProtocolVersion>) {
    let mut buf = BytesMut::from(data);
    let mut version = version;
    loop {
        let opts = DecodeOptions::new(version);
        let packet = match decode(&mut buf, &opts) {
            Ok(Some(p)) => p,
            Ok(None) | Err(_) => return,
        };
        let v = match (&packet, version) {
            (Packet::Connect(c), _) => c.protocol,
            (_, Some(v)) => v,
            (_, None) => panic!("a packet other than CONNECT decoded before CONNECT"),
        };
        let mut out = BytesMut::new();
        encode(&packet, v, &mut out).expect("a decoded packet must encode");
        assert_eq!(encoded_len(&packet, v), Ok(out.len()), "encoded_len is exact");
        let first = out.clone().freeze();
        let again = decode(&mut out, &DecodeOptions::new(Some(v)));
        assert_eq!(again, Ok(Some(packet.clone())), "decode(encode(p)) == p");
        let mut twice = BytesMut::new();
        encode(&packet, v, &mut twice).expect("encodes again");
        assert_eq!(&twice[..], &first[..], "encoding is deterministic");
        version = Some(v);
    }
}
