// The auditor's page: the incident list, one incident's call drawn as a picture beside its
// recording, its ticket trail, and the check of the handoff log's hash chain.
// Every string from the API reaches the page through textContent, never as markup.
"use strict";

const TOKEN_KEY = "hotline-bridge.audit.token";
const FILTERS = ["date", "hotline", "category", "mode", "result"];
const LIST_LIMIT = 200;

// The events drawn as marks on the picture, and the kind that decides their shape and colour.
const MARK_KINDS = {
  key_pressed: "key",
  transfer_requested: "transfer",
  transfer_completed: "transfer",
  transfer_cancelled: "transfer",
  caller_returned: "transfer",
  seat_failed: "failure",
  target_failed: "failure",
  recording_failed: "failure",
  conference_started: "conference",
};

// Mark outlines around the mark's own origin, which sits on the middle of its row. Transfer
// marks hang below the bar so that a key press at the same moment stays visible.
const MARK_SHAPES = {
  key: "M0 -6 L6 0 L0 6 L-6 0 Z",
  transfer: "M0 -9 V8 M0 8 L6 17 L-6 17 Z",
  failure: "M-5 -5 L5 5 M5 -5 L-5 5",
  conference: "M-6 0 A6 6 0 1 0 6 0 A6 6 0 1 0 -6 0 Z",
};

// Geometry of the picture in viewBox units; the SVG scales to the width of its container.
const CHART = { width: 1200, left: 110, right: 30, top: 10, track: 36, lane: 46, axis: 36 };
const BAR_HEIGHT = 14;

// The incident on screen. Opening another one aborts these requests and frees these blobs.
const view = { incident: null, controller: null, blobs: new Map(), chart: null };
let listController = null;
let followingPlayback = false;

// A 401 or 403: the token is missing, wrong, or not an auditor's.
class AuthError extends Error {}

const $ = (id) => document.getElementById(id);

// ---- Small formatting helpers ----

function two(n) {
  return String(n).padStart(2, "0");
}

