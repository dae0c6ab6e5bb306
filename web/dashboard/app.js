// The jumpkv dashboard: plain JavaScript, no framework, no build step.
// Everything it loads or calls is on the node that served the page:
//   GET /v1/cluster    nodes, leader, term, epoch (polled every second)
//   GET /v1/placement  the bucket map (polled every second)
//   GET /v1/watch      the live feed (WebSocket, resumed with &since=)
//   /v1/kv             the key browser (list, read, write, delete)
//   /ui/session, /ui/login, /ui/logout   who is logged in (nodes run with --users)

import {charts, initCharts, onCluster} from './charts.js';

const POLL_MS = 1000;
const FEED_MAX = 200;      // feed rows kept, newest first
const LIST_PAGE = 200;     // keys per /v1/kv listing request
const LIST_BUDGET = 300;   // folders + keys shown before "Load more"
const STALE_MS = 2500;     // no answer for this long: the data shown is stale
const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2',
  '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#86bcb6'];

const $ = (id) => document.getElementById(id);

// h builds an element: h('td', {class: 'num', text: 3}, child...).
function h(tag, props, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v == null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = String(v);
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c != null && c !== false) e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

// swatch is a small square in a node's color (set through the CSSOM: the
// page's Content-Security-Policy forbids inline style attributes).
function swatch(id) {
  const s = h('span', {class: 'swatch', 'aria-hidden': 'true'});
  s.style.backgroundColor = colorOf(id);
  return s;
}

// parseJSON keeps integers past 2^53 (node IDs are uint64) exact, as
// strings; every ID is handled as a string anyway.
function parseJSON(text) {
  return JSON.parse(text, (key, value, ctx) =>
    typeof value === 'number' && !Number.isSafeInteger(value) && Number.isInteger(value) &&
    ctx && typeof ctx.source === 'string' ? ctx.source : value);
}

