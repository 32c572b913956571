// A browser MQTT client in the spirit of MQTTX, on MQTT.js (web/vendor/mqtt): connections
// saved in localStorage, to the broker's own ws:// (or wss://) listener; subscribe with QoS
// and options, publish with QoS, retain and 5.0 properties; a chat-like log per connection.
// Connections stay open while the other pages are visited.
import { get } from './api.js';
import { t } from './i18n.js';
import { h, field, select, check, errorLine, showError, formData } from './ui.js';

const SAVED = 'starling.ws.connections';
const MAX_LOG = 500;
const live = new Map(); // id -> { client, log: [], subs: [] }
let selected = null;

function loadSaved() { try { return JSON.parse(localStorage.getItem(SAVED)) || []; } catch { return []; } }
function save(list) { localStorage.setItem(SAVED, JSON.stringify(list)); }

function loadMqtt() {
  if (window.mqtt) return Promise.resolve(window.mqtt);
  return new Promise((resolve, reject) => {
    const s = document.createElement('script');
    s.src = '/vendor/mqtt/mqtt.min.js';
    s.onload = () => resolve(window.mqtt);
    s.onerror = () => reject(new Error('MQTT.js did not load'));
    document.head.append(s);
  });
}

async function defaultUrl() {
  try {
    const ls = await get('/listeners');
    const ws = ls.find((l) => l.type === 'ws' && l.running) || ls.find((l) => l.type === 'wss' && l.running);
    if (ws) {
      const port = ws.bind.split(':').pop();
      return `${ws.type}://${location.hostname}:${port}/mqtt`;
    }
  } catch { /* the default below */ }
  return `ws://${location.hostname}:8083/mqtt`;
}

function state(id) {
  if (!live.has(id)) live.set(id, { client: null, log: [], subs: [] });
  return live.get(id);
}

