// modelport's web console: a playground, the models and their state, and charts of
// /metrics. Plain JavaScript, no build step; it talks to the server's public API only.
"use strict";

const KEY = "modelport-api-key";
const $ = (id) => document.getElementById(id);
const MODES = {
  chat: { serves: "chat", label: "Chat" },
  completion: { serves: "complete", label: "Completion" },
  embeddings: { serves: "embed", label: "Embeddings" },
  images: { serves: "image", label: "Images" },
  rerank: { serves: "rerank", label: "Rerank" },
};

const state = { models: [], history: [], controller: null, codeTab: "curl", last: null };

// --- the API, with the key kept in this tab's session ---------------------------------

class AuthNeeded extends Error {}

function headers(extra = {}) {
  const key = sessionStorage.getItem(KEY);
  return key ? { ...extra, Authorization: `Bearer ${key}` } : extra;
}

async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: headers(options.headers) });
  if (response.status === 401) {
    askForKey();
    throw new AuthNeeded("this server needs an API key");
  }
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try {
      const body = await response.json();
      message = body.error?.message || message;
    } catch (_) { /* not JSON */ }
    throw new Error(message);
  }
  return response;
}

async function postJSON(path, body, signal) {
  return api(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
    signal,
  });
}

function askForKey() {
  const dialog = $("key-dialog");
  if (!dialog.open) {
    $("key-input").value = "";
    dialog.showModal();
  }
}

function setupKeyDialog() {
  $("key-button").addEventListener("click", askForKey);
  $("key-form").addEventListener("submit", () => {
    const key = $("key-input").value.trim();
    if (key) sessionStorage.setItem(KEY, key);
    refreshModels();
  });
  $("key-forget").addEventListener("click", () => {
    sessionStorage.removeItem(KEY);
    $("key-dialog").close();
  });
}

// --- views ------------------------------------------------------------------------------

function show(view) {
  for (const tab of document.querySelectorAll(".tab")) {
    tab.classList.toggle("active", tab.dataset.view === view);
  }
  for (const section of document.querySelectorAll(".view")) {
    section.hidden = section.id !== `view-${view}`;
  }
  if (view === "models") refreshModels();
  if (view === "metrics") {
    resizeCharts();
    sampleMetrics();
  }
}

// --- models -------------------------------------------------------------------------------

async function refreshModels() {
  let data;
  try {
    data = await (await api("/v1/models")).json();
  } catch (error) {
    $("models-note").textContent = error instanceof AuthNeeded ? "An API key is needed." : String(error.message);
    return;
  }
  state.models = data.data;
  fillModelSelect();
  renderModels();
}

function serves(model) {
  return model?.capabilities?.serves || [];
}

function fillModelSelect() {
  const select = $("model");
  const current = select.value;
  select.replaceChildren(...state.models.map((m) => new Option(m.id, m.id)));
  if (state.models.some((m) => m.id === current)) select.value = current;
  fillModes();
}

function currentModel() {
  return state.models.find((m) => m.id === $("model").value);
}

function fillModes() {
  const model = currentModel();
  const select = $("mode");
  const current = select.value;
  const modes = Object.entries(MODES).filter(([, m]) => serves(model).includes(m.serves));
  select.replaceChildren(...modes.map(([id, m]) => new Option(m.label, id)));
  if (modes.some(([id]) => id === current)) select.value = current;
  const efforts = model?.capabilities?.reasoning?.efforts;
  $("effort-label").hidden = !efforts;
  if (efforts) {
    $("reasoning_effort").replaceChildren(
      new Option("model default", ""),
      ...Object.keys(efforts).map((e) => new Option(e, e)),
    );
  }
  modeChanged();
}

function modeChanged() {
  const mode = $("mode").value;
  const generating = mode === "chat" || mode === "completion";
  $("sampling").hidden = !generating;
  $("image-settings").hidden = mode !== "images";
  $("rerank-query-box").hidden = mode !== "rerank";
  const hints = {
    chat: "Write a message",
    completion: "A prompt to continue",
    embeddings: "One text per line",
    images: "Describe an image",
    rerank: "Documents, one per line",
  };
  $("input").placeholder = hints[mode] || "";
  updateCode();
}

