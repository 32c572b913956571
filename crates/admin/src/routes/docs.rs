//! The OpenAPI document (`/api-docs/openapi.json`) and a page that shows it
//! (`/api-docs`): plain HTML and a little JavaScript, no CDN (the broker may run where the
//! Internet is not reachable), listing every operation with its parameters, body and
//! answers.

use axum::http::header;
use axum::response::{Html, IntoResponse};

/// The document, served as JSON.
pub(crate) async fn openapi_json(doc: String) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], doc)
}

/// The page.
pub(crate) async fn page() -> Html<&'static str> {
    Html(PAGE)
}

const PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Starling API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:0 auto;max-width:1100px;padding:1rem;color:#222}
h1{font-size:1.4rem} h2{font-size:1.1rem;margin-top:2rem;border-bottom:1px solid #ddd}
details{border:1px solid #ddd;border-radius:4px;margin:.4rem 0;padding:.3rem .6rem}
summary{cursor:pointer} .m{display:inline-block;width:4.5rem;font-weight:bold;text-transform:uppercase}
.get{color:#1565c0}.post{color:#2e7d32}.put{color:#ef6c00}.delete{color:#c62828}
code,pre{font-family:ui-monospace,monospace;font-size:12px} pre{background:#f6f8fa;padding:.5rem;overflow:auto}
</style></head><body>
<h1>Starling management API</h1>
<p>The OpenAPI 3 document: <a href="/api-docs/openapi.json">/api-docs/openapi.json</a>.
Log in with <code>POST /api/v5/login</code> and send <code>Authorization: Bearer &lt;token&gt;</code>,
or use an API key with HTTP Basic authentication.</p>
<div id="ops">Loading…</div>
<script type="module">
const doc = await (await fetch('/api-docs/openapi.json')).json();
const byTag = {};
for (const [path, item] of Object.entries(doc.paths)) {
  for (const method of ['get','post','put','delete','patch']) {
    const op = item[method]; if (!op) continue;
    const tag = (op.tags && op.tags[0]) || 'other';
    (byTag[tag] ||= []).push({path, method, op});
  }
}
const el = (tag, attrs = {}, ...kids) => { const e = document.createElement(tag);
  Object.assign(e, attrs); e.append(...kids); return e; };
const root = document.getElementById('ops'); root.textContent = '';
for (const [tag, ops] of Object.entries(byTag).sort()) {
  root.append(el('h2', {textContent: tag}));
  for (const {path, method, op} of ops) {
    const d = el('details');
    d.append(el('summary', {}, el('span', {className: 'm ' + method, textContent: method}),
      el('code', {textContent: path}), ' — ' + (op.summary || op.description || '')));
    if (op.description) d.append(el('p', {textContent: op.description}));
    if (op.parameters) d.append(el('pre', {textContent: 'parameters: ' + JSON.stringify(op.parameters, null, 2)}));
    if (op.requestBody) d.append(el('pre', {textContent: 'body: ' + JSON.stringify(op.requestBody.content, null, 2)}));
    d.append(el('pre', {textContent: 'responses: ' + Object.keys(op.responses).join(', ')}));
    root.append(d);
  }
}
</script></body></html>
"#;