// cmpID orders decimal ID strings numerically.
function cmpID(a, b) {
  a = String(a); b = String(b);
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

// encKey percent-encodes a key for a URL path, keeping its "/". A key with
// a "." or ".." segment is encoded whole ("/" as %2F, which the node
// decodes back), or the browser would resolve the dot segments away.
function encKey(key) {
  const segs = key.split('/');
  if (segs.some((s) => s === '.' || s === '..')) return encodeURIComponent(key);
  return segs.map(encodeURIComponent).join('/');
}

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder('utf-8', {fatal: true});

// asText returns the bytes as text when they are UTF-8 without control
// characters (tabs and line breaks aside), else null.
function asText(bytes) {
  let s;
  try { s = utf8Strict.decode(bytes); } catch { return null; }
  // eslint-disable-next-line no-control-regex
  return /[\u0000-\u0008\u000b\u000e-\u001f\u007f]/.test(s) ? null : s;
}

function b64ToBytes(b64) {
  const bin = atob(b64 || '');
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function bytesToB64(bytes) {
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    bin += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(bin);
}

const hex2 = (b) => b.toString(16).padStart(2, '0');

// hexDump renders up to max bytes as offset, hex and ASCII columns.
function hexDump(bytes, max = 512) {
  const lines = [];
  const n = Math.min(bytes.length, max);
  for (let off = 0; off < n; off += 16) {
    const row = bytes.subarray(off, Math.min(off + 16, n));
    const hx = Array.from(row, hex2).join(' ').padEnd(47);
    const asc = Array.from(row, (b) => (b >= 32 && b < 127 ? String.fromCharCode(b) : '.')).join('');
    lines.push(`${off.toString(16).padStart(6, '0')}  ${hx}  ${asc}`);
  }
  if (bytes.length > n) lines.push(`… ${bytes.length - n} more bytes`);
  return lines.join('\n');
}

// preview is a one-line rendering of a value for the feed.
function preview(bytes) {
  const t = asText(bytes);
  if (t !== null) {
    const one = t.replace(/\s+/g, ' ');
    return one.length > 120 ? one.slice(0, 120) + '…' : one || '(empty)';
  }
  const head = Array.from(bytes.subarray(0, 16), hex2).join(' ');
  return `${bytes.length} bytes: ${head}${bytes.length > 16 ? ' …' : ''}`;
}

const sizeText = (n) => (n < 1024 ? `${n} B` : n < 1 << 20 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / (1 << 20)).toFixed(1)} MiB`);
const clock = () => new Date().toLocaleTimeString([], {hour12: false});
const folderOf = (key) => key.slice(0, key.lastIndexOf('/') + 1);
const parentOf = (prefix) => folderOf(prefix.endsWith('/') ? prefix.slice(0, -1) : prefix);

// ---------------------------------------------------------------- requests

// request fetches from this node with a timeout; it notes which node
// answered (every response names it). Its requests say they are the
// dashboard's, so a 401 asks for this page's login form rather than the
// browser's own password dialog; a 401 opens the form.
async function request(path, {timeout = 4000, ...init} = {}) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), timeout);
  const headers = new Headers(init.headers || {});
  headers.set('X-Jumpkv-Dashboard', '1');
  try {
    const res = await fetch(path, {cache: 'no-store', ...init, headers, signal: ctl.signal});
    const self = res.headers.get('X-Jumpkv-Node');
    if (self) setSelf(self);
    if (res.status === 401) showLogin();
    return res;
  } catch (e) {
    const err = new Error(e.name === 'AbortError' ? `no answer within ${timeout / 1000}s` : 'node unreachable');
    err.timeout = e.name === 'AbortError';
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

// failure describes an error answer, from its JSON body when it has one.
async function failure(res) {
  let text = '';
  try { text = await res.text(); } catch { /* nothing to add */ }
  try {
    const j = JSON.parse(text);
    if (j && j.error) return `${res.status} ${j.code ? j.code + ': ' : ''}${j.error}`;
  } catch { /* not JSON */ }
  return `${res.status} ${res.statusText || ''}`.trim();
}

// ---------------------------------------------------------------- cluster

const state = {
  self: '',           // the ID of the node serving the page
  leader: '',
  nodes: new Map(),   // id → the node's entry in /v1/cluster
  placement: null,    // the last /v1/placement answer
  placementText: '',
  lastOK: 0,          // when /v1/cluster last answered
  down: false,        // the node has not answered for STALE_MS
  nodesSig: '',
  legendSig: '',
  highlight: null,    // the node whose buckets the map highlights
};

const colors = new Map();

// colorOf gives each node its color, derived from its ID: the palette
// slot its ID hashes to, or the next free one when another node of the
// cluster took that slot first (in ID order). A node therefore has the
// same color on every node's dashboard, whichever node served the page; an
// ID the page has not placed yet is grey.
function colorOf(id) {
  return colors.get(String(id)) || '#c9ced6';
}

function assignColors(ids) {
  const fresh = [...new Set(ids.map(String))].filter((id) => id !== '0' && !colors.has(id)).sort(cmpID);
  const used = new Set(colors.values());
  for (const id of fresh) {
    let h = 2166136261; // FNV-1a over the decimal ID
    for (const ch of id) h = Math.imul(h ^ ch.charCodeAt(0), 16777619) >>> 0;
    let c = `hsl(${h % 360} 55% 52%)`;
    for (let i = 0; i < PALETTE.length; i++) {
      const p = PALETTE[(h + i) % PALETTE.length];
      if (!used.has(p)) { c = p; break; }
    }
    used.add(c);
    colors.set(id, c);
  }
}

// nodeName is what people call a node: its --name, else its HTTP address.
function nodeName(id) {
  const n = state.nodes.get(String(id));
  if (!n) return `node ${id}`;
  return n.name || n.http || `node ${id}`;
}

// termText shows a term (the leader's start in microseconds since the
// epoch) as the time it began, which people can read; the raw number is in
// the tooltip.
function termText(term) {
  const us = Number(term);
  if (!Number.isFinite(us) || us <= 0) return '–';
  const d = new Date(us / 1000);
  const ago = Math.max(0, Math.round((Date.now() - d.getTime()) / 1000));
  const span = ago < 120 ? `${ago}s` : ago < 7200 ? `${Math.round(ago / 60)}m` : ago < 172800 ? `${Math.round(ago / 3600)}h` : `${Math.round(ago / 86400)}d`;
  return `since ${d.toLocaleTimeString()} (${span} ago)`;
}

function setSelf(id) {
  if (id === state.self) return;
  state.self = id;
  const dd = $('sum-self');
  dd.dataset.id = id;
  dd.replaceChildren(swatch(id), h('code', {text: id}));
  state.nodesSig = '';
}

function setConn(ok, why) {
  const pill = $('conn');
  if (ok) {
    if (state.down) reconnectWatch(); // the watch may have died unnoticed too
    state.down = false;
    pill.className = 'pill pill-ok';
    pill.textContent = 'live';
    pill.title = 'last update ' + clock();
    $('main').classList.remove('stale');
    return;
  }
  if (Date.now() - state.lastOK < STALE_MS) return;
  state.down = true;
  pill.className = 'pill pill-bad';
  pill.textContent = `node not answering: ${why} — retrying`;
  $('main').classList.add('stale');
}

// pollCluster polls /v1/cluster every second, twice as often while the
// cluster is in flux (a node suspect, no leader, this node not answering).
async function pollCluster() {
  let busy = true;
  try {
    const res = await request('/v1/cluster', {timeout: 3000});
    if (!res.ok) throw new Error(await failure(res));
    const ci = parseJSON(await res.text());
    state.lastOK = Date.now();
    renderCluster(ci);
    setConn(true);
    busy = String(ci.leader ?? 0) === '0' || (ci.nodes || []).some((n) => n.state === 'suspect');
  } catch (e) {
    setConn(false, e.message);
  }
  setTimeout(pollCluster, busy ? POLL_MS / 2 : POLL_MS);
}

function renderCluster(ci) {
  const nodes = [...(ci.nodes || [])].sort((a, b) => cmpID(a.id, b.id));
  state.nodes = new Map(nodes.map((n) => [String(n.id), n]));
  state.leader = String(ci.leader ?? 0);
  assignColors(nodes.map((n) => n.id));

  const lead = $('sum-leader');
  lead.dataset.id = state.leader;
  lead.replaceChildren(...(state.leader === '0' ? [h('span', {class: 'warn', text: 'none'})]
    : [swatch(state.leader), h('code', {text: state.leader}), h('span', {class: 'muted', text: ' ' + nodeName(state.leader)})]));
  const term = $('sum-term');
  term.textContent = termText(ci.term);
  term.title = `term ${ci.term ?? '–'}`;
  term.dataset.term = String(ci.term ?? '');
  if (state.self) $('sum-self').replaceChildren(swatch(state.self), h('code', {text: state.self}), h('span', {class: 'muted', text: ' ' + nodeName(state.self)}));
  $('sum-epoch').textContent = ci.epoch ?? '–';
  $('sum-replicas').textContent = ci.replicas ?? '–';
  $('sum-buckets').textContent = ci.buckets ?? '–';

  const sig = JSON.stringify([nodes, state.self]);
  if (sig !== state.nodesSig) {
    state.nodesSig = sig;
    const rows = nodes.map((n) => {
      const id = String(n.id);
      const self = id === state.self;
      return h('tr', {class: `state-${n.state}${self ? ' self' : ''}`, dataset: {id, state: n.state, role: n.role}},
        h('td', {class: 'id'}, swatch(id), h('span', {class: 'name', text: n.name || ''}), ' ', h('code', {class: 'muted', text: id}), self && h('span', {class: 'tag', text: 'this page'})),
        h('td', null, httpLink(n.http)),
        h('td', {class: 'role'}, n.role === 'leader' ? h('span', {class: 'tag tag-leader', text: 'leader'}) : h('span', {class: 'muted', text: n.role})),
        h('td', {class: 'state'}, h('span', {class: `pill pill-${n.state}`, text: n.state})),
        h('td', {class: 'num', text: n.buckets_primary}),
        h('td', {class: 'num', text: n.buckets_backup}),
        h('td', {class: 'num', text: Number(n.keys).toLocaleString()}));
    });
    $('nodes').tBodies[0].replaceChildren(...(rows.length ? rows
      : [h('tr', {class: 'empty'}, h('td', {colspan: 7, text: 'no members yet'}))]));
  }
  renderLegend();
  markBuckets();
  onCluster(ci, colorOf);
}

// httpLink links to a node's own dashboard.
function httpLink(addr) {
  if (!addr) return h('span', {class: 'muted', text: '–'});
  const host = addr.startsWith(':') ? location.hostname + addr : addr;
  return h('a', {href: `${location.protocol}//${host}/`, title: "this node's dashboard"}, h('code', {text: addr}));
}

