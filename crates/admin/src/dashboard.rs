//! The web dashboard's files: `web/dashboard` (HTML, CSS, JavaScript modules) at `/` and
//! `web/vendor` (MQTT.js, uPlot) at `/vendor/`, embedded in the binary with `include_dir`.
//!
//! The dashboard is plain files that talk to the REST API under `/api/v5` like any other
//! client; nothing here knows about the broker. Each file is answered with its content type,
//! an `ETag` (a SHA-256 prefix of its bytes) and `Cache-Control: no-cache`, so a browser asks
//! again but gets a 304 while nothing changed; compressible files are gzip-compressed once,
//! the first time any file is asked for, and sent so to a client that accepts gzip.
//! `build.rs` makes cargo rebuild this crate when a file under `web/` changes.

use std::collections::HashMap;
use std::io::Write;
use std::sync::OnceLock;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use include_dir::{include_dir, Dir};
use sha2::{Digest, Sha256};

static DASHBOARD: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/../../web/dashboard");
static VENDOR: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/../../web/vendor");

/// One file as served.
struct Asset {
    body: &'static [u8],
    /// The gzip form, when the type compresses and it is smaller.
    gzip: Option<Vec<u8>>,
    etag: HeaderValue,
    content_type: &'static str,
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("md" | "txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn compressible(content_type: &str) -> bool {
    content_type.starts_with("text/")
        || content_type == "application/json"
        || content_type == "image/svg+xml"
}

fn gzip(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).ok()?;
    encoder.finish().ok().filter(|g| g.len() < bytes.len())
}

fn asset(body: &'static [u8], path: &str) -> Asset {
    let content_type = content_type(path);
    let digest = Sha256::digest(body);
    let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    Asset {
        body,
        gzip: compressible(content_type).then(|| gzip(body)).flatten(),
        etag: HeaderValue::from_str(&format!("\"{hex}\""))
            .unwrap_or(HeaderValue::from_static("\"\"")),
        content_type,
    }
}

fn collect(dir: &'static Dir<'static>, prefix: &str, into: &mut HashMap<String, Asset>) {
    for file in dir.files() {
        let path = format!("{prefix}{}", file.path().to_string_lossy());
        let served = asset(file.contents(), &path);
        into.insert(path, served);
    }
    for sub in dir.dirs() {
        collect(sub, prefix, into);
    }
}

/// Every file, by the URL path it is served at (without the leading `/`).
fn assets() -> &'static HashMap<String, Asset> {
    static ASSETS: OnceLock<HashMap<String, Asset>> = OnceLock::new();
    ASSETS.get_or_init(|| {
        let mut map = HashMap::new();
        collect(&DASHBOARD, "", &mut map);
        collect(&VENDOR, "vendor/", &mut map);
        map
    })
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| matches!(p.trim(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

/// The dashboard file at `path` (`/` is `index.html`), or `None` when there is none.
pub(crate) fn respond(path: &str, headers: &HeaderMap) -> Option<Response> {
    let key = match path.trim_start_matches('/') {
        "" => "index.html",
        other => other,
    };
    let asset = assets().get(key)?;
    let mut out = HeaderMap::new();
    out.insert(header::ETAG, asset.etag.clone());
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    out.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if asset.gzip.is_some() {
        out.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    }
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim() == asset.etag || t.trim() == "*")
        });
    if fresh {
        return Some((StatusCode::NOT_MODIFIED, out).into_response());
    }
    out.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    let body = match &asset.gzip {
        Some(gz) if accepts_gzip(headers) => {
            out.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            axum::body::Body::from(gz.clone())
        }
        _ => axum::body::Body::from(asset.body),
    };
    Some((StatusCode::OK, out, body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_is_served_at_the_root_with_an_etag() {
        let headers = HeaderMap::new();
        let r = respond("/", &headers).expect("index.html is embedded");
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            r.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        let etag = r.headers()[header::ETAG].clone();
        let mut again = HeaderMap::new();
        again.insert(header::IF_NONE_MATCH, etag);
        let r = respond("/index.html", &again).expect("index.html");
        assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    }

    #[test]
    fn gzip_only_when_accepted() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("gzip, deflate, br"),
        );
        let r = respond("/vendor/mqtt/mqtt.min.js", &headers).expect("MQTT.js is embedded");
        assert_eq!(r.headers()[header::CONTENT_ENCODING], "gzip");
        headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("gzip;q=0, identity"),
        );
        let r = respond("/vendor/mqtt/mqtt.min.js", &headers).expect("MQTT.js is embedded");
        assert!(r.headers().get(header::CONTENT_ENCODING).is_none());
        assert!(respond("/no/such/file.js", &headers).is_none());
    }
}
