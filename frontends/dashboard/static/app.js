// The aioserving dashboard: polls /dashboard/api/*, renders with plain DOM calls.
"use strict";

const POLL_MS = 2000;
const MAX_CHIPS = 8;
const state = { models: [], selected: null, lastModelsJson: "", signatures: {} };
const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value; else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : String(child ?? ""));
  return node;
}

function fmt(value, digits) {
  return value === null || value === undefined ? "–" : Number(value).toFixed(digits);
}

async function getJson(url) {
  const response = await fetch(url, { cache: "no-store" });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

function modelPath(version) {
  const base = `/v1/models/${encodeURIComponent(state.selected)}`;
  return version ? `${base}/versions/${version}` : base;
}

// --- models table ----------------------------------------------------------------------

function versionChips(model) {
  const cell = el("td");
  const shown = model.versions.slice(0, MAX_CHIPS);
  for (const v of shown) {
    const failed = v.state === "END" && v.error;
    const chip = el("span", { class: `chip ${failed ? "FAILED" : v.state}`, "data-version": v.version, title: v.error || v.state },
      `v${v.version} ${failed ? "FAILED" : v.state}`);
    cell.append(chip);
    if (failed) cell.append(el("div", { class: "error" }, `v${v.version}: ${v.error}`));
  }
  if (model.versions.length > MAX_CHIPS) cell.append(el("span", { class: "muted" }, `+${model.versions.length - MAX_CHIPS} more`));
  if (!model.versions.length) cell.append(el("span", { class: "muted" }, "no versions"));
  return cell;
}

function renderModels() {
  const filter = $("filter").value.trim().toLowerCase();
  const body = $("models").tBodies[0];
  const rows = [];
  for (const model of state.models) {
    if (filter && !model.name.toLowerCase().includes(filter)) continue;
    const m = model.metrics || {};
    const labels = Object.entries(model.labels).map(([l, v]) => `${l}→${v}`).join(", ");
    const row = el("tr", { "data-model": model.name, class: model.name === state.selected ? "selected" : "" },
      el("td", {}, el("strong", {}, model.name)), versionChips(model), el("td", {}, labels),
      el("td", {}, model.platform),
      el("td", { class: "num" }, fmt(m.rps, 1)), el("td", { class: "num" }, fmt(m.eps, 1)),
      el("td", { class: "num" }, fmt(m.p50, 2)), el("td", { class: "num" }, fmt(m.p99, 2)), el("td", { class: "num" }, fmt(m.queue, 0)));
    row.addEventListener("click", () => select(model.name));
    rows.push(row);
  }
  body.replaceChildren(...rows);
  $("model-count").textContent = `${state.models.length} models, ${state.models.reduce((n, m) => n + m.versions.length, 0)} versions`;
}

async function pollModels() {
  try {
    const data = await getJson("/dashboard/api/models");
    const text = JSON.stringify(data.models);
    if (text !== state.lastModelsJson) {
      state.lastModelsJson = text;
      state.models = data.models;
      renderModels();
      if (!state.selected && state.models.length) select(state.models[0].name);
      else if (state.selected) renderVersionOptions();
    }
  } catch (error) {
    $("server-summary").textContent = `disconnected: ${error.message}`;
  }
}

// --- selected model ------------------------------------------------------------------------

function selectedModel() { return state.models.find((m) => m.name === state.selected); }

function select(name) {
  state.selected = name;
  const model = selectedModel();
  $("detail").hidden = false;
  $("detail-title").textContent = name;
  $("detail-path").textContent = `${model.platform} · ${model.base_path}`;
  for (const row of $("models").tBodies[0].rows) row.classList.toggle("selected", row.dataset.model === name);
  $("try-body").value = "";
  $("try-response").textContent = "";
  $("try-status").textContent = "";
  renderVersionOptions(true);
  pollMetrics();
}

function renderVersionOptions(force) {
  const model = selectedModel();
  if (!model) return;
  const available = model.versions.filter((v) => v.state === "AVAILABLE").map((v) => String(v.version));
  const current = $("try-version").value;
  const wanted = ["", ...available];
  const existing = [...$("try-version").options].map((o) => o.value);
  if (!force && JSON.stringify(existing) === JSON.stringify(wanted)) return;
  $("try-version").replaceChildren(...wanted.map((v) => el("option", { value: v }, v ? `v${v}` : "latest")));
  if (wanted.includes(current)) $("try-version").value = current;
  loadSignatures();
}

async function loadSignatures() {
  const model = selectedModel();
  const version = $("try-version").value || (model.versions.find((v) => v.state === "AVAILABLE") || {}).version;
  if (!version) { $("signatures").replaceChildren(el("p", { class: "muted" }, "No available version.")); return; }
  const data = await getJson(`/dashboard/api/models/${encodeURIComponent(model.name)}/versions/${version}/signatures`);
  const blocks = data.signatures.map((sig) => {
    const table = el("table", {}, el("tr", {}, el("th", {}, ""), el("th", {}, "name"), el("th", {}, "dtype"), el("th", {}, "shape")));
    for (const [kind, specs] of [["in", sig.inputs], ["out", sig.outputs]]) {
      for (const spec of specs) {
        table.append(el("tr", {}, el("td", { class: "muted" }, kind), el("td", {}, spec.name), el("td", {}, spec.dtype.replace("DT_", "").toLowerCase()),
          el("td", {}, spec.shape === null ? "unknown" : `[${spec.shape.map((d) => (d < 0 ? "?" : d)).join(", ")}]`)));
      }
    }
    return el("div", { class: "signature" }, el("strong", {}, sig.name), " ", el("span", { class: "muted" }, sig.method), table);
  });
  $("signatures").replaceChildren(...blocks);
  const previous = $("try-signature").value;
  const names = data.signatures.map((s) => s.name);
  $("try-signature").replaceChildren(...names.map((n) => el("option", { value: n }, n)));
  $("try-signature").value = names.includes(previous) ? previous : (names.includes("serving_default") ? "serving_default" : names[0]);
}

// --- charts ----------------------------------------------------------------------------

const CHARTS = [["rps", "requests/s", 1], ["eps", "errors/s", 1], ["p50", "p50 ms", 2], ["p99", "p99 ms", 2], ["batch", "mean batch", 1], ["queue", "queue depth (rows)", 0]];

function drawChart(canvas, values) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth * ratio, height = canvas.clientHeight * ratio;
  canvas.width = width; canvas.height = height;
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, width, height);
  const known = values.filter((v) => v !== null && v !== undefined);
  if (!known.length) return;
  const top = Math.max(...known) || 1;
  ctx.strokeStyle = "#2f6fdb"; ctx.lineWidth = 1.5 * ratio; ctx.beginPath();
  let started = false;
  values.forEach((v, i) => {
    if (v === null || v === undefined) { started = false; return; }
    const x = values.length > 1 ? (i / (values.length - 1)) * width : width;
    const y = height - (v / top) * (height - 4 * ratio) - 2 * ratio;
    if (started) ctx.lineTo(x, y); else { ctx.moveTo(x, y); started = true; }
  });
  ctx.stroke();
}

