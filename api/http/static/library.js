// The job view's library sections: the metrics table and the similar videos (issue 21).
// Loaded after app.js, whose helpers (el, api, errorText, fmtSeconds, openResult) it uses.
"use strict";

// --- the library: metrics and similar videos ------------------------------------------
const METRICS = [
  ["cuts_per_minute", "Cuts per minute", (v) => v.toFixed(1)],
  ["mean_shot_s", "Mean shot", fmtSeconds],
  ["first_cut_s", "First cut", fmtSeconds],
  ["speech_share", "Speech", fmtShare],
  ["first_word_s", "First word", fmtSeconds],
  ["words_per_minute", "Words per minute", (v) => v.toFixed(0)],
  ["text_share", "Text on screen", fmtShare],
  ["music_share", "Music and other sound", fmtShare],
  ["loudness_lufs", "Loudness", (v) => `${v.toFixed(1)} LUFS`],
  ["motion", "Motion (0–255)", (v) => v.toFixed(1)],
];

function fmtShare(v) {
  return `${Math.round(v * 100)} %`;
}

function metricsTable(metrics) {
  const rows = METRICS.map(([key, label, format]) =>
    el("tr", {}, el("th", { scope: "row", text: label }), el("td", { text: metrics[key] === null ? "–" : format(metrics[key]) })));
  const hook = metrics.hook;
  const quoted = (v) => (v === null ? "–" : v ? `“${v}”` : "nothing");
  const said = quoted(hook.words);
  const shown = quoted(hook.text);
  rows.push(el("tr", {}, el("th", { scope: "row", text: "First 3 s" }),
    el("td", { text: `said ${said}; shown ${shown}; ${hook.cuts === null ? "–" : hook.cuts} cut${hook.cuts === 1 ? "" : "s"}` })));
  return el("table", { class: "metrics" }, el("tbody", {}, ...rows));
}

function similarList(id) {
  const list = el("ul", { class: "similar", "aria-live": "polite" }, el("li", { class: "muted", text: "Looking…" }));
  fillSimilar(list, id);
  return list;
}

async function fillSimilar(list, id) {
  const reply = await api("GET", `/jobs/${encodeURIComponent(id)}/similar`);
  if (reply.status !== 200) {
    list.replaceChildren(el("li", { class: "muted", text: errorText(reply.data, reply.status) }));
    return;
  }
  const found = reply.data.similar;
  if (!found.length) {
    list.replaceChildren(el("li", { class: "muted", text: "None: no other video has this sound or these pictures." }));
    return;
  }
  const reasons = { same_sound: "same sound", same_video: "same video" };
  list.replaceChildren(...found.map((s) => el("li", {},
    el("a", { href: `/jobs/${encodeURIComponent(s.job_id)}`, "data-job": s.job_id, text: s.job_id, onclick: (e) => { e.preventDefault(); openResult(s.job_id); } }),
    ` ${reasons[s.reason] || s.reason} `, el("span", { class: "muted", text: `(${Math.round(s.score * 100)} % matched)` }))));
}
