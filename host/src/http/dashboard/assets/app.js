// durable-wasm dashboard: plain JavaScript, no build step, no third-party code. It draws the
// page the URL names from the host's JSON API, and keeps the URL shareable (filters, tab,
// replay position). Embedded in the binary and served from /dashboard/assets/.
'use strict';

const API = '/runtime/webhooks/durabletask';
const CSRF = document.querySelector('meta[name="csrf-token"]').content;
const STATUSES = ['Pending', 'Running', 'Suspended', 'Completed', 'Failed', 'Terminated', 'ContinuedAsNew'];
const TERMINAL = new Set(['Completed', 'Failed', 'Terminated', 'ContinuedAsNew']);
const PAGE_SIZE = 50;
const ROW_HEIGHT = 26;

// ---------------------------------------------------------------- helpers

/** Builds an element: h('a', {href, class, text, onclick}, ...children). */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') el.textContent = v;
    else if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'style') Object.assign(el.style, v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Calls the host; throws an Error carrying the API's own message on a 4xx/5xx. */
async function api(method, path, body, headers) {
  const init = { method, credentials: 'same-origin', headers: { accept: 'application/json', ...(headers || {}) } };
  if (method !== 'GET' && method !== 'HEAD') init.headers['x-durable-csrf'] = CSRF;
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = body;
  }
  const r = await fetch(path, init);
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = text; }
  if (r.status === 401) {
    location.href = '/dashboard/login?next=' + encodeURIComponent(location.pathname + location.search);
    throw new Error('signed out');
  }
  if (r.status >= 400) {
    const message = data && typeof data === 'object' && data.error ? data.error : `${r.status} ${r.statusText}`;
    throw new Error(message);
  }
  return { status: r.status, data, headers: r.headers };
}

function toast(message, kind) {
  const el = document.getElementById('toast');
  el.textContent = message;
  el.className = 'show ' + (kind || 'info');
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.className = ''; }, kind === 'error' ? 9000 : 4000);
}

function ms(text) { return text ? Date.parse(text) : NaN; }

/** '2026-12-05 10:11:12.345' (UTC). */
function when(text) { return text ? text.replace('T', ' ').replace('Z', '') : '—'; }

function duration(msValue) {
  if (!isFinite(msValue)) return '—';
  if (msValue < 1) return '<1 ms';
  if (msValue < 1000) return `${Math.round(msValue * 10) / 10} ms`;
  if (msValue < 60000) return `${(msValue / 1000).toFixed(2)} s`;
  if (msValue < 3600000) return `${Math.floor(msValue / 60000)} min ${Math.round((msValue % 60000) / 1000)} s`;
  return `${(msValue / 3600000).toFixed(1)} h`;
}

function json(value) {
  if (value === undefined) return '';
  return JSON.stringify(value, null, 2);
}

function statusBadge(status, id) {
  return h('span', { class: `badge status-${status}`, id, text: status });
}

function query() { return new URLSearchParams(location.search); }

function setQuery(params) {
  const text = params.toString();
  history.replaceState(null, '', location.pathname + (text ? '?' + text : ''));
}

function fieldRow(label, value) {
  return h('div', { class: 'field' }, h('span', { class: 'label', text: label }), h('span', { class: 'value' }, value));
}

function pre(value, id) {
  return h('pre', { class: 'json', id, text: typeof value === 'string' ? value : json(value) });
}

// ---------------------------------------------------------------- instances list

const listState = { tokens: [null], page: 0, timer: null, selected: new Set(), generation: 0 };

function filterParams() {
  const q = query();
  const out = new URLSearchParams();
  if (q.get('name')) out.set('name', q.get('name'));
  if (q.get('prefix')) out.set('instanceIdPrefix', q.get('prefix'));
  for (const [name, param] of [['from', 'createdTimeFrom'], ['to', 'createdTimeTo']]) {
    if (!q.get(name)) continue;
    const t = new Date(q.get(name) + 'Z');
    if (isNaN(t.getTime())) toast(`Ignoring the filter '${name}': '${q.get(name)}' is not a date.`, 'error');
    else out.set(param, t.toISOString());
  }
  return out;
}

function filtersForm() {
  const q = query();
  const input = (id, name, type, placeholder) =>
    h('input', { id, name, type, placeholder, value: q.get(name) || '', step: type === 'datetime-local' ? '0.001' : undefined });
  const status = h('select', { id: 'f-status', name: 'status' },
    h('option', { value: '', text: 'Any status' }),
    STATUSES.map((s) => h('option', { value: s, text: s, selected: q.get('status') === s })));
  const form = h('form', { id: 'filters', class: 'filters' },
    h('label', {}, 'Status', status),
    h('label', {}, 'Orchestration', input('f-name', 'name', 'text', 'name')),
    h('label', {}, 'Id prefix', input('f-prefix', 'prefix', 'text', 'prefix')),
    h('label', {}, 'Created from (UTC)', input('f-from', 'from', 'datetime-local')),
    h('label', {}, 'to', input('f-to', 'to', 'datetime-local')),
    h('button', { id: 'f-apply', type: 'submit', text: 'Apply' }),
    h('button', { id: 'f-clear', type: 'button', class: 'secondary', text: 'Clear', onclick: () => { setQuery(new URLSearchParams()); renderList(); } }));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const params = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v) params.set(k, v);
    setQuery(params);
    renderList();
  });
  return form;
}

