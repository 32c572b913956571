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
      .then((d) => Object.keys(d.paths || {}).map((p) => p.split('/')))
      .catch(() => []);
  }
  return doc;
}
// A path parameter matches any segment, on either side: /listeners/{id}/start is in a
// document that has /listeners/{id}/{action}.
const param = (seg) => seg.startsWith('{') && seg.endsWith('}');
export async function hasRoute(path) {
  const want = path.split('/');
  return (await paths()).some((have) => have.length === want.length
    && have.every((seg, i) => seg === want[i] || param(seg) || param(want[i])));
}