function localTime(ms) {
  if (!Number.isFinite(ms)) return "—";
  const d = new Date(ms);
  const date = `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())}`;
  return `${date} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

function utcTime(ms) {
  if (!Number.isFinite(ms)) return String(ms);
  return new Date(ms).toISOString().replace("T", " ").replace("Z", "");
}

function seconds(ms, digits = 3) {
  return Number.isFinite(ms) ? (ms / 1000).toFixed(digits) : "—";
}

function shown(value) {
  if (value === null || value === undefined || value === "") return "—";
  if (typeof value === "boolean") return value ? "yes" : "no";
  return String(value);
}

function detailsOf(entry) {
  return entry.details && typeof entry.details === "object" ? entry.details : {};
}

// Details as `key=value` pairs; nested values (the saved files of a recording) stay JSON.
function detailsText(details) {
  return Object.entries(details)
    .map(([key, value]) => {
      const text = value !== null && typeof value === "object" ? JSON.stringify(value) : value;
      return `${key}=${text}`;
    })
    .join(" ");
}

// ---- DOM builders ----

function html(tag, text = null, attrs = {}) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  if (text !== null) node.textContent = text;
  return node;
}

function tableRow(values) {
  const row = html("tr");
  for (const value of values) row.append(value instanceof Node ? value : html("td", shown(value)));
  return row;
}

function cellWith(child) {
  const cell = html("td");
  cell.append(child);
  return cell;
}

function svgElement(tag, attrs, parent) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  parent.append(node);
  return node;
}

function svgTitle(parent, text) {
  svgElement("title", {}, parent).textContent = text;
}

// ---- Token, fragment and errors ----

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

function fragmentParams() {
  return new URLSearchParams(location.hash.slice(1));
}

function replaceFragment(params) {
  const hash = params.toString();
  history.replaceState(null, "", `${location.pathname}${location.search}${hash ? "#" + hash : ""}`);
}

function setFragmentParam(name, value) {
  const params = fragmentParams();
  if (value) params.set(name, value);
  else params.delete(name);
  replaceFragment(params);
}

// A token handed over in the link moves to sessionStorage and out of the address bar, so
// that a copied link or a screenshot does not carry it.
function takeTokenFromFragment() {
  const params = fragmentParams();
  const fromLink = params.get("token");
  if (fromLink) {
    sessionStorage.setItem(TOKEN_KEY, fromLink);
    params.delete("token");
    replaceFragment(params);
  }
  return params;
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = false;
}

function clearError() {
  $("error").textContent = "";
  $("error").hidden = true;
}

function isAbort(error) {
  return error.name === "AbortError";
}

// Says what failed where it failed (or in the banner); a refused token also asks to sign in.
function report(what, error, target = null) {
  if (isAbort(error)) return;
  if (error instanceof AuthError) {
    sessionStorage.removeItem(TOKEN_KEY);
    showSignedIn(false);
    showError(`The token was refused: ${error.message}`);
  } else if (!target) {
    showError(`${what}: ${error.message}`);
  }
  if (target) target.textContent = `${what}: ${error.message}`;
}

function showSignedIn(signedIn) {
  $("signin").hidden = signedIn;
  $("session").hidden = !signedIn;
  $("list").hidden = !signedIn;
}

// ---- API ----

async function errorMessage(response) {
  try {
    const body = await response.json();
    if (body && typeof body.error === "string") return body.error;
  } catch (_) {
    // Not JSON (a proxy's page, an empty body): the status line is all there is.
  }
  return `${response.status} ${response.statusText}`.trim();
}

async function authorizedFetch(path, signal) {
  const headers = { Authorization: `Bearer ${token() || ""}` };
  const response = await fetch(path, { headers, signal });
  if (response.ok) return response;
  const message = await errorMessage(response);
  if (response.status === 401 || response.status === 403) throw new AuthError(message);
  throw new Error(message);
}

async function api(path, signal) {
  return (await authorizedFetch(path, signal)).json();
}

// ---- Incident list ----

function readFilters() {
  const form = $("filters");
  return FILTERS.map((name) => [name, form.elements[name].value.trim()]).filter(([, v]) => v);
}

function fillFilters(params) {
  const form = $("filters");
  for (const name of FILTERS) form.elements[name].value = params.get(name) || "";
}

async function loadIncidents() {
  if (listController) listController.abort();
  listController = new AbortController();
  const query = new URLSearchParams(readFilters());
  query.set("limit", String(LIST_LIMIT));
  try {
    renderIncidents(await api(`/incidents?${query}`, listController.signal));
  } catch (error) {
    report("Could not load the incidents", error);
  }
}

function renderIncidents(incidents) {
  const rows = incidents.map((incident) => {
    const row = tableRow([
      incident.incident,
      localTime(incident.started_ms),
      incident.hotline,
      incident.category,
      incident.mode,
      incident.result,
      incident.ticket,
      html("td", shown(incident.events), { class: "number" }),
    ]);
    row.className = "incident";
    row.tabIndex = 0;
    row.dataset.incident = String(incident.incident);
    return row;
  });
  $("incidents").tBodies[0].replaceChildren(...rows);
  $("incidents-empty").hidden = incidents.length > 0;
  markSelectedRow();
  document.body.dataset.incidents = String(incidents.length);
}

function markSelectedRow() {
  for (const row of $("incidents").querySelectorAll("tr.incident")) {
    const selected = row.dataset.incident === String(view.incident);
    row.classList.toggle("selected", selected);
    row.setAttribute("aria-selected", String(selected));
  }
}

function openClickedRow(event) {
  const row = event.target.closest("tr.incident");
  if (!row) return;
  if (event.type === "keydown" && event.key !== "Enter") return;
  openIncident(Number(row.dataset.incident));
}

// ---- One incident ----

function resetIncidentView(n) {
  if (view.controller) view.controller.abort();
  view.controller = new AbortController();
  view.incident = n;
  stopPlayer();
  for (const pending of view.blobs.values()) {
    pending.then((url) => URL.revokeObjectURL(url), () => {});
  }
  view.blobs.clear();
  view.chart = null;
  for (const key of ["ready", "audioDuration", "audioError"]) delete document.body.dataset[key];

  $("incident").hidden = false;
  $("incident-title").textContent = `Incident ${n}`;
  $("timeline").replaceChildren(html("p", "Loading…", { class: "quiet" }));
  $("events").tBodies[0].replaceChildren();
  $("ticket-body").replaceChildren();
  $("recording-status").textContent = "";
  $("recording-files").hidden = true;
  $("verify").textContent = "Checking the hash chain…";
  delete $("verify").dataset.ok;
  markSelectedRow();
  return view.controller.signal;
}

async function openIncident(n) {
  const signal = resetIncidentView(n);
  setFragmentParam("incident", String(n));
  let incident;
  let recordings;
  try {
    [incident, recordings] = await Promise.all([
      api(`/incidents/${n}`, signal),
      loadRecordings(n, signal),
    ]);
  } catch (error) {
    report(`Could not load incident ${n}`, error, $("timeline"));
    return;
  }

  const mixed = (recordings || []).find((r) => r.kind === "mixed") || null;
  const timeline = incident.timeline || [];
  view.chart = drawTimeline(buildPicture(timeline, mixed));
  renderEvents(timeline);

  // Each of these shows its own failure, so the view is complete whichever way they end.
  await Promise.all([
    showRecording(recordings, mixed, signal),
    showTicket(incident.ticket, signal),
    showVerify(signal),
  ]);
  if (!signal.aborted) document.body.dataset.ready = `incident-${n}`;
}

function closeIncident() {
  if (view.controller) view.controller.abort();
  view.incident = null;
  stopPlayer();
  $("incident").hidden = true;
  setFragmentParam("incident", "");
}

// ---- The picture: lanes, bars and marks from the timeline ----

// The axis runs to the end of the call, or to the last event while a call is still live.
function timelineEnd(timeline) {
  const ended = timeline.find((e) => e.event === "call_ended");
  const last = timeline.reduce((max, e) => Math.max(max, e.offset_ms), 0);
  return Math.max(ended ? ended.offset_ms : last, 1000);
}

function actorParty(actor) {
  if (actor === "caller") return "caller";
  if (typeof actor === "string" && actor.startsWith("seat:")) return actor.slice("seat:".length);
  return null;
}

// One lane per party ever connected, each with the intervals it was connected. A seat that
// leaves and takes the caller back (caller_returned) gets a second bar on the same lane.
function connectionLanes(timeline, end) {
  const lanes = new Map([["caller", { party: "caller", bars: [], since: null }]]);
  const connect = (party, at) => {
    if (!lanes.has(party)) lanes.set(party, { party, bars: [], since: null });
    const lane = lanes.get(party);
    if (lane.since === null) lane.since = at;
  };
  const disconnect = (party, at) => {
    const lane = lanes.get(party);
    if (!lane || lane.since === null) return;
    lane.bars.push({ from: lane.since, to: at });
    lane.since = null;
  };

  for (const entry of timeline) {
    const details = detailsOf(entry);
    if (entry.event === "call_received") connect("caller", entry.offset_ms);
    if (["answered", "target_answered", "caller_returned"].includes(entry.event) && details.seat) {
      connect(String(details.seat), entry.offset_ms);
    }
    if (entry.event === "party_left" && details.party) {
      disconnect(String(details.party), entry.offset_ms);
    }
    if (entry.event === "call_ended") {
      for (const party of lanes.keys()) disconnect(party, entry.offset_ms);
    }
  }
  // Still connected when the log stops: a live call, drawn up to its last event.
  for (const party of lanes.keys()) disconnect(party, end);
  return [...lanes.values()];
}

// A mark about a seat belongs to that seat's lane. A seat that never connected has no lane,
// so its failure goes on the service track, not onto whichever party was the actor.
function markParty(entry, parties) {
  const details = detailsOf(entry);
  const party = "seat" in details ? details.seat : actorParty(entry.actor);
  return party !== null && parties.has(String(party)) ? String(party) : null;
}

function recordedSpan(timeline, mixed, end) {
  const started = timeline.find((e) => e.event === "recording_started");
  const stopped = timeline.find((e) => e.event === "recording_stopped");
  if (started) return { from: started.offset_ms, to: stopped ? stopped.offset_ms : end };
  if (mixed && Number.isFinite(mixed.duration_ms)) {
    return { from: mixed.started_offset_ms, to: mixed.started_offset_ms + mixed.duration_ms };
  }
  return null;
}

function buildPicture(timeline, mixed) {
  // The log is in chain order; the picture needs time order (the sort is stable for ties).
  const events = [...timeline].sort((a, b) => a.offset_ms - b.offset_ms);
  const end = timelineEnd(events);
  const lanes = connectionLanes(events, end);
  const parties = new Set(lanes.map((lane) => lane.party));
  const marks = events
    .filter((entry) => entry.event in MARK_KINDS)
    .map((entry) => ({ entry, kind: MARK_KINDS[entry.event], party: markParty(entry, parties) }));
  return {
    end,
    lanes,
    marks,
    recorded: recordedSpan(events, mixed, end),
    audioStart: mixed ? mixed.started_offset_ms : null,
  };
}

// ---- The picture: drawing ----

function tickStep(end) {
  const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600].map((s) => s * 1000);
  return steps.find((step) => end / step <= 10) || 3600 * 1000 * Math.ceil(end / 36e6);
}

function drawAxis(svg, end, xOf, bottom) {
  const axis = svgElement("g", { class: "axis" }, svg);
  const step = tickStep(end);
  for (let ms = 0; ms <= end; ms += step) {
    const x = xOf(ms);
    svgElement("line", { class: "grid", x1: x, x2: x, y1: CHART.top, y2: bottom + 5 }, axis);
    const label = svgElement("text", { x, y: bottom + 20, "text-anchor": "middle" }, axis);
    label.textContent = `${ms / 1000} s`;
  }
  svgElement("line", { class: "baseline", x1: xOf(0), x2: xOf(end), y1: bottom, y2: bottom }, axis);
}

function drawRecordedSpan(svg, span, xOf, bottom) {
  const x = xOf(span.from);
  const width = Math.max(xOf(span.to) - x, 1);
  const group = svgElement("g", { class: "recorded" }, svg);
  svgTitle(group, `Recorded from ${seconds(span.from, 1)} s to ${seconds(span.to, 1)} s`);
  svgElement("rect", { class: "recorded-band", x, width, y: CHART.top, height: bottom - CHART.top }, group);
  svgElement("rect", { class: "recorded-axis", x, width, y: bottom - 4, height: 8 }, group);
}

function markTooltip(entry) {
  const when = `${utcTime(entry.at_ms)} UTC (+${seconds(entry.offset_ms)} s)`;
  const details = detailsText(detailsOf(entry));
  return `${when}\n${entry.actor}: ${entry.event}${details ? "\n" + details : ""}`;
}

function drawMark(parent, mark, xOf, middle) {
  const { entry, kind } = mark;
  const group = svgElement("g", {
    class: "mark",
    "data-kind": kind,
    "data-event": entry.event,
    transform: `translate(${xOf(entry.offset_ms)} ${middle})`,
  }, parent);
  svgTitle(group, markTooltip(entry));
  svgElement("path", { d: MARK_SHAPES[kind] }, group);
  if (kind === "key") {
    const label = svgElement("text", { y: -10, "text-anchor": "middle" }, group);
    label.textContent = shown(detailsOf(entry).keys);
  }
}

function drawBar(parent, bar, xOf, middle) {
  const x = xOf(bar.from);
  const rect = svgElement("rect", {
    class: "bar",
    x,
    y: middle - BAR_HEIGHT / 2,
    width: Math.max(xOf(bar.to) - x, 2),
    height: BAR_HEIGHT,
    rx: 3,
  }, parent);
  svgTitle(rect, `Connected from ${seconds(bar.from, 1)} s to ${seconds(bar.to, 1)} s`);
}

// A row is a labelled strip across the chart: a party's lane, or the service track above them.
function drawRow(svg, attrs, label, top, height) {
  const group = svgElement("g", attrs, svg);
  const middle = top + height / 2;
  const name = svgElement("text", { class: "row-label", x: CHART.left - 12, y: middle + 4 }, group);
  name.textContent = label;
  svgElement("line", { class: "guide", x1: CHART.left, x2: CHART.width - CHART.right, y1: middle, y2: middle }, group);
  return { group, middle };
}

function drawTimeline(picture) {
  const bottom = CHART.top + CHART.track + picture.lanes.length * CHART.lane;
  const height = bottom + CHART.axis;
  const span = CHART.width - CHART.left - CHART.right;
  const xOf = (ms) => CHART.left + span * Math.min(Math.max(ms / picture.end, 0), 1);
  const offsetOf = (x) => ((x - CHART.left) / span) * picture.end;

  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", `0 0 ${CHART.width} ${height}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", `Who was connected when, over ${seconds(picture.end, 1)} seconds`);
  drawAxis(svg, picture.end, xOf, bottom);
  if (picture.recorded) drawRecordedSpan(svg, picture.recorded, xOf, bottom);

  const service = drawRow(svg, { class: "track-service" }, "service", CHART.top, CHART.track);
  for (const mark of picture.marks.filter((m) => m.party === null)) {
    drawMark(service.group, mark, xOf, service.middle);
  }
  picture.lanes.forEach((lane, index) => {
    const top = CHART.top + CHART.track + index * CHART.lane;
    const label = lane.party === "caller" ? "caller" : `seat ${lane.party}`;
    const row = drawRow(svg, { class: "lane", "data-party": lane.party }, label, top, CHART.lane);
    for (const bar of lane.bars) drawBar(row.group, bar, xOf, row.middle);
    for (const mark of picture.marks.filter((m) => m.party === lane.party)) {
      drawMark(row.group, mark, xOf, row.middle);
    }
  });

  const playhead = svgElement("line", { id: "playhead", x1: 0, x2: 0, y1: CHART.top, y2: bottom }, svg);
  svg.addEventListener("click", seekFromPicture);
  $("timeline").replaceChildren(svg);
  return { svg, playhead, xOf, offsetOf, recorded: picture.recorded, audioStart: picture.audioStart };
}

