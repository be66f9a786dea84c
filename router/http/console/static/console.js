// The operator console. It speaks the router's own API with the session cookie the sign-in
// sets (HttpOnly: this script never holds the key) and sends the anti-forgery token with every
// change. No framework: the DOM, fetch and WebSocket.
"use strict";

const MAX_ROWS = 500; // rows kept on the page: a fast stream never grows the tab without bound
const RECONNECT_MAX_MS = 10000;

const state = { csrf: null, view: "live" };
const $ = (id) => document.getElementById(id);

async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && state.csrf) headers["X-CSRF-Token"] = state.csrf;
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  const answer = await response.json().catch(() => null);
  return { status: response.status, answer };
}

const VIEWS = ["live", "event"];

function showView(name) {
  for (const view of VIEWS) $(view).hidden = view !== name;
  for (const button of document.querySelectorAll("#views button")) {
    if (button.dataset.view === name) button.setAttribute("aria-current", "page");
    else button.removeAttribute("aria-current");
  }
  state.view = name;
}

function show(signedIn) {
  $("sign-in").hidden = signedIn;
  $("views").hidden = !signedIn;
  $("sign-out").hidden = !signedIn;
  if (signedIn) {
    showView(state.view || "live");
    live.start();
  } else {
    for (const view of VIEWS) $(view).hidden = true;
    live.stop("Not following.");
    $("key").focus();
  }
}

async function signIn(event) {
  event.preventDefault();
  const key = $("key");
  const { status, answer } = await api("POST", "/ui/session", { key: key.value });
  key.value = "";
  if (status === 200) {
    state.csrf = answer.csrf;
    $("sign-in-error").textContent = "";
    show(true);
  } else {
    $("sign-in-error").textContent = (answer && answer.message) || `Refused (${status}).`;
  }
}

async function signOut() {
  await api("DELETE", "/ui/session");
  state.csrf = null;
  show(false);
}

// -- live events -------------------------------------------------------------------------

