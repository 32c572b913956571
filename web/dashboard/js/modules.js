// Modules: every module of /api/v5/modules with a switch, and its settings: the rules of
// topic rewrite and the topics of auto-subscribe are edited here; the others show their
// settings from the configuration file (read only).
import { get, put } from './api.js';
import { t } from './i18n.js';
import { h, field, select, check, errorLine, noteLine, showError, busy } from './ui.js';

const NAMES = {
  delayed: 'Delayed publish', retainer: 'Retainer', shared_subscription: 'Shared subscriptions',
  exclusive_subscription: 'Exclusive subscriptions', sys: '$SYS topics', topic_rewrite: 'Topic rewrite',
  auto_subscribe: 'Auto-subscribe',
};
const ABOUT = {
  delayed: 'Messages to $delayed/<seconds>/<topic> are published later.',
  retainer: 'Retained messages are stored and sent to new subscribers.',
  shared_subscription: '$share/<group>/<filter> subscriptions share messages among a group.',
  exclusive_subscription: '$exclusive/<filter>: one subscriber at a time.',
  sys: 'The broker publishes its state under $SYS/brokers/<node>/.',
  topic_rewrite: 'Topics of publishes and subscriptions rewritten by rules.',
  auto_subscribe: 'Every client is subscribed to these topics when it connects.',
};

export async function render(main, { err }) {
  main.append(h('h1', {}, t('Modules')));
  const box = h('div', { class: 'cards', id: 'modules' });
  main.append(box);
  async function show() {
    const mods = await get('/modules');
    box.replaceChildren(...mods.map(card));
  }
  function card(m) {
    const e = errorLine();
    const note = noteLine();
    const sw = h('input', { type: 'checkbox', role: 'switch', class: 'switch', id: `module-${m.name}`, checked: m.enabled,
      'aria-label': `${t(NAMES[m.name] || m.name)}: ${t('on or off')}` });
    const clear = ['delayed', 'retainer'].includes(m.name)
      ? check('clear', m.name === 'delayed' ? 'Drop pending delayed messages when switched off' : 'Drop retained messages when switched off', { id: `module-${m.name}-clear` })
      : null;
    const state = h('span', { class: `badge ${m.enabled ? 'on' : 'off'}`, id: `module-${m.name}-state` }, t(m.enabled ? 'on' : 'off'));
    sw.onchange = () => busy(sw, e, async () => {
      const body = { enabled: sw.checked };
      if (clear && !sw.checked && clear.querySelector('input').checked) body.clear = true;
      try {
        const r = await put(`/modules/${m.name}`, body);
        state.className = `badge ${r.enabled ? 'on' : 'off'}`;
        state.textContent = t(r.enabled ? 'on' : 'off');
        m.enabled = r.enabled;
        note.textContent = t(r.enabled ? 'Switched on.' : 'Switched off.');
      } catch (x) { sw.checked = m.enabled; throw x; }
    });
    let settings;
    if (m.name === 'topic_rewrite') settings = rewriteForm(m, e, note);
    else if (m.name === 'auto_subscribe') settings = autoSubForm(m, e, note);
    else {
      const entries = Object.entries(m.config || {});
      settings = entries.length
        ? h('details', {}, h('summary', {}, t('Settings (from the configuration file)')),
          h('dl', { class: 'kv' }, entries.map(([k, v]) => [h('dt', {}, k), h('dd', {}, typeof v === 'object' ? JSON.stringify(v) : String(v))])))
        : null;
    }
    return h('section', { class: 'panel', 'data-module': m.name, 'aria-label': t(NAMES[m.name] || m.name) },
      h('div', { class: 'card-head' }, h('h2', {}, t(NAMES[m.name] || m.name)), h('div', { class: 'row' }, state, sw)),
      h('p', { class: 'muted' }, t(ABOUT[m.name] || '')), clear, settings, e, note);
  }

  // A list editor: rows of fields, add and remove, save as one PUT.
  function listEditor(m, e, note, { blank, fields, path, check: problem }) {
    const rows = h('div', { class: 'rows' });
    const addRow = (r) => {
      const row = h('div', { class: 'row', 'data-row': '' }, fields(r),
        h('button', { type: 'button', 'aria-label': t('Remove this row'), onclick: () => row.remove() }, '×'));
      rows.append(row);
    };
    (Array.isArray(m.config) ? m.config : []).forEach(addRow);
    const save = h('button', { type: 'button', class: 'primary', id: `module-${m.name}-save` }, t('Save'));
    save.onclick = () => busy(save, e, async () => {
      const list = [...rows.children].map((row) => {
        const o = {};
        for (const el of row.querySelectorAll('[name]')) o[el.name] = el.type === 'checkbox' ? el.checked : (el.dataset.num ? Number(el.value) : el.value.trim());
        return o;
      });
      for (const [i, o] of list.entries()) {
        const p = problem(o);
        if (p) { showError(e, `${t('Row')} ${i + 1}: ${t(p)}`); return; }
      }
      await put(path, list);
      note.textContent = t('Saved.');
    });
    return h('div', {}, rows, h('div', { class: 'row' },
      h('button', { type: 'button', onclick: () => addRow(blank()), id: `module-${m.name}-add` }, `+ ${t('Add')}`), save));
  }

  const qosSelect = (v) => { const s = select('qos', [['0', '0'], ['1', '1'], ['2', '2']]); s.value = String(v ?? 0); s.dataset.num = '1'; return s; };
  function rewriteForm(m, e, note) {
    return listEditor(m, e, note, {
      path: '/mqtt/topic_rewrite',
      blank: () => ({ action: 'all', source_topic: '', re: '', dest_topic: '' }),
      fields: (r) => {
        const a = select('action', [['all', 'all'], ['publish', 'publish'], ['subscribe', 'subscribe']]);
        a.value = r.action;
        return [field('Action', a), field('Source topic', h('input', { name: 'source_topic', value: r.source_topic })),
          field('Regular expression', h('input', { name: 're', value: r.re })), field('Destination topic', h('input', { name: 'dest_topic', value: r.dest_topic }))];
      },
      check: (o) => {
        if (!o.source_topic || !o.re || !o.dest_topic) return 'Every field is required.';
        try { new RegExp(o.re); } catch { return 'Not a valid regular expression.'; }
        return null;
      },
    });
  }
  function autoSubForm(m, e, note) {
    return listEditor(m, e, note, {
      path: '/mqtt/auto_subscribe',
      blank: () => ({ topic: '', qos: 0, nl: false, rap: false, rh: 0 }),
      fields: (r) => {
        const rh = select('rh', [['0', '0'], ['1', '1'], ['2', '2']]);
        rh.value = String(r.rh ?? 0); rh.dataset.num = '1';
        return [field('Topic filter', h('input', { name: 'topic', value: r.topic })), field('QoS', qosSelect(r.qos)),
          check('nl', 'No Local', { checked: r.nl }), check('rap', 'Retain As Published', { checked: r.rap }), field('Retain Handling', rh)];
      },
      check: (o) => (o.topic ? null : 'A topic filter is required.'),
    });
  }
  try { await show(); } catch (x) { showError(err, x); }
  return null;
}
