// The library's search on the page: search every finished job, open a hit at its moment, the CSV.
// Uses app.js's helpers ($, el, api, fmtSpan, openResult, showLogin); loaded after it.
"use strict";

const library = { query: "", kind: "", after: null };

async function runSearch(event) {
  event.preventDefault();
  library.query = $("#search-q").value.trim();
  library.kind = $("#search-kind").value;
  library.after = null;
  $("#search-hits").replaceChildren();
  if (library.query) await searchPage();
}

async function searchPage() {
  const params = new URLSearchParams({ q: library.query, limit: "20" });
  if (library.kind) params.set("kind", library.kind);
  if (library.after) params.set("after", library.after);
  const status = $("#search-status");
  status.className = "muted";
  status.textContent = "Searching…";
  const reply = await api("GET", `/search?${params}`);
  if (reply.status === 401) return showLogin("The session ended: enter the key again.");
  if (reply.status !== 200) {
    status.className = "error";
    status.textContent = errorText(reply.data, reply.status);
    $("#search-more").hidden = true;
    return;
  }
  const hits = reply.data.hits;
  $("#search-hits").append(...hits.map(hitRow));
  library.after = reply.data.next_after;
  $("#search-more").hidden = !library.after;
  const shown = $("#search-hits").children.length;
  status.textContent = shown ? `${shown} hit${shown === 1 ? "" : "s"}${library.after ? " so far" : ""}.` : "Nothing found.";
}

const KIND_NAMES = { speech: "said", text: "on screen", visual: "shown", summary: "summary", source: "title / tags" };

function hitRow(hit) {
  const name = hit.file_name || hit.job_id;
  const when = hit.start_s === null ? "" : fmtSpan(hit.start_s, hit.end_s ?? hit.start_s);
  const image = hit.image && hit.image.startsWith("/jobs/") ? el("img", { src: hit.image, alt: "", loading: "lazy" }) : el("span", { class: "no-image" });
  const open = el("button", { type: "button", class: "hit", "aria-label": `Open ${name}${when ? ` at ${when}` : ""}`, onclick: () => openAt(hit) },
    image,
    el("span", { class: "hit-body" },
      el("span", { class: "hit-head" }, el("span", { class: `kind ${hit.kind}`, text: KIND_NAMES[hit.kind] || hit.kind }), when ? el("span", { class: "time", text: when }) : null, el("span", { class: "name", text: name })),
      snippet(hit.text, hit.highlights)));
  return el("li", {}, open);
}

// The snippet as text nodes with <mark> around the matches: never parsed as HTML.
function snippet(text, highlights) {
  const chars = Array.from(text); // offsets are code points, as the server counts them
  const out = el("span", { class: "snippet" });
  let at = 0;
  for (const [start, end] of highlights) {
    if (start < at) continue;
    out.append(chars.slice(at, start).join(""), el("mark", { text: chars.slice(start, end).join("") }));
    at = end;
  }
  out.append(chars.slice(at).join(""));
  return out;
}

async function openAt(hit) {
  await openResult(hit.job_id);
  if (state.shown === hit.job_id && hit.start_s !== null) showMoment(hit.start_s, hit.end_s ?? hit.start_s);
}

// Marks the moment in the open result: a line on each timeline track, and the
// transcript and on-screen text lines it falls in (the first one scrolled into view).
function showMoment(start, end) {
  const body = $("#result-body");
  const duration = Math.max(Number(body.dataset.duration) || 0, 0.001);
  body.querySelectorAll(".moment").forEach((n) => n.remove());
  body.querySelectorAll(".at-moment").forEach((n) => n.classList.remove("at-moment"));
  for (const track of body.querySelectorAll(".timeline .track")) {
    track.append(el("span", { class: "moment", style: `left:${Math.min((100 * start) / duration, 99.5)}%` }));
  }
  const lines = [...body.querySelectorAll(".segments li[data-start]")].filter((li) => Number(li.dataset.start) <= end + 0.05 && Number(li.dataset.end) >= start - 0.05);
  lines.forEach((li) => li.classList.add("at-moment"));
  const target = lines[0] || body.querySelector(".timeline");
  if (target) target.scrollIntoView({ block: "center" });
}

function wireLibrary() {
  $("#search-form").addEventListener("submit", runSearch);
  $("#search-more").addEventListener("click", searchPage);
}

document.addEventListener("DOMContentLoaded", wireLibrary);
