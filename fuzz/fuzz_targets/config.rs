#![no_main]
//! The config parser: any text yields a Config or a clear error, never a panic.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = starling_config::parse_str(text, "fuzz.toml");
    }
});
