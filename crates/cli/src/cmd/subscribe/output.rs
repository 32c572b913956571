//! How `starling sub` prints a message: the payload alone, verbose (`topic payload`, then one
//! indented line per 5.0 property), or one JSON object per line.

use serde_json::{json, Map, Value};
use starling_client::Publish;
use starling_codec::Properties;
use std::io::Write;

/// The output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// The payload, then a newline.
    Plain,
    /// `topic payload`, then `  name: value` per property.
    Verbose,
    /// `{"topic":..,"qos":..,"retain":..,"payload":..,"payload_encoding":..,"properties":{..}}`.
    Json,
}

/// Writes `message` to `out` in `format`.
pub(crate) fn write(
    out: &mut impl Write,
    format: Format,
    message: &Publish,
) -> std::io::Result<()> {
    match format {
        Format::Plain => {
            out.write_all(&message.payload)?;
            out.write_all(b"\n")
        }
        Format::Verbose => {
            out.write_all(message.topic.as_str().as_bytes())?;
            out.write_all(b" ")?;
            out.write_all(&message.payload)?;
            out.write_all(b"\n")?;
            for (name, value) in property_lines(&message.properties) {
                writeln!(out, "  {name}: {value}")?;
            }
            Ok(())
        }
        Format::Json => {
            serde_json::to_writer(&mut *out, &json_value(message))?;
            out.write_all(b"\n")
        }
    }
}

/// The JSON object of one message.
pub(crate) fn json_value(message: &Publish) -> Value {
    let (payload, encoding) = text_or_base64(&message.payload);
    let mut object = Map::new();
    object.insert("topic".into(), json!(message.topic.as_str()));
    object.insert("qos".into(), json!(message.qos.as_u8()));
    object.insert("retain".into(), json!(message.retain));
    object.insert("payload".into(), json!(payload));
    object.insert("payload_encoding".into(), json!(encoding));
    let properties = json_properties(&message.properties);
    if !properties.is_empty() {
        object.insert("properties".into(), Value::Object(properties));
    }
    Value::Object(object)
}

fn json_properties(p: &Properties) -> Map<String, Value> {
    let mut m = Map::new();
    if let Some(v) = p.payload_format_indicator {
        m.insert("payload_format_indicator".into(), json!(v));
    }
    if let Some(v) = p.message_expiry_interval {
        m.insert("message_expiry_interval".into(), json!(v));
    }
    if let Some(v) = &p.content_type {
        m.insert("content_type".into(), json!(v.as_str()));
    }
    if let Some(v) = &p.response_topic {
        m.insert("response_topic".into(), json!(v.as_str()));
    }
    if let Some(v) = &p.correlation_data {
        let (data, encoding) = text_or_base64(v);
        m.insert("correlation_data".into(), json!(data));
        m.insert("correlation_data_encoding".into(), json!(encoding));
    }
    if !p.subscription_identifiers.is_empty() {
        m.insert(
            "subscription_identifiers".into(),
            json!(p.subscription_identifiers),
        );
    }
    if !p.user_properties.is_empty() {
        let pairs: Vec<Value> = p
            .user_properties
            .iter()
            .map(|(k, v)| json!([k.as_str(), v.as_str()]))
            .collect();
        m.insert("user_properties".into(), Value::Array(pairs));
    }
    m
}

fn property_lines(p: &Properties) -> Vec<(&'static str, String)> {
    let mut lines = Vec::new();
    if let Some(v) = p.payload_format_indicator {
        lines.push(("payload-format-indicator", v.to_string()));
    }
    if let Some(v) = p.message_expiry_interval {
        lines.push(("message-expiry-interval", v.to_string()));
    }
    if let Some(v) = &p.content_type {
        lines.push(("content-type", v.as_str().to_string()));
    }
    if let Some(v) = &p.response_topic {
        lines.push(("response-topic", v.as_str().to_string()));
    }
    if let Some(v) = &p.correlation_data {
        lines.push(("correlation-data", text_or_base64(v).0));
    }
    for id in &p.subscription_identifiers {
        lines.push(("subscription-identifier", id.to_string()));
    }
    for (k, v) in &p.user_properties {
        lines.push(("user-property", format!("{}={}", k.as_str(), v.as_str())));
    }
    lines
}

/// The bytes as text if they are UTF-8, else in base64; and which it is.
fn text_or_base64(bytes: &[u8]) -> (String, &'static str) {
    match std::str::from_utf8(bytes) {
        Ok(s) => (s.to_string(), "utf-8"),
        Err(_) => (base64(bytes), "base64"),
    }
}

/// Standard base64 with padding (RFC 4648 section 4).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (input, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), want);
        }
        assert_eq!(
            text_or_base64(&[0xff, 0x00]),
            ("/wA=".to_string(), "base64")
        );
    }
}