async function pollMetrics() {
  if (!state.selected) return;
  const data = await getJson(`/dashboard/api/metrics?model=${encodeURIComponent(state.selected)}`);
  const charts = $("charts");
  if (!charts.children.length) {
    for (const [key, label] of CHARTS) {
      charts.append(el("div", { class: "chart", "data-metric": key },
        el("div", { class: "label" }, el("span", {}, label), el("span", { class: "value" }, "–")), el("canvas", {})));
    }
  }
  for (const [key, , digits] of CHARTS) {
    const values = data.points.map((p) => (p ? p[key] : null));
    const box = charts.querySelector(`[data-metric="${key}"]`);
    box.querySelector(".value").textContent = fmt(values[values.length - 1], digits);
    drawChart(box.querySelector("canvas"), values);
  }
}

// --- try it ----------------------------------------------------------------------------

async function generate() {
  const params = new URLSearchParams({ signature_name: $("try-signature").value, batch: $("try-batch").value || "1" });
  const response = await fetch(`${modelPath($("try-version").value)}/gen_json?${params}`);
  const text = await response.text();
  if (!response.ok) { $("try-status").textContent = `gen_json: HTTP ${response.status} ${text}`; return; }
  $("try-body").value = text;
}

async function send(init, what) {
  const started = performance.now();
  $("try-status").textContent = `${what}…`;
  try {
    const response = await fetch(`${modelPath($("try-version").value)}:predict`, { method: "POST", ...init });
    const text = await response.text();
    const ms = performance.now() - started;
    $("try-status").textContent = `${what}: HTTP ${response.status} in ${ms.toFixed(1)} ms`;
    let shown = text;
    try { shown = JSON.stringify(JSON.parse(text), null, 1); } catch (_) { /* not JSON: show as is */ }
    $("try-response").textContent = shown;
  } catch (error) {
    $("try-status").textContent = `${what} failed: ${error.message}`;
  }
}

function upload() {
  const file = $("try-image").files[0];
  if (!file) { $("try-status").textContent = "Choose an image file first."; return; }
  const form = new FormData();
  form.append("image", file);
  form.append("signature_name", $("try-signature").value);
  send({ body: form }, "Image predict");
}

function downloadClient(event) {
  event.preventDefault();
  const params = new URLSearchParams({ language: event.target.dataset.language, signature_name: $("try-signature").value, batch: $("try-batch").value || "1" });
  window.location.href = `${modelPath($("try-version").value)}/gen_client?${params}`;
}

// --- shadow versions and request capture ---------------------------------------------

function percent(share) { return share === null || share === undefined ? "–" : `${(share * 100).toFixed(2)} %`; }

function bytes(count) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = count, unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
  return `${value.toFixed(unit ? 1 : 0)} ${units[unit]}`;
}

