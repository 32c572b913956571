// Small DOM helpers shared by the pages: an element builder, forms with an error line,
// a confirmation dialog, and a list paged by the API's cursor.
import { t } from './i18n.js';

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = !!v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// A labelled field: label(text, input).
export function field(text, input) { return h('label', {}, t(text), input); }
export function input(name, attrs = {}) { return h('input', { name, ...attrs }); }
export function check(name, text, attrs = {}) {
  return h('label', { class: 'check' }, h('input', { type: 'checkbox', name, ...attrs }), t(text));
}
export function select(name, options, attrs = {}) {
  return h('select', { name, ...attrs }, options.map(([v, label]) => h('option', { value: v }, t(label))));
}

export function errorLine() { return h('div', { class: 'error', role: 'alert' }); }
export function noteLine() { return h('div', { class: 'note', role: 'status' }); }
export function showError(el, e) { el.textContent = e ? String(e.code ? `${e.code}: ${e.message}` : e) : ''; }

// Runs `fn` with the button disabled, showing its error in `errEl`.
export async function busy(button, errEl, fn) {
  if (button) button.disabled = true;
  showError(errEl, '');
  try { return await fn(); } catch (e) { showError(errEl, e); return undefined; } finally { if (button) button.disabled = false; }
}

export function confirmDialog(text) {
  const dlg = document.getElementById('confirm');
  document.getElementById('confirm-text').textContent = text;
  document.getElementById('confirm-ok').textContent = t('OK');
  document.getElementById('confirm-cancel').textContent = t('Cancel');
  return new Promise((resolve) => {
    dlg.addEventListener('close', () => resolve(dlg.returnValue === 'ok'), { once: true });
    dlg.returnValue = '';
    dlg.showModal();
  });
}

export function table(columns, rows, { empty = 'Nothing to show' } = {}) {
  const head = h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, t(c.title))));
  const body = rows.length
    ? rows.map((r) => h('tr', {}, columns.map((c) => h('td', { 'data-label': t(c.title) }, c.cell(r)))))
    : [h('tr', {}, h('td', { colspan: columns.length, class: 'muted' }, t(empty)))];
  return h('div', { class: 'table-wrap' }, h('table', {}, h('thead', {}, head), h('tbody', {}, body)));
}

// A list paged by the API: load(cursor) -> {data, meta}. Only one page is ever held.
export function pagedList({ columns, load, id, empty }) {
  const box = h('div', { id });
  const err = errorLine();
  const stack = [];
  let current;
  const prev = h('button', { type: 'button', 'aria-label': t('Previous page') }, t('Previous'));
  const next = h('button', { type: 'button', 'aria-label': t('Next page') }, t('Next'));
  const where = h('span', { class: 'muted' });
  const holder = h('div');
  async function show(cursor) {
    try {
      const page = await load(cursor);
      current = { cursor, page };
      holder.replaceChildren(table(columns, page.data || [], { empty }));
      const meta = page.meta || {};
      const nextCursor = meta.cursor ?? (meta.hasnext && meta.page ? String(meta.page + 1) : null);
      next.disabled = !(meta.hasnext && nextCursor);
      next.onclick = () => { stack.push(cursor); show(nextCursor); };
      prev.disabled = stack.length === 0;
      where.textContent = `${t('Page')} ${stack.length + 1}${meta.count !== undefined ? ` · ${t('Total')} ${meta.count}` : ''}`;
      showError(err, '');
      box.dataset.loaded = String(Date.now());
    } catch (e) { showError(err, e); }
  }
  prev.onclick = () => show(stack.pop());
  box.append(err, holder, h('div', { class: 'pager' }, prev, next, where));
  box.reload = () => show(current ? current.cursor : undefined);
  box.restart = () => { stack.length = 0; return show(undefined); };
  box.restart();
  return box;
}

export function fmtBytes(n) {
  if (n === null || n === undefined) return '-';
  const u = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0; let v = Number(n);
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(i ? 1 : 0)} ${u[i]}`;
}

export function fmtDuration(s) {
  s = Math.floor(Number(s) || 0);
  const d = Math.floor(s / 86400); const hh = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60); const ss = s % 60;
  return [d ? `${d}d` : '', hh ? `${hh}h` : '', m ? `${m}m` : '', `${ss}s`].filter(Boolean).join(' ');
}

export function formData(form) {
  const out = {};
  for (const el of form.elements) {
    if (!el.name) continue;
    out[el.name] = el.type === 'checkbox' ? el.checked : el.value.trim();
  }
  return out;
}
