// Access control: the built-in users (authentication), the built-in ACL rules
// (authorization) and the banned clients, each listed by the API's pages, created, edited
// and deleted.
import { get, post, put, del, query } from './api.js';
import { t } from './i18n.js';
import { h, field, select, check, pagedList, errorLine, noteLine, showError, busy, confirmDialog, formData } from './ui.js';

const USERS = '/authentication/password_based:built_in_database/users';
const RULES = '/authorization/sources/built_in_database/rules';
const PAGE = 20;

export async function render(main, { args }) {
  main.append(h('h1', {}, t('Access control')));
  const tabs = h('div', { class: 'tabs', role: 'tablist', 'aria-label': t('Access control') });
  const body = h('div');
  const views = [['users', 'Users', users], ['acl', 'ACL rules', rules], ['banned', 'Banned', banned]];
  const open = (id) => {
    for (const b of tabs.children) b.setAttribute('aria-selected', String(b.dataset.tab === id));
    const v = views.find(([k]) => k === id) || views[0];
    body.replaceChildren(v[2]());
    history.replaceState(null, '', `#/access/${v[0]}`);
  };
  for (const [id, label] of views) tabs.append(h('button', { type: 'button', role: 'tab', 'data-tab': id, id: `tab-${id}`, onclick: () => open(id) }, t(label)));
  main.append(tabs, body);
  open(args[0] || 'users');
  return null;
}

function del_(path, label, list, e) {
  const b = h('button', { type: 'button', class: 'danger', 'aria-label': `${t('Delete')} ${label}`, 'data-delete': label }, t('Delete'));
  b.onclick = async () => {
    if (!(await confirmDialog(`${t('Delete')} ${label}?`))) return;
    await busy(b, e, async () => { await del(path); await list.reload(); });
  };
  return b;
}

function users() {
  const e = errorLine(); const note = noteLine();
  const list = pagedList({
    id: 'auth-users', empty: 'No user',
    columns: [
      { title: 'Username', cell: (u) => u.user_id },
      { title: 'Superuser', cell: (u) => t(u.is_superuser ? 'yes' : 'no') },
      { title: 'Created at', cell: (u) => new Date(u.created_at).toLocaleString() },
      { title: 'Actions', cell: (u) => h('div', { class: 'row' },
        h('button', { type: 'button', 'aria-label': `${t('Edit')} ${u.user_id}`, onclick: () => edit(u) }, t('Edit')),
        del_(`${USERS}/${encodeURIComponent(u.user_id)}`, u.user_id, list, e)) },
    ],
    load: (cursor) => get(`${USERS}${query({ limit: PAGE, cursor })}`),
  });
  const form = h('form', { class: 'inline', id: 'auth-user-form', 'aria-label': t('New user'), novalidate: true },
    field('Username', h('input', { name: 'user_id', id: 'auth-user-id', required: true })),
    field('Password', h('input', { name: 'password', type: 'password', id: 'auth-user-password', autocomplete: 'new-password', required: true })),
    check('is_superuser', 'Superuser', { id: 'auth-user-super' }),
    h('button', { type: 'submit', class: 'primary', id: 'auth-user-submit' }, t('Add')));
  form.onsubmit = (ev) => {
    ev.preventDefault();
    const f = formData(form);
    if (!f.user_id) { showError(e, t('A username is required.')); return; }
    if (!form.elements.password.value) { showError(e, t('A password is required.')); return; }
    busy(form.querySelector('button[type=submit]'), e, async () => {
      await post(USERS, { user_id: f.user_id, password: form.elements.password.value, is_superuser: f.is_superuser });
      note.textContent = `${t('Added')}: ${f.user_id}`; form.reset(); await list.restart();
    });
  };
  const editBox = h('div');
  function edit(u) {
    const f2 = h('form', { class: 'inline panel', id: 'auth-user-edit', 'aria-label': `${t('Edit')} ${u.user_id}`, novalidate: true },
      h('strong', {}, u.user_id),
      field('New password (empty: unchanged)', h('input', { name: 'password', type: 'password', autocomplete: 'new-password' })),
      check('is_superuser', 'Superuser', { checked: u.is_superuser }),
      h('button', { type: 'submit', class: 'primary' }, t('Save')),
      h('button', { type: 'button', onclick: () => editBox.replaceChildren() }, t('Cancel')));
    f2.onsubmit = (ev) => {
      ev.preventDefault();
      const body = { is_superuser: f2.elements.is_superuser.checked };
      if (f2.elements.password.value) body.password = f2.elements.password.value;
      busy(f2.querySelector('button[type=submit]'), e, async () => {
        await put(`${USERS}/${encodeURIComponent(u.user_id)}`, body);
        note.textContent = `${t('Saved')}: ${u.user_id}`; editBox.replaceChildren(); await list.reload();
      });
    };
    editBox.replaceChildren(f2);
  }
  return h('div', {}, h('section', { class: 'panel' }, h('h2', {}, t('New user')), form, e, note), editBox, h('section', { class: 'panel' }, list));
}

