// The auditor's page: the incident list, one incident's call drawn as a picture beside its
// recording, its ticket trail, and the check of the handoff log's hash chain.
// Every string from the API reaches the page through textContent, never as markup.
"use strict";

const TOKEN_KEY = "hotline-bridge.audit.token";
const FILTERS = ["date", "hotline", "category", "mode", "result"];
const SVG_NS = "http://www.w3.org/2000/svg";

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

// Outlines drawn around the middle of the mark's row. Transfer marks hang below the bar so
// that a key press at the same moment stays visible.
const MARK_SHAPES = {
  key: "M0 -6 L6 0 L0 6 L-6 0 Z",
  transfer: "M0 -9 V8 M0 8 L6 17 L-6 17 Z",
  failure: "M-5 -5 L5 5 M5 -5 L-5 5",
  conference: "M-6 0 A6 6 0 1 0 6 0 A6 6 0 1 0 -6 0 Z",
};

// Geometry of the picture in viewBox units; the SVG scales to the width of its container.
const CHART = { width: 1200, left: 110, right: 30, top: 10, track: 36, lane: 46, axis: 36 };
const BAR_HEIGHT = 14;

// The incident on screen. Opening another one aborts its requests and frees its blob URLs.
const view = { incident: null, controller: null, blobs: new Map(), chart: null };
let listController = null;
let followingPlayback = false;

// A 401 (the token is missing or wrong) or a 403 (the token's role may not see this).
class AuthError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

const $ = (id) => document.getElementById(id);

// ---- Formatting ----

function localTime(ms) {
  if (!Number.isFinite(ms)) return "—";
  const d = new Date(ms);
  const two = (n) => String(n).padStart(2, "0");
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
  const text = (value) =>
    value !== null && typeof value === "object" ? JSON.stringify(value) : String(value);
  return Object.entries(details).map(([key, value]) => `${key}=${text(value)}`).join(" ");
}

// ---- DOM builders ----

// An element holding either text (set as textContent) or one child node.
function html(tag, content = null, attrs = {}) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  if (content instanceof Node) node.append(content);
  else if (content !== null) node.textContent = content;
  return node;
}

// A table row; plain values become cells, ready-made cells are kept as they are.
function tableRow(values) {
  const row = html("tr");
  for (const value of values) row.append(value instanceof Node ? value : html("td", shown(value)));
  return row;
}

function svgElement(tag, attrs, parent, text = null) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  if (text !== null) node.textContent = text;
  parent.append(node);
  return node;
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
  $("error").hidden = !message;
}

function showSignedIn(signedIn) {
  $("signin").hidden = signedIn;
  $("list").hidden = !signedIn;
}

function isAbort(error) {
  return error.name === "AbortError";
}

// Says what failed where it failed, or in the banner; a refused token also asks to sign in,
// while a token of another role stays signed in for what it may see.
function report(what, error, target = null) {
  if (isAbort(error)) return;
  const message = `${what}: ${error.message}`;
  if (error instanceof AuthError && error.status === 401) {
    sessionStorage.removeItem(TOKEN_KEY);
    showSignedIn(false);
    showError(`The token was refused: ${error.message}`);
  } else if (!target) {
    showError(message);
  }
  if (target) target.textContent = message;
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
  if (response.status === 401 || response.status === 403) {
    throw new AuthError(response.status, message);
  }
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
  for (const name of FILTERS) $("filters").elements[name].value = params.get(name) || "";
}

async function loadIncidents() {
  if (listController) listController.abort();
  listController = new AbortController();
  const query = new URLSearchParams(readFilters());
  query.set("limit", "200");
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
    row.classList.toggle("selected", row.dataset.incident === String(view.incident));
  }
}

function openClickedRow(event) {
  const row = event.target.closest("tr.incident");
  if (!row || (event.type === "keydown" && event.key !== "Enter")) return;
  openIncident(Number(row.dataset.incident));
}

// ---- One incident ----

function resetIncidentView(n) {
  if (view.controller) view.controller.abort();
  view.controller = new AbortController();
  view.incident = n;
  view.chart = null;
  stopPlayer();
  for (const pending of view.blobs.values()) {
    pending.then((url) => URL.revokeObjectURL(url), () => {});
  }
  view.blobs.clear();
  for (const key of ["ready", "audioDuration", "audioError"]) delete document.body.dataset[key];

  $("incident").hidden = false;
  $("incident-title").textContent = `Incident ${n}`;
  $("timeline").replaceChildren(html("p", "Loading…", { class: "quiet" }));
  $("events").tBodies[0].replaceChildren();
  $("ticket-body").replaceChildren();
  $("recording-status").textContent = "";
  $("recording-files").hidden = true;
  $("verify").textContent = "";
  delete $("verify").dataset.ok;
  markSelectedRow();
  return view.controller.signal;
}

