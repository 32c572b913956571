// The shell: login and the forced password change, the navigation, the language switch, and
// a router over location.hash (#/overview, #/clients/<id>, ...). Pages are modules loaded
// when first opened, so the first page needs only this file, api.js, ui.js and i18n.js.
import { api, post, session } from './api.js';
import { t, lang, setLang, LANGS } from './i18n.js';
import { h, field, errorLine, noteLine, showError } from './ui.js';

const PAGES = [
  ['overview', 'Overview', () => import('./overview.js')],
  ['clients', 'Clients', () => import('./clients.js')],
  ['subscriptions', 'Subscriptions', () => import('./lists.js')],
  ['retained', 'Retained', () => import('./lists.js')],
  ['websocket', 'WebSocket client', () => import('./websocket.js')],
  ['modules', 'Modules', () => import('./modules.js')],
  ['access', 'Access control', () => import('./access.js')],
  ['trace', 'Trace', () => import('./trace.js')],
  ['settings', 'Settings', () => import('./settings.js')],
];

const app = document.getElementById('app');
let stopPage = null; // what the open page must stop (timers) when left
let notice = '';

session.onExpired = () => { session.clear(); notice = t('Your session ended: log in again.'); route(); };

function langSelect() {
  const sel = h('select', { id: 'lang', 'aria-label': t('Language') },
    LANGS.map(([code, name]) => h('option', { value: code }, name)));
  sel.value = lang();
  sel.onchange = () => { setLang(sel.value); route(); };
  return sel;
}

function loginPage() {
  document.title = `${t('Log in')} · Starling`;
  const err = errorLine();
  const note = noteLine();
  note.textContent = notice;
  notice = '';
  const user = h('input', { name: 'username', id: 'login-username', autocomplete: 'username', required: true, value: 'admin' });
  const pass = h('input', { name: 'password', id: 'login-password', type: 'password', autocomplete: 'current-password', required: true });
  const button = h('button', { class: 'primary', type: 'submit', id: 'login-submit' }, t('Log in'));
  const form = h('form', { id: 'login-form', 'aria-label': t('Log in'), novalidate: true },
    field('Username', user), field('Password', pass), err, note, button);
  form.onsubmit = async (ev) => {
    ev.preventDefault();
    if (!user.value.trim() || !pass.value) { showError(err, t('Enter a username and a password.')); return; }
    button.disabled = true;
    showError(err, '');
    try {
      const r = await api('POST', '/login', { username: user.value.trim(), password: pass.value });
      session.set(r.token, user.value.trim());
      if (r.must_change_password) changePage(pass.value, r.password_rules);
      else { location.hash = location.hash && location.hash !== '#/login' ? location.hash : '#/overview'; route(); }
    } catch (e) { showError(err, e); } finally { button.disabled = false; }
  };
  app.replaceChildren(h('div', { class: 'login' },
    h('div', { class: 'row', style: 'justify-content:space-between;align-items:center' },
      h('h1', {}, t('Starling Dashboard')), langSelect()),
    h('div', { class: 'panel' }, form)));
  pass.focus();
}

// The password rules of the API (crates/admin/src/password.rs), checked before sending.
export function passwordProblem(username, old, pwd, again) {
  const kinds = [/\p{L}/u.test(pwd), /[0-9]/.test(pwd), /[^\p{L}\p{N}]/u.test(pwd)].filter(Boolean).length;
  const len = [...pwd].length;
  if (len < 8 || len > 64) return t('The password must be 8 to 64 characters.');
  if (kinds < 2) return t('The password needs two of: letters, digits, other characters.');
  if (pwd === username) return t('The password must not be the username.');
  if (pwd === old) return t('The new password must differ from the old one.');
  if (again !== undefined && pwd !== again) return t('The two passwords differ.');
  return null;
}

export function rulesText(rules) {
  return lang() === 'zh' ? t('PASSWORD_RULES') : rules || t('PASSWORD_RULES');
}

function changePage(oldPwd, rules) {
  document.title = `${t('Change password')} · Starling`;
  const err = errorLine();
  const pwd = h('input', { type: 'password', id: 'new-password', name: 'new_pwd', autocomplete: 'new-password', required: true });
  const again = h('input', { type: 'password', id: 'new-password-again', name: 'again', autocomplete: 'new-password', required: true });
  const button = h('button', { class: 'primary', type: 'submit', id: 'change-submit' }, t('Change password'));
  const form = h('form', { id: 'change-form', 'aria-label': t('Change password'), novalidate: true },
    h('p', {}, t('The default password must be changed before anything else.')),
    h('div', { class: 'rules', id: 'password-rules' }, `${t('Password rules')}: ${rulesText(rules)}`),
    field('New password', pwd), field('New password again', again), err, button);
  form.onsubmit = async (ev) => {
    ev.preventDefault();
    const problem = passwordProblem(session.user, oldPwd, pwd.value, again.value);
    if (problem) { showError(err, problem); return; }
    button.disabled = true;
    try {
      await post(`/users/${encodeURIComponent(session.user)}/change_pwd`, { old_pwd: oldPwd, new_pwd: pwd.value });
      try { await post('/logout'); } catch { /* the token may already be gone */ }
      session.clear();
      notice = t('Password changed: log in with the new one.');
      loginPage();
    } catch (e) { showError(err, e); } finally { button.disabled = false; }
  };
  app.replaceChildren(h('div', { class: 'login' }, h('h1', {}, t('Change password')), h('div', { class: 'panel' }, form)));
  pwd.focus();
}

async function logout() {
  try { await post('/logout'); } catch { /* ended anyway */ }
  session.clear();
  notice = t('Logged out.');
  location.hash = '#/login';
  route();
}

function shell(active) {
  const nav = h('nav', { class: 'side', id: 'nav', 'aria-label': t('Main navigation') },
    PAGES.map(([id, title]) => h('a', { href: `#/${id}`, 'data-page': id, 'aria-current': id === active ? 'page' : null }, t(title))));
  const main = h('main', { id: 'main' });
  app.replaceChildren(
    h('header', { class: 'top' },
      h('span', { class: 'brand' }, 'Starling'),
      langSelect(),
      h('span', { id: 'whoami', 'aria-label': t('Logged in as') }, session.user || ''),
      h('button', { type: 'button', id: 'logout', onclick: logout }, t('Log out'))),
    h('div', { class: 'shell' }, nav, main));
  return main;
}

async function route() {
  if (stopPage) { try { stopPage(); } catch { /* ignore */ } stopPage = null; }
  document.documentElement.lang = lang() === 'zh' ? 'zh-CN' : 'en';
  if (!session.token) { loginPage(); return; }
  const [, name = 'overview', ...rest] = (location.hash || '#/overview').slice(1).split('/');
  const page = PAGES.find(([id]) => id === name) || PAGES[0];
  const main = shell(page[0]);
  document.title = `${t(page[1])} · Starling`;
  try {
    const mod = await page[2]();
    const err = errorLine();
    main.append(err);
    stopPage = (await mod.render(main, { page: page[0], args: rest.map(decodeURIComponent), err })) || null;
  } catch (e) {
    const err = errorLine();
    showError(err, e);
    main.append(err);
    if (e.code === 'CHANGE_PASSWORD_REQUIRED') { session.clear(); loginPage(); }
  }
}

window.addEventListener('hashchange', route);
route();