function renderList() {
  listState.generation += 1;
  listState.tokens = [null];
  listState.page = 0;
  listState.selected.clear();
  const auto = h('input', { type: 'checkbox', id: 'auto-refresh', checked: query().get('refresh') !== 'off' });
  auto.addEventListener('change', () => {
    const q = query();
    if (auto.checked) q.delete('refresh'); else q.set('refresh', 'off');
    setQuery(q);
  });
  app.replaceChildren(
    h('section', { class: 'list-head' },
      h('h1', { text: 'Instances' }),
      h('label', { class: 'auto' }, auto, ' auto-refresh')),
    h('div', { id: 'counts', class: 'counts' }),
    filtersForm(),
    h('div', { class: 'bulk' },
      h('span', { id: 'selected-count', class: 'muted', text: 'none selected' }),
      h('button', { id: 'bulk-terminate', type: 'button', class: 'danger', text: 'Terminate selected', onclick: () => bulk('terminate') }),
      h('button', { id: 'bulk-purge', type: 'button', class: 'danger', text: 'Purge selected', onclick: () => bulk('purge') })),
    h('div', { id: 'list-body' }),
    h('div', { class: 'pager' },
      h('button', { id: 'page-prev', type: 'button', class: 'secondary', text: '← Newer', onclick: () => turnPage(-1) }),
      h('span', { id: 'page-label', class: 'muted' }),
      h('button', { id: 'page-next', type: 'button', class: 'secondary', text: 'Older →', onclick: () => turnPage(1) })));
  loadList();
  clearInterval(listState.timer);
  listState.timer = setInterval(() => { if (auto.checked && !document.hidden) loadList(true); }, 3000);
}

function turnPage(step) {
  const next = listState.page + step;
  if (next < 0 || next >= listState.tokens.length) return;
  listState.page = next;
  listState.generation += 1;
  loadList();
}

async function loadList(quiet) {
  // A reply for a page or filter that is no longer shown is dropped.
  const asked = { generation: listState.generation, page: listState.page };
  const q = query();
  const params = filterParams();
  const counts = api('GET', '/dashboard/api/counts?' + params);
  params.set('top', PAGE_SIZE);
  params.set('newestFirst', 'true');
  params.set('showInput', 'false');
  if (q.get('status')) params.set('runtimeStatus', q.get('status'));
  const token = listState.tokens[listState.page];
  try {
    const [page, c] = await Promise.all([
      api('GET', `${API}/instances?${params}`, undefined, token ? { 'x-ms-continuation-token': token } : {}),
      counts]);
    if (asked.generation !== listState.generation || asked.page !== listState.page) return;
    const next = page.headers.get('x-ms-continuation-token');
    listState.tokens.length = listState.page + 1;
    if (next) listState.tokens.push(next);
    drawCounts(c.data);
    drawRows(page.data);
    document.getElementById('page-label').textContent = `page ${listState.page + 1}`;
    document.getElementById('page-prev').disabled = listState.page === 0;
    document.getElementById('page-next').disabled = !next;
    document.body.dataset.listLoadedAt = String(performance.now());
  } catch (e) {
    if (!quiet) toast(e.message, 'error');
  }
}

function drawCounts(data) {
  const current = query().get('status') || '';
  const chip = (status, n) => h('a', {
    class: `chip status-${status || 'all'}${current === status ? ' active' : ''}`,
    id: `count-${status || 'all'}`,
    href: '#',
    onclick: (e) => {
      e.preventDefault();
      const q = query();
      if (status) q.set('status', status); else q.delete('status');
      setQuery(q);
      renderList();
    },
  }, h('span', { class: 'n', text: n }), ' ', status || 'All');
  document.getElementById('counts').replaceChildren(
    chip('', data.total),
    ...STATUSES.map((s) => chip(s, data.counts[s] || 0)));
}

function drawRows(rows) {
  const body = document.getElementById('list-body');
  if (!rows.length) {
    body.replaceChildren(h('p', { class: 'muted empty', id: 'no-instances', text: 'No instance matches.' }));
    updateSelected();
    return;
  }
  const all = h('input', { type: 'checkbox', id: 'select-all', 'aria-label': 'select all' });
  all.addEventListener('change', () => {
    for (const box of body.querySelectorAll('input.pick')) {
      box.checked = all.checked;
      if (all.checked) listState.selected.add(box.value); else listState.selected.delete(box.value);
    }
    updateSelected();
  });
  const table = h('table', { id: 'instances', class: 'grid' },
    h('thead', {}, h('tr', {}, h('th', {}, all), ['Instance', 'Orchestration', 'Status', 'Created (UTC)', 'Updated (UTC)', 'Took'].map((t) => h('th', { text: t })))),
    h('tbody', {}, rows.map((r) => {
      const box = h('input', { type: 'checkbox', class: 'pick', value: r.instanceId, checked: listState.selected.has(r.instanceId), 'aria-label': 'select' });
      box.addEventListener('change', () => {
        if (box.checked) listState.selected.add(r.instanceId); else listState.selected.delete(r.instanceId);
        updateSelected();
      });
      const took = TERMINAL.has(r.runtimeStatus) ? duration(ms(r.lastUpdatedTime) - ms(r.createdTime)) : '';
      return h('tr', { class: 'row', dataset: { id: r.instanceId, status: r.runtimeStatus } },
        h('td', {}, box),
        h('td', {}, h('a', { class: 'instance-link mono', href: `/dashboard/instances/${encodeURIComponent(r.instanceId)}`, text: r.instanceId })),
        h('td', { text: r.name }),
        h('td', {}, statusBadge(r.runtimeStatus)),
        h('td', { class: 'mono', text: when(r.createdTime) }),
        h('td', { class: 'mono', text: when(r.lastUpdatedTime) }),
        h('td', { class: 'mono', text: took }));
    })));
  body.replaceChildren(table);
  updateSelected();
}