async function pollShadows() {
  const data = await getJson("/dashboard/api/shadows");
  const table = $("shadows");
  if (!data.rules.length && !data.pairs.length) {
    $("shadow-rules").textContent = "No shadow versions configured (--shadow_config_file).";
    table.hidden = true;
    return;
  }
  const rules = data.rules.map((r) => `${r.model}: ${r.primary} → ${r.shadow} at ${(r.sampling_rate * 100).toFixed(2)} %`);
  const skipped = Object.entries(data.skipped).map(([model, reasons]) => `${model}: ${Object.entries(reasons).map(([reason, n]) => `${reason} ${n}`).join(", ")}`);
  $("shadow-rules").textContent = `Rules: ${rules.join("; ") || "none"}.${data.pairs.length ? "" : " No request mirrored yet."}${skipped.length ? ` Not run: ${skipped.join("; ")}.` : ""} Since start-up.`;
  table.hidden = !data.pairs.length;
  table.tBodies[0].replaceChildren(...data.pairs.map((p) => {
    const skipped = data.skipped[p.model] || {};
    const differing = Object.entries(p.differing_outputs).map(([name, n]) => `${name}: ${n}`).join(", ");
    const agreement = el("td", { class: `num${p.argmax_agreement !== null && p.argmax_agreement < 1 ? " disagree" : ""}` }, percent(p.argmax_agreement));
    return el("tr", { "data-shadow": `${p.model}/${p.primary_version}/${p.shadow_version}`, title: differing ? `differing outputs: ${differing}` : "" },
      el("td", {}, el("strong", {}, p.model)), el("td", {}, `v${p.primary_version} → v${p.shadow_version}`),
      el("td", { class: "num" }, fmt(p.mirrored, 0)), el("td", { class: "num" }, fmt(skipped.busy || 0, 0)),
      el("td", { class: "num" }, fmt(p.failed, 0)), agreement,
      el("td", { class: "num" }, p.max_abs_difference === null ? "–" : Number(p.max_abs_difference).toPrecision(3)),
      el("td", { class: "num" }, fmt(p.latency_p50_ms, 2)), el("td", { class: "num" }, fmt(p.latency_mean_ms, 2)));
  }));
}

async function pollCapture() {
  const data = await getJson("/dashboard/api/capture");
  const table = $("capture");
  $("capture-none").hidden = data.models.length > 0;
  $("capture-none").textContent = "No request capture configured (a model's logging_config).";
  table.hidden = !data.models.length;
  table.tBodies[0].replaceChildren(...data.models.map((m) => {
    const reasons = Object.entries(m.dropped_by_reason).map(([reason, n]) => `${reason}: ${n}`).join(", ");
    return el("tr", { "data-capture": m.model },
      el("td", {}, el("strong", {}, m.model)), el("td", {}, m.filename_prefix ?? "(no longer configured)"),
      el("td", { class: "num" }, m.sampling_rate === null ? "–" : percent(m.sampling_rate)),
      el("td", { class: "num" }, fmt(m.records, 0)), el("td", { class: "num", title: reasons }, fmt(m.dropped, 0)),
      el("td", { class: "num" }, bytes(m.bytes)));
  }));
}

// --- server --------------------------------------------------------------------------

function duration(seconds) {
  const s = Math.floor(seconds), d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  return d ? `${d}d ${h}h` : h ? `${h}h ${m}m` : m ? `${m}m ${s % 60}s` : `${s}s`;
}

async function pollServer() {
  try {
    const info = await getJson("/dashboard/api/server");
    $("server-summary").textContent = `version ${info.version} · up ${duration(info.uptime_seconds)} · ${info.config.models} models from ${info.config.source}`;
    const c = info.config;
    $("server-config").textContent = `Config: ${c.model_config_file || "command line"}; ${c.poll_seconds > 0 ? `re-read every ${c.poll_seconds} s` : "not re-read (poll off)"}; last applied ${new Date(c.last_applied_unix * 1000).toLocaleString()}.`;
    $("flags").replaceChildren(...Object.entries(info.flags).map(([k, v]) => el("tr", {}, el("td", {}, `--${k}`), el("td", {}, JSON.stringify(v)))));
  } catch (_) { /* pollModels reports the disconnection */ }
}

$("filter").addEventListener("input", renderModels);
$("try-version").addEventListener("change", loadSignatures);
$("try-generate").addEventListener("click", generate);
$("try-send").addEventListener("click", () => send({ body: $("try-body").value, headers: { "Content-Type": "application/json" } }, "Predict"));
$("try-upload").addEventListener("click", upload);
for (const link of document.querySelectorAll("a.client")) link.addEventListener("click", downloadClient);
$("server-toggle").addEventListener("click", () => { $("server-panel").hidden = !$("server-panel").hidden; });

pollModels(); pollServer(); pollShadows().catch(() => {}); pollCapture().catch(() => {});
setInterval(pollModels, POLL_MS);
setInterval(() => pollMetrics().catch(() => {}), POLL_MS);
setInterval(pollServer, 10000);
setInterval(() => { pollShadows().catch(() => {}); pollCapture().catch(() => {}); }, POLL_MS);