// ---------------------------------------------------------------- buckets

async function pollPlacement() {
  try {
    const res = await request('/v1/placement', {timeout: 3000});
    if (res.ok) {
      const text = await res.text();
      if (text !== state.placementText) {
        state.placementText = text;
        state.placement = parseJSON(text);
        renderBuckets();
      }
    } else if (!state.placement) {
      $('bucket-info').textContent = await failure(res);
    }
  } catch { /* pollCluster reports the node unreachable */ }
  setTimeout(pollPlacement, POLL_MS);
}

function renderBuckets() {
  const p = state.placement;
  const buckets = p.buckets || [];
  assignColors(buckets.flat());
  const grid = $('bucket-grid');
  const n = buckets.length;
  grid.style.setProperty('--cell', n <= 128 ? '26px' : n <= 512 ? '18px' : '13px');
  const cells = buckets.map((reps, b) => {
    const [primary, ...backups] = reps.map(String);
    const cell = h('div', {class: 'cell', dataset: {b, primary: primary ?? '0', reps: reps.join(' ')}});
    cell.style.backgroundColor = colorOf(primary ?? '0');
    if (backups.length) {
      const stripes = h('div', {class: 'stripes'});
      for (const id of backups) {
        const s = h('i', {dataset: {id}});
        s.style.backgroundColor = colorOf(id);
        stripes.append(s);
      }
      cell.append(stripes);
    }
    return cell;
  });
  grid.replaceChildren(...cells);
  applyHighlight();
  $('bucket-info').textContent = `epoch ${p.epoch} · ${n} buckets · ${p.replicas} ${p.replicas === 1 ? 'copy' : 'copies'} each`;
  state.legendSig = '';
  renderLegend();
  markBuckets();
}

const isDown = (id) => {
  const n = state.nodes.get(String(id));
  return n ? n.state === 'dead' : false;
};

// markBuckets hatches the buckets and stripes whose node is dead, and
// refreshes each cell's tooltip.
function markBuckets() {
  for (const cell of $('bucket-grid').children) {
    cell.classList.toggle('down', isDown(cell.dataset.primary));
    for (const s of cell.querySelectorAll('i')) s.classList.toggle('down', isDown(s.dataset.id));
    cell.title = bucketText(cell);
  }
}

function bucketText(cell) {
  const [primary, ...backups] = cell.dataset.reps.split(' ').filter(Boolean);
  const who = (id) => {
    const n = state.nodes.get(id);
    return `${nodeName(id)} (${id}${n && n.state !== 'alive' ? ', ' + n.state : ''})`;
  };
  if (!primary || primary === '0') return `bucket ${cell.dataset.b}: not placed`;
  return `bucket ${cell.dataset.b}: primary ${who(primary)}` +
    (backups.length ? `; backups ${backups.map(who).join(', ')}` : '; no backups');
}