export async function render(main, { err }) {
  main.append(h('h1', {}, t('WebSocket client')));
  const url = await defaultUrl();
  let conns = loadSaved();
  const listBox = h('div', { class: 'conns', id: 'ws-connections' });
  const body = h('div', { id: 'ws-body' });
  main.append(h('div', { class: 'ws' }, h('section', { class: 'panel', 'aria-label': t('Connections') },
    h('h2', {}, t('Connections')), listBox,
    h('button', { type: 'button', id: 'ws-new', class: 'primary', onclick: () => { selected = null; draw(); } }, `+ ${t('New connection')}`)), body));

  function drawList() {
    if (!listBox.isConnected && listBox.childElementCount) return;
    listBox.replaceChildren(...conns.map((c) => {
      const on = live.get(c.id)?.client?.connected;
      return h('button', { type: 'button', 'aria-current': c.id === selected ? 'true' : 'false', 'data-conn': c.name,
        'aria-label': `${c.name} (${t(on ? 'connected' : 'disconnected')})`,
        onclick: () => { selected = c.id; draw(); } }, `${on ? '● ' : '○ '}${c.name}`);
    }));
  }
  function draw() {
    drawList();
    const conn = conns.find((c) => c.id === selected);
    body.replaceChildren(conn ? connectionView(conn) : editor(null));
  }

  function editor(conn) {
    const c = conn || { name: `conn-${conns.length + 1}`, url, clientId: `starling-web-${Math.random().toString(16).slice(2, 8)}`,
      username: '', password: '', protocolVersion: '5', clean: true, keepalive: '60' };
    const e = errorLine();
    const form = h('form', { class: 'panel', id: 'ws-editor', 'aria-label': t('Connection settings'), novalidate: true },
      h('h2', {}, t(conn ? 'Edit connection' : 'New connection')),
      h('div', { class: 'row' },
        field('Name', h('input', { name: 'name', value: c.name, id: 'ws-name', required: true })),
        field('URL', h('input', { name: 'url', value: c.url, id: 'ws-url', size: 34, required: true })),
        field('Client ID', h('input', { name: 'clientId', value: c.clientId, id: 'ws-clientid' })),
        field('Username', h('input', { name: 'username', value: c.username, id: 'ws-username' })),
        field('Password', h('input', { name: 'password', value: c.password, type: 'password', id: 'ws-password' })),
        field('MQTT version', select('protocolVersion', [['5', '5.0'], ['4', '3.1.1'], ['3', '3.1']], { id: 'ws-version', value: c.protocolVersion })),
        field('Keep alive (s)', h('input', { name: 'keepalive', value: c.keepalive, type: 'number', min: 0, max: 65535, id: 'ws-keepalive' })),
        check('clean', 'Clean start', { checked: c.clean, id: 'ws-clean' })),
      e, h('div', { class: 'row' }, h('button', { class: 'primary', type: 'submit', id: 'ws-save' }, t('Save'))));
    form.elements.protocolVersion.value = c.protocolVersion;
    form.onsubmit = (ev) => {
      ev.preventDefault();
      const f = formData(form);
      if (!f.name) { showError(e, t('A name is required.')); return; }
      if (!/^wss?:\/\/[^/]+/.test(f.url)) { showError(e, t('The URL must start with ws:// or wss://.')); return; }
      const ka = Number(f.keepalive);
      if (!Number.isInteger(ka) || ka < 0 || ka > 65535) { showError(e, t('Keep alive must be 0 to 65535.')); return; }
      if (conns.some((x) => x.name === f.name && x.id !== c.id)) { showError(e, t('That name is taken.')); return; }
      const saved = { ...c, ...f, id: c.id || `${Date.now()}` };
      conns = conns.filter((x) => x.id !== saved.id).concat([saved]);
      save(conns);
      selected = saved.id;
      draw();
    };
    return form;
  }

  function connectionView(conn) {
    const st = state(conn.id);
    const e = errorLine();
    const logBox = h('div', { class: 'log', id: 'ws-log', role: 'log', 'aria-label': t('Messages') });
    const subsBox = h('div', { id: 'ws-subs' });
    const status = h('span', { id: 'ws-status', class: `badge ${st.client?.connected ? 'on' : 'off'}` }, t(st.client?.connected ? 'connected' : 'disconnected'));
    const connect = h('button', { type: 'button', class: 'primary', id: 'ws-connect' }, t(st.client ? 'Disconnect' : 'Connect'));
    const edit = h('button', { type: 'button', id: 'ws-edit', onclick: () => body.replaceChildren(editor(conn)) }, t('Edit'));
    const remove = h('button', { type: 'button', id: 'ws-delete', class: 'danger' }, t('Delete'));

    const entry = (m) => h('div', { class: `msg ${m.dir}` },
      h('div', { class: 'meta' }, m.dir === 'sys' ? m.at : `${m.dir === 'out' ? t('Sent') : t('Received')} · ${m.topic} · QoS ${m.qos}${m.retain ? ' · retain' : ''} · ${m.at}`),
      m.dir === 'sys' ? m.text : h('div', { class: 'body' }, m.text));
    const drawLog = () => { logBox.replaceChildren(...st.log.map(entry)); logBox.scrollTop = logBox.scrollHeight; };
    st.onLog = (m) => { if (logBox.isConnected) { logBox.append(entry(m)); logBox.scrollTop = logBox.scrollHeight; } };
    st.onState = () => {
      if (!status.isConnected) return;
      const on = !!st.client?.connected;
      status.className = `badge ${on ? 'on' : 'off'}`;
      status.textContent = t(on ? 'connected' : 'disconnected');
      connect.textContent = t(st.client ? 'Disconnect' : 'Connect');
      drawList();
    };
    const log = (m) => { m.at = new Date().toLocaleTimeString(); st.log.push(m); if (st.log.length > MAX_LOG) st.log.shift(); st.onLog(m); };

    connect.onclick = async () => {
      showError(e, '');
      if (st.client) { st.client.end(true); st.client = null; log({ dir: 'sys', text: t('Disconnected') }); st.onState(); return; }
      try {
        const mqtt = await loadMqtt();
        const opts = { clientId: conn.clientId || undefined, username: conn.username || undefined, password: conn.password || undefined,
          protocolVersion: Number(conn.protocolVersion), clean: !!conn.clean, keepalive: Number(conn.keepalive) || 60,
          reconnectPeriod: 0, connectTimeout: 10000 };
        const client = mqtt.connect(conn.url, opts);
        st.client = client;
        client.on('connect', () => { log({ dir: 'sys', text: `${t('Connected to')} ${conn.url}` }); st.onState();
          for (const s of st.subs) client.subscribe(s.topic, s.opts); });
        client.on('message', (topic, payload, packet) => log({ dir: 'in', topic, qos: packet.qos, retain: packet.retain, text: payload.toString() }));
        client.on('error', (er) => { log({ dir: 'sys', text: `${t('Error')}: ${er.message}` }); showError(e, er.message); });
        client.on('close', () => { if (st.client === client) { st.client = null; log({ dir: 'sys', text: t('Connection closed') }); st.onState(); } });
        st.onState();
      } catch (er) { showError(e, er.message || er); }
    };
    remove.onclick = () => {
      st.client?.end(true); live.delete(conn.id);
      conns = conns.filter((x) => x.id !== conn.id); save(conns); selected = null; draw();
    };

    // Subscribe.
    const subForm = h('form', { class: 'inline', id: 'ws-subscribe', 'aria-label': t('Subscribe'), novalidate: true },
      field('Topic filter', h('input', { name: 'topic', id: 'ws-sub-topic', value: 't/#', required: true })),
      field('QoS', select('qos', [['0', '0'], ['1', '1'], ['2', '2']], { id: 'ws-sub-qos' })),
      check('nl', 'No Local', { id: 'ws-sub-nl' }), check('rap', 'Retain As Published', { id: 'ws-sub-rap' }),
      field('Retain Handling', select('rh', [['0', '0'], ['1', '1'], ['2', '2']], { id: 'ws-sub-rh' })),
      h('button', { type: 'submit', class: 'primary', id: 'ws-sub-submit' }, t('Subscribe')));
    const drawSubs = () => subsBox.replaceChildren(...st.subs.map((s) => h('div', { class: 'row', 'data-sub': s.topic },
      h('span', { class: 'badge' }, `${s.topic} · QoS ${s.opts.qos}`),
      h('button', { type: 'button', 'aria-label': `${t('Unsubscribe')} ${s.topic}`, onclick: () => {
        st.client?.unsubscribe(s.topic); st.subs = st.subs.filter((x) => x !== s); drawSubs();
      } }, t('Unsubscribe')))));
    subForm.onsubmit = (ev) => {
      ev.preventDefault();
      const f = formData(subForm);
      if (!st.client?.connected) { showError(e, t('Connect first.')); return; }
      if (!f.topic || /#./.test(f.topic) || /[^/]\+|\+[^/]/.test(f.topic.replace(/^\$share\/[^/]+\//, ''))) { showError(e, t('Not a valid topic filter.')); return; }
      const opts = { qos: Number(f.qos), nl: f.nl, rap: f.rap, rh: Number(f.rh) };
      st.client.subscribe(f.topic, opts, (er, granted) => {
        if (er) { showError(e, er.message); return; }
        const code = granted?.[0]?.qos;
        if (code !== undefined && code >= 128) { showError(e, `${t('Subscription refused')}: 0x${code.toString(16)}`); return; }
        st.subs = st.subs.filter((x) => x.topic !== f.topic).concat([{ topic: f.topic, opts }]);
        log({ dir: 'sys', text: `${t('Subscribed to')} ${f.topic} (QoS ${code ?? opts.qos})` });
        drawSubs();
      });
    };

    // Publish.
    const pubForm = h('form', { id: 'ws-publish', 'aria-label': t('Publish'), novalidate: true },
      h('div', { class: 'row' },
        field('Topic', h('input', { name: 'topic', id: 'ws-pub-topic', value: 't/1', required: true })),
        field('QoS', select('qos', [['0', '0'], ['1', '1'], ['2', '2']], { id: 'ws-pub-qos' })),
        check('retain', 'Retain', { id: 'ws-pub-retain' })),
      field('Payload', h('textarea', { name: 'payload', id: 'ws-pub-payload' })),
      h('details', {}, h('summary', {}, t('MQTT 5.0 properties')),
        h('div', { class: 'row' },
          field('Content type', h('input', { name: 'contentType', id: 'ws-pub-ctype' })),
          field('Message expiry (s)', h('input', { name: 'expiry', type: 'number', min: 0, id: 'ws-pub-expiry' })),
          field('Response topic', h('input', { name: 'responseTopic', id: 'ws-pub-response' })),
          field('Correlation data', h('input', { name: 'correlation', id: 'ws-pub-correlation' })),
          check('utf8', 'Payload is UTF-8', { id: 'ws-pub-utf8' })),
        field('User properties (key=value, one a line)', h('textarea', { name: 'userProps', id: 'ws-pub-userprops' }))),
      h('div', { class: 'row end' }, h('button', { type: 'submit', class: 'primary', id: 'ws-pub-submit' }, t('Publish'))));
    pubForm.onsubmit = (ev) => {
      ev.preventDefault();
      const f = formData(pubForm);
      showError(e, '');
      if (!st.client?.connected) { showError(e, t('Connect first.')); return; }
      if (!f.topic || /[+#]/.test(f.topic)) { showError(e, t('A topic name has no wildcards.')); return; }
      const opts = { qos: Number(f.qos), retain: f.retain };
      if (Number(conn.protocolVersion) === 5) {
        const p = {};
        if (f.contentType) p.contentType = f.contentType;
        if (f.expiry !== '') {
          const n = Number(f.expiry);
          if (!Number.isInteger(n) || n < 0) { showError(e, t('Message expiry must be a whole number of seconds.')); return; }
          p.messageExpiryInterval = n;
        }
        if (f.responseTopic) p.responseTopic = f.responseTopic;
        if (f.correlation) p.correlationData = new TextEncoder().encode(f.correlation);
        if (f.utf8) p.payloadFormatIndicator = true;
        const ups = {};
        for (const line of (pubForm.elements.userProps.value || '').split('\n')) {
          if (!line.trim()) continue;
          const i = line.indexOf('=');
          if (i < 1) { showError(e, `${t('Not key=value')}: ${line}`); return; }
          ups[line.slice(0, i).trim()] = line.slice(i + 1).trim();
        }
        if (Object.keys(ups).length) p.userProperties = ups;
        if (Object.keys(p).length) opts.properties = p;
      }
      const payload = pubForm.elements.payload.value;
      st.client.publish(f.topic, payload, opts, (er) => {
        if (er) { showError(e, er.message); return; }
        log({ dir: 'out', topic: f.topic, qos: opts.qos, retain: opts.retain, text: payload });
      });
    };

    drawLog();
    drawSubs();
    return h('div', {},
      h('section', { class: 'panel' }, h('div', { class: 'card-head' }, h('h2', {}, `${conn.name}`), status),
        h('p', { class: 'muted' }, `${conn.url} · ${conn.clientId} · MQTT ${conn.protocolVersion === '4' ? '3.1.1' : conn.protocolVersion === '3' ? '3.1' : '5.0'}`),
        h('div', { class: 'row' }, connect, edit, remove, h('button', { type: 'button', id: 'ws-clear-log', onclick: () => { st.log = []; drawLog(); } }, t('Clear log'))), e),
      h('section', { class: 'panel' }, h('h2', {}, t('Subscriptions')), subForm, subsBox),
      h('section', { class: 'panel' }, h('h2', {}, t('Publish')), pubForm),
      h('section', { class: 'panel' }, h('h2', {}, t('Messages')), logBox));
  }
  if (!selected && conns.length) selected = conns[0].id;
  draw();
  showError(err, '');
  return null;
}
