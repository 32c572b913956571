// Settings: this account's password, the dashboard accounts, the API keys and the language.
import { get, post, put, del, session } from './api.js';
import { t, lang, setLang, LANGS } from './i18n.js';
import { h, field, check, table, errorLine, noteLine, showError, busy, confirmDialog } from './ui.js';
import { passwordProblem, rulesText } from './app.js';

export async function render(main) {
  main.append(h('h1', {}, t('Settings')));
  main.append(passwordPanel(), languagePanel(), await usersPanel(), await keysPanel());
  return null;
}

function passwordPanel() {
  const e = errorLine(); const note = noteLine();
  const old = h('input', { type: 'password', name: 'old', id: 'pwd-old', autocomplete: 'current-password' });
  const pwd = h('input', { type: 'password', name: 'new', id: 'pwd-new', autocomplete: 'new-password' });
  const again = h('input', { type: 'password', name: 'again', id: 'pwd-again', autocomplete: 'new-password' });
  const form = h('form', { class: 'inline', id: 'password-form', 'aria-label': t('Change password'), novalidate: true },
    field('Current password', old), field('New password', pwd), field('New password again', again),
    h('button', { type: 'submit', class: 'primary', id: 'pwd-submit' }, t('Change password')));
  form.onsubmit = (ev) => {
    ev.preventDefault();
    const p = passwordProblem(session.user, old.value, pwd.value, again.value);
    if (!old.value) { showError(e, t('Enter the current password.')); return; }
    if (p) { showError(e, p); return; }
    busy(form.querySelector('button'), e, async () => {
      await post(`/users/${encodeURIComponent(session.user)}/change_pwd`, { old_pwd: old.value, new_pwd: pwd.value });
      form.reset(); note.textContent = t('Password changed.');
    });
  };
  return h('section', { class: 'panel' }, h('h2', {}, t('Change password')),
    h('p', { class: 'rules' }, `${t('Password rules')}: ${rulesText()}`), form, e, note);
}

function languagePanel() {
  const sel = h('select', { id: 'settings-lang', 'aria-label': t('Language') }, LANGS.map(([c, n]) => h('option', { value: c }, n)));
  sel.value = lang();
  sel.onchange = () => { setLang(sel.value); window.dispatchEvent(new HashChangeEvent('hashchange')); };
  return h('section', { class: 'panel' }, h('h2', {}, t('Language')), sel);
}

async function usersPanel() {
  const e = errorLine(); const note = noteLine();
  const box = h('div', { id: 'dashboard-users' });
  async function show() {
    const users = await get('/users');
    box.replaceChildren(table([
      { title: 'Username', cell: (u) => u.username },
      { title: 'Description', cell: (u) => {
        const inp = h('input', { value: u.description, 'aria-label': `${t('Description')} ${u.username}` });
        const b = h('button', { type: 'button' }, t('Save'));
        b.onclick = () => busy(b, e, async () => { await put(`/users/${encodeURIComponent(u.username)}`, { description: inp.value }); note.textContent = t('Saved.'); });
        return h('div', { class: 'row' }, inp, b);
      } },
      { title: 'Actions', cell: (u) => {
        const b = h('button', { type: 'button', class: 'danger', 'aria-label': `${t('Delete')} ${u.username}`, disabled: u.username === session.user }, t('Delete'));
        b.onclick = async () => { if (await confirmDialog(`${t('Delete')} ${u.username}?`)) await busy(b, e, async () => { await del(`/users/${encodeURIComponent(u.username)}`); await show(); }); };
        return b;
      } },
    ], users));
  }
  const form = h('form', { class: 'inline', id: 'dashboard-user-form', 'aria-label': t('New dashboard user'), novalidate: true },
    field('Username', h('input', { name: 'username', id: 'du-name' })),
    field('Password', h('input', { name: 'password', type: 'password', id: 'du-password', autocomplete: 'new-password' })),
    field('Description', h('input', { name: 'description', id: 'du-desc' })),
    h('button', { type: 'submit', class: 'primary', id: 'du-submit' }, t('Add')));
  form.onsubmit = (ev) => {
    ev.preventDefault();
    const u = form.elements.username.value.trim(); const p = form.elements.password.value;
    if (!/^[A-Za-z0-9_.@-]{1,64}$/.test(u)) { showError(e, t('A username is 1 to 64 letters, digits or _ . @ -.')); return; }
    const problem = passwordProblem(u, undefined, p);
    if (problem) { showError(e, problem); return; }
    busy(form.querySelector('button'), e, async () => {
      await post('/users', { username: u, password: p, description: form.elements.description.value });
      form.reset(); note.textContent = `${t('Added')}: ${u}`; await show();
    });
  };
  try { await show(); } catch (x) { showError(e, x); }
  return h('section', { class: 'panel' }, h('h2', {}, t('Dashboard users')), form, e, note, box);
}

