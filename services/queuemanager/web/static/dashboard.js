// The live part of the queue manager's dashboard: polls api/dashboard every
// second and redraws the tiles, the charts (on <canvas>, no library), the
// session table and the worker grid. A failed poll shows in #status.

const POLL_MS = 1000;
const WINDOW_MS = 5 * 60 * 1000;
const $ = (id) => document.getElementById(id);

function fmtInt(n) { return Math.round(n).toLocaleString("en-US"); }
function fmtRate(n) { return n >= 100 || Number.isInteger(n) ? fmtInt(n) : n.toFixed(1); }
function fmtSecs(s) {
  if (s < 0) return "–";
  const digits = (v) => (v < 10 ? 2 : v < 100 ? 1 : 0);
  if (s < 1e-3) return (s * 1e6).toFixed(0) + " µs";
  if (s < 1) return (s * 1e3).toFixed(digits(s * 1e3)) + " ms";
  return s.toFixed(digits(s)) + " s";
}
function fmtAge(ms) {
  const s = Math.floor(ms / 1000);
  if (s < 60) return s + " s";
  if (s < 3600) return Math.floor(s / 60) + " m " + (s % 60) + " s";
  return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " m";
}
function short(id) { return id.length > 14 ? id.slice(0, 6) + "…" + id.slice(-6) : id; }

// Sessions are coloured from a palette in the order of their ids, so that
// the sessions on the page get distinct colours that stay put while they
// live; a session beyond the page's list (a worker's) gets one by hash.
const PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#76b7b2", "#edc948", "#9c755f", "#ff9da7", "#3b3b98"];
let colourOf = new Map();
function assignColours(sessions) {
  colourOf = new Map([...sessions.map((s) => s.id)].sort().map((id, i) => [id, PALETTE[i % PALETTE.length]]));
}
function sessionColor(id, light) {
  let c = colourOf.get(id);
  if (!c) {
    let h = 0;
    for (const ch of id) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
    c = PALETTE[h % PALETTE.length];
  }
  return light ? c + "55" : c;
}

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k === "style") e.style.cssText = v;
    else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k);
  return e;
}

// niceStep returns a round step that cuts span into about n pieces.
function niceStep(span, n) {
  const raw = span / n, mag = Math.pow(10, Math.floor(Math.log10(raw)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * mag >= raw) return m * mag;
  return 10 * mag;
}

// chart draws series [{name, color, points: [[t, v], ...]}] over the last
// WINDOW_MS ending at now; opts.log for a log10 y axis, opts.fmt for labels.
function chart(canvas, now, series, opts) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth, h = canvas.clientHeight;
  if (canvas.width !== w * dpr || canvas.height !== h * dpr) { canvas.width = w * dpr; canvas.height = h * dpr; }
  const g = canvas.getContext("2d");
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, h);
  g.font = "11px system-ui, sans-serif";
  const L = 60, R = 8, T = 16, B = 18, pw = w - L - R, ph = h - T - B;
  const t0 = now - WINDOW_MS;
  let vals = [];
  for (const s of series) for (const [t, v] of s.points) if (t >= t0 && v >= 0 && (!opts.log || v > 0)) vals.push(v);
  let lo = 0, hi = Math.max(...vals, opts.minMax || 1);
  let ticks = [];
  if (opts.log) {
    lo = Math.pow(10, Math.floor(Math.log10(Math.min(...vals, 1e-3))));
    hi = Math.pow(10, Math.ceil(Math.log10(Math.max(...vals, lo * 10))));
    for (let v = lo; v <= hi * 1.0001; v *= 10) ticks.push(v);
  } else {
    const step = niceStep(hi, 4);
    hi = Math.ceil(hi / step) * step;
    for (let v = 0; v <= hi + step / 2; v += step) ticks.push(v);
  }
  const y = opts.log
    ? (v) => T + ph - (Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo)) * ph
    : (v) => T + ph - (v - lo) / (hi - lo) * ph;
  const x = (t) => L + (t - t0) / WINDOW_MS * pw;
  g.strokeStyle = "#e3e6ec"; g.fillStyle = "#6b7385"; g.lineWidth = 1;
  g.textAlign = "right"; g.textBaseline = "middle";
  for (const v of ticks) {
    const yy = Math.round(y(v)) + 0.5;
    g.beginPath(); g.moveTo(L, yy); g.lineTo(L + pw, yy); g.stroke();
    g.fillText(opts.fmt(v), L - 6, yy);
  }
  g.textAlign = "center"; g.textBaseline = "top";
  for (let m = 0; m <= 5; m++) {
    const t = t0 + m * 60000;
    g.fillText(m === 5 ? "now" : `-${5 - m} min`, Math.min(x(t), L + pw - 12), T + ph + 4);
  }
  for (const s of series) {
    g.strokeStyle = s.color; g.lineWidth = 1.8; g.beginPath();
    let pen = false;
    for (const [t, v] of s.points) {
      if (t < t0 || v < 0 || (opts.log && v <= 0)) { pen = false; continue; }
      const px = x(t), py = y(Math.min(v, hi));
      if (pen) g.lineTo(px, py); else g.moveTo(px, py);
      pen = true;
    }
    g.stroke();
  }
  g.textAlign = "left"; g.textBaseline = "top";
  let lx = L + 4;
  for (const s of series) {
    if (series.length < 2) break;
    g.fillStyle = s.color; g.fillRect(lx, 2, 10, 10);
    g.fillStyle = "#1d2330"; g.fillText(s.name, lx + 14, 1);
    lx += g.measureText(s.name).width + 28;
  }
}