function updateSelected() {
  const n = listState.selected.size;
  const label = document.getElementById('selected-count');
  if (label) label.textContent = n ? `${n} selected` : 'none selected';
  for (const id of ['bulk-terminate', 'bulk-purge']) {
    const b = document.getElementById(id);
    if (b) b.disabled = n === 0;
  }
}

async function bulk(action) {
  const ids = [...listState.selected];
  if (!ids.length) return;
  const verb = action === 'terminate' ? 'Terminate' : 'Purge';
  if (!confirm(`${verb} ${ids.length} instance(s)? This cannot be undone.`)) return;
  const failures = [];
  for (const id of ids) {
    try {
      if (action === 'terminate') {
        await api('POST', `${API}/instances/${encodeURIComponent(id)}/terminate?reason=${encodeURIComponent('terminated from the dashboard')}`);
      } else {
        await api('DELETE', `${API}/instances/${encodeURIComponent(id)}`);
      }
    } catch (e) {
      failures.push(`${id}: ${e.message}`);
    }
  }
  listState.selected.clear();
  if (failures.length) toast(`${verb}: ${failures.length} of ${ids.length} refused. ${failures.join('; ')}`, 'error');
  else toast(`${verb}: ${ids.length} instance(s) done.`, 'ok');
  loadList();
}

// ---------------------------------------------------------------- one instance

const inst = { id: null, status: null, history: [], timer: null, check: null, lastKey: '', awaiting: [], divergedAt: null };

async function renderInstance(id) {
  inst.id = id;
  inst.check = null;
  inst.lastKey = '';
  app.replaceChildren(h('p', { class: 'muted', text: 'Loading…' }));
  await refreshInstance(true);
  pollInstance();
}

/** Polls a running instance once a second, one request at a time. */
function pollInstance() {
  clearTimeout(inst.timer);
  inst.timer = setTimeout(async () => {
    if (!document.hidden && inst.status && !TERMINAL.has(inst.status.runtimeStatus)) await refreshInstance(false);
    pollInstance();
  }, 1000);
}

async function refreshInstance(full) {
  let r;
  try {
    r = await api('GET', `${API}/instances/${encodeURIComponent(inst.id)}?showHistory=true&showHistoryOutput=true&showInput=true`);
  } catch (e) {
    inst.lastKey = '';
    if (inst.status) { toast(`Refreshing: ${e.message}`, 'error'); return; }
    app.replaceChildren(h('div', { class: 'card error', id: 'instance-error', text: e.message }), h('a', { href: '/dashboard', text: '← all instances' }));
    return;
  }
  const status = r.data;
  const history = status.historyEvents || [];
  const key = `${status.runtimeStatus}|${history.length}|${status.lastUpdatedTime}`;
  if (key === inst.lastKey) return;
  inst.lastKey = key;
  inst.status = status;
  inst.history = history;
  inst.awaiting = [];
  if (!TERMINAL.has(status.runtimeStatus)) {
    // Event waits are not in the history: a replay says which the orchestrator awaits now.
    try {
      const r = await api('GET', `/dashboard/api/instances/${encodeURIComponent(inst.id)}/replay`);
      inst.awaiting = r.data.awaitingEvents || [];
    } catch (_) { /* shown without them */ }
  }
  if (!TERMINAL.has(status.runtimeStatus) && !inst.check) {
    inst.check = api('GET', `/dashboard/api/instances/${encodeURIComponent(inst.id)}/check`).then((c) => c.data, () => null);
  }
  drawInstance(full);
}

function pinnedDigest(history) {
  let digest = null;
  for (const e of history) {
    if (e.EventType === 'ExecutionStarted' || e.EventType === 'ExecutionMigrated') digest = e.OrchestratorDigest;
  }
  return digest;
}

function failureOf(history) {
  const failed = [...history].reverse().find((e) => e.EventType === 'ExecutionFailed');
  return failed ? { reason: failed.Reason, details: failed.Details } : null;
}

/** Draws the instance; `full` redraws the tab too (a refresh redraws only the timeline and
 * history, so a replay or the children's tree stays as the user left it). */
