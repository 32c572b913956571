//! Cursor pagination, as the API's lists use it: `?limit=N&cursor=C` in, `meta` out. A
//! cursor is opaque to clients (base64url of where the last page stopped).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;

/// The default page size.
pub(crate) const DEFAULT_LIMIT: usize = 100;

/// About one page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Meta {
    /// The page size asked for.
    pub(crate) limit: usize,
    /// Whether there are more after this page.
    pub(crate) hasnext: bool,
    /// Pass as `cursor` to get the next page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) cursor: Option<String>,
    /// How many exist in all, when that is known without counting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) count: Option<u64>,
}

/// Checks `limit` (1 to 1,000; 100 when absent).
pub(crate) fn limit(limit: Option<usize>) -> Result<usize, ApiError> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=starling_broker::clients::MAX_PAGE).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::field(
            "limit",
            format!(
                "must be between 1 and {}, got {n}",
                starling_broker::clients::MAX_PAGE
            ),
        )),
    }
}

/// A cursor for `parts` (joined by a NUL, which no client id or topic holds).
pub(crate) fn encode(parts: &[&str]) -> String {
    URL_SAFE_NO_PAD.encode(parts.join("\0"))
}

/// The parts of a cursor made by [`encode`].
pub(crate) fn decode(cursor: &str, parts: usize) -> Result<Vec<String>, ApiError> {
    let bad = || ApiError::field("cursor", "is not a cursor this API gave");
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let out: Vec<String> = text.split('\0').map(str::to_owned).collect();
    if out.len() == parts {
        Ok(out)
    } else {
        Err(bad())
    }
}

/// One page of a list the broker holds whole (bans, builtin users and rules): sorted by
/// `key`, the entries after the cursor's key `after`, at most `limit`, and the `meta` whose
/// cursor (`cursor_of` the last key taken) continues it.
pub(crate) fn window<T, K: Ord>(
    mut all: Vec<T>,
    limit: usize,
    after: Option<K>,
    key: impl Fn(&T) -> K,
    cursor_of: impl Fn(&K) -> String,
) -> (Vec<T>, Meta) {
    all.sort_by_key(&key);
    let count = all.len() as u64;
    let start = after.map_or(0, |a| all.partition_point(|t| key(t) <= a));
    let mut taken: Vec<T> = all.into_iter().skip(start).collect();
    let more = taken.len() > limit;
    taken.truncate(limit);
    let cursor = more
        .then(|| taken.last().map(|t| cursor_of(&key(t))))
        .flatten();
    let meta = Meta {
        limit,
        hasnext: cursor.is_some(),
        cursor,
        count: Some(count),
    };
    (taken, meta)
}

/// Unix seconds as RFC 3339 (`2026-12-03T18:00:00Z`).
pub(crate) fn rfc3339(at: std::time::SystemTime) -> String {
    humantime::format_rfc3339_seconds(at).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_a_forged_one_is_refused() {
        let c = encode(&["client/1", "a/+"]);
        assert_eq!(decode(&c, 2).unwrap(), ["client/1", "a/+"]);
        assert!(decode(&c, 1).is_err());
        assert!(decode("***", 1).is_err());
        assert!(limit(Some(0)).is_err() && limit(Some(1001)).is_err());
        assert_eq!(limit(None).unwrap(), DEFAULT_LIMIT);
    }
}