function renderCharts(d) {
  const H = d.history, pts = (f) => H.map((p) => [p.t, f(p)]);
  chart($("c-rate"), d.now, [{ name: "tasks/s", color: "#3563c9", points: pts((p) => p.rate) }], { fmt: fmtRate, minMax: 1 });
  chart($("c-latency"), d.now, [
    { name: "p50", color: "#2e9d5b", points: pts((p) => p.p50) },
    { name: "p90", color: "#e0a526", points: pts((p) => p.p90) },
    { name: "p99", color: "#d64545", points: pts((p) => p.p99) },
  ], { log: true, fmt: fmtSecs });
  chart($("c-queue"), d.now, [
    { name: "queued", color: "#8a93a6", points: pts((p) => p.queued) },
    { name: "in flight", color: "#e0a526", points: pts((p) => p.inflight) },
  ], { fmt: fmtInt, minMax: 1 });
  chart($("c-busy"), d.now, [
    { name: "registered", color: "#8a93a6", points: pts((p) => p.workers) },
    { name: "busy", color: "#3563c9", points: pts((p) => p.busy) },
  ], { fmt: fmtInt, minMax: 1 });
}

function renderTiles(d) {
  const t = d.totals, last = d.history[d.history.length - 1];
  $("t-sessions").textContent = fmtInt(t.sessions);
  $("t-workers").textContent = fmtInt(d.workerCount);
  const s = d.workersByState;
  $("t-workers-by-state").textContent = `${s.bound} bound · ${s.idle} idle · ${s.draining} draining`;
  $("t-queued").textContent = fmtInt(t.queued);
  $("t-inflight").textContent = fmtInt(t.inflight);
  $("t-done").textContent = fmtInt(t.done);
  $("t-dead").textContent = fmtInt(t.dead);
  $("t-rate").textContent = last ? fmtRate(last.rate) : "–";
  $("t-p99").textContent = last ? fmtSecs(last.p99) : "–";
}

function pct(part, whole) { return whole > 0 ? (100 * part / whole).toFixed(2) + "%" : "0%"; }