function drawInstance(full) {
  const s = inst.status;
  const tab = query().get('tab') || 'timeline';
  const failure = s.runtimeStatus === 'Failed' ? failureOf(inst.history) : null;
  const header = h('section', { class: 'card instance-head' },
    h('div', { class: 'title' },
      h('a', { href: '/dashboard', class: 'muted', text: '← Instances' }),
      h('h1', {}, h('span', { id: 'inst-name', text: s.name }), ' ', statusBadge(s.runtimeStatus, 'inst-status'))),
    h('div', { class: 'fields' },
      fieldRow('Instance', h('span', { class: 'mono', id: 'inst-id', text: s.instanceId })),
      fieldRow('Created', h('span', { class: 'mono', text: when(s.createdTime) + ' UTC' })),
      fieldRow('Updated', h('span', { class: 'mono', text: when(s.lastUpdatedTime) + ' UTC' })),
      fieldRow('Orchestrator', h('span', { class: 'mono digest', id: 'inst-digest', text: pinnedDigest(inst.history) || '—' })),
      fieldRow('Version', h('span', { class: 'mono', id: 'inst-version', text: s.version || '—' })),
      s.parentInstanceId ? fieldRow('Parent', h('a', { class: 'mono', href: `/dashboard/instances/${encodeURIComponent(s.parentInstanceId)}`, text: s.parentInstanceId })) : null),
    h('div', { class: 'payloads' },
      h('div', {}, h('h3', { text: 'Input' }), pre(s.input, 'inst-input')),
      h('div', {}, h('h3', { text: 'Output' }), pre(s.output, 'inst-output')),
      h('div', {}, h('h3', { text: 'Custom status' }), pre(s.customStatus, 'inst-custom'))),
    failure ? h('div', { class: 'failure', id: 'inst-failure' }, h('strong', { text: 'Failed: ' }), failure.reason,
      failure.details ? h('details', {}, h('summary', { text: 'details' }), pre(failure.details)) : null) : null,
    actionsBar(s));
  const tabs = h('nav', { class: 'tabs' }, ['timeline', 'history', 'children', 'replay'].map((t) =>
    h('a', { href: '#', id: `tab-${t}`, class: t === tab ? 'active' : '', text: t[0].toUpperCase() + t.slice(1), onclick: (e) => { e.preventDefault(); switchTab(t); } })));
  const typed = ['raise-name', 'raise-data'].map((id) => [id, document.getElementById(id)?.value]);
  const focused = document.activeElement?.id;
  const old = document.getElementById('tab-body');
  const redraw = full !== false || !old || tab === 'timeline' || tab === 'history';
  const body = redraw ? h('section', { id: 'tab-body', class: 'card' }) : old;
  app.replaceChildren(header, tabs, body);
  for (const [id, value] of typed) {
    const input = document.getElementById(id);
    if (input && value) input.value = value;
  }
  if (focused && document.getElementById(focused)) document.getElementById(focused).focus();
  if (redraw) drawTab(tab, body);
}

function switchTab(tab) {
  const q = query();
  q.set('tab', tab);
  if (tab !== 'replay') q.delete('position');
  setQuery(q);
  drawInstance(true);
}

function drawTab(tab, body) {
  if (tab === 'history') drawHistory(body);
  else if (tab === 'children') drawChildren(body);
  else if (tab === 'replay') drawReplay(body);
  else drawTimeline(body);
}

// ---------------------------------------------------------------- actions

function actionsBar(s) {
  const running = !TERMINAL.has(s.runtimeStatus);
  const id = encodeURIComponent(s.instanceId);
  const act = (key, label, enabled, run, danger) => h('button', {
    id: `act-${key}`, type: 'button', class: danger ? 'danger' : 'secondary', text: label, disabled: !enabled,
    onclick: async () => {
      if (!confirm(`${label} instance ${s.instanceId}?`)) return;
      try {
        await run();
        toast(`${label}: accepted.`, 'ok');
        if (key === 'purge') { location.href = '/dashboard'; return; }
        inst.lastKey = '';
        setTimeout(() => refreshInstance(false), 150);
      } catch (e) {
        toast(`${label}: ${e.message}`, 'error');
      }
    },
  });
  const reason = (text) => `?reason=${encodeURIComponent(text)}`;
  const raiseName = h('input', { id: 'raise-name', placeholder: 'event name', disabled: !running });
  const raiseData = h('input', { id: 'raise-data', placeholder: 'JSON data, e.g. true', disabled: !running, class: 'mono' });
  const raise = h('button', {
    id: 'raise-send', type: 'button', text: 'Raise event', disabled: !running,
    onclick: async () => {
      const name = raiseName.value.trim();
      const data = raiseData.value.trim() || 'null';
      try { JSON.parse(data); } catch (e) { toast(`The event's data is not JSON: ${e.message}`, 'error'); return; }
      if (!name) { toast('Name the event to raise.', 'error'); return; }
      if (!confirm(`Raise event '${name}' on ${s.instanceId}?`)) return;
      try {
        await api('POST', `${API}/instances/${id}/raiseEvent/${encodeURIComponent(name)}`, data);
        toast(`Event '${name}' raised.`, 'ok');
      } catch (e) {
        toast(`Raise event: ${e.message}`, 'error');
      }
    },
  });
  return h('div', { class: 'actions' },
    h('div', { class: 'raise' }, raiseName, raiseData, raise),
    h('div', { class: 'buttons' },
      act('suspend', 'Suspend', running && s.runtimeStatus !== 'Suspended', () => api('POST', `${API}/instances/${id}/suspend${reason('suspended from the dashboard')}`)),
      act('resume', 'Resume', s.runtimeStatus === 'Suspended', () => api('POST', `${API}/instances/${id}/resume${reason('resumed from the dashboard')}`)),
      act('rewind', 'Rewind', s.runtimeStatus === 'Failed', () => api('POST', `${API}/instances/${id}/rewind${reason('rewound from the dashboard')}`)),
      act('restart', 'Restart', true, () => api('POST', `${API}/instances/${id}/restart`)),
      act('terminate', 'Terminate', running, () => api('POST', `${API}/instances/${id}/terminate${reason('terminated from the dashboard')}`), true),
      act('purge', 'Purge', !running, () => api('DELETE', `${API}/instances/${id}`), true)));
}