const live = {
  socket: null,
  lastId: null,
  paused: false,
  pending: [], // arrived, not yet drawn (newest last)
  received: 0,
  retryMs: 500,
  timer: null,
  drawing: false,
  wanted: true,

  url() {
    const instance = $("live-instance").value.trim();
    const events = $("live-events").value.split(",").map((e) => e.trim()).filter(Boolean);
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    let path = instance ? `/ws/${encodeURIComponent(instance)}` : "/ws";
    const query = new URLSearchParams();
    if (events.length) query.set("events", events.join(","));
    if (this.lastId) query.set("last_event_id", this.lastId);
    const text = query.toString();
    return `${scheme}//${location.host}${path}${text ? "?" + text : ""}`;
  },

  start() {
    this.stop();
    this.wanted = true;
    this.open();
  },

  open() {
    const socket = new WebSocket(this.url());
    this.socket = socket;
    this.status("Connecting…");
    socket.onopen = () => {
      this.retryMs = 500;
      const instance = $("live-instance").value.trim();
      this.status(`Following ${instance ? `instance “${instance}”` : "every instance"}.`);
    };
    socket.onmessage = (message) => this.take(message.data);
    socket.onclose = (closed) => {
      if (this.socket !== socket || !this.wanted) return;
      this.socket = null;
      const why = closed.reason || (closed.code === 1006 ? "connection lost" : `code ${closed.code}`);
      this.status(`Disconnected (${why}); trying again…`);
      this.timer = setTimeout(() => this.open(), this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, RECONNECT_MAX_MS);
    };
    // A refusal before the upgrade reaches the page only as a closed socket: ask why once.
    socket.onerror = () => this.explain();
  },

  // The same URL over plain HTTP answers what refused the upgrade (or 426: nothing did).
  async explain() {
    const url = this.url().replace(/^ws/, "http");
    const { status, answer } = await api("GET", url).catch(() => ({ status: 0, answer: null }));
    if (status === 426 || !answer || !answer.message) return;
    // Refused for what was asked (a name, a filter, the key): asking again will not help.
    if (status >= 400 && status < 500) this.stop(`Refused: ${answer.message}`);
    else this.status(`Refused: ${answer.message}`);
  },

  stop(text) {
    this.wanted = false;
    clearTimeout(this.timer);
    if (this.socket) this.socket.close();
    this.socket = null;
    if (text) this.status(text);
  },

  status(text) {
    $("live-status").textContent = text;
  },

  take(data) {
    let item;
    try {
      item = JSON.parse(data);
    } catch {
      return;
    }
    if (!item || typeof item !== "object" || !item.event) {
      if (item && item.type) this.status(`${item.type}: ${item.detail || ""}`.trim());
      return;
    }
    this.lastId = item.id || this.lastId;
    this.received += 1;
    this.pending.push(item);
    if (this.pending.length > MAX_ROWS) this.pending.splice(0, this.pending.length - MAX_ROWS);
    if (!this.paused && !this.drawing) {
      this.drawing = true;
      requestAnimationFrame(() => this.draw());
    }
  },

  // One redraw per frame, whatever arrived meanwhile: 500 events a second stay smooth.
  draw() {
    this.drawing = false;
    if (this.paused || !this.pending.length) return;
    const body = $("live-rows");
    const fragment = document.createDocumentFragment();
    for (let i = this.pending.length - 1; i >= 0; i -= 1) fragment.appendChild(row(this.pending[i]));
    this.pending = [];
    body.insertBefore(fragment, body.firstChild);
    const events = body.querySelectorAll("tr.event");
    for (let i = MAX_ROWS; i < events.length; i += 1) {
      const extra = events[i];
      if (extra.nextSibling && extra.nextSibling.classList.contains("detail")) extra.nextSibling.remove();
      extra.remove();
    }
    const shown = Math.min(events.length, MAX_ROWS);
    $("live-status").dataset.count = String(shown);
    $("live-table").setAttribute("aria-rowcount", String(shown));
  },

  togglePause() {
    this.paused = !this.paused;
    $("live-pause").setAttribute("aria-pressed", String(this.paused));
    $("live-pause").textContent = this.paused ? "Resume" : "Pause";
    if (!this.paused) this.draw();
  },

  clear() {
    $("live-rows").replaceChildren();
    this.pending = [];
  },
};

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function row(item) {
  const tr = document.createElement("tr");
  tr.className = "event";
  tr.tabIndex = 0;
  tr.setAttribute("aria-expanded", "false");
  tr.dataset.id = item.id || "";
  const time = (item.date_time || "").replace("T", " ").replace("Z", "");
  tr.append(cell(time), cell(item.instance || ""), cell(item.event), cell(item.id || "", "id"));
  tr.envelope = item;
  return tr;
}

function toggle(tr) {
  const open = tr.getAttribute("aria-expanded") === "true";
  if (open) {
    if (tr.nextSibling && tr.nextSibling.classList.contains("detail")) tr.nextSibling.remove();
  } else {
    const detail = document.createElement("tr");
    detail.className = "detail";
    const td = document.createElement("td");
    td.colSpan = 4;
    const pre = document.createElement("pre");
    pre.textContent = JSON.stringify(tr.envelope, null, 2);
    const button = document.createElement("button");
    button.type = "button";
    button.className = "attempts";
    button.dataset.id = tr.dataset.id;
    button.textContent = "Its delivery attempts";
    td.append(pre, button);
    detail.append(td);
    tr.after(detail);
  }
  tr.setAttribute("aria-expanded", String(!open));
}

// -- one event ----------------------------------------------------------------------------

const ATTEMPT_COLUMNS = ["at", "adapter", "destination", "attempt", "outcome", "status", "duration_ms", "error"];

