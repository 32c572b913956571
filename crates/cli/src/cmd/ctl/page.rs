//! Lists: `?limit=&cursor=` in, `{"data": [...], "meta": {"hasnext", "cursor", ...}}` out.
//! One page by default; `--all` follows `meta.cursor` until `hasnext` is false and gives
//! the pages as one list, in the same shape (so `--json --all` parses like one page).

use clap::Args;
use serde_json::{json, Value};

use super::client::{Api, Query};
use super::error::{CtlError, CtlResult};

/// Paging options shared by every list.
#[derive(Args, Debug)]
pub(crate) struct PageArgs {
    /// Entries per page, 1 to 1000 (the API's default: 100).
    #[arg(long)]
    pub(crate) limit: Option<usize>,
    /// Start where an earlier page stopped (its `meta.cursor`).
    #[arg(long, conflicts_with = "all")]
    pub(crate) cursor: Option<String>,
    /// Every page, following the cursor to the end.
    #[arg(long)]
    pub(crate) all: bool,
}

/// Gets one page, or every page with `--all` (merged into one `data` array).
pub(crate) fn fetch(api: &Api, path: &str, mut query: Query, page: &PageArgs) -> CtlResult<Value> {
    if let Some(limit) = page.limit {
        query.set("limit", limit.to_string());
    }
    if let Some(cursor) = &page.cursor {
        query.set("cursor", cursor.clone());
    }
    let first = api.get(path, &query)?;
    if !page.all {
        return Ok(first);
    }
    let mut data = take_data(&first, path)?;
    let mut meta = first["meta"].clone();
    while meta["hasnext"].as_bool() == Some(true) {
        let cursor = meta["cursor"].as_str().ok_or_else(|| {
            CtlError::Unreachable(format!("GET {path}: hasnext without a cursor"))
        })?;
        query.set("cursor", cursor.to_owned());
        let next = api.get(path, &query)?;
        data.extend(take_data(&next, path)?);
        meta = next["meta"].clone();
    }
    if let Some(m) = meta.as_object_mut() {
        m.remove("cursor");
    }
    Ok(json!({"data": data, "meta": meta}))
}

fn take_data(page: &Value, path: &str) -> CtlResult<Vec<Value>> {
    page["data"]
        .as_array()
        .cloned()
        .ok_or_else(|| CtlError::Unreachable(format!("GET {path}: the answer has no data list")))
}