// ---------------------------------------------------------------- timeline

/** One bar per activity call, timer, sub-orchestration and raised event, from the history. */
function timelineRows(history, now) {
  const rows = [];
  const open = new Map();
  const start = history.length ? ms(history[0].Timestamp) : now;
  let turn = start;
  let turnBefore = start;
  for (const e of history) {
    const t = ms(e.Timestamp);
    switch (e.EventType) {
      case 'OrchestratorStarted':
        turnBefore = turn;
        turn = t;
        break;
      case 'TaskScheduled':
        open.set(e.TaskScheduledId, rows.push({ kind: 'activity', name: e.FunctionName, task: e.TaskScheduledId, seq: e.EventId, start: t, end: null, outcome: 'pending' }) - 1);
        break;
      case 'TimerCreated':
        open.set(e.TaskScheduledId, rows.push({ kind: 'timer', name: `timer → ${when(new Date(e.FireAtMs).toISOString())}`, task: e.TaskScheduledId, seq: e.EventId, start: t, end: null, outcome: 'pending' }) - 1);
        break;
      case 'SubOrchestrationInstanceCreated':
        open.set(e.TaskScheduledId, rows.push({ kind: 'sub', name: e.FunctionName, child: e.InstanceId, task: e.TaskScheduledId, seq: e.EventId, start: t, end: null, outcome: 'pending' }) - 1);
        break;
      case 'EntityOperationCalled':
        open.set(e.TaskScheduledId, rows.push({ kind: 'entity', name: `${e.Entity} ${e.Operation}`, task: e.TaskScheduledId, seq: e.EventId, start: t, end: null, outcome: 'pending' }) - 1);
        break;
      case 'EntityOperationSignaled':
        // One-way: sent with this turn's commit, nothing comes back.
        rows.push({ kind: 'entity', name: `signal ${e.Entity} ${e.Operation}`, task: e.TaskScheduledId, seq: e.EventId, start: t, end: t, outcome: 'completed' });
        break;
      case 'TaskCompleted': case 'TaskFailed': case 'TimerFired':
      case 'EntityOperationCompleted': case 'EntityOperationFailed':
      case 'SubOrchestrationInstanceCompleted': case 'SubOrchestrationInstanceFailed': {
        const i = open.get(e.TaskScheduledId);
        if (i === undefined) break;
        rows[i].end = t;
        rows[i].endSeq = e.EventId;
        rows[i].outcome = e.EventType.endsWith('Failed') ? 'failed' : 'completed';
        if (e.Reason) rows[i].reason = e.Reason;
        open.delete(e.TaskScheduledId);
        break;
      }
      case 'EventRaised': {
        // The wait itself is not recorded: the bar runs from the turn before the one the
        // event arrived in (when the orchestrator had gone idle) to the event.
        rows.push({ kind: 'event', name: `event ${e.FunctionName}`, seq: e.EventId, start: turnBefore, end: t, outcome: 'completed' });
        break;
      }
      default: break;
    }
  }
  return rows;
}

function drawTimeline(body) {
  const history = inst.history;
  const running = !TERMINAL.has(inst.status.runtimeStatus);
  const now = Date.now();
  const rows = timelineRows(history, now);
  if (running) {
    const turn = [...history].reverse().find((e) => e.EventType === 'OrchestratorStarted' || e.EventType === 'ExecutionStarted');
    const since = turn ? ms(turn.Timestamp) : now;
    for (const name of inst.awaiting || []) {
      rows.push({ kind: 'event', name: `event ${name}`, seq: turn ? turn.EventId : 0, start: since, end: null, outcome: 'pending' });
    }
  }
  const t0 = history.length ? ms(history[0].Timestamp) : now;
  const last = history.length ? ms(history[history.length - 1].Timestamp) : now;
  const tEnd = Math.max(running ? now : last, ...rows.map((r) => r.end || (running ? now : last)), t0 + 1);
  const span = tEnd - t0;
  const summary = summarize(rows);
  const banner = h('div', { id: 'divergence' });
  body.replaceChildren(
    h('div', { class: 'timeline-head' },
      h('span', { id: 'timeline-total', text: `${rows.length} task(s) over ${duration((running ? now : last) - t0)}` }),
      h('span', { class: 'muted', text: ' · click a bar to replay the orchestrator there' })),
    banner,
    summary,
    axis(span),
    virtualRows(rows, t0, span, running ? now : last));
  document.body.dataset.instanceLoadedAt = String(performance.now());
  if (inst.check) {
    inst.check.then((c) => {
      if (!c || c.compatible !== false || !banner.isConnected) return;
      const d = c.divergence;
      banner.replaceChildren(h('div', { class: 'failure diverged' },
        h('strong', { text: `The deployed orchestrator (${String(c.deployedDigest).slice(0, 12)}…) would diverge at event ${d.event}` }),
        ` (decision ${d.decision}): ${d.message}`));
      inst.divergedAt = d.event;
      for (const bar of body.querySelectorAll(`.tl-row[data-seq="${d.event}"]`)) bar.classList.add('diverged');
    });
  }
}