function renderLegend() {
  const p = state.placement;
  const counts = new Map();
  for (const reps of (p && p.buckets) || []) {
    reps.forEach((id, i) => {
      const c = counts.get(String(id)) || [0, 0];
      c[i === 0 ? 0 : 1]++;
      counts.set(String(id), c);
    });
  }
  const ids = [...new Set([...state.nodes.keys(), ...counts.keys()])].filter((id) => id !== '0').sort(cmpID);
  const items = ids.map((id) => {
    const n = state.nodes.get(id);
    const [pr, bk] = counts.get(id) || [0, 0];
    return {id, name: nodeName(id), st: n ? n.state : 'gone', pr, bk};
  });
  const sig = JSON.stringify(items);
  if (sig === state.legendSig) return;
  state.legendSig = sig;
  $('legend').replaceChildren(...items.map((it) =>
    h('span', {class: `legend-item state-${it.st}`, dataset: {id: it.id}, tabindex: 0, title: `node ${it.id}`},
      swatch(it.id), h('span', {text: it.name}),
      h('small', {text: ` ${it.pr} primary · ${it.bk} backup`}),
      it.st !== 'alive' && h('span', {class: `pill pill-${it.st}`, text: it.st}))));
  applyHighlight();
}

// highlight dims every bucket but those with a copy on node id (null: none).
function highlight(id) {
  state.highlight = id;
  applyHighlight();
}

function applyHighlight() {
  const id = state.highlight;
  const grid = $('bucket-grid');
  grid.classList.toggle('focus', !!id);
  for (const cell of grid.children) {
    cell.classList.toggle('hl', !!id && cell.dataset.reps.split(' ').includes(id));
  }
  for (const it of $('legend').children) it.classList.toggle('on', it.dataset.id === id);
}

function initBuckets() {
  const legend = $('legend');
  const pick = (e) => highlight(e.target.closest('[data-id]')?.dataset.id || null);
  legend.addEventListener('mouseover', pick);
  legend.addEventListener('focusin', pick);
  legend.addEventListener('mouseleave', () => highlight(null));
  legend.addEventListener('focusout', () => highlight(null));
  const hint = $('bucket-hover');
  const idle = hint.textContent;
  const grid = $('bucket-grid');
  grid.addEventListener('mouseover', (e) => {
    const cell = e.target.closest('.cell');
    if (cell) hint.textContent = bucketText(cell);
  });
  grid.addEventListener('mouseleave', () => { hint.textContent = idle; });
}

// ---------------------------------------------------------------- feed

const feed = {
  ws: null,
  gen: 0,         // bumps on every (re)connect; stale sockets' events are ignored
  prefix: '',
  last: '',       // version of the last change seen: reconnect with &since=
  backoff: 500,
  down: false,    // closed and not yet reopened
  timer: 0,
};

function setFeedStatus(kind, text) {
  const s = $('feed-status');
  s.className = `pill pill-${kind}`;
  s.textContent = text;
}

function watchURL() {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  let url = `${proto}//${location.host}/v1/watch?prefix=${encodeURIComponent(feed.prefix)}`;
  if (feed.last) url += `&since=${encodeURIComponent(feed.last)}`;
  return url;
}

function connectWatch() {
  clearTimeout(feed.timer);
  const gen = ++feed.gen;
  const resume = feed.last;
  let ws;
  try {
    ws = new WebSocket(watchURL());
  } catch (e) {
    feedClosed(gen, e.message);
    return;
  }
  feed.ws = ws;
  setFeedStatus('wait', 'connecting…');
  ws.onopen = () => {
    if (gen !== feed.gen) return;
    feed.backoff = 500;
    setFeedStatus('ok', 'live');
    if (feed.down) {
      feed.down = false;
      addSystem(resume ? `reconnected: resuming after version ${resume}` : 'reconnected: no change seen yet, watching from now');
    }
  };
  ws.onmessage = (ev) => {
    if (gen !== feed.gen) return;
    let m;
    try { m = JSON.parse(ev.data); } catch { return; }
    onChange(m);
  };
  ws.onclose = (ev) => {
    if (gen !== feed.gen) return;
    feedClosed(gen, ev.code === 4001 ? 'fell behind' : ev.reason || `code ${ev.code}`);
  };
}

function feedClosed(gen, why) {
  if (!feed.down) {
    feed.down = true;
    addSystem(`watch closed (${why}); reconnecting…`);
  }
  setFeedStatus('bad', 'reconnecting…');
  feed.timer = setTimeout(() => { if (gen === feed.gen) connectWatch(); }, feed.backoff);
  feed.backoff = Math.min(feed.backoff * 2, 5000);
}

// reconnectWatch drops the socket, which reconnects with &since.
function reconnectWatch() {
  if (feed.ws && feed.ws.readyState <= WebSocket.OPEN) feed.ws.close();
}

function watchPrefix(prefix) {
  feed.prefix = prefix;
  feed.last = '';
  feed.down = false;
  ++feed.gen; // ignore the old socket's close
  if (feed.ws) feed.ws.close();
  $('feed').replaceChildren();
  addSystem(prefix ? `watching keys under “${prefix}”` : 'watching all keys');
  connectWatch();
}