async function openIncident(n) {
  const signal = resetIncidentView(n);
  const params = fragmentParams();
  params.set("incident", String(n));
  replaceFragment(params);

  let incident, recordings;
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

// ---- The picture: lanes, bars and marks from the timeline ----

// The axis runs to the end of the call, or to the last event while a call is still live.
function timelineEnd(events) {
  const ended = events.find((e) => e.event === "call_ended");
  const last = events.reduce((max, e) => Math.max(max, e.offset_ms), 0);
  return Math.max(ended ? ended.offset_ms : last, 1000);
}

function actorParty(actor) {
  if (actor === "caller") return "caller";
  if (typeof actor === "string" && actor.startsWith("seat:")) return actor.slice("seat:".length);
  return null;
}

// One lane per party ever connected, with the intervals it was connected. A seat that left
// and took the caller back (caller_returned) gets a second bar on the same lane.
function connectionLanes(events, end) {
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

  for (const entry of events) {
    const { seat, party } = detailsOf(entry);
    if (entry.event === "call_received") connect("caller", entry.offset_ms);
    if (["answered", "target_answered", "caller_returned"].includes(entry.event) && seat) {
      connect(String(seat), entry.offset_ms);
    }
    if (entry.event === "party_left" && party) disconnect(String(party), entry.offset_ms);
    if (entry.event === "call_ended") {
      for (const name of lanes.keys()) disconnect(name, entry.offset_ms);
    }
  }
  // Still connected when the log stops: a live call, drawn up to its last event.
  for (const name of lanes.keys()) disconnect(name, end);
  return [...lanes.values()];
}

// A mark about a seat belongs to that seat's lane. A seat that never connected has no lane,
// so its failure goes on the service track, not onto whichever party was the actor.
function markParty(entry, parties) {
  const details = detailsOf(entry);
  const party = "seat" in details ? details.seat : actorParty(entry.actor);
  return party !== null && parties.has(String(party)) ? String(party) : null;
}

// The span the log says was recorded; the recording's own offsets when the log is silent.
function recordedSpan(events, mixed, end) {
  const started = events.find((e) => e.event === "recording_started");
  const stopped = events.find((e) => e.event === "recording_stopped");
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
  const audioStart = mixed ? mixed.started_offset_ms : null;
  return { end, lanes, marks, recorded: recordedSpan(events, mixed, end), audioStart };
}

// ---- The picture: drawing ----

// About ten ticks at most, on round numbers of seconds.
function tickStep(end) {
  const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600].map((s) => s * 1000);
  return steps.find((step) => end / step <= 10) || 3600 * 1000 * Math.ceil(end / 36e6);
}

function drawAxis(svg, end, xOf, bottom) {
  const axis = svgElement("g", { class: "axis" }, svg);
  for (let ms = 0; ms <= end; ms += tickStep(end)) {
    const x = xOf(ms);
    svgElement("line", { class: "grid", x1: x, x2: x, y1: CHART.top, y2: bottom + 5 }, axis);
    svgElement("text", { x, y: bottom + 20, "text-anchor": "middle" }, axis, `${ms / 1000} s`);
  }
  svgElement("line", { x1: xOf(0), x2: xOf(end), y1: bottom, y2: bottom }, axis);
}

function drawRecordedSpan(svg, span, xOf, bottom) {
  const x = xOf(span.from);
  const width = Math.max(xOf(span.to) - x, 1);
  const group = svgElement("g", { class: "recorded" }, svg);
  const words = `Recorded from ${seconds(span.from, 1)} s to ${seconds(span.to, 1)} s`;
  svgElement("title", {}, group, words);
  const band = { class: "recorded-band", x, width, y: CHART.top, height: bottom - CHART.top };
  svgElement("rect", band, group);
  svgElement("rect", { class: "recorded-axis", x, width, y: bottom - 4, height: 8 }, group);
}

