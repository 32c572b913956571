// Clients: a search (client id, username, address, protocol, state) paged by the API's
// cursor, and one client's page: its connection, counters, subscriptions, kick and clean
// session, each after a confirmation.
import { get, post, del, query } from './api.js';
import { t } from './i18n.js';
import { h, field, select, pagedList, table, errorLine, noteLine, showError, busy, confirmDialog, fmtBytes, formData } from './ui.js';

const PAGE = 20;

export async function render(main, { args, err }) {
  if (args[0]) return detail(main, args[0], err);
  main.append(h('h1', {}, t('Clients')));
  const form = h('form', { class: 'inline panel', id: 'client-search', role: 'search', 'aria-label': t('Search clients') },
    field('Client ID', h('input', { name: 'like_clientid', id: 'search-clientid' })),
    field('Username', h('input', { name: 'like_username', id: 'search-username' })),
    field('IP address', h('input', { name: 'ip_address', id: 'search-ip' })),
    field('Protocol', select('proto_ver', [['', 'Any'], ['3', 'MQTT 3.1'], ['4', 'MQTT 3.1.1'], ['5', 'MQTT 5.0']], { id: 'search-proto' })),
    field('State', select('conn_state', [['', 'Any'], ['connected', 'connected'], ['disconnected', 'disconnected']], { id: 'search-state' })),
    h('button', { class: 'primary', type: 'submit', id: 'search-submit' }, t('Search')));
  const formErr = errorLine();
  let filters = {};
  const list = pagedList({
    id: 'client-list',
    empty: 'No client found',
    columns: [
      { title: 'Client ID', cell: (c) => h('a', { href: `#/clients/${encodeURIComponent(c.clientid)}`, class: 'client-link' }, c.clientid) },
      { title: 'Username', cell: (c) => c.username ?? '' },
      { title: 'State', cell: (c) => h('span', { class: `badge ${c.connected ? 'on' : 'off'}` }, t(c.connected ? 'connected' : 'disconnected')) },
      { title: 'Peer', cell: (c) => (c.ip_address ? `${c.ip_address}:${c.port}` : '') },
      { title: 'Protocol', cell: (c) => (c.proto_ver ? `${c.proto_name} ${c.proto_ver}` : '') },
      { title: 'Subscriptions', cell: (c) => c.subscriptions_cnt },
      { title: 'Connected at', cell: (c) => (c.connected_at ? new Date(c.connected_at).toLocaleString() : '') },
    ],
    load: (cursor) => get(`/clients${query({ ...filters, limit: PAGE, cursor })}`),
  });
  form.onsubmit = (ev) => {
    ev.preventDefault();
    const f = formData(form);
    if (f.ip_address && !/^[0-9a-fA-F.:]+$/.test(f.ip_address)) { showError(formErr, t('Not an IP address.')); return; }
    showError(formErr, '');
    filters = f;
    list.restart();
  };
  main.append(form, formErr, h('section', { class: 'panel' }, list));
  return null;
}

async function detail(main, id, err) {
  main.append(h('p', {}, h('a', { href: '#/clients' }, `← ${t('Clients')}`)), h('h1', { id: 'client-title' }, `${t('Client')} ${id}`));
  const box = h('div', { id: 'client-detail' });
  const actionErr = errorLine();
  const note = noteLine();
  main.append(box, actionErr, note);
  const path = `/clients/${encodeURIComponent(id)}`;
  async function show() {
    try {
      const [c, subs] = await Promise.all([get(path), get(`${path}/subscriptions`)]);
      const kv = (k, v) => [h('dt', {}, t(k)), h('dd', { 'data-field': k }, v ?? '-')];
      const kick = h('button', { type: 'button', id: 'kick', class: 'danger', disabled: !c.connected }, t('Kick'));
      const clean = h('button', { type: 'button', id: 'clean-session' }, t('Clean session'));
      kick.onclick = async () => {
        if (!(await confirmDialog(`${t('Disconnect client')} ${id}?`))) return;
        await busy(kick, actionErr, async () => { await post(`${path}/kickout`); note.textContent = t('Kicked.'); await show(); });
      };
      clean.onclick = async () => {
        if (!(await confirmDialog(`${t('Disconnect client and end its session')} ${id}?`))) return;
        await busy(clean, actionErr, async () => { await del(path); note.textContent = t('Session ended.'); box.replaceChildren(); });
      };
      box.replaceChildren(
        h('section', { class: 'panel' },
          h('div', { class: 'card-head' }, h('h2', {}, t('Connection')), h('div', { class: 'row' }, kick, clean)),
          h('dl', { class: 'kv' },
            kv('State', h('span', { class: `badge ${c.connected ? 'on' : 'off'}`, id: 'client-state' }, t(c.connected ? 'connected' : 'disconnected'))),
            kv('Username', c.username), kv('Peer', c.ip_address ? `${c.ip_address}:${c.port}` : null),
            kv('Protocol', c.proto_ver ? `${c.proto_name} ${c.proto_ver}` : null), kv('Keep alive', c.keepalive != null ? `${c.keepalive} s` : null),
            kv('Clean start', c.clean_start != null ? t(c.clean_start ? 'yes' : 'no') : null),
            kv('Session expiry', c.expiry_interval != null ? `${c.expiry_interval} s` : null),
            kv('Connected at', c.connected_at ? new Date(c.connected_at).toLocaleString() : null),
            kv('Durable session', t(c.durable ? 'yes' : 'no')),
            kv('Inflight', c.inflight_cnt != null ? `${c.inflight_cnt} / ${c.inflight_max}` : null),
            kv('Queue', c.mqueue_len != null ? `${c.mqueue_len} / ${c.mqueue_max}` : null),
            kv('Awaiting PUBREL', c.awaiting_rel_cnt != null ? `${c.awaiting_rel_cnt} / ${c.awaiting_rel_max}` : null),
            kv('Messages in', c.recv_msg), kv('Messages out', c.send_msg),
            kv('Bytes in', fmtBytes(c.recv_oct)), kv('Bytes out', fmtBytes(c.send_oct)))),
        h('section', { class: 'panel' }, h('h2', {}, `${t('Subscriptions')} (${subs.length})`),
          table([{ title: 'Topic', cell: (s) => s.topic }, { title: 'QoS', cell: (s) => s.qos },
            { title: 'No Local', cell: (s) => s.nl }, { title: 'Retain As Published', cell: (s) => s.rap },
            { title: 'Retain Handling', cell: (s) => s.rh }], subs, { empty: 'No subscription' })));
    } catch (e) { showError(err, e); }
  }
  await show();
  return null;
}