function ruleForm(rule, onSave, id) {
  const who = rule.username !== undefined ? 'username' : rule.clientid !== undefined ? 'clientid'
    : rule.ipaddress !== undefined ? 'ipaddress' : rule.cidr !== undefined ? 'cidr' : 'all';
  const form = h('form', { class: 'inline', id, 'aria-label': t(rule.id ? 'Edit rule' : 'New rule'), novalidate: true },
    field('For', select('who', [['all', 'all clients'], ['username', 'username'], ['clientid', 'client ID'], ['ipaddress', 'IP address'], ['cidr', 'network (CIDR)']], { id: `${id}-who` })),
    field('Whom', h('input', { name: 'whom', id: `${id}-whom`, value: rule[who] ?? '' })),
    field('Action', select('action', [['publish', 'publish'], ['subscribe', 'subscribe'], ['all', 'all']], { id: `${id}-action` })),
    field('Permission', select('permission', [['allow', 'allow'], ['deny', 'deny']], { id: `${id}-permission` })),
    field('Topic', h('input', { name: 'topic', id: `${id}-topic`, value: rule.topic ?? '' })),
    check('eq', 'Literal topic (eq)', { checked: rule.eq, id: `${id}-eq` }),
    h('button', { type: 'submit', class: 'primary', id: `${id}-submit` }, t(rule.id ? 'Save' : 'Add')));
  form.elements.who.value = who;
  form.elements.action.value = rule.action || 'publish';
  form.elements.permission.value = rule.permission || 'deny';
  form.onsubmit = (ev) => {
    ev.preventDefault();
    const f = formData(form);
    const e = form.parentElement.querySelector('.error');
    if (f.who !== 'all' && !f.whom) { showError(e, t('Say whom the rule is for.')); return; }
    if (f.who === 'cidr' && !/\/\d+$/.test(f.whom)) { showError(e, t('A network is written like 10.0.0.0/8.')); return; }
    if (!f.topic) { showError(e, t('A topic is required.')); return; }
    const body = { action: f.action, permission: f.permission, topic: f.topic, eq: f.eq };
    if (f.who !== 'all') body[f.who] = f.whom;
    busy(form.querySelector('button[type=submit]'), e, () => onSave(body, form));
  };
  return form;
}

function rules() {
  const e = errorLine(); const note = noteLine();
  const editBox = h('div');
  const whom = (r) => (r.username !== undefined ? `${t('username')} ${r.username}` : r.clientid !== undefined ? `${t('client ID')} ${r.clientid}`
    : r.ipaddress !== undefined ? `${t('IP address')} ${r.ipaddress}` : r.cidr !== undefined ? `${t('network')} ${r.cidr}` : t('all clients'));
  const list = pagedList({
    id: 'acl-rules', empty: 'No rule',
    columns: [
      { title: 'ID', cell: (r) => r.id }, { title: 'For', cell: whom },
      { title: 'Action', cell: (r) => t(r.action) }, { title: 'Permission', cell: (r) => t(r.permission) },
      { title: 'Topic', cell: (r) => `${r.topic}${r.eq ? ' (eq)' : ''}` },
      { title: 'Actions', cell: (r) => h('div', { class: 'row' },
        h('button', { type: 'button', 'aria-label': `${t('Edit rule')} ${r.id}`, onclick: () => {
          const ee = errorLine();
          editBox.replaceChildren(h('section', { class: 'panel' }, h('h2', {}, `${t('Edit rule')} ${r.id}`),
            ruleForm(r, async (body) => { await put(`${RULES}/${r.id}`, body); editBox.replaceChildren(); note.textContent = t('Saved.'); await list.reload(); }, 'acl-edit'), ee,
            h('button', { type: 'button', onclick: () => editBox.replaceChildren() }, t('Cancel'))));
        } }, t('Edit')),
        del_(`${RULES}/${r.id}`, `${t('rule')} ${r.id}`, list, e)) },
    ],
    load: (cursor) => get(`${RULES}${query({ limit: PAGE, cursor })}`),
  });
  const form = ruleForm({}, async (body, f) => {
    const r = await post(RULES, body);
    note.textContent = `${t('Added rule')} ${r?.id ?? ''}`; f.reset(); await list.restart();
  }, 'acl-form');
  return h('div', {}, h('section', { class: 'panel' }, h('h2', {}, t('New rule')), form, e, note,
    h('p', { class: 'muted' }, t('Rules apply when the built-in database is an authorization source ([[auth.authz]] kind = "builtin"); the rule added first decides.'))),
  editBox, h('section', { class: 'panel' }, list));
}