function addRow(li) {
  const list = $('feed');
  list.prepend(li);
  while (list.childElementCount > FEED_MAX) list.lastElementChild.remove();
}

function addSystem(text) {
  addRow(h('li', {class: 'ev ev-system', dataset: {type: 'system'}},
    h('time', {text: clock()}), h('span', {class: 'msg', text})));
}

function onChange(m) {
  if (m.type === 'reset') {
    const top = $('feed').firstElementChild;
    if (top && top.dataset.type === 'reset') {
      // Resets in a row say one thing: count them on one row.
      const n = Number(top.dataset.count || 1) + 1;
      top.dataset.count = n;
      top.querySelector('time').textContent = clock();
      top.querySelector('.badge').textContent = `reset ×${n}`;
    } else {
      addRow(h('li', {class: 'ev ev-reset', dataset: {type: 'reset'}},
        h('time', {text: clock()}), h('span', {class: 'badge', text: 'reset'}),
        h('span', {class: 'msg', text: 'Changes may have been missed (a new leader or a gap in the stream): re-read what you mirror. The key browser was refreshed.'})));
    }
    refreshSoon(true);
    return;
  }
  if (m.version) feed.last = m.version;
  const key = m.key || '';
  addRow(h('li', {class: `ev ev-${m.type}`, dataset: {type: m.type, key, version: m.version || ''}},
    h('time', {text: clock()}),
    h('span', {class: 'badge', text: m.type}),
    h('button', {type: 'button', class: 'linkish key', title: 'open in the key browser', text: key, onclick: () => showKey(key)}),
    h('span', {class: 'ver', text: m.version ? 'v' + m.version : ''}),
    m.type === 'put' && h('span', {class: 'val', text: m.file ? `file, ${sizeText(m.size || 0)}` : previewB64(m.value)})));
  if (key.startsWith(kb.prefix)) refreshSoon(false);
  if (key === kb.open) reopenSoon();
}

function previewB64(b64) {
  try { return preview(b64ToBytes(b64)); } catch { return '(undecodable value)'; }
}

// ---------------------------------------------------------------- key browser

const kb = {
  prefix: '',
  folders: new Set(),
  keys: [],
  sizes: new Map(), // key -> {size, file} of the listed keys (?detail=true)
  cursor: null,   // the encoded &after= of the next page, null when complete
  gen: 0,
  open: '',       // the key shown in the view
  openGen: 0,
  loaded: null,   // {key, etag, version, ct, text, bytes} of the open key
  editing: null,  // {key, etag, version} the writer's If-Match holds to (from Edit)
  refreshTimer: 0,
  reopenTimer: 0,
};

// browse lists the folders and keys directly under prefix. Keys come in
// byte order; a key with a "/" past the prefix belongs to a folder, and
// once a folder is seen the listing skips the rest of it (after=folder+0xFF),
// so a folder of a million keys costs one request, not five thousand.
async function browse(prefix, {more = false} = {}) {
  const gen = ++kb.gen;
  let folders = kb.folders;
  let keys = kb.keys;
  let sizes = kb.sizes;
  let after = kb.cursor;
  if (!more) {
    folders = new Set();
    keys = [];
    sizes = new Map();
    after = null;
    if (prefix !== kb.prefix) {
      const w = $('w-key');
      if (!w.value || w.value === kb.prefix) w.value = prefix;
    }
    const input = $('browse-prefix');
    if (prefix !== kb.prefix || document.activeElement !== input) input.value = prefix;
    kb.prefix = prefix;
    renderCrumbs();
  }
  setListInfo('listing…');
  try {
    let shown = more ? folders.size + keys.length : 0;
    const stop = shown + LIST_BUDGET;
    let done = false;
    for (let requests = 0; shown < stop && requests < 25; requests++) {
      let url = `/v1/kv?prefix=${encodeURIComponent(prefix)}&limit=${LIST_PAGE}&detail=true`;
      if (after) url += `&after=${after}`;
      const res = await request(url, {timeout: 8000});
      if (gen !== kb.gen) return;
      if (!res.ok) throw new Error(await failure(res));
      const page = parseJSON(await res.text());
      if (gen !== kb.gen) return;
      for (const e of page.entries || []) sizes.set(e.key, {size: e.size, file: !!e.file});
      let inFolder = '';
      for (const k of page.keys || []) {
        const rest = k.startsWith(prefix) ? k.slice(prefix.length) : k;
        const i = rest.indexOf('/');
        if (i >= 0) {
          inFolder = prefix + rest.slice(0, i + 1);
          if (!folders.has(inFolder)) { folders.add(inFolder); shown++; }
        } else {
          inFolder = '';
          keys.push(k);
          shown++;
        }
      }
      if (!page.next) { done = true; break; }
      after = inFolder ? encodeURIComponent(inFolder) + '%FF' : encodeURIComponent(page.next);
    }
    kb.folders = folders;
    kb.keys = keys;
    kb.sizes = sizes;
    kb.cursor = done ? null : after;
    renderListing();
  } catch (e) {
    if (gen === kb.gen) setListInfo(`listing failed: ${e.message}`, true);
  }
}

