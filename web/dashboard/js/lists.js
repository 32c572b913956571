// Subscriptions (and topics, when the API has /api/v5/topics) and retained messages: lists
// with filters, paged by the API's cursor. A retained message's payload is shown as text,
// pretty-printed JSON or hex, and can be deleted.
import { get, del, query, hasRoute } from './api.js';
import { t } from './i18n.js';
import { h, field, select, pagedList, errorLine, noteLine, showError, busy, confirmDialog, formData } from './ui.js';

const PAGE = 20;

export async function render(main, ctx) {
  return ctx.page === 'retained' ? retained(main, ctx) : subscriptions(main, ctx);
}

function filterForm(id, label, fields, onFilter) {
  const e = errorLine();
  const form = h('form', { class: 'inline panel', id, role: 'search', 'aria-label': t(label), novalidate: true },
    fields, h('button', { class: 'primary', type: 'submit', id: `${id}-submit` }, t('Search')));
  form.onsubmit = (ev) => {
    ev.preventDefault();
    const f = formData(form);
    for (const k of ['topic', 'match_topic']) {
      if (f[k] && k === 'match_topic' && /[+#]/.test(f[k])) { showError(e, t('A topic name has no wildcards.')); return; }
    }
    showError(e, '');
    onFilter(f);
  };
  return [form, e];
}

async function subscriptions(main) {
  main.append(h('h1', {}, t('Subscriptions')));
  let filters = {};
  const list = pagedList({
    id: 'subscription-list', empty: 'No subscription',
    columns: [
      { title: 'Client ID', cell: (s) => h('a', { href: `#/clients/${encodeURIComponent(s.clientid)}` }, s.clientid) },
      { title: 'Topic', cell: (s) => s.topic }, { title: 'Share group', cell: (s) => s.share_group ?? '' },
      { title: 'QoS', cell: (s) => s.qos }, { title: 'No Local', cell: (s) => s.nl },
      { title: 'Retain As Published', cell: (s) => s.rap }, { title: 'Retain Handling', cell: (s) => s.rh },
    ],
    load: (cursor) => get(`/subscriptions${query({ ...filters, limit: PAGE, cursor })}`),
  });
  main.append(...filterForm('subscription-search', 'Search subscriptions', [
    field('Client ID', h('input', { name: 'clientid', id: 'sub-clientid' })),
    field('Topic filter', h('input', { name: 'topic', id: 'sub-topic' })),
    field('Matching topic', h('input', { name: 'match_topic', id: 'sub-match' })),
    field('QoS', select('qos', [['', 'Any'], ['0', '0'], ['1', '1'], ['2', '2']], { id: 'sub-qos' })),
    field('Share group', h('input', { name: 'share_group', id: 'sub-group' })),
  ], (f) => { filters = f; list.restart(); }), h('section', { class: 'panel' }, list));

  if (await hasRoute('/api/v5/topics')) {
    let tf = {};
    const topics = pagedList({
      id: 'topic-list', empty: 'No topic',
      columns: [{ title: 'Topic', cell: (r) => r.topic }, { title: 'Subscribers', cell: (r) => r.subscribers ?? '' },
        { title: 'Node', cell: (r) => r.node }],
      load: (cursor) => get(`/topics${query({ ...tf, limit: PAGE, cursor })}`),
    });
    main.append(h('h1', {}, t('Topics')), ...filterForm('topic-search', 'Search topics', [
      field('Topic filter', h('input', { name: 'topic', id: 'topic-filter' })),
      field('Matching topic', h('input', { name: 'match_topic', id: 'topic-match' })),
    ], (f) => { tf = f; topics.restart(); }), h('section', { class: 'panel' }, topics));
  }
  return null;
}

function decode(b64) {
  const bin = atob(b64 || '');
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}
export function asText(bytes) { return new TextDecoder('utf-8', { fatal: false }).decode(bytes); }
export function asHex(bytes) {
  const lines = [];
  for (let i = 0; i < bytes.length; i += 16) {
    const chunk = [...bytes.slice(i, i + 16)];
    lines.push(`${i.toString(16).padStart(6, '0')}  ${chunk.map((b) => b.toString(16).padStart(2, '0')).join(' ').padEnd(48)} ${chunk.map((b) => (b >= 32 && b < 127 ? String.fromCharCode(b) : '.')).join('')}`);
  }
  return lines.join('\n');
}

async function retained(main) {
  main.append(h('h1', {}, t('Retained messages')));
  const viewer = h('section', { class: 'panel', id: 'retained-viewer', hidden: true });
  const note = noteLine();
  let filters = {};
  const list = pagedList({
    id: 'retained-list', empty: 'No retained message',
    columns: [
      { title: 'Topic', cell: (m) => m.topic }, { title: 'QoS', cell: (m) => m.qos },
      { title: 'Size', cell: (m) => `${m.payload_size} B` }, { title: 'From', cell: (m) => m.from_clientid },
      { title: 'Expires', cell: (m) => (m.expires_at ? new Date(m.expires_at).toLocaleString() : t('never')) },
      { title: 'Actions', cell: (m) => h('div', { class: 'row' },
        h('button', { type: 'button', 'aria-label': `${t('View')} ${m.topic}`, 'data-view': m.topic, onclick: () => view(m.topic) }, t('View')),
        deleteButton(m.topic)) },
    ],
    load: (cursor) => get(`/mqtt/retainer/messages${query({ ...filters, limit: PAGE, cursor })}`),
  });
  function deleteButton(topic) {
    const b = h('button', { type: 'button', class: 'danger', 'aria-label': `${t('Delete')} ${topic}`, 'data-delete': topic }, t('Delete'));
    const e = errorLine();
    b.onclick = async () => {
      if (!(await confirmDialog(`${t('Delete the retained message of')} ${topic}?`))) return;
      await busy(b, e, async () => {
        await del(`/mqtt/retainer/message/${encodeURIComponent(topic)}`);
        note.textContent = `${t('Deleted')}: ${topic}`;
        viewer.hidden = true;
        await list.reload();
      });
      if (e.textContent) note.textContent = e.textContent;
    };
    return b;
  }
  async function view(topic) {
    const e = errorLine();
    try {
      const m = await get(`/mqtt/retainer/message/${encodeURIComponent(topic)}`);
      const bytes = decode(m.payload);
      const pre = h('pre', { class: 'payload', id: 'payload-view', 'aria-label': t('Payload') });
      const modes = { text: () => asText(bytes), json: () => {
        try { return JSON.stringify(JSON.parse(asText(bytes)), null, 2); } catch { return t('Not JSON.'); }
      }, hex: () => asHex(bytes) };
      const tabs = h('div', { class: 'tabs', role: 'tablist', 'aria-label': t('Payload format') });
      const pick = (mode) => {
        pre.textContent = modes[mode]();
        for (const b of tabs.children) b.setAttribute('aria-selected', String(b.dataset.mode === mode));
      };
      for (const [mode, label] of [['text', 'Text'], ['json', 'JSON'], ['hex', 'Hex']]) {
        tabs.append(h('button', { type: 'button', role: 'tab', 'data-mode': mode, id: `payload-${mode}`, onclick: () => pick(mode) }, t(label)));
      }
      viewer.replaceChildren(h('div', { class: 'card-head' }, h('h2', {}, topic),
        h('button', { type: 'button', 'aria-label': t('Close'), onclick: () => { viewer.hidden = true; } }, '×')),
      h('p', { class: 'muted' }, `QoS ${m.qos} · ${m.payload_size} B${m.content_type ? ` · ${m.content_type}` : ''}`), tabs, pre, e);
      let json = false;
      try { JSON.parse(asText(bytes)); json = true; } catch { json = false; }
      pick(json ? 'json' : 'text');
      viewer.hidden = false;
    } catch (x) { showError(e, x); note.textContent = String(x); }
  }
  main.append(...filterForm('retained-search', 'Search retained messages', [
    field('Topic filter', h('input', { name: 'topic', id: 'retained-topic' })),
  ], (f) => { filters = f; list.restart(); }), note, viewer, h('section', { class: 'panel' }, list));
  return null;
}
