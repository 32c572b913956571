// The REST API under /api/v5: the one thing the dashboard talks to. The login token is kept
// in localStorage; a 401 sends the user back to the login page.

const TOKEN = 'starling.token';
const USER = 'starling.user';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
  toString() { return `${this.code}: ${this.message}`; }
}

export const session = {
  get token() { return localStorage.getItem(TOKEN); },
  get user() { return localStorage.getItem(USER); },
  set(token, user) { localStorage.setItem(TOKEN, token); localStorage.setItem(USER, user); },
  clear() { localStorage.removeItem(TOKEN); localStorage.removeItem(USER); },
  onExpired: () => {},
};

export async function api(method, path, body, { raw = false } = {}) {
  const headers = {};
  if (session.token) headers.Authorization = `Bearer ${session.token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(`/api/v5${path}`, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, 'NETWORK', String(e.message || e));
  }
  if (raw && res.ok) return res;
  if (res.status === 204) return null;
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { json = null; }
  if (!res.ok) {
    const err = new ApiError(res.status, json?.code || `HTTP_${res.status}`,
      json?.message || text || res.statusText);
    if (res.status === 401 && path !== '/login') session.onExpired(err);
    throw err;
  }
  return json ?? text;
}

export const get = (p) => api('GET', p);
export const post = (p, b) => api('POST', p, b ?? {});
export const put = (p, b) => api('PUT', p, b);
export const del = (p) => api('DELETE', p);

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : '';
}

// The OpenAPI document, to show only what this broker has (trace, topics, listener start/stop).
let doc;
export async function paths() {
  if (!doc) {
    doc = fetch('/api-docs/openapi.json').then((r) => r.json())
      .then((d) => new Set(Object.keys(d.paths || {}).map(template)))
      .catch(() => new Set());
  }
  return doc;
}
// Path parameters compared by place, not by name: /listeners/{id}/start = /listeners/{name}/start.
const template = (p) => p.replace(/\{[^}]*\}/g, '{}');
export async function hasRoute(path) { return (await paths()).has(template(path)); }
