// Live charts for the jumpkv dashboard: plain SVG, drawn from what the
// node already measures, nothing loaded from anywhere else.
//
//   GET /metrics     this node's Prometheus metrics, every second: the
//                    key-value API's requests per second and p99 latency
//                    (jumpkv_http_requests_total and the
//                    jumpkv_http_request_seconds histogram, routes /v1/kv*),
//                    the keys and bytes it holds (jumpkv_keys,
//                    jumpkv_bytes), its memory (process_resident_memory_bytes,
//                    against jumpkv_memory_limit_bytes when the node has one)
//   /v1/cluster      every node's keys (app.js hands each answer over)
//
// A page may only talk to the node that served it (its
// Content-Security-Policy says so), so request rates and latencies are
// this node's; every other node's dashboard, linked from the nodes table,
// charts its own.

const WINDOW = 120; // points kept per series: two minutes at one a second
const POLL_MS = 1000;

// The sparkline's SVG, parsed once by the HTML parser (which puts <svg>
// in the SVG namespace by itself) and cloned for each chart.
const sparkTemplate = document.createElement('template');
sparkTemplate.innerHTML = '<svg class="spark" viewBox="0 0 240 40" preserveAspectRatio="none" role="img">' +
  '<line class="limit" x1="0" x2="240" y1="-1" y2="-1"></line><path class="line"></path></svg>';

// charts is the state, exposed for tests and the console.
export const charts = {
  polls: 0,            // /metrics answers ingested
  error: '',           // why the last poll failed, if it did
  self: {reqs: [], p99: [], keys: [], bytes: [], mem: []},
  memLimit: 0,         // bytes; 0: none known
  nodes: new Map(),    // node id → {keys: [...], color}
  prev: null,          // the previous scrape: {t, count, buckets}
};

const SELF_CHARTS = [
  {id: 'reqs', title: 'requests/s', hint: 'key-value API requests this node served per second', fmt: (v) => rateText(v)},
  {id: 'p99', title: 'p99 latency', hint: "99th percentile of this node's key-value API latency over the last second", fmt: (v) => durText(v)},
  {id: 'keys', title: 'keys held', hint: 'live keys this node holds, primary and backup copies', fmt: (v) => Math.round(v).toLocaleString()},
  {id: 'bytes', title: 'bytes held', hint: 'bytes of keys and values this node holds', fmt: (v) => sizeText(v)},
  {id: 'mem', title: 'memory', hint: "this node's resident memory (against --max-memory when set)", fmt: (v) => sizeText(v)},
];

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'text') e.textContent = v;
    else if (k === 'class') e.setAttribute('class', v);
    else e.setAttribute(k, v);
  }
  e.append(...children);
  return e;
}

const sizeText = (n) => (n < 1024 ? `${Math.round(n)} B` : n < 1 << 20 ? `${(n / 1024).toFixed(1)} KiB`
  : n < 1 << 30 ? `${(n / (1 << 20)).toFixed(1)} MiB` : `${(n / (1 << 30)).toFixed(2)} GiB`);
const rateText = (v) => (v >= 100 ? Math.round(v).toLocaleString() : v.toFixed(1));
const durText = (s) => (s >= 1 ? `${s.toFixed(2)} s` : s >= 0.001 ? `${(s * 1000).toFixed(s >= 0.1 ? 0 : 1)} ms` : `${Math.round(s * 1e6)} µs`);

// parseProm reads the Prometheus text format into samples
// {name, labels, value}; comments and malformed lines are skipped.
export function parseProm(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (!line || line[0] === '#') continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    if (m[3]) {
      for (const l of m[3].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    }
    const value = Number(m[4]);
    if (!Number.isNaN(value) || m[4] === 'NaN') out.push({name: m[1], labels, value});
  }
  return out;
}