// ---- Events table ----

function renderEvents(timeline) {
  const rows = timeline.map((entry) => {
    const row = tableRow([
      utcTime(entry.at_ms),
      html("td", seconds(entry.offset_ms), { class: "number" }),
      entry.actor,
      entry.event,
      html("td", detailsText(detailsOf(entry)), { class: "details" }),
    ]);
    row.dataset.id = String(entry.id);
    return row;
  });
  $("events").tBodies[0].replaceChildren(...rows);
}

// ---- Recording ----

async function loadRecordings(n, signal) {
  try {
    return (await api(`/incidents/${n}/recordings`, signal)).recordings || [];
  } catch (error) {
    if (isAbort(error)) throw error;
    report("Could not list the recordings", error, $("recording-status"));
    return null;
  }
}

async function sha256Hex(blob) {
  const digest = await crypto.subtle.digest("SHA-256", await blob.arrayBuffer());
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

// Compares the bytes served with the hash written in the log when the file was saved.
async function showHashCheck(recording, blob) {
  const row = $("recording-files").querySelector(`tr[data-file="${CSS.escape(recording.file)}"]`);
  if (!row) return;
  const cell = row.querySelector(".check");
  if (!recording.sha256) {
    cell.textContent = "no hash recorded";
  } else if (!window.crypto || !crypto.subtle) {
    cell.textContent = "not checked (needs HTTPS or localhost)";
  } else {
    try {
      const matches = (await sha256Hex(blob)) === recording.sha256.toLowerCase();
      cell.textContent = matches ? "matches" : "DIFFERS from the log";
      cell.dataset.ok = String(matches);
    } catch (error) {
      cell.textContent = `not checked: ${error.message}`;
    }
  }
}

async function fetchRecording(recording, signal) {
  const blob = await (await authorizedFetch(recording.url, signal)).blob();
  if (signal.aborted) throw new DOMException("The incident view changed", "AbortError");
  showHashCheck(recording, blob);
  return URL.createObjectURL(blob);
}

// An <audio> element cannot send the token, so each file is fetched once as a blob and
// played or saved from a blob URL.
function recordingUrl(recording, signal) {
  if (!view.blobs.has(recording.file)) {
    const url = fetchRecording(recording, signal).catch((error) => {
      view.blobs.delete(recording.file);
      throw error;
    });
    view.blobs.set(recording.file, url);
  }
  return view.blobs.get(recording.file);
}

async function download(recording, signal) {
  try {
    const link = html("a", null, { href: await recordingUrl(recording, signal), download: recording.file });
    document.body.append(link);
    link.click();
    link.remove();
  } catch (error) {
    report(`Could not download ${recording.file}`, error, $("recording-status"));
  }
}

function renderRecordingFiles(recordings, signal) {
  const rows = recordings.map((recording) => {
    const button = html("button", "Download", { type: "button" });
    button.addEventListener("click", () => download(recording, signal));
    const row = tableRow([
      recording.file,
      (recording.channels || []).join(", "),
      `${seconds(recording.started_offset_ms, 1)} s`,
      html("td", shown(recording.sha256), { class: "hash" }),
      html("td", "not fetched yet", { class: "check" }),
      cellWith(button),
    ]);
    row.dataset.file = recording.file;
    return row;
  });
  $("recording-files").tBodies[0].replaceChildren(...rows);
  $("recording-files").hidden = recordings.length === 0;
}

// Resolves once the player knows its duration or has given up, whichever comes first.
function audioSettled() {
  const player = $("player");
  return new Promise((resolve) => {
    player.addEventListener("loadedmetadata", resolve, { once: true });
    player.addEventListener("error", resolve, { once: true });
  });
}

async function showRecording(recordings, mixed, signal) {
  if (recordings === null) return;
  renderRecordingFiles(recordings, signal);
  $("player-box").hidden = mixed === null;
  if (recordings.length === 0) {
    $("recording-status").textContent = "No recording";
    return;
  }
  if (mixed === null) {
    $("recording-status").textContent = "No mixed recording to play; the files are listed below.";
    return;
  }
  const settled = audioSettled();
  try {
    $("player").src = await recordingUrl(mixed, signal);
  } catch (error) {
    if (!isAbort(error)) document.body.dataset.audioError = error.message;
    report("Could not fetch the recording", error, $("recording-status"));
    return;
  }
  await settled;
}

function stopPlayer() {
  const player = $("player");
  player.pause();
  player.removeAttribute("src");
  player.load();
  $("player-box").hidden = true;
  $("audio-duration").textContent = "–";
}

function audioLoaded() {
  const player = $("player");
  $("audio-duration").textContent = `${player.duration.toFixed(1)} s`;
  document.body.dataset.audioDuration = String(player.duration);
  movePlayhead();
}

function audioFailed() {
  const player = $("player");
  // With no source the player is idle, not broken: that is how stopPlayer leaves it.
  if (!player.getAttribute("src")) return;
  const failure = player.error;
  const message = (failure && failure.message) || `media error ${failure ? failure.code : "unknown"}`;
  document.body.dataset.audioError = message;
  $("recording-status").textContent = `The recording cannot be played: ${message}`;
}

// ---- Playhead ----

function movePlayhead() {
  const chart = view.chart;
  if (!chart || chart.audioStart === null) return;
  const x = chart.xOf(chart.audioStart + $("player").currentTime * 1000);
  chart.playhead.setAttribute("x1", x);
  chart.playhead.setAttribute("x2", x);
  chart.playhead.classList.add("visible");
}

// timeupdate fires only a few times a second; while playing, follow every frame instead.
function followPlayback() {
  movePlayhead();
  followingPlayback = !$("player").paused;
  if (followingPlayback) requestAnimationFrame(followPlayback);
}

function startFollowing() {
  if (!followingPlayback) requestAnimationFrame(followPlayback);
  followingPlayback = true;
}

// A click on the recorded span plays the recording from that moment of the call.
function seekFromPicture(event) {
  const chart = view.chart;
  const player = $("player");
  if (!chart || !chart.recorded || chart.audioStart === null) return;
  if (player.readyState < HTMLMediaElement.HAVE_METADATA) return;
  const point = new DOMPoint(event.clientX, event.clientY);
  const offset = chart.offsetOf(point.matrixTransform(chart.svg.getScreenCTM().inverse()).x);
  if (offset < chart.recorded.from || offset > chart.recorded.to) return;
  const target = (offset - chart.audioStart) / 1000;
  player.currentTime = Math.min(Math.max(target, 0), player.duration);
  movePlayhead();
}

// ---- Ticket and hash chain ----

// The 3-working-day deadline is estimated when the holiday calendar does not cover it.
function workLogDue(ticket) {
  const due = localTime(ticket.work_log_deadline_ms);
  return ticket.deadline_estimated && due !== "—" ? `${due} (estimated)` : due;
}

const TICKET_FIELDS = [
  ["Number", (t) => t.number],
  ["Status", (t) => t.status],
  ["Platform", (t) => t.platform],
  ["Caller", (t) => t.caller],
  ["First receiver", (t) => t.first_receiver],
  ["Category", (t) => t.category],
  ["Owner by rule", (t) => t.owner],
  ["Handoff mode", (t) => t.handoff_mode],
  ["Handed to", (t) => t.handed_to],
  ["Followed the rule", (t) => t.followed_rule],
  ["Dispatch to departments", (t) => t.dispatch],
  ["Peer ticket", (t) => t.peer_ticket],
  ["Received", (t) => localTime(t.received_ms)],
  ["Answered", (t) => localTime(t.answered_ms)],
  ["Ended", (t) => localTime(t.ended_ms)],
  ["Finished", (t) => localTime(t.finished_ms)],
  ["Work log due", workLogDue],
  ["Work log sent", (t) => localTime(t.work_log_sent_ms)],
  ["Work log received", (t) => localTime(t.work_log_received_ms)],
];

function ticketFields(ticket) {
  const list = html("dl", null, { class: "fields" });
  for (const [label, read] of TICKET_FIELDS) list.append(html("dt", label), html("dd", shown(read(ticket))));
  return list;
}

function feedbackTrail(feedback) {
  const section = html("div");
  section.append(html("h4", "Feedback"));
  if (feedback.length === 0) {
    section.append(html("p", "No feedback yet.", { class: "quiet" }));
    return section;
  }
  const table = html("table", null, { class: "data" });
  table.append(tableRow(["Time", "Source", "Kind", "Text"].map((h) => html("th", h, { scope: "col" }))));
  const ordered = [...feedback].sort((a, b) => a.at_ms - b.at_ms);
  for (const item of ordered) table.append(tableRow([localTime(item.at_ms), item.source, item.kind, item.text]));
  section.append(table);
  return section;
}

function noticeText(notice) {
  if (notice === null || typeof notice !== "object") return shown(notice);
  const due = Number.isFinite(notice.deadline_ms) ? ` (due ${localTime(notice.deadline_ms)})` : "";
  return notice.reason ? `${notice.reason}${due}` : detailsText(notice);
}

function supervisionNotices(notices) {
  const section = html("div");
  if (notices.length === 0) return section;
  const list = html("ul", null, { class: "notices" });
  for (const notice of notices) list.append(html("li", noticeText(notice)));
  section.append(html("h4", "Supervision notices"), list);
  return section;
}

async function showTicket(number, signal) {
  const body = $("ticket-body");
  if (!number) {
    body.replaceChildren(html("p", "No ticket for this incident.", { class: "quiet" }));
    return;
  }
  body.replaceChildren(html("p", `Loading ticket ${number}…`, { class: "quiet" }));
  try {
    const data = await api(`/tickets/${encodeURIComponent(number)}`, signal);
    body.replaceChildren(
      ticketFields(data.ticket || {}),
      feedbackTrail(data.feedback || []),
      supervisionNotices(data.supervision || []),
    );
  } catch (error) {
    report(`Could not load ticket ${number}`, error, body);
  }
}

function brokenChainText(problem) {
  if (!problem) return "Hash chain BROKEN (the server gave no detail)";
  return `Hash chain BROKEN at event ${problem.id} (incident ${problem.incident}): ${problem.reason}`;
}

async function showVerify(signal) {
  const line = $("verify");
  try {
    const result = await api("/log/verify", signal);
    line.dataset.ok = String(result.ok === true);
    line.textContent = result.ok ? `Hash chain intact (${result.events} events)` : brokenChainText(result.problem);
    // The broken link may be in the incident on screen: point at its row.
    const broken = result.problem && $("events").querySelector(`tr[data-id="${Number(result.problem.id)}"]`);
    if (broken) broken.classList.add("broken");
  } catch (error) {
    report("Could not verify the handoff log", error, line);
  }
}

// ---- Wiring ----

// Reads the fragment (token, filters, incident) and shows what it asks for.
function applyFragment() {
  const params = takeTokenFromFragment();
  fillFilters(params);
  if (!token()) {
    showSignedIn(false);
    return;
  }
  showSignedIn(true);
  loadIncidents();
  const incident = params.get("incident");
  if (incident && /^\d+$/.test(incident)) openIncident(Number(incident));
}

function signIn(event) {
  event.preventDefault();
  const value = $("token-input").value.trim();
  if (!value) return;
  sessionStorage.setItem(TOKEN_KEY, value);
  $("token-input").value = "";
  clearError();
  applyFragment();
}

function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  if (listController) listController.abort();
  closeIncident();
  $("incidents").tBodies[0].replaceChildren();
  delete document.body.dataset.incidents;
  showSignedIn(false);
}

function applyFilters(event) {
  event.preventDefault();
  const params = fragmentParams();
  const chosen = new Map(readFilters());
  for (const name of FILTERS) {
    if (chosen.has(name)) params.set(name, chosen.get(name));
    else params.delete(name);
  }
  replaceFragment(params);
  loadIncidents();
}

function start() {
  $("signin").addEventListener("submit", signIn);
  $("signout").addEventListener("click", signOut);
  $("filters").addEventListener("submit", applyFilters);
  const rows = $("incidents").tBodies[0];
  rows.addEventListener("click", openClickedRow);
  rows.addEventListener("keydown", openClickedRow);

  const player = $("player");
  player.addEventListener("loadedmetadata", audioLoaded);
  player.addEventListener("error", audioFailed);
  player.addEventListener("timeupdate", movePlayhead);
  player.addEventListener("seeked", movePlayhead);
  player.addEventListener("play", startFollowing);

  // Someone pasting a new link into the address bar of an open page.
  window.addEventListener("hashchange", applyFragment);
  applyFragment();
}

start();
