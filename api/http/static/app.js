// The tiktok-analyzer page: submit videos, follow the jobs, look at results.
// Vanilla JS, no build step. Live list: polling GET /board with If-None-Match (304 when
// nothing changed) - one cheap request for the whole list, no long-lived connection.
"use strict";

const state = {
  info: null,
  files: [],            // {file, row, bar, note, done}
  etag: null,
  jobs: new Map(),      // id -> job as /board shows it
  autoOpen: new Set(),  // ids submitted here: open their result when done
  shown: null,          // id of the job in the result view
  timer: null,
  polling: false,     // a GET /board in flight
  pollAgain: false,   // asked for while one was in flight
  uploading: 0,
  keyRequired: false,
};

const $ = (sel) => document.querySelector(sel);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    // Through the CSSOM: a style attribute would be an inline style the CSP refuses.
    else if (key === "style") node.style.cssText = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

function fmtBytes(n) {
  if (n >= 1024 * 1024) return `${(n / 1024 / 1024).toFixed(n >= 10 * 1024 * 1024 ? 0 : 1)} MB`;
  if (n >= 1024) return `${Math.round(n / 1024)} KB`;
  return `${n} B`;
}

function fmtSeconds(s) {
  if (s === null || s === undefined) return "–";
  if (s < 60) return `${s.toFixed(1)} s`;
  const rest = Math.round(s % 60);
  return `${Math.floor(s / 60)} min${rest ? ` ${rest} s` : ""}`;
}

function fmtSpan(start, end) {
  return end - start < 0.05 ? `${start.toFixed(1)} s` : `${start.toFixed(1)}–${end.toFixed(1)} s`;
}