function markTooltip(entry) {
  const when = `${utcTime(entry.at_ms)} UTC (+${seconds(entry.offset_ms)} s)`;
  const details = detailsText(detailsOf(entry));
  return `${when}\n${entry.actor}: ${entry.event}${details ? "\n" + details : ""}`;
}

function drawMark(parent, { entry, kind }, xOf, middle) {
  const transform = `translate(${xOf(entry.offset_ms)} ${middle})`;
  const attrs = { class: "mark", "data-kind": kind, "data-event": entry.event, transform };
  const group = svgElement("g", attrs, parent);
  svgElement("title", {}, group, markTooltip(entry));
  svgElement("path", { d: MARK_SHAPES[kind] }, group);
  if (kind === "key") {
    svgElement("text", { y: -10, "text-anchor": "middle" }, group, shown(detailsOf(entry).keys));
  }
}

function drawBar(parent, bar, xOf, middle) {
  const x = xOf(bar.from);
  const width = Math.max(xOf(bar.to) - x, 2);
  const attrs = { class: "bar", x, width, y: middle - BAR_HEIGHT / 2, height: BAR_HEIGHT, rx: 3 };
  const rect = svgElement("rect", attrs, parent);
  const words = `Connected from ${seconds(bar.from, 1)} s to ${seconds(bar.to, 1)} s`;
  svgElement("title", {}, rect, words);
}

// A labelled strip across the chart: a party's lane, or the service track above the lanes.
function drawRow(svg, attrs, label, top, height) {
  const group = svgElement("g", attrs, svg);
  const middle = top + height / 2;
  svgElement("text", { class: "row-label", x: CHART.left - 12, y: middle + 4 }, group, label);
  const right = CHART.width - CHART.right;
  svgElement("line", { class: "guide", x1: CHART.left, x2: right, y1: middle, y2: middle }, group);
  return { group, middle };
}

function drawTimeline(picture) {
  const bottom = CHART.top + CHART.track + picture.lanes.length * CHART.lane;
  const span = CHART.width - CHART.left - CHART.right;
  const xOf = (ms) => CHART.left + span * Math.min(Math.max(ms / picture.end, 0), 1);
  const offsetOf = (x) => ((x - CHART.left) / span) * picture.end;
  const marksOf = (party) => picture.marks.filter((mark) => mark.party === party);

  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", `0 0 ${CHART.width} ${bottom + CHART.axis}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", `Who was connected when, over ${seconds(picture.end, 1)} s`);
  drawAxis(svg, picture.end, xOf, bottom);
  if (picture.recorded) drawRecordedSpan(svg, picture.recorded, xOf, bottom);

  const service = drawRow(svg, { class: "track-service" }, "service", CHART.top, CHART.track);
  for (const mark of marksOf(null)) drawMark(service.group, mark, xOf, service.middle);
  picture.lanes.forEach((lane, index) => {
    const top = CHART.top + CHART.track + index * CHART.lane;
    const label = lane.party === "caller" ? "caller" : `seat ${lane.party}`;
    const row = drawRow(svg, { class: "lane", "data-party": lane.party }, label, top, CHART.lane);
    for (const bar of lane.bars) drawBar(row.group, bar, xOf, row.middle);
    for (const mark of marksOf(lane.party)) drawMark(row.group, mark, xOf, row.middle);
  });

  const line = { id: "playhead", x1: 0, x2: 0, y1: CHART.top, y2: bottom };
  const playhead = svgElement("line", line, svg);
  svg.addEventListener("click", seekFromPicture);
  $("timeline").replaceChildren(svg);
  const { recorded, audioStart } = picture;
  return { svg, playhead, xOf, offsetOf, recorded, audioStart };
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

// Null when the list could not be read; the reason is then already on the page.
async function loadRecordings(n, signal) {
  try {
    return (await api(`/incidents/${n}/recordings`, signal)).recordings || [];
  } catch (error) {
    if (isAbort(error)) throw error;
    report("Could not list the recordings", error, $("recording-status"));
    return null;
  }
}

async function fetchBlobUrl(recording, signal) {
  const blob = await (await authorizedFetch(recording.url, signal)).blob();
  if (signal.aborted) throw new DOMException("The incident view changed", "AbortError");
  return URL.createObjectURL(blob);
}