function summarize(rows) {
  if (rows.length <= 12) return h('div');
  const by = new Map();
  for (const r of rows) {
    const k = `${r.kind}:${r.name}`;
    const g = by.get(k) || { name: r.name, kind: r.kind, n: 0, failed: 0, pending: 0, took: [] };
    g.n += 1;
    if (r.outcome === 'failed') g.failed += 1;
    if (r.outcome === 'pending') g.pending += 1;
    if (r.end !== null) g.took.push(r.end - r.start);
    by.set(k, g);
  }
  const pct = (arr, p) => (arr.length ? arr.sort((a, b) => a - b)[Math.min(arr.length - 1, Math.floor(arr.length * p))] : NaN);
  return h('table', { class: 'grid summary', id: 'timeline-summary' },
    h('thead', {}, h('tr', {}, ['Task', 'Calls', 'Failed', 'Pending', 'p50', 'p99', 'Max'].map((t) => h('th', { text: t })))),
    h('tbody', {}, [...by.values()].map((g) => h('tr', {},
      h('td', { text: g.name }), h('td', { text: g.n }), h('td', { text: g.failed }), h('td', { text: g.pending }),
      h('td', { text: duration(pct(g.took, 0.5)) }), h('td', { text: duration(pct(g.took, 0.99)) }),
      h('td', { text: duration(g.took.length ? Math.max(...g.took) : NaN) })))));
}

function axis(span) {
  const ticks = [];
  for (let i = 0; i <= 4; i += 1) ticks.push(h('span', { class: 'tick', style: { left: `${i * 25}%` }, text: i === 0 ? '0' : duration((span * i) / 4) }));
  return h('div', { class: 'tl-axis' }, h('div', { class: 'tl-label' }), h('div', { class: 'tl-track' }, ticks));
}

/** Where a bar's duration goes: after it, inside it if it is wide, else before it. */
function durPlace(left, width) {
  if (left + width <= 80) return { left: `${left + width}%` };
  if (width >= 15) return { left: `${left}%`, color: '#fff' };
  return { right: `${100 - left}%`, marginRight: '6px' };
}

/** Rows drawn only where they are seen: 3 tasks or 10,000 scroll the same. */
function virtualRows(rows, t0, span, now) {
  const box = h('div', { class: 'tl-scroll', id: 'timeline' });
  const inner = h('div', { class: 'tl-inner', style: { height: `${rows.length * ROW_HEIGHT}px` } });
  box.append(inner);
  const drawn = new Map();
  const draw = () => {
    const top = box.scrollTop;
    const first = Math.max(0, Math.floor(top / ROW_HEIGHT) - 10);
    const lastRow = Math.min(rows.length, Math.ceil((top + (box.clientHeight || 600)) / ROW_HEIGHT) + 10);
    for (const [i, el] of drawn) if (i < first || i >= lastRow) { el.remove(); drawn.delete(i); }
    for (let i = first; i < lastRow; i += 1) {
      if (drawn.has(i)) continue;
      const el = barRow(rows[i], t0, span, now);
      el.style.top = `${i * ROW_HEIGHT}px`;
      inner.append(el);
      drawn.set(i, el);
    }
  };
  box.addEventListener('scroll', () => requestAnimationFrame(draw));
  requestAnimationFrame(draw);
  draw();
  return box;
}

function barRow(r, t0, span, now) {
  const end = r.end === null ? now : r.end;
  const took = end - r.start;
  const left = ((r.start - t0) / span) * 100;
  const width = Math.max((took / span) * 100, 0.4);
  const label = r.kind === 'sub' && r.child
    ? h('a', { href: `/dashboard/instances/${encodeURIComponent(r.child)}`, text: r.name, class: 'child-link' })
    : h('span', { text: r.name });
  const title = `${r.name} · ${r.outcome} · ${duration(took)}${r.reason ? ' · ' + r.reason : ''}`;
  const replayAt = r.endSeq === undefined ? r.seq : r.endSeq;
  return h('div', { class: `tl-row${r.seq === inst.divergedAt ? ' diverged' : ''}`, dataset: { seq: r.seq } },
    h('div', { class: 'tl-label' }, h('span', { class: `kind kind-${r.kind}`, text: r.kind === 'sub' ? 'sub' : r.kind }), label),
    h('div', { class: 'tl-track' },
      h('a', {
        class: `bar ${r.kind} ${r.outcome}`, href: `?tab=replay&position=${replayAt}`, title,
        style: { left: `${left}%`, width: `${width}%` },
        dataset: { seq: r.seq, duration: String(took) },
      }),
      h('span', {
        class: 'dur',
        text: r.end === null ? `${duration(took)} …` : duration(took),
        // Beside the bar: after it, or before it when the bar ends near the right edge.
        style: durPlace(left, width),
      })));
}

// ---------------------------------------------------------------- history

function eventSummary(e) {
  const bits = [];
  if (e.FunctionName) bits.push(e.FunctionName);
  if (e.TaskScheduledId !== undefined) bits.push(`task ${e.TaskScheduledId}`);
  if (e.InstanceId) bits.push(e.InstanceId);
  if (e.Reason) bits.push(e.Reason);
  return bits.join(' · ');
}