function chips(items) {
  const cell = document.createElement("td");
  cell.className = "chips";
  for (const item of items) {
    const chip = document.createElement("span");
    chip.textContent = item;
    cell.append(chip);
  }
  return cell;
}

function renderModels() {
  const rows = state.models.map((m) => {
    const caps = m.capabilities || {};
    const row = document.createElement("tr");
    row.dataset.model = m.id;
    const name = document.createElement("td");
    name.innerHTML = "<strong></strong>";
    name.firstChild.textContent = m.id;
    if (m.aliases?.length) {
      const aliases = document.createElement("div");
      aliases.className = "note";
      aliases.textContent = `also: ${m.aliases.join(", ")}`;
      name.append(aliases);
    }
    const stateCell = document.createElement("td");
    stateCell.className = `state state-${caps.state}`;
    stateCell.textContent = caps.state + (caps.load ? ` (${caps.load})` : "");
    if (caps.error) {
      const error = document.createElement("div");
      error.className = "error-text";
      error.textContent = caps.error;
      stateCell.append(error);
    }
    const actions = document.createElement("td");
    const loaded = caps.state === "loaded";
    const button = document.createElement("button");
    button.textContent = loaded ? "Unload" : "Load";
    button.disabled = loaded && caps.load === "eager";
    button.title = button.disabled ? "loaded eagerly: it stays loaded" : "";
    button.addEventListener("click", () => control(m.id, loaded ? "unload" : "load", button));
    actions.append(button);
    const cells = [
      name,
      Object.assign(document.createElement("td"), { textContent: m.backend || "" }),
      chips(caps.serves || []),
      chips(caps.features || []),
      stateCell,
      Object.assign(document.createElement("td"), { textContent: caps.active ?? "" }),
      Object.assign(document.createElement("td"), { textContent: caps.queued ?? "" }),
      actions,
    ];
    row.append(...cells);
    return row;
  });
  $("models").tBodies[0].replaceChildren(...rows);
  $("models-note").textContent = `${state.models.length} models; refreshed ${new Date().toLocaleTimeString()}`;
}

async function control(model, action, button) {
  button.disabled = true;
  button.textContent = action === "load" ? "Loading…" : "Unloading…";
  try {
    await postJSON(`/console/models/${action}`, { model });
  } catch (error) {
    $("models-note").textContent = `${action} ${model}: ${error.message}`;
  }
  refreshModels();
}

// --- the playground ------------------------------------------------------------------------

function number(id) {
  const value = $(id).value;
  return value === "" ? undefined : Number(value);
}

function requestFor(mode, text) {
  const model = $("model").value;
  if (mode === "chat") {
    const messages = [];
    const system = $("system").value.trim();
    if (system) messages.push({ role: "system", content: system });
    messages.push(...state.history, { role: "user", content: text });
    return { path: "/v1/chat/completions", body: withSampling({ model, messages, stream: true, stream_options: { include_usage: true } }) };
  }
  if (mode === "completion") {
    return { path: "/v1/completions", body: withSampling({ model, prompt: text, stream: true, stream_options: { include_usage: true } }) };
  }
  if (mode === "embeddings") {
    const input = text.split("\n").map((t) => t.trim()).filter(Boolean);
    return { path: "/v1/embeddings", body: { model, input } };
  }
  if (mode === "images") {
    return { path: "/v1/images/generations", body: { model, prompt: text, size: $("size").value, response_format: "b64_json" } };
  }
  const documents = text.split("\n").map((t) => t.trim()).filter(Boolean);
  return { path: "/v1/rerank", body: { model, query: $("rerank-query").value, documents } };
}

function withSampling(body) {
  for (const name of ["temperature", "top_p", "max_tokens", "seed"]) {
    const value = number(name);
    if (value !== undefined) body[name] = value;
  }
  const effort = $("reasoning_effort").value;
  if (!$("effort-label").hidden && effort) body.reasoning_effort = effort;
  return body;
}