/** The datetime-local value for an RFC 3339 time (local time, to the minute). */
function localInput(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** A form that edits one ban's reason and end (PUT /banned/{as}/{who}). */
function banEditForm(b, onSaved) {
  const path = `/banned/${encodeURIComponent(b.as)}/${encodeURIComponent(b.who)}`;
  const form = h('form', { class: 'inline', id: 'ban-edit', 'aria-label': `${t('Edit ban')} ${b.who}`, novalidate: true },
    field('Reason', h('input', { name: 'reason', id: 'ban-edit-reason', value: b.reason ?? '' })),
    field('Until (empty: forever)', h('input', { name: 'until', type: 'datetime-local', id: 'ban-edit-until', value: localInput(b.until) })),
    h('button', { type: 'submit', class: 'primary', id: 'ban-edit-submit' }, t('Save')));
  form.onsubmit = (ev) => {
    ev.preventDefault();
    const f = formData(form);
    const e = form.parentElement.querySelector('.error');
    const body = { reason: f.reason, until: null };
    if (f.until) {
      const d = new Date(f.until);
      if (Number.isNaN(d.getTime()) || d.getTime() <= Date.now()) { showError(e, t('The end must be in the future.')); return; }
      body.until = d.toISOString();
    }
    busy(form.querySelector('button[type=submit]'), e, async () => { await put(path, body); await onSaved(); });
  };
  return form;
}

function banned() {
  const e = errorLine(); const note = noteLine();
  const editBox = h('div');
  const list = pagedList({
    id: 'banned-list', empty: 'Nobody is banned',
    columns: [
      { title: 'As', cell: (b) => t(b.as) }, { title: 'Who', cell: (b) => b.who }, { title: 'Reason', cell: (b) => b.reason },
      { title: 'By', cell: (b) => b.by }, { title: 'Since', cell: (b) => new Date(b.at).toLocaleString() },
      { title: 'Until', cell: (b) => (b.until ? new Date(b.until).toLocaleString() : t('forever')) },
      { title: 'Actions', cell: (b) => h('div', { class: 'row' },
        h('button', { type: 'button', 'aria-label': `${t('Edit ban')} ${b.who}`, onclick: () => {
          editBox.replaceChildren(h('section', { class: 'panel' }, h('h2', {}, `${t('Edit ban')} ${b.who}`),
            banEditForm(b, async () => { editBox.replaceChildren(); note.textContent = t('Saved.'); await list.reload(); }), errorLine(),
            h('button', { type: 'button', onclick: () => editBox.replaceChildren() }, t('Cancel'))));
        } }, t('Edit')),
        del_(`/banned/${encodeURIComponent(b.as)}/${encodeURIComponent(b.who)}`, b.who, list, e)) },
    ],
    load: (cursor) => get(`/banned${query({ limit: PAGE, cursor })}`),
  });
  const form = h('form', { class: 'inline', id: 'ban-form', 'aria-label': t('Ban'), novalidate: true },
    field('As', select('as', [['clientid', 'clientid'], ['username', 'username'], ['peerhost', 'peerhost']], { id: 'ban-as' })),
    field('Who', h('input', { name: 'who', id: 'ban-who', required: true })),
    field('Reason', h('input', { name: 'reason', id: 'ban-reason' })),
    field('Until (empty: forever)', h('input', { name: 'until', type: 'datetime-local', id: 'ban-until' })),
    h('button', { type: 'submit', class: 'primary', id: 'ban-submit' }, t('Ban')));
  form.onsubmit = (ev) => {
    ev.preventDefault();
    const f = formData(form);
    if (!f.who) { showError(e, t('Say whom to ban.')); return; }
    const body = { as: f.as, who: f.who };
    if (f.reason) body.reason = f.reason;
    if (f.until) {
      const d = new Date(f.until);
      if (Number.isNaN(d.getTime()) || d.getTime() <= Date.now()) { showError(e, t('The end must be in the future.')); return; }
      body.until = d.toISOString();
    }
    busy(form.querySelector('button[type=submit]'), e, async () => {
      await post('/banned', body); note.textContent = `${t('Banned')}: ${f.who}`; form.reset(); await list.restart();
    });
  };
  return h('div', {}, h('section', { class: 'panel' }, h('h2', {}, t('Ban')), form, e, note), editBox, h('section', { class: 'panel' }, list));
}