function drawHistory(body) {
  const history = inst.history;
  const limit = Number(query().get('limit')) || 1000;
  const shown = history.slice(0, limit);
  const download = h('a', {
    id: 'history-download', class: 'button secondary', download: `${inst.id}-history.json`,
    href: 'data:application/json;charset=utf-8,' + encodeURIComponent(JSON.stringify(history, null, 2)),
    text: 'Download JSON',
  });
  const t0 = history.length ? ms(history[0].Timestamp) : 0;
  const table = h('table', { class: 'grid history', id: 'history' },
    h('thead', {}, h('tr', {}, ['#', 'Time (UTC)', '+', 'Event', 'Summary', 'Payload'].map((t) => h('th', { text: t })))),
    h('tbody', {}, shown.map((e) => {
      const payload = { ...e };
      delete payload.EventType; delete payload.EventId; delete payload.Timestamp;
      return h('tr', { dataset: { seq: e.EventId } },
        h('td', { class: 'mono', text: e.EventId }),
        h('td', { class: 'mono', text: when(e.Timestamp) }),
        h('td', { class: 'mono muted', text: duration(ms(e.Timestamp) - t0) }),
        h('td', { text: e.EventType }),
        h('td', { text: eventSummary(e) }),
        h('td', {}, Object.keys(payload).length ? h('details', {}, h('summary', { text: 'JSON' }), pre(payload)) : ''));
    })));
  const more = history.length > shown.length
    ? h('a', { href: `?tab=history&limit=${limit * 4}`, text: `show ${Math.min(history.length, limit * 4) - limit} more of ${history.length}` })
    : null;
  body.replaceChildren(h('div', { class: 'row-head' }, h('span', { text: `${history.length} events` }), download), table, more);
}

// ---------------------------------------------------------------- children

async function drawChildren(body) {
  const list = h('ul', { class: 'tree', id: 'children' });
  body.replaceChildren(list);
  const budget = { left: 200 };
  await childrenOf(inst.history, list, 0, budget);
  if (!list.children.length) body.replaceChildren(h('p', { class: 'muted', id: 'no-children', text: 'This instance started no sub-orchestrations.' }));
}

async function childrenOf(history, list, depth, budget) {
  const ids = history.filter((e) => e.EventType === 'SubOrchestrationInstanceCreated').map((e) => [e.InstanceId, e.FunctionName]);
  for (const [id, name] of ids) {
    if (budget.left <= 0) { list.append(h('li', { class: 'muted', text: '… more' })); return; }
    budget.left -= 1;
    const item = h('li', {}, h('a', { class: 'mono child-link', href: `/dashboard/instances/${encodeURIComponent(id)}`, text: id }), ` ${name} `);
    list.append(item);
    try {
      const r = await api('GET', `${API}/instances/${encodeURIComponent(id)}?showHistory=${depth < 3}&showInput=false`);
      item.append(statusBadge(r.data.runtimeStatus));
      if (depth < 3 && r.data.historyEvents) {
        const sub = h('ul', {});
        item.append(sub);
        await childrenOf(r.data.historyEvents, sub, depth + 1, budget);
      }
    } catch (e) {
      item.append(h('span', { class: 'muted', text: e.message }));
    }
  }
}

// ---------------------------------------------------------------- replay

async function drawReplay(body) {
  const history = inst.history;
  const lastSeq = history.length ? history[history.length - 1].EventId : 0;
  const q = query();
  const position = Math.min(Number(q.get('position') ?? lastSeq) || 0, lastSeq);
  const slider = h('input', { type: 'range', id: 'replay-slider', min: 0, max: lastSeq, value: position });
  const number = h('input', { type: 'number', id: 'replay-position', min: 0, max: lastSeq, value: position });
  const go = (p) => { const qq = query(); qq.set('tab', 'replay'); qq.set('position', p); setQuery(qq); drawReplay(body); };
  slider.addEventListener('change', () => go(slider.value));
  number.addEventListener('change', () => go(number.value));
  const out = h('div', { id: 'replay-view' }, h('p', { class: 'muted', text: 'Replaying…' }));
  body.replaceChildren(
    h('div', { class: 'replay-controls' }, h('label', { text: 'Event ' }), number, slider,
      h('button', { id: 'replay-go', type: 'button', text: 'Replay', onclick: () => go(number.value) })),
    out);
  try {
    const r = await api('GET', `/dashboard/api/instances/${encodeURIComponent(inst.id)}/replay?position=${position}`);
    out.replaceChildren(replayView(r.data, history));
  } catch (e) {
    out.replaceChildren(h('div', { class: 'failure', id: 'replay-error', text: e.message }));
  }
}

function describeTask(t) {
  if (t.kind === 'timer') return `timer until ${when(t.fireAt)}`;
  if (t.kind === 'subOrchestration') return `sub-orchestration ${t.name} (${t.instanceId})`;
  if (t.kind === 'entityCall' || t.kind === 'entitySignal') return `${t.kind === 'entityCall' ? 'call' : 'signal'} ${t.name}(${JSON.stringify(t.input)})`;
  return `activity ${t.name}(${JSON.stringify(t.input)})`;
}