// quantile estimates the q-quantile of a histogram from its cumulative
// buckets [[upperBound, count], ...] sorted by bound (the last +Inf), as
// Prometheus's histogram_quantile does: linearly within the bucket the
// rank falls in. null when the histogram is empty.
export function quantile(q, buckets) {
  if (!buckets.length) return null;
  const total = buckets[buckets.length - 1][1];
  if (!(total > 0)) return null;
  const rank = q * total;
  let lo = 0;
  let below = 0;
  for (const [le, count] of buckets) {
    if (count >= rank) {
      if (le === Infinity) return lo; // past the last finite bound: its bound
      return lo + (le - lo) * (count === below ? 0 : (rank - below) / (count - below));
    }
    lo = le;
    below = count;
  }
  return lo;
}

const isKV = (route) => typeof route === 'string' && route.startsWith('/v1/kv');

function push(series, v) {
  series.push(v);
  if (series.length > WINDOW) series.splice(0, series.length - WINDOW);
}

// ingest takes one scrape, taken at t (ms), into the series.
export function ingest(samples, t) {
  let count = 0;
  const buckets = new Map();
  let keys = null;
  let bytes = null;
  let mem = null;
  for (const s of samples) {
    switch (s.name) {
      case 'jumpkv_http_requests_total':
        if (isKV(s.labels.route)) count += s.value;
        break;
      case 'jumpkv_http_request_seconds_bucket':
        if (isKV(s.labels.route)) {
          const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
          buckets.set(le, (buckets.get(le) || 0) + s.value);
        }
        break;
      case 'jumpkv_keys': keys = s.value; break;
      case 'jumpkv_bytes': bytes = s.value; break;
      case 'process_resident_memory_bytes': mem = s.value; break;
      default:
        if (/^jumpkv_(max_memory|memory_limit)(_bytes)?$/.test(s.name) && s.value > 0) charts.memLimit = s.value;
    }
  }
  const prev = charts.prev;
  if (prev) {
    const dt = (t - prev.t) / 1000;
    push(charts.self.reqs, dt > 0 ? Math.max(0, count - prev.count) / dt : 0);
    // The latency of the requests of this interval: the buckets' growth.
    const delta = [...buckets].sort((a, b) => a[0] - b[0]).map(([le, c]) => [le, Math.max(0, c - (prev.buckets.get(le) || 0))]);
    push(charts.self.p99, quantile(0.99, delta));
  }
  push(charts.self.keys, keys);
  push(charts.self.bytes, bytes);
  push(charts.self.mem, mem);
  charts.prev = {t, count, buckets};
  charts.polls++;
}

// onCluster takes a /v1/cluster answer: each node's keys.
export function onCluster(ci, colorOf) {
  const seen = new Set();
  for (const n of ci.nodes || []) {
    const id = String(n.id);
    seen.add(id);
    let s = charts.nodes.get(id);
    if (!s) {
      s = {keys: [], color: ''};
      charts.nodes.set(id, s);
    }
    s.color = colorOf(id);
    s.http = n.http;
    s.name = n.name;
    s.state = n.state;
    push(s.keys, Number(n.keys));
  }
  for (const id of charts.nodes.keys()) if (!seen.has(id)) charts.nodes.delete(id);
  renderNodes();
}

// sparkPath draws values (nulls are gaps) as an SVG path in a w×h box,
// scaled from 0 (or the lowest value, for series far from 0) to the
// highest; the newest point at the right edge.
export function sparkPath(values, w, h, top) {
  const vals = values.filter((v) => v != null);
  if (!vals.length) return '';
  let lo = Math.min(...vals);
  let hi = Math.max(...vals, top || 0);
  if (lo > 0 && lo > hi * 0.5) lo -= (hi - lo) || hi * 0.1; // a level series: show its movement
  else lo = 0;
  if (hi === lo) hi = lo + 1;
  const step = w / (WINDOW - 1);
  const x0 = w - (values.length - 1) * step;
  let d = '';
  let pen = false;
  values.forEach((v, i) => {
    if (v == null) { pen = false; return; }
    const x = (x0 + i * step).toFixed(1);
    const y = (h - 1 - ((v - lo) / (hi - lo)) * (h - 2)).toFixed(1);
    d += `${pen ? 'L' : 'M'}${x} ${y}`;
    pen = true;
  });
  return d;
}

