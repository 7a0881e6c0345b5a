// The operators' dashboard: live calls of every transport with their
// state and statistics (GET /api/calls, polled), what callers said and
// the agent answered as it happens (GET /api/events, streamed with fetch:
// EventSource cannot send the Authorization header), and a hang-up button
// (POST /api/calls/{id}/hangup). Guide: docs/dashboard.md.

const TOKEN_KEY = 'voicegate.adminToken';
const POLL_MS = 2000;
const RETRY_MS = 2000;
const MAX_LINES = 200;
const MAX_ENDED = 20;
const MAX_DENIED = 20;

const $ = (id) => document.getElementById(id);

let token = sessionStorage.getItem(TOKEN_KEY);
let connectedAt = 0;
let pollTimer = null;
let events = null; // AbortController of the event stream
let refreshQueued = false;
// session id → { el, view, lines: [{kind, text, at}], backfilled }
const calls = new Map();
// Lines for sessions whose card does not exist yet (an event can beat
// the next poll).
const early = new Map();

class AuthError extends Error {}

async function api(path, options = {}) {
  const resp = await fetch(path, {
    ...options,
    cache: 'no-store',
    headers: { ...(options.headers || {}), Authorization: `Bearer ${token}` },
  });
  if (resp.status === 401 || resp.status === 403) {
    throw new AuthError((await resp.text()).trim() || `HTTP ${resp.status}`);
  }
  return resp;
}

function setConn(state, text) {
  const el = $('conn-state');
  el.dataset.state = state;
  el.textContent = text;
}

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

