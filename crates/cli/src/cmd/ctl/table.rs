//! Output: aligned tables and `name: value` records for people, the API's JSON as is for
//! scripts (`--json`). Tables go to stdout; notes about more pages go to stderr, so that
//! stdout holds only the table.

use serde_json::Value;
use std::io::Write as _;

use super::error::CtlResult;

/// How one column gets its text from a row.
pub(crate) type Cell = fn(&Value) -> String;

/// A column: its header and its cell.
pub(crate) type Column = (&'static str, Cell);

/// Where and how the results go.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Output {
    /// Print the API's JSON rather than tables.
    pub(crate) json: bool,
}

impl Output {
    /// A list answer (`{"data": [...], "meta": {...}}`) as a table of `columns`.
    pub(crate) fn list(&self, answer: &Value, columns: &[Column]) -> CtlResult<()> {
        if self.json {
            return self.raw(answer);
        }
        let rows = answer["data"].as_array().map(Vec::as_slice).unwrap_or(&[]);
        self.rows(rows, columns)?;
        let meta = &answer["meta"];
        if meta["hasnext"].as_bool() == Some(true) {
            let cursor = meta["cursor"].as_str().unwrap_or_default();
            eprintln!("(more: --all for every page, or --cursor {cursor} for the next)");
        }
        Ok(())
    }

    /// An array answer (`[...]`) as a table of `columns`.
    pub(crate) fn array(&self, answer: &Value, columns: &[Column]) -> CtlResult<()> {
        if self.json {
            return self.raw(answer);
        }
        self.rows(answer.as_array().map(Vec::as_slice).unwrap_or(&[]), columns)
    }

    /// An object answer as `name: value` lines (every field, in the API's order).
    pub(crate) fn record(&self, answer: &Value) -> CtlResult<()> {
        if self.json {
            return self.raw(answer);
        }
        let mut table = Table::new(&[]);
        for (name, value) in answer.as_object().into_iter().flatten() {
            table.row(vec![format!("{name}:"), text(value)]);
        }
        emit(&table.render())
    }

    /// A confirmation for people (nothing with `--json`: the exit code says it).
    pub(crate) fn done(&self, what: &str) -> CtlResult<()> {
        if self.json {
            return Ok(());
        }
        emit(&format!("{what}\n"))
    }

    /// The JSON, pretty-printed.
    pub(crate) fn raw(&self, answer: &Value) -> CtlResult<()> {
        let text = serde_json::to_string_pretty(answer).unwrap_or_default();
        emit(&format!("{text}\n"))
    }

    fn rows(&self, rows: &[Value], columns: &[Column]) -> CtlResult<()> {
        let headers: Vec<&str> = columns.iter().map(|c| c.0).collect();
        let mut table = Table::new(&headers);
        for row in rows {
            table.row(columns.iter().map(|c| (c.1)(row)).collect());
        }
        emit(&table.render())
    }
}

/// Writes to stdout (an error rather than a panic when it is closed).
pub(crate) fn emit(text: &str) -> CtlResult<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// A JSON value as a cell: strings as they are, `-` for null, numbers and booleans as
/// JSON writes them, anything else as compact JSON.
pub(crate) fn text(value: &Value) -> String {
    match value {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A table: a header line and rows, each column as wide as its widest cell.
#[derive(Debug)]
pub(crate) struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these headers (none: rows only).
    pub(crate) fn new(headers: &[&str]) -> Table {
        Table {
            headers: headers.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row (control characters shown as `?`, so a client id cannot move the cursor).
    pub(crate) fn row(&mut self, cells: Vec<String>) {
        let clean = cells
            .into_iter()
            .map(|c| {
                c.chars()
                    .map(|ch| if ch.is_control() { '?' } else { ch })
                    .collect()
            })
            .collect();
        self.rows.push(clean);
    }

    /// The lines, two spaces between columns, the last column not padded.
    pub(crate) fn render(&self) -> String {
        let all = std::iter::once(&self.headers)
            .filter(|h| !h.is_empty())
            .chain(&self.rows);
        let mut widths: Vec<usize> = Vec::new();
        for line in all.clone() {
            for (i, cell) in line.iter().enumerate() {
                let w = cell.chars().count();
                match widths.get_mut(i) {
                    Some(max) => *max = (*max).max(w),
                    None => widths.push(w),
                }
            }
        }
        let mut out = String::new();
        for line in all {
            let last = line.len().saturating_sub(1);
            for (i, cell) in line.iter().enumerate() {
                out.push_str(cell);
                if i < last {
                    let pad = widths[i] - cell.chars().count() + 2;
                    out.extend(std::iter::repeat_n(' ', pad));
                }
            }
            // An empty last cell leaves the padding before it.
            out.truncate(out.trim_end_matches(' ').len());
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn columns_line_up_under_their_headers() {
        let mut t = Table::new(&["ID", "STATE"]);
        t.row(vec!["sensor-long".into(), "up".into()]);
        t.row(vec!["a\u{1b}b".into(), "down".into()]);
        t.row(vec!["empty".into(), String::new()]);
        assert_eq!(
            t.render(),
            "ID           STATE\nsensor-long  up\na?b          down\nempty\n"
        );
    }

    #[test]
    fn cells_show_json_values_plainly() {
        assert_eq!(text(&json!(null)), "-");
        assert_eq!(text(&json!("x")), "x");
        assert_eq!(text(&json!(3)), "3");
        assert_eq!(text(&json!(true)), "true");
        assert_eq!(text(&json!(["a"])), "[\"a\"]");
    }
}