function replayView(v, history) {
  const outcome = v.outcome.state === 'waiting' ? 'waiting for what is pending' : v.outcome.state;
  const upTo = history.filter((e) => e.EventId <= v.throughEvent);
  return h('div', { class: 'replay' },
    h('p', { id: 'replay-summary' },
      h('strong', { text: `After event ${v.position}` }),
      ` (through event ${v.throughEvent} of ${v.historyLength}, turn ${v.turn}) on orchestrator `,
      h('span', { class: 'mono', text: String(v.orchestratorDigest).slice(0, 12) + '…' }), `: ${outcome}`,
      v.outcome.message ? h('span', { class: 'error-text', text: ` — ${v.outcome.message}` }) : null),
    h('div', { class: 'replay-grid' },
      h('div', {}, h('h3', { text: `Decisions made (${v.decisions.length})` }),
        h('ol', { id: 'replay-decisions', start: 0 }, v.decisions.map((d) => h('li', { text: describeTask(d) })))),
      h('div', {}, h('h3', { text: `Pending (${v.pending.length + v.awaitingEvents.length})` }),
        h('ul', { id: 'replay-pending' },
          v.pending.map((d) => h('li', { text: describeTask(d) })),
          v.awaitingEvents.map((n) => h('li', { text: `event ${n}` })))),
      h('div', {}, h('h3', { text: 'Custom status' }), pre(v.customStatus, 'replay-custom')),
      h('div', {}, h('h3', { text: `Log lines (${v.logs.length})` }),
        h('pre', { id: 'replay-logs', class: 'logs', text: v.logs.map((l) => `turn ${l.turn} [${l.level}] ${l.message}`).join('\n') || '(none)' }))),
    h('h3', { text: 'History up to here' }),
    h('ol', { class: 'mini-history', start: 0 }, upTo.map((e) => h('li', { class: e.EventId === v.position ? 'here' : '', text: `${e.EventType} ${eventSummary(e)}` }))));
}

// ---------------------------------------------------------------- components

function grantText(g) {
  const parts = [`${Math.round(g.memoryBytes / 1048576)} MiB`, `${g.timeoutMs / 1000} s`];
  parts.push(g.env.length ? `env ${g.env.join(', ')}` : 'no env');
  parts.push(g.dirs.length ? `dirs ${g.dirs.map((d) => `${d.guest}${d.writable ? ' (rw)' : ''}`).join(', ')}` : 'no dirs');
  parts.push(g.connect.length ? `connect ${g.connect.join(', ')}` : 'no network');
  if (g.maxConcurrency) parts.push(`≤ ${g.maxConcurrency} at once`);
  if (g.retryAttempts) parts.push(`${g.retryAttempts} attempts`);
  return parts.join(' · ');
}

async function renderComponents() {
  app.replaceChildren(h('h1', { text: 'Components' }), h('div', { id: 'components-body' }, h('p', { class: 'muted', text: 'Loading…' })));
  let data;
  try {
    data = (await api('GET', '/admin/components')).data;
  } catch (e) {
    document.getElementById('components-body').replaceChildren(h('div', { class: 'failure', text: e.message }));
    return;
  }
  const active = new Map();
  for (const r of data.routes) {
    const list = active.get(r.digest) || [];
    list.push(r.name);
    active.set(r.digest, list);
  }
  const table = h('table', { class: 'grid', id: 'components' },
    h('thead', {}, h('tr', {}, ['Digest', 'Kind', 'Names', 'Serving now', 'Grants', 'Size', 'Added (UTC)', ''].map((t) => h('th', { text: t })))),
    h('tbody', {}, [...data.components].reverse().map((c) => {
      const serving = active.get(c.digest) || [];
      return h('tr', { dataset: { digest: c.digest } },
        h('td', { class: 'mono nowrap', title: c.digest, text: c.digest.slice(0, 19) + '…' }),
        h('td', { text: c.kind }),
        h('td', { text: (c.names || []).join(', ') }),
        h('td', { text: serving.join(', ') || '—' }),
        h('td', { class: 'grants' }, c.grants ? grantText(c.grants) : h('span', { class: 'muted', text: 'the context interface only' })),
        h('td', { class: 'mono', text: `${Math.round(c.size / 1024)} KiB` }),
        h('td', { class: 'mono', text: when(c.addedTime) }),
        h('td', {}, serving.length === (c.names || []).length && serving.length ? h('span', { class: 'muted', text: 'active' })
          : h('button', {
            type: 'button', class: 'secondary activate', text: 'Activate',
            onclick: async () => {
              if (!confirm(`Route ${(c.names || []).join(', ')} to ${c.digest.slice(0, 16)}…? New instances start on it.`)) return;
              try {
                await api('POST', `/admin/components/${c.digest}/activate`);
                toast('Activated.', 'ok');
                renderComponents();
              } catch (e) {
                toast(`Activate: ${e.message}`, 'error');
              }
            },
          })));
    })));
  document.getElementById('components-body').replaceChildren(table);
}

// ---------------------------------------------------------------- start

const app = document.getElementById('app');

document.getElementById('logout').addEventListener('click', async () => {
  try { await api('POST', '/dashboard/logout'); } catch (_) { /* signed out either way */ }
  location.href = '/dashboard/login';
});

(function route() {
  const path = location.pathname.replace(/\/+$/, '');
  const m = path.match(/^\/dashboard\/instances\/(.+)$/);
  if (m) {
    renderInstance(decodeURIComponent(m[1]));
  } else if (path === '/dashboard/components') {
    document.getElementById('nav-components').classList.add('active');
    renderComponents();
  } else {
    document.getElementById('nav-instances').classList.add('active');
    renderList();
  }
}());