async function keysPanel() {
  const e = errorLine(); const note = noteLine();
  const box = h('div', { id: 'api-keys' });
  const secret = h('div', { id: 'api-key-secret' });
  async function show() {
    const keys = await get('/api_key');
    box.replaceChildren(table([
      { title: 'Name', cell: (k) => k.name }, { title: 'Key', cell: (k) => k.api_key },
      { title: 'Description', cell: (k) => k.desc },
      { title: 'Enabled', cell: (k) => {
        const sw = h('input', { type: 'checkbox', role: 'switch', class: 'switch', checked: k.enable, 'aria-label': `${t('Enabled')} ${k.name}` });
        sw.onchange = () => busy(sw, e, async () => { await put(`/api_key/${encodeURIComponent(k.name)}`, { enable: sw.checked }); });
        return sw;
      } },
      { title: 'Expires', cell: (k) => (k.expired_at ? new Date(k.expired_at).toLocaleString() : t('never')) },
      { title: 'Actions', cell: (k) => {
        const b = h('button', { type: 'button', class: 'danger', 'aria-label': `${t('Delete')} ${k.name}` }, t('Delete'));
        b.onclick = async () => { if (await confirmDialog(`${t('Delete')} ${k.name}?`)) await busy(b, e, async () => { await del(`/api_key/${encodeURIComponent(k.name)}`); await show(); }); };
        return b;
      } },
    ], keys, { empty: 'No API key' }));
  }
  const form = h('form', { class: 'inline', id: 'api-key-form', 'aria-label': t('New API key'), novalidate: true },
    field('Name', h('input', { name: 'name', id: 'key-name' })),
    field('Description', h('input', { name: 'desc', id: 'key-desc' })),
    field('Expires (empty: never)', h('input', { name: 'expired_at', type: 'datetime-local', id: 'key-expires' })),
    check('enable', 'Enabled', { checked: true, id: 'key-enable' }),
    h('button', { type: 'submit', class: 'primary', id: 'key-submit' }, t('Add')));
  form.onsubmit = (ev) => {
    ev.preventDefault();
    const name = form.elements.name.value.trim();
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(name)) { showError(e, t('A name is 1 to 64 letters, digits, _ or -.')); return; }
    const body = { name, desc: form.elements.desc.value, enable: form.elements.enable.checked };
    if (form.elements.expired_at.value) {
      const d = new Date(form.elements.expired_at.value);
      if (d.getTime() <= Date.now()) { showError(e, t('The end must be in the future.')); return; }
      body.expired_at = d.toISOString();
    }
    busy(form.querySelector('button'), e, async () => {
      const k = await post('/api_key', body);
      form.reset();
      secret.replaceChildren(h('p', { class: 'rules' }, `${t('Secret of')} ${k.name} (${t('shown once')}): `, h('code', {}, k.api_secret || '')));
      await show();
    });
  };
  try { await show(); } catch (x) { showError(e, x); }
  return h('section', { class: 'panel' }, h('h2', {}, t('API keys')), form, e, note, secret, box);
}