function tile(id, title, hint, color) {
  const svg = sparkTemplate.content.firstElementChild.cloneNode(true);
  svg.setAttribute('aria-label', title);
  if (color) svg.querySelector('path').style.stroke = color; // through the CSSOM: the CSP forbids style attributes
  return el('figure', {class: 'chart', 'data-series': id, title: hint},
    el('figcaption', {}, el('span', {text: title}), el('b', {class: 'now', text: '–'})), svg);
}

function draw(fig, values, fmt, top) {
  const path = fig.querySelector('path');
  path.setAttribute('d', sparkPath(values, 240, 40, top));
  const last = values.length ? values[values.length - 1] : null;
  fig.querySelector('.now').textContent = last == null ? '–' : fmt(last);
  fig.dataset.points = String(values.filter((v) => v != null).length);
  fig.dataset.last = last == null ? '' : String(last);
}

function renderSelf() {
  for (const c of SELF_CHARTS) {
    const fig = document.querySelector(`#charts-self figure[data-series="${c.id}"]`);
    if (!fig) continue;
    const top = c.id === 'mem' ? charts.memLimit : 0;
    draw(fig, charts.self[c.id], c.fmt, top);
    const limit = fig.querySelector('line.limit');
    if (c.id === 'mem' && charts.memLimit > 0) {
      const vals = charts.self.mem.filter((v) => v != null);
      const hi = Math.max(...vals, charts.memLimit);
      const y = (39 - (charts.memLimit / hi) * 38).toFixed(1);
      limit.setAttribute('y1', y);
      limit.setAttribute('y2', y);
      fig.querySelector('figcaption span').textContent = `memory (limit ${sizeText(charts.memLimit)})`;
    }
  }
  document.getElementById('charts-status').textContent = charts.error || '';
}

function renderNodes() {
  const box = document.getElementById('charts-nodes');
  if (!box) return;
  const ids = [...charts.nodes.keys()].sort((a, b) => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0));
  for (const id of ids) {
    let fig = box.querySelector(`figure[data-node="${id}"]`);
    const n = charts.nodes.get(id);
    if (!fig) {
      fig = tile('node-keys', `keys: ${n.name || n.http || 'node ' + id}`, `live keys node ${id} holds, from /v1/cluster`, n.color);
      fig.dataset.node = id;
      box.append(fig);
    }
    fig.classList.toggle('down', n.state === 'dead');
    draw(fig, n.keys, (v) => Math.round(v).toLocaleString());
  }
  for (const fig of [...box.querySelectorAll('figure[data-node]')]) {
    if (!charts.nodes.has(fig.dataset.node)) fig.remove();
  }
}

async function pollMetrics() {
  try {
    // The header makes a node with --users answer 401 without a Basic
    // challenge, which would open the browser's own password dialog.
    const res = await fetch('/metrics', {cache: 'no-store', headers: {'X-Jumpkv-Dashboard': '1'}});
    if (res.ok) {
      ingest(parseProm(await res.text()), Date.now());
      charts.error = '';
    } else {
      charts.error = res.status === 404 ? 'this node serves no /metrics'
        : res.status === 401 ? 'log in to see this node\'s charts' : `/metrics answered ${res.status}`;
    }
  } catch {
    charts.error = 'node unreachable';
  }
  renderSelf();
  setTimeout(pollMetrics, POLL_MS);
}

// initCharts builds the charts in their card and starts polling.
export function initCharts() {
  const self = document.getElementById('charts-self');
  self.replaceChildren(...SELF_CHARTS.map((c) => tile(c.id, c.title, c.hint)));
  pollMetrics();
}