async function api(method, path, body) {
  const init = { method, headers: {}, cache: "no-store", credentials: "same-origin" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const data = response.status === 204 || response.status === 304 ? null : await response.json();
  return { status: response.status, data, headers: response.headers };
}

function errorText(data, status) {
  return data && data.error ? data.error.message : `the server answered ${status}`;
}

// --- access ----------------------------------------------------------------------
async function boot() {
  const session = await api("GET", "/session");
  state.keyRequired = session.data.key_required;
  if (session.data.key_required && !session.data.authenticated) showLogin();
  else start();
}

function showLogin(message) {
  stopPolling();
  $("#app").hidden = true;
  $("#sign-out").hidden = true;
  $("#login").hidden = false;
  $("#server-info").textContent = "Locked: enter the API key.";
  const error = $("#login-error");
  error.hidden = !message;
  error.textContent = message || "";
  $("#api-key").focus();
}

async function login(event) {
  event.preventDefault();
  const key = $("#api-key").value;
  const reply = await api("POST", "/session", { api_key: key });
  if (reply.status === 200) {
    $("#api-key").value = "";
    $("#login").hidden = true;
    start();
  } else {
    const error = $("#login-error");
    error.textContent = reply.status === 401 ? "Wrong API key: the server refused it." : errorText(reply.data, reply.status);
    error.hidden = false;
    $("#api-key").select();
  }
}

async function signOut() {
  await api("DELETE", "/session");
  state.jobs.clear();
  state.etag = null;
  showLogin();
}

// --- server info -------------------------------------------------------------------
async function start() {
  const reply = await api("GET", "/info");
  if (reply.status === 401) return showLogin();
  const info = (state.info = reply.data);
  $("#app").hidden = false;
  $("#sign-out").hidden = !state.keyRequired;
  const model = info.model.test_model ? `${info.model.name} (random-weight test model)` : info.model.name;
  $("#server-info").textContent = `Model ${model}, ${info.model.quantization}, ${info.backend} backend · v${info.version}`;
  $("#limits").textContent = `Up to ${fmtBytes(info.max_upload_bytes)} and ${fmtSeconds(info.max_duration_s)} per video; up to ${info.max_frames} frames.`;
  const frames = $("#frames");
  frames.max = info.max_frames;
  frames.value = info.default_frames;
  const box = $("#aspects");
  box.querySelectorAll("label").forEach((n) => n.remove());
  for (const name of info.aspects) {
    box.append(el("label", { class: "check" }, el("input", { type: "checkbox", name: "aspect", value: name, checked: true }), ` ${name}`));
  }
  poll();
}

// --- choosing and uploading ----------------------------------------------------------
function addFiles(list) {
  for (const file of list) {
    const tooBig = state.info && file.size > state.info.max_upload_bytes;
    const bar = el("progress", { max: 100, value: 0, "aria-label": `Upload of ${file.name}` });
    const note = el("span", { class: tooBig ? "error" : "muted", text: tooBig ? `too large: the limit is ${fmtBytes(state.info.max_upload_bytes)}` : "ready" });
    const item = { file, bar, note, done: tooBig, row: null };
    const remove = el("button", { type: "button", class: "link", "aria-label": `Remove ${file.name}`, text: "Remove", onclick: () => {
      state.files = state.files.filter((f) => f !== item);
      item.row.remove();
      updateAnalyze();
    } });
    item.row = el("li", {}, el("span", { class: "name", text: file.name }), el("span", { class: "muted", text: fmtBytes(file.size) }), bar, note, remove);
    state.files.push(item);
    $("#files").append(item.row);
  }
  updateAnalyze();
}

function updateAnalyze() {
  const ready = state.files.filter((f) => !f.done).length;
  $("#analyze").disabled = ready === 0;
  $("#analyze").textContent = ready > 1 ? `Analyze ${ready} videos` : "Analyze";
}

function chosenAspects() {
  return [...document.querySelectorAll("#aspects input:checked")].map((i) => i.value);
}

function submit(event) {
  event.preventDefault();
  const aspects = chosenAspects();
  if (aspects.length === 0) {
    $("#submit-status").textContent = "Choose at least one aspect.";
    return;
  }
  const todo = state.files.filter((f) => !f.done);
  $("#submit-status").textContent = `Uploading ${todo.length} video${todo.length > 1 ? "s" : ""}…`;
  for (const item of todo) upload(item, $("#frames").value, aspects.join(","));
  updateAnalyze();
}

function upload(item, frames, aspects) {
  item.done = true;
  item.row.querySelector("button").remove();
  const form = new FormData();
  form.append("file", item.file, item.file.name);
  form.append("frames", frames);
  form.append("aspects", aspects);
  const xhr = new XMLHttpRequest();
  xhr.open("POST", "/analyze?wait=false");
  xhr.responseType = "json";
  xhr.upload.addEventListener("progress", (e) => {
    if (e.lengthComputable) item.bar.value = Math.round((100 * e.loaded) / e.total);
  });
  xhr.addEventListener("load", () => {
    const body = xhr.response;
    if ((xhr.status === 202 || xhr.status === 200) && body && body.id) {
      item.bar.value = 100;
      item.note.className = "ok";
      item.note.textContent = "sent: see Jobs";
      state.autoOpen.add(body.id);
      if (body.status === "done") openResult(body.id);
    } else if (xhr.status === 401) {
      showLogin("The session ended: enter the key again.");
    } else {
      item.bar.classList.add("failed");
      item.note.className = "error";
      item.note.setAttribute("role", "alert");
      item.note.textContent = errorText(body, xhr.status);
    }
  });
  xhr.addEventListener("error", () => {
    item.bar.classList.add("failed");
    item.note.className = "error";
    item.note.setAttribute("role", "alert");
    item.note.textContent = "the upload failed: network error";
  });
  // After load and error alike: one upload fewer in flight, then the list catches up.
  xhr.addEventListener("loadend", () => {
    state.uploading -= 1;
    if (state.uploading === 0) $("#submit-status").textContent = "";
    poll();
  });
  state.uploading += 1;
  xhr.send(form);
}

// --- the live job list ---------------------------------------------------------------
function stopPolling() {
  clearTimeout(state.timer);
  state.timer = null;
}

async function poll() {
  // One request at a time: two in flight could render an older list over a newer one.
  if (state.polling) {
    state.pollAgain = true;
    return;
  }
  stopPolling();
  if (document.hidden) return; // resumes on visibilitychange
  state.polling = true;
  let active = state.uploading > 0;
  try {
    const init = { cache: "no-store", credentials: "same-origin", headers: state.etag ? { "If-None-Match": state.etag } : {} };
    const response = await fetch("/board?limit=30", init);
    if (response.status === 401) return showLogin("The session ended: enter the key again.");
    if (response.status === 200) {
      state.etag = response.headers.get("ETag");
      renderBoard(await response.json());
    }
    active = active || [...state.jobs.values()].some((j) => j.status === "queued" || j.status === "running");
  } catch (err) {
    $("#queue-info").textContent = "The server does not answer; retrying…";
  } finally {
    state.polling = false;
  }
  if (state.pollAgain) {
    state.pollAgain = false;
    return poll();
  }
  // Fast while something moves, slow when idle.
  state.timer = setTimeout(poll, active ? 1000 : 5000);
}

function renderBoard(board) {
  const previous = state.jobs;
  state.jobs = new Map(board.jobs.map((j) => [j.id, j]));
  $("#queue-info").textContent = `${board.queue_depth} queued, ${board.busy_workers} worker${board.busy_workers === 1 ? "" : "s"} busy, ${board.total} job${board.total === 1 ? "" : "s"} in all.`;
  const list = $("#jobs");
  const focused = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.key : null;
  list.replaceChildren(...board.jobs.map(jobRow));
  if (focused) {
    const again = list.querySelector(`[data-key="${focused}"]`);
    if (again) again.focus();
  }
  if (board.jobs.length === 0) list.append(el("li", { class: "muted", text: "No jobs yet." }));
  for (const job of board.jobs) {
    const before = previous.get(job.id);
    if (job.status === "done" && state.autoOpen.has(job.id) && (!before || before.status !== "done")) {
      state.autoOpen.delete(job.id);
      openResult(job.id);
    }
  }
}

function statusText(job) {
  if (job.status === "queued") return job.queue_position ? `queued, #${job.queue_position} in line` : "queued";
  if (job.status === "running" && job.progress) return `running: ${job.progress.frames_done} of ${job.progress.frames_total} frames`;
  // A cancel's message only repeats its status; a failure's says why.
  if (job.status === "failed" && job.error) return `failed: ${job.error.message}`;
  return job.status;
}

function jobRow(job) {
  const name = job.filename || job.id;
  const progress = job.status === "running" && job.progress
    ? el("progress", { max: job.progress.frames_total, value: job.progress.frames_done, "aria-label": `Frames described for ${name}` })
    : null;
  const actions = el("span", { class: "actions" });
  if (job.status === "done") {
    actions.append(el("button", { type: "button", "data-key": `view-${job.id}`, "aria-label": `View the result of ${name}`, text: "View", onclick: (e) => { e.stopPropagation(); openResult(job.id); } }));
  }
  if (job.status === "queued") {
    actions.append(el("button", { type: "button", class: "danger", "data-key": `cancel-${job.id}`, "aria-label": `Cancel ${name}`, text: "Cancel", onclick: (e) => { e.stopPropagation(); cancel(job.id); } }));
  }
  const facts = [
    `${job.frames} frames`,
    `video ${fmtSeconds(job.video_duration_s)}`,
    job.timings.run_s !== null ? `ran ${fmtSeconds(job.timings.run_s)}` : null,
    job.realtime_factor !== null ? `realtime factor ${job.realtime_factor.toFixed(2)}` : null,
  ].filter(Boolean).join(" · ");
  const row = el("li", { class: `job ${job.status}${state.shown === job.id ? " shown" : ""}`, "data-id": job.id, "data-status": job.status },
    el("span", { class: "name", text: name }),
    el("span", { class: `badge ${job.status}`, text: statusText(job) }),
    progress,
    el("span", { class: "muted facts", text: facts }),
    actions);
  if (job.status === "done") row.addEventListener("click", () => openResult(job.id));
  return row;
}

async function cancel(id) {
  const reply = await api("DELETE", `/jobs/${encodeURIComponent(id)}`);
  $("#submit-status").textContent = reply.status === 200 ? "Cancelled." : errorText(reply.data, reply.status);
  state.autoOpen.delete(id);
  poll();
}

// --- the result view -----------------------------------------------------------------
async function openResult(id) {
  const reply = await api("GET", `/jobs/${encodeURIComponent(id)}`);
  if (reply.status === 401) return showLogin("The session ended: enter the key again.");
  if (reply.status !== 200 || !reply.data.result) return;
  state.shown = id;
  document.querySelectorAll("#jobs li.shown").forEach((n) => n.classList.remove("shown"));
  const row = document.querySelector(`#jobs li[data-id="${id}"]`);
  if (row) row.classList.add("shown");
  renderResult(reply.data);
  $("#result").hidden = false;
  $("#result-heading").focus();
}

function renderResult(job) {
  const result = job.result;
  const name = job.filename || job.id;
  $("#result-heading").textContent = `Result: ${name}`;
  const body = $("#result-body");
  const parts = [];
  if (result.warnings.length) {
    parts.push(el("div", { class: "warnings", role: "alert" }, el("strong", { text: "Warnings" }), el("ul", {}, ...result.warnings.map((w) => el("li", { text: w })))));
  }
  parts.push(el("p", { class: "downloads" }, "Download: ",
    ...["json", "md", "srt", "vtt"].map((f) => el("a", { href: `/jobs/${encodeURIComponent(job.id)}/export?format=${f}`, download: "", text: f.toUpperCase() }))));
  const v = result.video;
  parts.push(el("p", { class: "muted", text: `${v.width}×${v.height}, ${fmtSeconds(v.duration_s)}, ${v.codec}${v.has_audio ? ", with audio" : ""} · analysed in ${fmtSeconds(result.timings.total_s)} (realtime factor ${result.timings.realtime_factor.toFixed(2)}) by ${result.model.name}` }));
  if (result.source && result.source.site) parts.push(...sourcePanel(result.source));
  parts.push(el("h3", { text: "Keyframes" }), filmstrip(job.id, result));
  parts.push(el("h3", { text: "Timeline" }), timeline(result));
  parts.push(el("h3", { text: "Summary" }), el("p", { class: "summary", text: result.summary }));
  if (result.metrics) parts.push(el("h3", { text: "Metrics" }), metricsTable(result.metrics));
  parts.push(el("h3", { text: "Similar videos" }), similarList(job.id));
  if (result.transcript) {
    parts.push(el("h3", { text: `Transcript (${result.transcript.language})` }),
      el("ul", { class: "segments" }, ...(result.transcript.segments.length ? result.transcript.segments : [{ start_s: 0, end_s: v.duration_s, text: result.transcript.text }])
        .map((s) => el("li", { "data-start": s.start_s, "data-end": s.end_s }, el("span", { class: "time", text: fmtSpan(s.start_s, s.end_s) }), ` ${s.text}`))));
  }
  if (result.text_overlays && result.text_overlays.length) {
    parts.push(el("h3", { text: "Text on screen" }),
      el("ul", { class: "segments" }, ...result.text_overlays.map((o) => el("li", { "data-start": o.start_s, "data-end": o.end_s }, el("span", { class: "time", text: fmtSpan(o.start_s, o.end_s) }), ` ${o.text}`))));
  }
  body.dataset.duration = v.duration_s; // search.js marks a search hit's moment on it
  body.replaceChildren(...parts);
}

// --- a page link's source (issue 20) ------------------------------------------------
// What the post's page says: caption, hashtags, creator, sound. Text only (textContent).
function sourcePanel(source) {
  const facts = [
    ["Title", source.title],
    ["Caption", source.description],
    ["Hashtags", (source.hashtags || []).map((t) => `#${t}`).join(" ")],
    ["Creator", source.uploader],
    ["Posted", source.upload_date],
    ["Sound", source.music ? [source.music.title, source.music.artist].filter(Boolean).join(" – ") : ""],
  ].filter(([, text]) => text);
  return [
    el("h3", { text: `From the page (${source.site})` }),
    el("dl", { class: "source-facts" }, ...facts.flatMap(([label, text]) => [el("dt", { text: label }), el("dd", { text })])),
  ];
}

function timeline(result) {
  const duration = Math.max(result.video.duration_s, 0.001);
  const box = el("div", { class: "timeline" });
  for (const [aspect, answers] of Object.entries(result.aspects)) {
    const track = el("div", { class: "track", "aria-hidden": "true" });
    const legend = el("ul", { class: "legend", "aria-label": `${aspect} answers over time` });
    answers.forEach((answer, i) => {
      const hue = (i * 67 + 200) % 360;
      const ranges = answer.time_ranges.map(([a, b]) => fmtSpan(a, b)).join(", ");
      for (const [start, end] of answer.time_ranges) {
        const left = (100 * start) / duration;
        const width = Math.max((100 * (end - start)) / duration, 1.5);
        track.append(el("span", { class: "band", style: `left:${Math.min(left, 98.5)}%;width:${width}%;background:hsl(${hue} 70% 55%)`, title: `${answer.text} (${ranges})` }));
      }
      legend.append(el("li", {}, el("span", { class: "swatch", style: `background:hsl(${hue} 70% 55%)` }), ` ${answer.text} `, el("span", { class: "muted", text: `${ranges}; ${answer.frames} frame${answer.frames === 1 ? "" : "s"}` })));
    });
    box.append(el("div", { class: "aspect" }, el("h4", { text: aspect }), track, legend));
  }
  return box;
}

function filmstrip(id, result) {
  const v = result.video;
  // Portrait videos get portrait cards; each image box takes the video's own shape.
  const strip = el("ol", { class: `filmstrip ${v.height > v.width ? "portrait" : "landscape"}` });
  const ratio = v.width > 0 && v.height > 0 ? `aspect-ratio:${v.width} / ${v.height}` : null;
  result.frames.forEach((frame, n) => {
    const src = frame.image && frame.image.startsWith("/jobs/") ? frame.image : null;
    const answers = el("dl", {}, ...Object.entries(frame.aspects).flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })]));
    strip.append(el("li", {},
      el("figure", {},
        src ? el("img", { src, style: ratio, alt: `Frame at ${frame.timestamp_s.toFixed(1)} s: ${frame.caption}` }) : null,
        el("figcaption", {}, el("span", { class: "time", text: `${frame.timestamp_s.toFixed(1)} s` }), ` ${frame.caption}`)),
      answers));
  });
  return strip;
}

// --- wiring --------------------------------------------------------------------------
function wire() {
  $("#login-form").addEventListener("submit", login);
  $("#sign-out").addEventListener("click", signOut);
  $("#submit-form").addEventListener("submit", submit);
  $("#file-input").addEventListener("change", (e) => { addFiles(e.target.files); e.target.value = ""; });
  const drop = $("#drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); addFiles(e.dataTransfer.files); });
  document.addEventListener("visibilitychange", () => { if (!document.hidden && !$("#app").hidden) poll(); });
  boot();
}

document.addEventListener("DOMContentLoaded", wire);
