// Overview: the node, its listeners (start/stop when the API has them), live charts of the
// stats and metrics polled every few seconds (uPlot), and the active alarms.
import { get, put, hasRoute } from './api.js';
import { t } from './i18n.js';
import { h, table, fmtBytes, fmtDuration, errorLine, showError, busy } from './ui.js';

const POLL_MS = 3000;
const KEEP = 100; // points per chart

function tile(key, label, value) {
  return h('div', { class: 'tile', id: `stat-${key}` }, h('div', { class: 'k' }, t(label)), h('div', { class: 'v' }, value));
}

export async function render(main, { err }) {
  let stopped = false;
  let timer = null;
  main.append(h('h1', {}, t('Overview')));
  const nodeBox = h('div', { class: 'grid', id: 'node-info' });
  const statBox = h('div', { class: 'grid', id: 'live-stats' });
  const listenerBox = h('div', { id: 'listeners' });
  const alarmBox = h('div', { id: 'alarms' });
  const chartBox = h('div', { class: 'charts' });
  const listenerErr = errorLine();
  main.append(h('section', { class: 'panel', 'aria-label': t('Node') }, h('h2', {}, t('Node')), nodeBox),
    h('section', { class: 'panel', 'aria-label': t('Now') }, h('h2', {}, t('Now')), statBox),
    h('section', { class: 'panel', 'aria-label': t('Charts') }, h('h2', {}, t('Charts')), chartBox),
    h('section', { class: 'panel', 'aria-label': t('Listeners') }, h('h2', {}, t('Listeners')), listenerErr, listenerBox),
    h('section', { class: 'panel', 'aria-label': t('Active alarms') }, h('h2', {}, t('Active alarms')), alarmBox));

  const canStart = await hasRoute('/api/v5/listeners/{id}/start');
  async function showListeners() {
    const ls = await get('/listeners');
    const cols = [
      { title: 'ID', cell: (l) => l.id }, { title: 'Type', cell: (l) => l.type },
      { title: 'Address', cell: (l) => l.bind },
      { title: 'State', cell: (l) => h('span', { class: `badge ${l.running ? 'on' : 'off'}` }, t(l.running ? 'running' : 'stopped')) },
      { title: 'Max connections', cell: (l) => l.max_connections },
    ];
    if (canStart) {
      cols.push({ title: 'Actions', cell: (l) => {
        const b = h('button', { type: 'button', 'aria-label': `${t(l.running ? 'Stop' : 'Start')} ${l.id}` }, t(l.running ? 'Stop' : 'Start'));
        b.onclick = () => busy(b, listenerErr, async () => {
          await put(`/listeners/${encodeURIComponent(l.id)}/${l.running ? 'stop' : 'start'}`, {});
          await showListeners();
        });
        return b;
      } });
    }
    listenerBox.replaceChildren(table(cols, ls));
  }

  // Charts: levels (connections, subscriptions, retained) and rates per second (in, out, dropped).
  const { default: uPlot } = await import('/vendor/uplot/uPlot.esm.js');
  if (!document.getElementById('uplot-css')) {
    document.head.append(h('link', { rel: 'stylesheet', href: '/vendor/uplot/uPlot.min.css', id: 'uplot-css' }));
  }
  const levels = [[], [], [], []];
  const rates = [[], [], [], []];
  const width = () => Math.max(260, Math.min(chartBox.clientWidth || 600, 1200) / (chartBox.clientWidth > 700 ? 2 : 1) - 20);
  const opts = (title, names, colors) => ({
    title: t(title), width: width(), height: 220,
    series: [{ label: t('Time') }, ...names.map((n, i) => ({ label: t(n), stroke: colors[i], width: 2 }))],
    // The last minute or more: a single point would otherwise span years.
    scales: { x: { time: true, range: (u, min, max) => [Math.min(min, max - 60), max] } },
    axes: [{}, { size: 60 }],
  });
  const c1 = h('div', { class: 'chart panel', id: 'chart-levels', role: 'img', 'aria-label': t('Connections, subscriptions and retained messages') });
  const c2 = h('div', { class: 'chart panel', id: 'chart-rates', role: 'img', 'aria-label': t('Messages per second') });
  chartBox.append(c1, c2);
  const p1 = new uPlot(opts('Connections, subscriptions and retained messages', ['Connections', 'Subscriptions', 'Retained'], ['#1f6feb', '#2e7d32', '#b26a00']), levels, c1);
  const p2 = new uPlot(opts('Messages per second', ['In', 'Out', 'Dropped'], ['#1f6feb', '#2e7d32', '#c62828']), rates, c2);
  const onResize = () => { p1.setSize({ width: width(), height: 220 }); p2.setSize({ width: width(), height: 220 }); };
  window.addEventListener('resize', onResize);

  let last = null;
  async function poll() {
    try {
      const [nodes, stats, metrics, alarms] = await Promise.all([
        get('/nodes'), get('/stats'), get('/metrics'), get('/alarms?activated=true')]);
      const n = nodes[0] || {};
      const now = Date.now() / 1000;
      let cpu = '-';
      if (last && n.cpu_seconds != null && last.cpu != null) {
        cpu = `${(((n.cpu_seconds - last.cpu) / (now - last.at)) * 100 / (n.cpus || 1)).toFixed(1)} %`;
      }
      nodeBox.replaceChildren(
        tile('node', 'Node name', n.node), tile('version', 'Version', n.version),
        tile('uptime', 'Uptime', fmtDuration(n.uptime)), tile('os', 'OS', n.os),
        tile('memory', 'Memory', `${fmtBytes(n.memory_used)} / ${fmtBytes(n.memory_total)}`),
        tile('cpu', 'CPU', `${cpu} (${n.cpus ?? '-'} ${t('cores')})`),
        tile('status', 'Status', t(n.node_status || '-')));
      const rate = (k) => (last ? Math.max(0, (metrics[k] - last.m[k]) / (now - last.at)) : 0);
      statBox.replaceChildren(
        tile('connections', 'Connections', stats['connections.count']),
        tile('sessions', 'Sessions', stats['sessions.count']),
        tile('subscriptions', 'Subscriptions', stats['subscriptions.count']),
        tile('retained', 'Retained', stats['retained.count']),
        tile('received', 'Messages in', metrics['messages.received']),
        tile('sent', 'Messages out', metrics['messages.sent']),
        tile('dropped', 'Dropped', metrics['messages.dropped']),
        tile('rate-in', 'In per second', rate('messages.received').toFixed(1)),
        tile('rate-out', 'Out per second', rate('messages.sent').toFixed(1)));
      const push = (arr, vals) => { vals.forEach((v, i) => { arr[i].push(v); if (arr[i].length > KEEP) arr[i].shift(); }); };
      push(levels, [now, stats['connections.count'], stats['subscriptions.count'], stats['retained.count']]);
      push(rates, [now, rate('messages.received'), rate('messages.sent'), rate('messages.dropped')]);
      p1.setData(levels);
      p2.setData(rates);
      last = { at: now, m: metrics, cpu: n.cpu_seconds };
      const active = alarms.data || [];
      alarmBox.replaceChildren(table([
        { title: 'Name', cell: (a) => a.name }, { title: 'Message', cell: (a) => a.message },
        { title: 'Since', cell: (a) => new Date(a.activate_at).toLocaleString() },
      ], active, { empty: 'No active alarm' }));
      main.dataset.polled = String((Number(main.dataset.polled) || 0) + 1);
      showError(err, '');
    } catch (e) { showError(err, e); }
    if (!stopped && main.isConnected) timer = setTimeout(poll, POLL_MS);
  }
  showListeners().catch((e) => showError(listenerErr, e));
  await poll();
  return () => { stopped = true; clearTimeout(timer); window.removeEventListener('resize', onResize); p1.destroy(); p2.destroy(); };
}
