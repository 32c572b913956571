// Trace: start a trace of a client id, a topic or an address, list them, stop, download and
// delete. Shown only when the API has /api/v5/trace (EMQX 5's shape).
import { get, post, put, del, api, hasRoute } from './api.js';
import { t } from './i18n.js';
import { h, field, select, table, errorLine, noteLine, showError, busy, confirmDialog } from './ui.js';

export async function render(main, { err }) {
  main.append(h('h1', {}, t('Trace')));
  if (!(await hasRoute('/api/v5/trace'))) {
    main.append(h('p', { class: 'panel muted', id: 'trace-missing' }, t('This broker has no trace API yet.')));
    return null;
  }
  const e = errorLine(); const note = noteLine();
  const box = h('div', { id: 'trace-list' });
  const logView = h('pre', { class: 'payload', id: 'trace-log', hidden: true, 'aria-label': t('Trace log') });
  async function show() {
    const r = await get('/trace');
    const list = Array.isArray(r) ? r : r.data || [];
    box.replaceChildren(table([
      { title: 'Name', cell: (x) => x.name }, { title: 'Type', cell: (x) => t(x.type) },
      { title: 'Target', cell: (x) => x[x.type] ?? x.clientid ?? x.topic ?? x.ip_address ?? '' },
      { title: 'State', cell: (x) => h('span', { class: `badge ${x.status === 'running' ? 'on' : 'off'}` }, t(x.status)) },
      { title: 'Start', cell: (x) => (x.start_at ? new Date(x.start_at).toLocaleString() : '') },
      { title: 'End', cell: (x) => (x.end_at ? new Date(x.end_at).toLocaleString() : '') },
      { title: 'Actions', cell: (x) => {
        const n = encodeURIComponent(x.name);
        const stop = h('button', { type: 'button', 'aria-label': `${t('Stop')} ${x.name}`, disabled: x.status !== 'running' }, t('Stop'));
        stop.onclick = () => busy(stop, e, async () => { await put(`/trace/${n}/stop`, {}); await show(); });
        const view = h('button', { type: 'button', 'aria-label': `${t('View log')} ${x.name}` }, t('View log'));
        view.onclick = () => busy(view, e, async () => {
          const r2 = await get(`/trace/${n}/log?bytes=65536&position=0`);
          logView.textContent = typeof r2 === 'string' ? r2 : r2.items ?? JSON.stringify(r2, null, 2);
          logView.hidden = false;
        });
        const dl = h('button', { type: 'button', 'aria-label': `${t('Download')} ${x.name}` }, t('Download'));
        dl.onclick = () => busy(dl, e, async () => {
          const res = await api('GET', `/trace/${n}/download`, undefined, { raw: true });
          const url = URL.createObjectURL(await res.blob());
          const a = h('a', { href: url, download: `${x.name}.zip` });
          document.body.append(a); a.click(); a.remove();
          setTimeout(() => URL.revokeObjectURL(url), 10000);
        });
        const rm = h('button', { type: 'button', class: 'danger', 'aria-label': `${t('Delete')} ${x.name}` }, t('Delete'));
        rm.onclick = async () => { if (await confirmDialog(`${t('Delete')} ${x.name}?`)) await busy(rm, e, async () => { await del(`/trace/${n}`); await show(); }); };
        return h('div', { class: 'row' }, stop, view, dl, rm);
      } },
    ], list, { empty: 'No trace' }));
  }
  const form = h('form', { class: 'inline', id: 'trace-form', 'aria-label': t('New trace'), novalidate: true },
    field('Name', h('input', { name: 'name', id: 'trace-name' })),
    field('Type', select('type', [['clientid', 'clientid'], ['topic', 'topic'], ['ip_address', 'ip_address']], { id: 'trace-type' })),
    field('Target', h('input', { name: 'target', id: 'trace-target' })),
    field('Payload', select('payload_encode', [['text', 'Text'], ['hex', 'Hex'], ['hidden', 'hidden']], { id: 'trace-payload' })),
    field('End (empty: in 10 minutes)', h('input', { name: 'end_at', type: 'datetime-local', id: 'trace-end' })),
    h('button', { type: 'submit', class: 'primary', id: 'trace-submit' }, t('Start')));
  form.onsubmit = (ev) => {
    ev.preventDefault();
    const f = Object.fromEntries([...form.elements].filter((x) => x.name).map((x) => [x.name, x.value.trim()]));
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(f.name)) { showError(e, t('A name is 1 to 64 letters, digits, _ or -.')); return; }
    if (!f.target) { showError(e, t('Say what to trace.')); return; }
    const end = f.end_at ? new Date(f.end_at) : new Date(Date.now() + 600_000);
    if (end.getTime() <= Date.now()) { showError(e, t('The end must be in the future.')); return; }
    const body = { name: f.name, type: f.type, [f.type]: f.target, payload_encode: f.payload_encode, end_at: end.toISOString() };
    busy(form.querySelector('button'), e, async () => { await post('/trace', body); form.reset(); note.textContent = `${t('Started')}: ${f.name}`; await show(); });
  };
  main.append(h('section', { class: 'panel' }, h('h2', {}, t('New trace')), form, e, note), h('section', { class: 'panel' }, box), logView);
  try { await show(); } catch (x) { showError(err, x); }
  return null;
}
