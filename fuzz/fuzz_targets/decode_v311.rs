#![no_main]
#[allow(unused_imports)]
use starling_codec::ProtocolVersion;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    starling_fuzz::decode_roundtrip(data, Some(ProtocolVersion::V3_1_1));
});