function duration(since) {
  const s = Math.max(0, Math.floor((Date.now() - Date.parse(since)) / 1000));
  const m = Math.floor(s / 60);
  return m ? `${m}m ${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

function time(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '' : d.toLocaleTimeString();
}

const STAT_LABELS = [
  ['frames_in', 'frames in'],
  ['frames_out', 'frames out'],
  ['audio_chunks_in', 'audio in'],
  ['audio_chunks_out', 'audio out'],
  ['utterances', 'utterances'],
  ['marks_out', 'marks sent'],
  ['marks_in', 'marks played'],
  ['barge_ins', 'barge-ins'],
  ['decode_errors', 'bad frames'],
  ['frames_dropped', 'dropped'],
];

function newCard(view) {
  const li = el('li', 'call');
  li.dataset.session = view.session_id;
  const head = el('div', 'head');
  head.append(
    el('span', 'transport', view.transport),
    el('span', 'state'),
    el('strong', 'from', view.from || '(unknown caller)'),
    el('span', 'arrow', '→'),
    el('span', 'to', view.to || '–'),
    el('span', 'tier'),
    el('span', 'since'),
  );
  const hangup = el('button', 'hangup danger', 'Hang up');
  hangup.type = 'button';
  hangup.setAttribute('aria-label', `Hang up ${view.from || view.session_id}`);
  hangup.addEventListener('click', () => hangUp(view.session_id, hangup));
  head.append(hangup);
  const stats = el('dl', 'stats');
  for (const [key, label] of STAT_LABELS) {
    const group = el('div', 'stat');
    const dd = el('dd', null, '0');
    dd.dataset.stat = key;
    group.append(el('dt', null, label), dd);
    stats.append(group);
  }
  const lines = el('ol', 'lines');
  lines.setAttribute('aria-live', 'polite');
  const id = el('p', 'session', view.session_id);
  li.append(head, stats, lines, id);
  return li;
}

function updateCard(entry, view) {
  const { el: li } = entry;
  entry.view = view;
  li.dataset.state = view.state;
  li.querySelector('.state').textContent = view.state;
  li.querySelector('.tier').textContent = `tier ${view.tier}`;
  li.querySelector('.since').textContent = duration(view.created_at);
  for (const dd of li.querySelectorAll('[data-stat]')) {
    const v = view.stats ? view.stats[dd.dataset.stat] : undefined;
    dd.textContent = v === undefined ? '–' : String(v);
  }
}

function renderLine(entry, line) {
  const li = el('li', `line ${line.kind}`);
  li.dataset.kind = line.kind;
  const who = { caller: 'Caller', agent: 'Agent', error: 'Error', note: '' }[line.kind];
  if (who) li.append(el('span', 'who', who));
  li.append(el('span', 'text', line.text), el('time', null, time(line.at)));
  const list = entry.el.querySelector('.lines');
  list.append(li);
  while (list.children.length > MAX_LINES) list.firstChild.remove();
}

function addLine(sessionId, kind, text, at) {
  const line = { kind, text: String(text ?? ''), at: at || new Date().toISOString() };
  const entry = calls.get(sessionId);
  if (entry) {
    entry.lines.push(line);
    renderLine(entry, line);
  } else if (sessionId) {
    const list = early.get(sessionId) || [];
    list.push(line);
    early.set(sessionId, list.slice(-MAX_LINES));
    refreshSoon();
  }
}

// A call already going when the page connected: what was said before
// comes from the audit trail, when it is on.
async function backfill(entry) {
  entry.backfilled = true;
  const callId = entry.view.call_id;
  if (!callId) return;
  try {
    const resp = await api(`/api/audit?call_id=${encodeURIComponent(callId)}&limit=1`);
    if (!resp.ok) return;
    const report = await resp.json();
    const call = (report.calls || []).find((c) => c.session_id === entry.view.session_id);
    if (!call) return;
    const past = [
      ...(call.transcripts || []).map((t) => ({ kind: 'caller', text: t.text, at: t.at })),
      ...(call.answers || []).map((a) => ({ kind: 'agent', text: a.text, at: a.at })),
    ].filter((l) => Date.parse(l.at) < connectedAt);
    past.sort((a, b) => a.at.localeCompare(b.at));
    const list = entry.el.querySelector('.lines');
    const first = list.firstChild;
    for (const line of past) {
      const before = list.children.length;
      renderLine(entry, line);
      // renderLine appends; move the older line above the live ones.
      if (first && list.children.length > before) list.insertBefore(list.lastChild, first);
    }
  } catch (err) {
    if (err instanceof AuthError) throw err;
  }
}

function render(data) {
  $('live-count').textContent = String(data.calls.length);
  const stt = data.stt
    ? ` · speech recognition: ${data.stt.busy} of ${data.stt.workers} busy, ${data.stt.queued} queued`
    : '';
  $('totals').textContent = `${data.active} of ${data.max_calls} lines in use${stt}`;
  const live = new Set();
  for (const view of data.calls) {
    live.add(view.session_id);
    let entry = calls.get(view.session_id);
    if (!entry) {
      entry = { el: newCard(view), view, lines: [], backfilled: false };
      calls.set(view.session_id, entry);
      $('calls').append(entry.el);
      for (const line of early.get(view.session_id) || []) {
        entry.lines.push(line);
        renderLine(entry, line);
      }
      early.delete(view.session_id);
      if (Date.parse(view.created_at) < connectedAt - 1000) backfill(entry).catch(onAuthError);
    }
    updateCard(entry, view);
  }
  for (const [id, entry] of calls) {
    if (!live.has(id)) {
      entry.el.remove();
      calls.delete(id);
    }
  }
  $('no-calls').hidden = data.calls.length > 0;
  const rows = (data.ended || []).slice(0, MAX_ENDED).map((v) => {
    const tr = el('tr');
    tr.dataset.session = v.session_id;
    tr.append(
      el('td', 'session', v.session_id),
      el('td', null, v.transport),
      el('td', null, v.from),
      el('td', null, time(v.ended_at)),
      el('td', null, v.end_reason || ''),
    );
    return tr;
  });
  $('ended').replaceChildren(...rows);
  $('ended').parentElement.hidden = rows.length === 0;
  $('no-ended').hidden = rows.length > 0;
}

async function refresh() {
  const resp = await api('/api/calls');
  if (!resp.ok) throw new Error(`GET /api/calls: HTTP ${resp.status}`);
  render(await resp.json());
}

function refreshSoon() {
  if (refreshQueued) return;
  refreshQueued = true;
  setTimeout(() => {
    refreshQueued = false;
    refresh().catch(onAuthError);
  }, 100);
}

function addDenied(ev) {
  $('no-denied').hidden = true;
  const reasons = (ev.reasons || []).map((r) => r.message).join(' ');
  const li = el('li');
  li.append(
    el('time', null, time(ev.timestamp)),
    el('strong', null, ` ${ev.from || '(unknown)'} `),
    el('span', null, `via ${ev.transport}: ${ev.reason}${reasons ? ` (${reasons})` : ''}`),
  );
  $('denied').prepend(li);
  while ($('denied').children.length > MAX_DENIED) $('denied').lastChild.remove();
}

function onEvent(ev) {
  const sid = ev.session_id;
  switch (ev.type) {
    case 'voice.stt.final':
      addLine(sid, 'caller', ev.text, ev.timestamp);
      break;
    case 'voice.assistant.text':
      addLine(sid, 'agent', ev.text, ev.timestamp);
      break;
    case 'voice.assistant.interrupted':
      addLine(sid, 'note', 'The caller interrupted the agent.', ev.timestamp);
      break;
    case 'call.dtmf':
      addLine(sid, 'note', `Key ${ev.digit}`, ev.timestamp);
      break;
    case 'error':
      addLine(sid, 'error', ev.stage ? `${ev.stage}: ${ev.error}` : ev.error, ev.timestamp);
      break;
    case 'call.denied':
      addDenied(ev);
      break;
    case 'call.created':
    case 'call.started':
    case 'call.ended':
      refreshSoon();
      break;
    case 'lagged':
      refreshSoon();
      break;
    default:
      break;
  }
}

// Reads the Server-Sent Events stream until it ends, then comes back.
async function streamEvents() {
  events = new AbortController();
  const { signal } = events;
  try {
    const resp = await api('/api/events', { headers: { Accept: 'text/event-stream' }, signal });
    if (!resp.ok || !resp.body) throw new Error(`HTTP ${resp.status}`);
    setConn('live', 'Live');
    const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      let end;
      while ((end = buf.search(/\r?\n\r?\n/)) >= 0) {
        const block = buf.slice(0, end);
        buf = buf.slice(end).replace(/^\r?\n\r?\n/, '');
        const data = block
          .split(/\r?\n/)
          .filter((l) => l.startsWith('data:'))
          .map((l) => l.slice(5).trimStart())
          .join('\n');
        if (!data) continue; // keep-alive comments
        try {
          onEvent(JSON.parse(data));
        } catch (_) {
          /* not an event */
        }
      }
    }
  } catch (err) {
    if (err instanceof AuthError) return onAuthError(err);
    if (signal.aborted) return;
  }
  if (signal.aborted || !token) return;
  setConn('offline', 'Reconnecting…');
  setTimeout(() => {
    if (token && !signal.aborted) streamEvents();
  }, RETRY_MS);
}

async function hangUp(sessionId, button) {
  button.disabled = true;
  button.textContent = 'Hanging up…';
  try {
    const resp = await api(`/api/calls/${encodeURIComponent(sessionId)}/hangup`, { method: 'POST' });
    if (!resp.ok) {
      button.textContent = `Failed (${resp.status})`;
      button.disabled = false;
    }
  } catch (err) {
    onAuthError(err);
  }
  refreshSoon();
}

function disconnect() {
  if (events) events.abort();
  events = null;
  clearInterval(pollTimer);
  pollTimer = null;
  for (const entry of calls.values()) entry.el.remove();
  calls.clear();
  early.clear();
  $('board').hidden = true;
  $('token-form').hidden = false;
  setConn('offline', 'Not connected');
}

function onAuthError(err) {
  if (!(err instanceof AuthError)) {
    setConn('offline', `Error: ${err.message || err}`);
    return;
  }
  sessionStorage.removeItem(TOKEN_KEY);
  token = null;
  disconnect();
  const e = $('token-error');
  e.textContent = `The gateway refused the token: ${err.message}`;
  e.hidden = false;
}

async function connect() {
  $('token-error').hidden = true;
  setConn('connecting', 'Connecting…');
  connectedAt = Date.now();
  try {
    await refresh();
  } catch (err) {
    onAuthError(err instanceof AuthError ? err : new AuthError(err.message || String(err)));
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  $('token-form').hidden = true;
  $('board').hidden = false;
  pollTimer = setInterval(() => refresh().catch(onAuthError), POLL_MS);
  streamEvents();
}

$('token-form').addEventListener('submit', (e) => {
  e.preventDefault();
  token = $('token').value.trim();
  $('token').value = '';
  if (token) connect();
});
$('forget').addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN_KEY);
  token = null;
  disconnect();
});
if (token) connect();