function setListInfo(text, bad) {
  const s = $('list-info');
  s.textContent = text;
  s.classList.toggle('bad', !!bad);
}

function renderCrumbs() {
  const parts = [h('button', {type: 'button', class: 'linkish', dataset: {prefix: ''}, text: 'all keys'})];
  let acc = '';
  for (const seg of kb.prefix.split(/(?<=\/)/).filter(Boolean)) {
    acc += seg;
    parts.push(h('span', {class: 'sep', text: '›'}),
      h('button', {type: 'button', class: 'linkish', dataset: {prefix: acc}, text: seg}));
  }
  parts[parts.length - 1].setAttribute('aria-current', 'location');
  $('crumbs').replaceChildren(...parts);
}

function renderListing() {
  const rel = (s) => s.slice(kb.prefix.length) || s;
  const items = [];
  if (kb.prefix) {
    items.push(h('li', null, h('button', {type: 'button', class: 'entry up', dataset: {prefix: parentOf(kb.prefix)}, text: '.. (up)'})));
  }
  for (const f of kb.folders) {
    items.push(h('li', null, h('button', {type: 'button', class: 'entry folder', dataset: {folder: f}, title: f, text: rel(f)})));
  }
  for (const k of kb.keys) {
    const sz = kb.sizes.get(k);
    items.push(h('li', {class: sz && sz.file ? 'file' : null},
      h('button', {type: 'button', class: 'entry key' + (k === kb.open ? ' open' : ''), dataset: {key: k}, title: k, text: rel(k)}),
      sz && h('span', {class: 'size muted', text: sizeText(sz.size)}),
      sz && sz.file && h('a', {class: 'download', href: '/v1/kv/' + encKey(k), download: rel(k).split('/').pop(), title: `download ${k}`, text: 'download'})));
  }
  if (!kb.folders.size && !kb.keys.length) {
    items.push(h('li', {class: 'none', text: kb.prefix ? `no keys under “${kb.prefix}”` : 'no keys yet'}));
  }
  $('keylist').replaceChildren(...items);
  const f = kb.folders.size;
  const k = kb.keys.length;
  setListInfo(`${f} folder${f === 1 ? '' : 's'}, ${k} key${k === 1 ? '' : 's'}${kb.cursor ? ', more to load' : ''}`);
  $('list-more').hidden = !kb.cursor;
}

// refreshSoon re-lists the current folder after a change, at most twice a
// second, and only when the listing is complete (a long listing the user
// is paging through is left alone).
function refreshSoon(always) {
  if (kb.refreshTimer || (kb.cursor && !always)) return;
  kb.refreshTimer = setTimeout(() => {
    kb.refreshTimer = 0;
    browse(kb.prefix);
  }, 500);
}

function reopenSoon() {
  if (kb.reopenTimer) return;
  kb.reopenTimer = setTimeout(() => {
    kb.reopenTimer = 0;
    if (kb.open) openKey(kb.open, {quiet: true});
  }, 300);
}

function markOpen() {
  for (const b of $('keylist').querySelectorAll('.entry.key')) b.classList.toggle('open', b.dataset.key === kb.open);
}

// showKey opens a key and its folder (from the feed).
function showKey(key) {
  if (folderOf(key) !== kb.prefix) browse(folderOf(key));
  openKey(key);
  $('keys-card').scrollIntoView({behavior: 'smooth', block: 'start'});
}