function renderSessions(d) {
  const body = $("sessions").tBodies[0];
  const rows = d.sessions.map((s) => {
    const bar = el("div", { class: "progress" },
      el("i", { class: "done", style: `width:${pct(s.done, s.accepted)}` }),
      el("i", { class: "dead", style: `width:${pct(s.dead, s.accepted)}` }),
      el("i", { class: "inflight", style: `width:${pct(s.inflight, s.accepted)}` }));
    const id = el("td", { class: "id", title: s.id });
    id.append(el("span", { class: "swatch", style: `display:inline-block;width:8px;height:8px;border-radius:2px;margin-right:6px;background:${sessionColor(s.id)}` }), short(s.id));
    return el("tr", { "data-session": s.id },
      id, el("td", {}, s.app), el("td", { class: "id", title: s.client }, short(s.client)),
      el("td", {}, String(s.priority)), el("td", {}, String(s.workers)), el("td", { class: "bar" }, bar),
      el("td", { "data-field": "queued" }, fmtInt(s.queued)), el("td", { "data-field": "inflight" }, fmtInt(s.inflight)),
      el("td", { "data-field": "done" }, fmtInt(s.done)), el("td", { "data-field": "dead" }, fmtInt(s.dead)),
      el("td", {}, fmtAge(s.ageMs)), el("td", {}, s.idle ? "idle" : fmtAge(s.idleMs)));
  });
  if (rows.length === 0) rows.push(el("tr", { class: "empty" }, el("td", { colspan: "12" }, "no open session")));
  body.replaceChildren(...rows);
  $("sessions-note").textContent = d.totals.sessions > d.sessions.length ? `busiest ${d.sessions.length} of ${d.totals.sessions}` : "";
}

function renderWorkers(d) {
  const by = new Map();
  for (const w of d.workers) {
    const k = w.session || "";
    const e = by.get(k) || { n: 0, busy: 0, rate: 0 };
    e.n++; e.busy += w.inflight > 0 ? 1 : 0; e.rate += w.rate;
    by.set(k, e);
  }
  const keys = [...by.keys()].sort((a, b) => (a === "") - (b === "") || by.get(b).n - by.get(a).n);
  $("by-session").tBodies[0].replaceChildren(...keys.map((k) => {
    const e = by.get(k);
    const name = el("td", { title: k });
    if (k) name.append(el("span", { style: `display:inline-block;width:8px;height:8px;border-radius:2px;margin-right:6px;background:${sessionColor(k)}` }), short(k));
    else name.append("(idle)");
    return el("tr", {}, name, el("td", {}, String(e.n)), el("td", {}, String(e.busy)), el("td", {}, fmtRate(e.rate)));
  }));
  $("workers").replaceChildren(...d.workers.map((w) => {
    const fill = w.session && w.maxInflight > 0 ? Math.min(1, w.inflight / w.maxInflight) : 0;
    const sq = el("div", {
      class: `w ${w.state}`,
      title: `${w.pod || w.id}\n${w.state}${w.session ? " to " + w.session : ""}\n${w.inflight} batches in flight · ${fmtRate(w.rate)} tasks/s · ${fmtInt(w.done)} done\nheartbeat ${fmtAge(w.sinceHeartbeatMs)} ago`,
      style: w.session ? `background:${sessionColor(w.session, true)}` : "",
    });
    if (fill > 0) sq.append(el("i", { style: `height:${(fill * 100).toFixed(0)}%;background:${sessionColor(w.session)}` }));
    return sq;
  }));
  $("workers-note").textContent = d.workerCount > d.workers.length ? `first ${d.workers.length} of ${d.workerCount} by id` : "";
}

function render(d) {
  assignColours(d.sessions);
  renderTiles(d);
  renderCharts(d);
  renderSessions(d);
  renderWorkers(d);
}

async function poll() {
  const status = $("status");
  try {
    const r = await fetch("api/dashboard", { credentials: "same-origin", cache: "no-store" });
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    const d = await r.json();
    render(d);
    status.className = "status";
    status.textContent = "updated " + new Date(d.now).toLocaleTimeString();
  } catch (e) {
    status.className = "status error";
    status.textContent = "data unavailable: " + e.message;
  }
  setTimeout(poll, POLL_MS);
}

poll();