function updateCode() {
  const mode = $("mode").value;
  if (!mode) return;
  const text = $("input").value || "Hello!";
  const { path, body } = state.last && state.last.mode === mode ? state.last : requestFor(mode, text);
  const origin = window.location.origin;
  const json = JSON.stringify(body, null, 2);
  const key = sessionStorage.getItem(KEY) ? " \\\n  -H \"Authorization: Bearer $MODELPORT_API_KEY\"" : "";
  const curl = `curl ${origin}${path}${key} \\\n  -H "Content-Type: application/json" \\\n  -d '${json.replaceAll("'", "'\\''")}'`;
  $("code").textContent = state.codeTab === "curl" ? curl : python(path, body, origin);
}

function python(path, body, origin) {
  const method = {
    "/v1/chat/completions": "client.chat.completions.create",
    "/v1/completions": "client.completions.create",
    "/v1/embeddings": "client.embeddings.create",
    "/v1/images/generations": "client.images.generate",
  }[path];
  const args = Object.entries(body)
    .filter(([k]) => k !== "stream_options")
    .map(([k, v]) => `    ${k}=${pyValue(v)},`)
    .join("\n");
  const head = `from openai import OpenAI\n\nclient = OpenAI(base_url="${origin}/v1", api_key=os.environ.get("MODELPORT_API_KEY", "none"))\n`;
  if (!method) {
    return `import os\n\nimport httpx\n\nresponse = httpx.post(\n    "${origin}${path}",\n    json=${pyValue(body)},\n    headers={"Authorization": f"Bearer {os.environ.get('MODELPORT_API_KEY', 'none')}"},\n)\nprint(response.json())`;
  }
  const piece = path === "/v1/completions" ? "chunk.choices[0].text" : "(chunk.choices[0].delta.content or \"\")";
  const streaming = body.stream
    ? `for chunk in result:\n    if chunk.choices:\n        print(${piece}, end="", flush=True)\nprint()` : "print(result)";
  return `import os\n\n${head}result = ${method}(\n${args}\n)\n${streaming}`;
}