async function findEvent(id) {
  const status = $("event-status");
  $("event-table").hidden = true;
  $("replay-form").hidden = true;
  $("replay-status").textContent = "";
  status.textContent = "Looking…";
  const query = new URLSearchParams({ event_id: id, limit: "500" });
  const { status: code, answer } = await api("GET", `/attempts?${query}`);
  if (code !== 200) {
    status.textContent = `Refused: ${(answer && answer.message) || code}`;
    return;
  }
  const attempts = answer.attempts;
  const rows = attempts.map((attempt) => {
    const tr = document.createElement("tr");
    for (const name of ATTEMPT_COLUMNS) {
      const value = attempt[name] === null || attempt[name] === undefined ? "" : String(attempt[name]);
      const td = cell(name === "at" ? value.replace("T", " ").replace("Z", "") : value);
      if (name === "outcome") td.className = `outcome-${value}`;
      if (name === "destination" && attempt.label && attempt.label !== "global") {
        td.textContent = `${value} (${attempt.label})`;
      }
      tr.append(td);
    }
    return tr;
  });
  $("event-rows").replaceChildren(...rows);
  $("event-table").hidden = attempts.length === 0;
  status.textContent = attempts.length
    ? `${attempts.length} attempt${attempts.length === 1 ? "" : "s"}, newest first.`
    : "No attempt is recorded for this id (yet, or any more).";
  offerReplay(attempts);
}

function offerReplay(attempts) {
  const choices = [["", "every destination that wants it"]];
  const seen = new Set();
  for (const attempt of attempts) {
    const label = attempt.adapter === "webhook" && attempt.label && attempt.label !== "global"
      ? `webhook:${attempt.label}` : null;
    for (const to of [attempt.adapter, label]) {
      if (to && !seen.has(to) && !to.includes("-")) {
        seen.add(to);
        choices.push([to, to.startsWith("webhook:") ? `the webhook labelled “${to.slice(8)}”` : `the ${to} role`]);
      }
    }
  }
  $("replay-to").replaceChildren(...choices.map(([value, text]) => {
    const option = document.createElement("option");
    option.value = value;
    option.textContent = text;
    return option;
  }));
  $("replay-form").hidden = false;
}

async function replayEvent(event) {
  event.preventDefault();
  const id = $("event-id").value.trim();
  const to = $("replay-to").value;
  const body = { event_ids: [id], ...(to ? { to } : {}) };
  const status = $("replay-status");
  const { status: code, answer } = await api("POST", "/replay", body);
  if (code !== 202) {
    status.textContent = `Refused: ${(answer && answer.message) || code}`;
    return;
  }
  status.textContent = `Replay ${answer.replay}: ${answer.matched} found in the archive; sending…`;
  for (let tries = 0; tries < 120; tries += 1) {
    const progress = await api("GET", `/replay/${encodeURIComponent(answer.replay)}`);
    if (progress.status !== 200) break;
    const p = progress.answer;
    status.textContent = `Replay ${p.replay}: ${p.state}, sent ${p.sent} of ${p.matched}` +
      (p.error ? ` (${p.error})` : "") + ".";
    if (p.state !== "running") return;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

function openEvent(id) {
  $("event-id").value = id;
  showView("event");
  findEvent(id);
}

function onRows(event) {
  const attempts = event.target.closest("button.attempts");
  if (attempts && event.type === "click") {
    openEvent(attempts.dataset.id);
    return;
  }
  const tr = event.target.closest("tr.event");
  if (!tr) return;
  if (event.type === "click" || event.key === "Enter" || event.key === " ") {
    event.preventDefault();
    toggle(tr);
  }
}

async function boot() {
  $("sign-in-form").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", signOut);
  $("live-form").addEventListener("submit", (event) => {
    event.preventDefault();
    live.lastId = null;
    live.clear();
    live.start();
  });
  $("live-pause").addEventListener("click", () => live.togglePause());
  $("live-clear").addEventListener("click", () => live.clear());
  $("live-rows").addEventListener("click", onRows);
  $("event-form").addEventListener("submit", (event) => {
    event.preventDefault();
    findEvent($("event-id").value.trim());
  });
  $("replay-form").addEventListener("submit", replayEvent);
  for (const button of document.querySelectorAll("#views button")) {
    button.addEventListener("click", () => showView(button.dataset.view));
  }
  $("live-rows").addEventListener("keydown", onRows);
  const { status, answer } = await api("GET", "/ui/session");
  if (status === 200) state.csrf = answer.csrf;
  show(status === 200);
}

document.addEventListener("DOMContentLoaded", boot);