// An <audio> element cannot send the token, so each file is fetched once with it and
// played or saved from a blob URL.
function recordingUrl(recording, signal) {
  if (!view.blobs.has(recording.file)) {
    const pending = fetchBlobUrl(recording, signal).catch((error) => {
      view.blobs.delete(recording.file);
      throw error;
    });
    view.blobs.set(recording.file, pending);
  }
  return view.blobs.get(recording.file);
}

async function download(recording, signal) {
  try {
    const href = await recordingUrl(recording, signal);
    const link = html("a", null, { href, download: recording.file });
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
    return tableRow([
      recording.file,
      (recording.channels || []).join(", "),
      `${seconds(recording.started_offset_ms, 1)} s`,
      Number.isFinite(recording.duration_ms) ? `${seconds(recording.duration_ms, 1)} s` : null,
      html("td", shown(recording.sha256), { class: "hash" }),
      html("td", button),
    ]);
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
  if (mixed === null) {
    const status = recordings.length ? "No mixed recording to play." : "No recording";
    $("recording-status").textContent = status;
    return;
  }
  $("player-box").hidden = false;
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
  // Without a source the player is idle, not broken: that is how stopPlayer leaves it.
  if (!player.getAttribute("src")) return;
  const failure = player.error;
  const message = (failure && failure.message) || `media error ${failure ? failure.code : "?"}`;
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

// The work log's 3-working-day deadline is estimated when the holiday calendar ends before it.
function workLogDue(ticket) {
  const due = localTime(ticket.work_log_deadline_ms);
  return ticket.deadline_estimated && due !== "—" ? `${due} (estimated)` : due;
}

const TICKET_FIELDS = [
  ["Number", "number"], ["Status", "status"], ["Platform", "platform"], ["Caller", "caller"],
  ["First receiver", "first_receiver"], ["Category", "category"], ["Owner by rule", "owner"],
  ["Handoff mode", "handoff_mode"], ["Handed to", "handed_to"],
  ["Followed the rule", "followed_rule"], ["Dispatch to departments", "dispatch"],
  ["Peer ticket", "peer_ticket"],
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
  for (const [label, field] of TICKET_FIELDS) {
    const value = typeof field === "function" ? field(ticket) : ticket[field];
    list.append(html("dt", label), html("dd", shown(value)));
  }
  return list;
}

function feedbackTrail(feedback) {
  const section = html("div", html("h4", "Feedback"));
  if (feedback.length === 0) {
    section.append(html("p", "No feedback yet.", { class: "quiet" }));
    return section;
  }
  const table = html("table", null, { class: "data" });
  table.append(tableRow(["Time", "Source", "Kind", "Text"].map((h) => html("th", h))));
  for (const item of [...feedback].sort((a, b) => a.at_ms - b.at_ms)) {
    table.append(tableRow([localTime(item.at_ms), item.source, item.kind, item.text]));
  }
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

function verifyText(result) {
  if (result.ok) return `Hash chain intact (${result.events} events)`;
  const problem = result.problem;
  if (!problem) return "Hash chain BROKEN (the server gave no detail)";
  const where = `event ${problem.id} (incident ${problem.incident})`;
  return `Hash chain BROKEN at ${where}: ${problem.reason}`;
}

async function showVerify(signal) {
  const line = $("verify");
  line.textContent = "Checking the hash chain…";
  try {
    const result = await api("/log/verify", signal);
    line.dataset.ok = String(result.ok === true);
    line.textContent = verifyText(result);
    // The broken link may be in the incident on screen: point at its row.
    const id = result.problem ? Number(result.problem.id) : NaN;
    const row = $("events").querySelector(`tr[data-id="${id}"]`);
    if (row) row.classList.add("broken");
  } catch (error) {
    report("Could not verify the handoff log", error, line);
  }
}

// ---- Wiring ----

// Shows what the fragment asks for: the filters, the list, and an incident if one is named.
function applyFragment() {
  const params = takeTokenFromFragment();
  fillFilters(params);
  showSignedIn(Boolean(token()));
  if (!token()) return;
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
  showError("");
  applyFragment();
}

function applyFilters(event) {
  event.preventDefault();
  const params = fragmentParams();
  for (const name of FILTERS) params.delete(name);
  for (const [name, value] of readFilters()) params.set(name, value);
  replaceFragment(params);
  loadIncidents();
}

function start() {
  $("signin").addEventListener("submit", signIn);
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

  // A link pasted into the address bar of a page already open.
  window.addEventListener("hashchange", applyFragment);
  applyFragment();
}

start();