function pyValue(value) {
  if (value === true) return "True";
  if (value === false) return "False";
  if (value === null) return "None";
  if (Array.isArray(value)) return `[${value.map(pyValue).join(", ")}]`;
  if (typeof value === "object") return `{${Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}: ${pyValue(v)}`).join(", ")}}`;
  return JSON.stringify(value);
}

function addMessage(role, text = "") {
  const message = document.createElement("div");
  message.className = `msg ${role}`;
  const who = document.createElement("span");
  who.className = "who";
  who.textContent = role;
  const body = document.createElement("div");
  body.className = "body";
  body.textContent = text;
  message.append(who, body);
  $("log").append(message);
  $("log").scrollTop = $("log").scrollHeight;
  return { message, body };
}

function thinkingBlock(message, body) {
  const details = document.createElement("details");
  details.className = "thinking";
  details.open = true;
  const summary = document.createElement("summary");
  summary.textContent = "Thinking";
  const text = document.createElement("div");
  text.className = "thinking-text";
  details.append(summary, text);
  message.insertBefore(details, body);
  return text;
}

function showStats(lines) {
  $("stats").textContent = lines.filter(Boolean).join("\n");
}

async function send(event) {
  event.preventDefault();
  const mode = $("mode").value;
  const text = $("input").value.trim();
  if (!mode || (!text && mode !== "rerank")) return;
  const request = requestFor(mode, text);
  state.last = { mode, ...request };
  updateCode();
  state.controller = new AbortController();
  $("send").disabled = true;
  $("stop").disabled = false;
  try {
    if (mode === "chat" || mode === "completion") await stream(mode, text, request);
    else await once(mode, text, request);
  } catch (error) {
    if (error.name !== "AbortError") addMessage("error", error.message);
  } finally {
    state.controller = null;
    $("send").disabled = false;
    $("stop").disabled = true;
  }
}

async function stream(mode, text, { path, body }) {
  addMessage(mode === "chat" ? "user" : "prompt", text);
  $("input").value = "";
  const started = performance.now();
  const response = await postJSON(path, body, state.controller.signal);
  const { message, body: answer } = addMessage(mode === "chat" ? "assistant" : "completion");
  let thinking = null;
  let first = null;
  let content = "";
  let usage = null;
  let finish = null;
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    const frames = buffer.split("\n\n");
    buffer = frames.pop();
    for (const frame of frames) {
      const line = frame.split("\n").find((l) => l.startsWith("data: "));
      if (!line || line === "data: [DONE]") continue;
      const chunk = JSON.parse(line.slice(6));
      if (chunk.error) throw new Error(chunk.error.message);
      if (chunk.usage) usage = chunk.usage;
      const choice = chunk.choices?.[0];
      if (!choice) continue;
      finish = choice.finish_reason || finish;
      const delta = mode === "chat" ? choice.delta || {} : { content: choice.text };
      const reasoning = delta.reasoning_content || delta.reasoning;
      if (reasoning) {
        first ??= performance.now();
        thinking ??= thinkingBlock(message, answer);
        thinking.textContent += reasoning;
      }
      if (delta.content) {
        first ??= performance.now();
        content += delta.content;
        answer.textContent = content.trimStart();
      }
      $("log").scrollTop = $("log").scrollHeight;
    }
  }
  const ended = performance.now();
  if (mode === "chat") {
    state.history.push({ role: "user", content: text }, { role: "assistant", content });
  }
  const ttft = first === null ? null : first - started;
  const rate = usage && first !== null && ended > first ? (usage.completion_tokens - 1) / ((ended - first) / 1000) : null;
  showStats([
    ttft === null ? null : `time to first token: ${ttft.toFixed(0)} ms`,
    rate === null ? null : `speed: ${rate.toFixed(1)} tokens/s`,
    usage ? `usage: ${usage.prompt_tokens} prompt (${usage.prompt_tokens_details?.cached_tokens ?? 0} cached) + ${usage.completion_tokens} completion` : null,
    usage?.completion_tokens_details?.reasoning_tokens ? `reasoning tokens: ${usage.completion_tokens_details.reasoning_tokens}` : null,
    finish ? `finish: ${finish}` : null,
  ]);
}

async function once(mode, text, { path, body }) {
  const started = performance.now();
  const response = await postJSON(path, body, state.controller.signal);
  const data = await response.json();
  const elapsed = performance.now() - started;
  if (mode === "embeddings") {
    const { body: out } = addMessage("embeddings");
    out.replaceChildren(...data.data.map((item) => {
      const v = item.embedding;
      const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
      const line = document.createElement("div");
      line.className = "vector";
      line.textContent = `${body.input[item.index]} → ${v.length} dimensions, norm ${norm.toFixed(3)}: [${v.slice(0, 6).map((x) => x.toFixed(4)).join(", ")}, …]`;
      return line;
    }));
  } else if (mode === "images") {
    addMessage("user", text);
    const { body: out } = addMessage("image");
    out.replaceChildren(...data.data.map((item) => Object.assign(new Image(), {
      src: `data:image/png;base64,${item.b64_json}`,
      className: "generated",
      alt: text,
    })));
  } else {
    const { body: out } = addMessage("rerank");
    const grid = document.createElement("div");
    grid.className = "rank";
    for (const result of data.results) {
      const score = Object.assign(document.createElement("span"), { className: "score", textContent: result.relevance_score.toFixed(4) });
      const doc = Object.assign(document.createElement("span"), { textContent: body.documents[result.index] });
      grid.append(score, doc);
    }
    out.replaceChildren(grid);
  }
  showStats([
    `time: ${elapsed.toFixed(0)} ms`,
    data.usage ? `usage: ${data.usage.prompt_tokens ?? data.usage.total_tokens} tokens` : null,
  ]);
}

function setupPlayground() {
  $("model").addEventListener("change", fillModes);
  $("mode").addEventListener("change", () => { state.last = null; modeChanged(); });
  $("composer").addEventListener("submit", send);
  $("input").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && $("mode").value === "chat") send(event);
  });
  $("input").addEventListener("input", () => { state.last = null; updateCode(); });
  for (const id of ["temperature", "top_p", "max_tokens", "seed", "system", "reasoning_effort", "size", "rerank-query"]) {
    $(id).addEventListener("input", () => { state.last = null; updateCode(); });
  }
  $("stop").addEventListener("click", () => state.controller?.abort());
  $("clear").addEventListener("click", () => {
    state.history = [];
    $("log").replaceChildren();
    showStats([]);
  });
  for (const tab of document.querySelectorAll(".code-tab")) {
    tab.addEventListener("click", () => {
      state.codeTab = tab.dataset.code;
      for (const t of document.querySelectorAll(".code-tab")) t.classList.toggle("active", t === tab);
      updateCode();
    });
  }
}

// --- metrics ---------------------------------------------------------------------------------
// /metrics/history: cumulative totals every few seconds over the last 15 minutes, kept by
// the server, so the charts show the minutes before the page was opened too.

const charts = {};
const CHARTS = [["requests", "#2563eb"], ["tokens", "#067647"], ["ttft", "#b54708"], ["queue", "#6941c6"]];

function seriesOf(samples) {
  const out = { time: [], requests: [], tokens: [], ttft: [], queue: [] };
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1];
    const b = samples[i];
    const dt = b.time - a.time;
    if (dt <= 0) continue;
    const firsts = b.ttft_count - a.ttft_count;
    out.time.push(b.time);
    out.requests.push(Math.max(0, (b.requests - a.requests) / dt));
    out.tokens.push(Math.max(0, (b.tokens - a.tokens) / dt));
    out.ttft.push(firsts > 0 ? ((b.ttft_sum - a.ttft_sum) / firsts) * 1000 : null);
    out.queue.push(b.queued);
  }
  return out;
}

async function sampleMetrics() {
  let history;
  try {
    history = await (await api("/metrics/history")).json();
  } catch (_) {
    return;
  }
  const samples = history.samples;
  if (!samples.length) return;
  const series = seriesOf(samples);
  const span = history.interval * 180;
  drawCharts(series, samples[samples.length - 1].time, span);
  renderTotals(samples[samples.length - 1]);
}

function renderTotals(last) {
  const rows = [
    ["requests served", last.requests],
    ["tokens generated", last.tokens],
    ["mean time to first token", last.ttft_count ? `${((last.ttft_sum / last.ttft_count) * 1000).toFixed(0)} ms` : "–"],
    ["requests active now", last.active],
    ["requests queued now", last.queued],
  ].map(([label, value]) => {
    const row = document.createElement("tr");
    row.append(Object.assign(document.createElement("th"), { textContent: label }), Object.assign(document.createElement("td"), { textContent: value }));
    return row;
  });
  $("totals").tBodies[0].replaceChildren(...rows);
}

function drawCharts(series, now, span) {
  if (typeof uPlot === "undefined") return;
  for (const [name, color] of CHARTS) {
    const data = [series.time, series[name]];
    const element = $(`chart-${name}`);
    if (!charts[name]) {
      charts[name] = new uPlot({
        width: Math.max(element.clientWidth, 300),
        height: 170,
        legend: { show: false },
        series: [{}, { stroke: color, width: 2, spanGaps: true, points: { size: 4 } }],
        axes: [{}, { size: 50 }],
        scales: {
          x: { time: true, range: () => [charts.now - charts.span, charts.now] },
          y: { range: (u, min, max) => [0, Math.max((max || 0) * 1.1, 1)] },
        },
      }, data, element);
    }
    charts.now = now;
    charts.span = span;
    charts[name].setData(data);
  }
}

function resizeCharts() {
  for (const [name] of CHARTS) {
    charts[name]?.setSize({ width: Math.max($(`chart-${name}`).clientWidth, 300), height: 170 });
  }
}

// --- start ---------------------------------------------------------------------------------

window.addEventListener("DOMContentLoaded", () => {
  for (const tab of document.querySelectorAll(".tab")) {
    tab.addEventListener("click", () => show(tab.dataset.view));
  }
  setupKeyDialog();
  setupPlayground();
  refreshModels();
  setInterval(() => { if (!$("view-metrics").hidden) sampleMetrics(); }, 5000);
  setInterval(() => { if (!$("view-models").hidden) refreshModels(); }, 3000);
  window.addEventListener("resize", resizeCharts);
});