async function openKey(key, {quiet = false} = {}) {
  const gen = ++kb.openGen;
  kb.open = key;
  markOpen();
  const view = $('view');
  if (!quiet) view.replaceChildren(viewHead(key, false), h('p', {class: 'hint', text: 'reading…'}));
  let res;
  try {
    const head = await request('/v1/kv/' + encKey(key), {method: 'HEAD', timeout: 8000});
    if (gen !== kb.openGen) return;
    if (head.ok && head.headers.get('X-Jumpkv-File') === 'true') {
      showFile(key, head);
      return;
    }
    res = await request('/v1/kv/' + encKey(key), {timeout: 8000});
  } catch (e) {
    if (gen === kb.openGen) view.replaceChildren(viewHead(key, false), h('p', {class: 'bad', text: `read failed: ${e.message}`}));
    return;
  }
  if (gen !== kb.openGen) return;
  if (!res.ok) {
    const why = res.status === 404 ? 'not found: no such key (deleted?)' : `read failed: ${await failure(res)}`;
    if (gen !== kb.openGen) return;
    kb.loaded = null;
    view.replaceChildren(viewHead(key, false), h('p', {class: res.status === 404 ? 'hint' : 'bad', dataset: {status: res.status}, text: why}));
    return;
  }
  const bytes = new Uint8Array(await res.arrayBuffer());
  if (gen !== kb.openGen) return;
  const etag = res.headers.get('ETag') || '';
  const ct = res.headers.get('Content-Type') || '';
  const by = res.headers.get('X-Jumpkv-Node') || '';
  const text = asText(bytes);
  kb.loaded = {key, etag, version: etag.replace(/^W\/|"/g, ''), ct, text, bytes};

  const meta = h('dl', {class: 'meta'},
    h('dt', {text: 'version'}), h('dd', {class: 'version'}, h('code', {text: kb.loaded.version || '–'}), etag && h('span', {class: 'muted', text: `ETag ${etag}`})),
    h('dt', {text: 'content type'}), h('dd', {class: 'ctype'}, h('code', {text: ct || '–'})),
    h('dt', {text: 'size'}), h('dd', {text: `${sizeText(bytes.length)}${text === null ? ', binary' : ''}`}),
    h('dt', {text: 'answered by'}), h('dd', null, by ? swatch(by) : '', h('code', {text: by || '–'}), by && h('span', {class: 'muted', text: nodeName(by)})));
  let body;
  if (text !== null) {
    body = h('pre', {class: 'value', id: 'value-text', dataset: {kind: 'text'}, text: text === '' ? '' : text});
    if (text === '') body.classList.add('empty');
  } else {
    const b64 = bytesToB64(bytes.subarray(0, 3072));
    body = h('div', {class: 'binary'},
      h('pre', {class: 'value hex', id: 'value-hex', dataset: {kind: 'hex'}, text: hexDump(bytes)}),
      h('details', null, h('summary', {text: 'base64'}),
        h('pre', {class: 'value b64', text: b64 + (bytes.length > 3072 ? '…' : '')})));
  }
  view.replaceChildren(viewHead(key, true), meta, body);
}

// showFile shows a key that holds a file (uploaded over FTP): its size and
// a download link; the bytes are not read into the page.
function showFile(key, head) {
  kb.loaded = null;
  const etag = head.headers.get('ETag') || '';
  const size = Number(head.headers.get('Content-Length') || 0);
  const by = head.headers.get('X-Jumpkv-Node') || '';
  const meta = h('dl', {class: 'meta'},
    h('dt', {text: 'version'}), h('dd', {class: 'version'}, h('code', {text: etag.replace(/"/g, '') || '–'})),
    h('dt', {text: 'content type'}), h('dd', {class: 'ctype'}, h('code', {text: head.headers.get('Content-Type') || '–'})),
    h('dt', {text: 'size'}), h('dd', {class: 'fsize', text: `${sizeText(size)}, a file (chunks over the cluster)`}),
    h('dt', {text: 'answered by'}), h('dd', null, by ? swatch(by) : '', h('code', {text: by || '–'})));
  const link = h('a', {class: 'download', id: 'v-download', href: '/v1/kv/' + encKey(key), download: key.split('/').pop(), text: `Download ${key.split('/').pop()}`});
  const head2 = viewHead(key, true);
  head2.querySelector('#v-edit').disabled = true;
  $('view').replaceChildren(head2, meta, h('p', null, link));
}

function viewHead(key, exists) {
  const del = h('button', {type: 'button', class: 'danger', id: 'v-delete', text: 'Delete'});
  del.addEventListener('click', () => armDelete(del, key));
  return h('div', {class: 'view-head'},
    h('h3', null, h('code', {class: 'open-key', text: key})),
    h('div', {class: 'actions'},
      h('button', {type: 'button', id: 'v-edit', text: 'Edit', disabled: !exists, onclick: () => editLoaded()}),
      h('button', {type: 'button', id: 'v-reload', class: 'quiet', text: 'Reload', onclick: () => openKey(key)}),
      exists && del));
}

// armDelete asks for a second click before deleting.
function armDelete(btn, key) {
  if (!btn.classList.contains('armed')) {
    btn.classList.add('armed');
    btn.textContent = 'Click again to delete';
    setTimeout(() => { btn.classList.remove('armed'); btn.textContent = 'Delete'; }, 4000);
    return;
  }
  deleteKey(key);
}

async function deleteKey(key) {
  writeStatus(`deleting ${key}…`);
  let res;
  try {
    res = await request('/v1/kv/' + encKey(key), {method: 'DELETE', timeout: 15000});
  } catch (e) {
    writeStatus(e.timeout ? 'no answer in time: the delete may or may not have taken effect' : e.message, 'bad');
    return;
  }
  if (res.status === 204) {
    writeStatus(`deleted ${key}`, 'ok');
  } else {
    writeStatus(res.status === 404 ? `${key} was already absent` : `delete failed: ${await failure(res)}`, 'bad');
  }
  browse(kb.prefix);
  openKey(key);
}

function editLoaded() {
  const l = kb.loaded;
  if (!l) return;
  $('w-key').value = l.key;
  $('w-ct').value = l.ct;
  $('w-file').value = '';
  if (l.text !== null) {
    $('w-value').value = l.text;
    writeStatus('');
  } else {
    $('w-value').value = '';
    writeStatus('binary value: type a new text value or choose a file');
  }
  kb.editing = {key: l.key, etag: l.etag, version: l.version};
  setMatchOption(kb.editing);
  $('w-cond').value = 'match';
  $('w-value').focus();
}

function setMatchOption(l) {
  const opt = $('w-cond').querySelector('option[value="match"]');
  opt.disabled = !l;
  opt.textContent = l ? `only if still version ${l.version} (If-Match)` : 'only if unchanged since Edit (If-Match)';
  if (!l && $('w-cond').value === 'match') $('w-cond').value = '';
}

function writeStatus(text, kind) {
  const s = $('w-status');
  s.textContent = text;
  s.className = 'status' + (kind ? ' ' + kind : '');
}

async function putKey(e) {
  e.preventDefault();
  const key = $('w-key').value;
  if (!key) { writeStatus('a key is needed', 'bad'); return; }
  if (utf8.encode(key).length > 1024) { writeStatus('keys are at most 1024 bytes', 'bad'); return; }
  const file = $('w-file').files[0];
  const headers = {'Content-Type': $('w-ct').value.trim() || 'application/octet-stream'};
  const cond = $('w-cond').value;
  if (cond === 'new') headers['If-None-Match'] = '*';
  if (cond === 'match') {
    if (!kb.editing || kb.editing.key !== key) { writeStatus('If-Match: press Edit on this key first', 'bad'); return; }
    headers['If-Match'] = kb.editing.etag;
  }
  writeStatus(`writing ${key}…`);
  $('w-put').disabled = true;
  let res;
  try {
    res = await request('/v1/kv/' + encKey(key), {method: 'PUT', body: file || $('w-value').value, headers, timeout: 15000});
  } catch (err) {
    writeStatus(err.timeout ? 'no answer in time: the write may or may not have taken effect' : err.message, 'bad');
    return;
  } finally {
    $('w-put').disabled = false;
  }
  if (!res.ok) {
    const why = res.status === 412 ? 'the condition failed (412): the key exists, or changed since it was read'
      : res.status === 504 ? 'outcome unknown (504): the write may or may not have taken effect' : await failure(res);
    writeStatus(`not written: ${why}`, 'bad');
    return;
  }
  let version = res.headers.get('ETag') || '';
  try { version = parseJSON(await res.text()).version || version; } catch { /* the ETag will do */ }
  writeStatus(`saved ${key} at version ${version}`, 'ok');
  $('w-file').value = '';
  kb.editing = null;
  setMatchOption(null);
  if (folderOf(key) !== kb.prefix || !kb.keys.includes(key)) browse(folderOf(key));
  openKey(key);
}

function initKeys() {
  $('browse-form').addEventListener('submit', (e) => { e.preventDefault(); browse($('browse-prefix').value); });
  $('browse-refresh').addEventListener('click', () => browse(kb.prefix));
  $('list-more').addEventListener('click', () => browse(kb.prefix, {more: true}));
  $('crumbs').addEventListener('click', (e) => {
    const b = e.target.closest('button[data-prefix]');
    if (b) browse(b.dataset.prefix);
  });
  $('keylist').addEventListener('click', (e) => {
    const b = e.target.closest('button');
    if (!b) return;
    if (b.dataset.key !== undefined) openKey(b.dataset.key);
    else if (b.dataset.folder !== undefined) browse(b.dataset.folder);
    else if (b.dataset.prefix !== undefined) browse(b.dataset.prefix);
  });
  $('writer').addEventListener('submit', putKey);
  $('w-file').addEventListener('change', () => {
    const f = $('w-file').files[0];
    if (f) $('w-ct').value = f.type || 'application/octet-stream';
  });
}

// ---------------------------------------------------------------- login

// showLogin opens the login form (a node run with --users answered 401).
function showLogin(why) {
  const d = $('login');
  if (why) $('login-status').textContent = why;
  if (!d.open) {
    d.showModal();
    $('login-name').focus();
  }
}

function setUser(user) {
  $('who').hidden = !user;
  $('who-name').textContent = user ? `${user.name} (${user.role}${user.prefix ? ' under ' + user.prefix : ''})` : '';
}

async function checkSession() {
  try {
    const res = await request('/ui/session');
    const s = parseJSON(await res.text());
    setUser(s.user);
    if (s.auth && !s.user) showLogin();
  } catch { /* the cluster poll reports an unreachable node */ }
}

async function logIn(e) {
  e.preventDefault();
  const body = new URLSearchParams({name: $('login-name').value, password: $('login-password').value});
  $('login-status').textContent = 'logging in…';
  try {
    const res = await request('/ui/login', {method: 'POST', body, timeout: 10000});
    if (!res.ok) {
      $('login-status').textContent = await failure(res);
      return;
    }
    setUser(parseJSON(await res.text()).user);
    $('login-password').value = '';
    $('login-status').textContent = '';
    $('login').close();
    connectWatch();
    browse(kb.prefix);
  } catch (err) {
    $('login-status').textContent = err.message;
  }
}

async function logOut() {
  try { await request('/ui/logout', {method: 'POST'}); } catch { /* the cookie stays until it expires */ }
  setUser(null);
  showLogin('logged out');
}

// ---------------------------------------------------------------- start

function init() {
  initBuckets();
  initKeys();
  $('feed-form').addEventListener('submit', (e) => { e.preventDefault(); watchPrefix($('feed-prefix').value); });
  $('feed-clear').addEventListener('click', () => $('feed').replaceChildren());
  $('login-form').addEventListener('submit', logIn);
  $('login').addEventListener('cancel', (e) => e.preventDefault()); // nothing works without it
  $('logout').addEventListener('click', logOut);
  checkSession();
  initCharts();
  pollCluster();
  pollPlacement();
  watchPrefix('');
  browse('');
}

// For tests and the console.
window.jumpkvDashboard = {encKey, parseJSON, feed, kb, state, charts};

init();
