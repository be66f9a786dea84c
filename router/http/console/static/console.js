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

const VIEWS = ["live", "destinations", "dead", "event", "settings"];
const REFRESH_MS = 5000;

function showView(name) {
  for (const view of VIEWS) $(view).hidden = view !== name;
  for (const button of document.querySelectorAll("#views button")) {
    if (button.dataset.view === name) button.setAttribute("aria-current", "page");
    else button.removeAttribute("aria-current");
  }
  state.view = name;
  if (name === "dead") dead.queues();
  destinations.follow(name === "destinations");
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
    destinations.follow(false);
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

// -- destinations -------------------------------------------------------------------------

function button(text, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = text;
  b.addEventListener("click", onClick);
  return b;
}

// A success rate below this is listed as needing attention.
const SUCCESS_ALERT = 0.95;

// A refresh that changes nothing leaves the rows, and the keyboard's focus on their buttons,
// alone; and a live region says only what changed.
function refill(container, nodes) {
  const text = nodes.map((node) => node.textContent).join("\n");
  if (container.dataset.shown === text) return;
  container.dataset.shown = text;
  container.replaceChildren(...nodes);
}

function ms(value) {
  return value >= 1000 ? `${(value / 1000).toFixed(1)} s` : `${Math.round(value)} ms`;
}

function breakerText(receiver) {
  if (!receiver) return "not heard of";
  if (receiver.breaker === "open") {
    return receiver.reopens_in ? `open, a probe in ${Math.ceil(receiver.reopens_in)} s` : "open, the next request probes";
  }
  return receiver.breaker;
}

function destinationName(d) {
  if (d.label === "global") return `${d.adapter} global (${d.destination})`;
  if (d.label) return `${d.adapter} ${d.instance} ${d.label} (${d.destination})`;
  return `${d.adapter} ${d.destination}`;
}

// A small line chart of each series (null: no point), on one scale; its label says the numbers.
function sparkline(series, label) {
  const NS = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(NS, "svg");
  const width = 120, height = 24;
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("class", "spark");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", label);
  const top = Math.max(1, ...series.flatMap(([values]) => values.filter((v) => v !== null)));
  for (const [values, className] of series) {
    const pad = 2; // room for the latest point's dot at either edge
    const step = values.length > 1 ? (width - 2 * pad) / (values.length - 1) : 0;
    const points = values.map((v, i) => (v === null ? null
      : `${(pad + i * step).toFixed(1)},${(height - pad - (v / top) * (height - 2 * pad)).toFixed(1)}`));
    const drawn = points.filter(Boolean);
    const line = document.createElementNS(NS, "polyline");
    line.setAttribute("points", drawn.join(" "));
    line.setAttribute("class", className);
    svg.append(line);
    if (drawn.length) { // the latest point, seen even when it is the only one
      const [x, y] = drawn[drawn.length - 1].split(",");
      const dot = document.createElementNS(NS, "circle");
      dot.setAttribute("cx", x);
      dot.setAttribute("cy", y);
      dot.setAttribute("r", "1.8");
      dot.setAttribute("class", className);
      svg.append(dot);
    }
  }
  return svg;
}

const destinations = {
  timer: null,

  // Refreshed every few seconds while shown, not while another view is.
  follow(on) {
    clearInterval(this.timer);
    this.timer = null;
    if (on) {
      this.load();
      this.timer = setInterval(() => this.load(), REFRESH_MS);
    }
  },

  async load() {
    const { status, answer } = await api("GET", "/destinations");
    if (status !== 200) {
      $("dest-status").textContent = refusal(answer, status);
      return;
    }
    const count = (n) => (n === null ? "not declared yet" : String(n));
    const inFlight = answer.live.in_flight;
    refill($("dest-roles"), answer.roles.map((role) => {
      const tr = document.createElement("tr");
      const deadCell = cell(count(role.dead), role.dead ? "attention" : "");
      tr.append(cell(role.role), cell(count(role.waiting)), cell(String(inFlight[role.role] ?? "–")),
        cell(String(role.retrying)), deadCell);
      const td = document.createElement("td");
      if (role.dead) td.append(this.deadLetters(role.role));
      tr.append(td);
      return tr;
    }));
    const receivers = new Map(answer.live.receivers.map((r) => [r.receiver, r]));
    const global = answer.global_webhook;
    $("dest-global").textContent = global.enabled
      ? `Global webhook: ${global.url} (breaker ${breakerText(receivers.get(global.receiver))})`
      : "No global webhook.";
    refill($("dest-webhooks"), answer.webhooks.map((hook) => {
      const tr = document.createElement("tr");
      let text = hook.state;
      if (hook.state === "failing") text = `failing since ${hook.failing_since}`;
      if (hook.disabled_at) text = `disabled at ${hook.disabled_at}: ${hook.disabled_reason || ""}`;
      const seen = receivers.get(hook.receiver);
      tr.append(cell(hook.instance), cell(hook.label), cell(hook.url),
        cell(text, hook.state === "delivering" ? "" : "attention"),
        cell(breakerText(seen), seen && seen.breaker !== "closed" ? "attention" : ""));
      const td = document.createElement("td");
      if (hook.disabled_at) {
        td.append(button(`Enable ${hook.instance} ${hook.label}`, () => this.enable(hook)));
      }
      tr.append(td);
      return tr;
    }));
    this.amqp(answer.amqp);
    this.traffic(answer.traffic);
    this.receivers(answer.live);
    this.attention(answer);
    const left = answer.webhooks_left_out;
    $("dest-status").textContent = `${answer.webhooks.length} per-instance webhook${answer.webhooks.length === 1 ? "" : "s"}` +
      (left ? ` (${left} more not shown)` : "") + ", refreshed every few seconds.";
  },

  deadLetters(role) {
    return button(`Dead letters of ${role}`, () => {
      showView("dead");
      dead.open(role);
    });
  },

  amqp(amqp) {
    $("dest-amqp-status").textContent = amqp.queues.length
      ? (amqp.left_out ? `${amqp.left_out} more queues not looked at.` : "")
      : "No queue for AMQP consumers (RABBITMQ_GLOBAL_ENABLED, or an instance's rabbitmq block).";
    $("dest-amqp").replaceChildren(...amqp.queues.map((q) => {
      const tr = document.createElement("tr");
      const stuck = q.messages > 0 && q.consumers === 0;
      tr.append(cell(q.queue, "id"), cell(q.instance || "every instance"),
        cell(String(q.messages), stuck ? "attention" : ""), cell(String(q.consumers), stuck ? "attention" : ""));
      return tr;
    }));
  },

  traffic(traffic) {
    if (traffic === null) {
      $("dest-traffic-status").textContent = "The attempt history is off (ROUTER_HISTORY_ENABLED): no traffic to show.";
      $("dest-traffic").replaceChildren();
      return;
    }
    $("dest-traffic-status").textContent = traffic.destinations.length
      ? `From ${traffic.minutes[0].replace("T", " ")} UTC, a point per minute.`
      : "No attempts in the last minutes.";
    $("dest-traffic").replaceChildren(...traffic.destinations.map((d) => {
      const tr = document.createElement("tr");
      const name = destinationName(d);
      const rate = d.success_rate === null ? "–" : `${(d.success_rate * 100).toFixed(1)}%`;
      const counts = `${d.delivered} / ${d.retried + d.dead}` + (d.dead ? ` (${d.dead} dead)` : "") +
        (d.deferred ? `; ${d.deferred} held back` : "");
      const latency = d.mean_ms === null ? "–" : `${ms(d.mean_ms)}, ${ms(d.max_ms)}`;
      const perMinute = document.createElement("td");
      perMinute.append(sparkline([[d.delivered_by_minute, "delivered"], [d.failed_by_minute, "failed"]],
        `${name}: delivered per minute ${d.delivered_by_minute.join(", ")}; failed per minute ${d.failed_by_minute.join(", ")}`));
      const latencies = document.createElement("td");
      latencies.append(sparkline([[d.mean_ms_by_minute, "latency"]],
        `${name}: mean latency per minute in ms ${d.mean_ms_by_minute.map((v) => v ?? "none").join(", ")}`));
      tr.append(cell(name, "id"), cell(rate, d.success_rate !== null && d.success_rate < SUCCESS_ALERT ? "attention" : ""),
        cell(counts), perMinute, cell(latency), latencies);
      return tr;
    }));
  },

  receivers(live) {
    $("dest-live-status").textContent = live.processes
      ? `As ${live.processes} delivering process${live.processes === 1 ? "" : "es"} said in the last seconds.`
      : "No delivering process has said anything yet (they do every few seconds).";
    $("dest-receivers").replaceChildren(...live.receivers.map((r) => {
      const tr = document.createElement("tr");
      tr.append(cell(r.receiver, "id"), cell(breakerText(r), r.breaker === "closed" ? "" : "attention"),
        cell(String(r.in_flight)), cell(String(r.waiting)), cell(r.latency_ms === null ? "–" : ms(r.latency_ms)));
      return tr;
    }));
  },

  // What an operator should look at first, each with the way to act on it.
  attention(answer) {
    const items = [];
    const item = (text, action) => {
      const li = document.createElement("li");
      li.textContent = text;
      if (action) li.append(action);
      items.push(li);
    };
    for (const role of answer.roles) {
      if (role.dead) item(`${role.dead} dead letter${role.dead === 1 ? "" : "s"} for ${role.role}.`, this.deadLetters(role.role));
    }
    for (const q of answer.amqp.queues) {
      if (q.messages > 0 && q.consumers === 0) item(`Queue ${q.queue} holds ${q.messages} message${q.messages === 1 ? "" : "s"} and no consumer reads it.`);
    }
    for (const r of answer.live.receivers) {
      if (r.breaker !== "closed") item(`${r.receiver} is failing: breaker ${breakerText(r)}.`);
    }
    for (const hook of answer.webhooks) {
      if (hook.state === "disabled") {
        item(`Webhook ${hook.instance} ${hook.label} is disabled: ${hook.disabled_reason || "switched off"}.`,
          button(`Enable ${hook.instance} ${hook.label}`, () => this.enable(hook)));
      } else if (hook.state === "failing") {
        item(`Webhook ${hook.instance} ${hook.label} is failing since ${hook.failing_since}.`);
      }
    }
    for (const d of (answer.traffic && answer.traffic.destinations) || []) {
      if (d.success_rate !== null && d.success_rate < SUCCESS_ALERT) {
        item(`${destinationName(d)}: ${(d.success_rate * 100).toFixed(1)}% delivered in the last minutes.`);
      }
    }
    if (!items.length) item("Nothing: no dead letters, no open breaker, no failing webhook.");
    refill($("dest-attention"), items);
  },

  async enable(hook) {
    const body = { instance: hook.instance, label: hook.label, replay: true };
    const { status, answer } = await api("POST", "/endpoints/enable", body);
    if (status !== 200) {
      $("dest-status").textContent = refusal(answer, status);
      return;
    }
    let text = `Enabled ${hook.instance} ${hook.label}`;
    if (answer.replay) text += `; sending ${answer.matched} it missed since ${answer.since}`;
    if (answer.replay_error) text += `; the replay failed: ${answer.replay_error}`;
    await this.load();
    $("dest-status").textContent = `${text}.`;
  },
};

// -- dead letters -------------------------------------------------------------------------

const dead = {
  role: null,

  async queues() {
    const { status, answer } = await api("GET", "/dlq");
    if (status !== 200) {
      $("dead-status").textContent = `Refused: ${(answer && answer.message) || status}`;
      return;
    }
    const rows = answer.queues.map((queue) => {
      const tr = document.createElement("tr");
      const count = queue.messages === null ? "not declared yet" : String(queue.messages);
      tr.append(cell(queue.role), cell(queue.queue, "id"), cell(count));
      const td = document.createElement("td");
      if (queue.messages) {
        const open = document.createElement("button");
        open.type = "button";
        open.textContent = `Open ${queue.role}`;
        open.addEventListener("click", () => this.open(queue.role));
        td.append(open);
      }
      tr.append(td);
      return tr;
    });
    $("dead-queue-rows").replaceChildren(...rows);
  },

  async open(role) {
    this.role = role;
    const { status, answer } = await api("GET", `/dlq/${encodeURIComponent(role)}?limit=500`);
    $("dead-letters").hidden = false;
    $("dead-letters-title").textContent = `${role}: letters`;
    if (status !== 200) {
      $("dead-status").textContent = `Refused: ${(answer && answer.message) || status}`;
      $("dead-rows").replaceChildren();
      return;
    }
    const rows = answer.letters.map((letter) => {
      const tr = document.createElement("tr");
      const box = document.createElement("input");
      box.type = "checkbox";
      box.value = letter.id || "";
      box.setAttribute("aria-label", `Choose ${letter.id}`);
      box.addEventListener("change", () => this.chosenChanged());
      const td = document.createElement("td");
      td.append(box);
      const at = (letter.dead_at || "").replace("T", " ").replace(/(\+00:00|Z)$/, "");
      tr.append(td, cell(at), cell(letter.instance || ""), cell(letter.event || ""),
        cell(letter.reason || ""), cell(String(letter.attempts ?? "")),
        cell(letter.destination || ""), cell(letter.id || "", "id"));
      return tr;
    });
    $("dead-rows").replaceChildren(...rows);
    $("dead-all").checked = false;
    const more = answer.messages - answer.letters.length;
    $("dead-status").textContent = `${answer.messages} letter${answer.messages === 1 ? "" : "s"}` +
      (more > 0 ? ` (the oldest ${answer.letters.length} shown)` : "") + ".";
    this.chosenChanged();
  },

  chosen() {
    return [...document.querySelectorAll("#dead-rows input:checked")].map((box) => box.value);
  },

  chosenChanged() {
    const n = this.chosen().length;
    $("dead-replay-chosen").disabled = n === 0;
    $("dead-replay-chosen").textContent = n ? `Replay ${n} chosen` : "Replay chosen";
  },

  chooseAll(on) {
    for (const box of document.querySelectorAll("#dead-rows input")) box.checked = on;
    this.chosenChanged();
  },

  async replay(ids) {
    const role = this.role;
    const body = ids ? { ids } : {};
    const status = $("dead-status");
    const started = await api("POST", `/dlq/${encodeURIComponent(role)}/replay`, body);
    if (started.status !== 202) {
      status.textContent = `Refused: ${(started.answer && started.answer.message) || started.status}`;
      return;
    }
    const path = `/dlq/${encodeURIComponent(role)}/replay/${started.answer.replay}`;
    for (;;) {
      const { status: code, answer } = await api("GET", path);
      if (code !== 200) break;
      status.textContent = `Replay: ${answer.state}, ${answer.replayed} of ${answer.total} sent back` +
        (answer.error ? ` (${answer.error})` : "") + ".";
      if (answer.state !== "running") break;
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    const done = status.textContent;
    // Letters looked at and not chosen come back to the queue a moment after.
    await new Promise((resolve) => setTimeout(resolve, 500));
    await this.queues();
    await this.open(role);
    status.textContent = `${done} ${status.textContent}`;
  },
};

// -- per-instance settings ----------------------------------------------------------------
// Read and written through Evolution's own calls (/{block}/find and /{block}/set), so the page
// gets the same answers and the same refusals as any client.

const CHANNELS = ["rabbitmq", "sqs", "websocket", "pusher"];
// Pusher's credentials as Evolution spells them, and their labels.
const PUSHER_STRINGS = { appId: "App id", key: "Key", secret: "Secret", cluster: "Cluster" };
// Evolution answers an enabled block that sends every event with every key listed.
const ALL_EVENTS_AT_LEAST = 30;

function eventsText(block) {
  const events = (block && block.events) || [];
  return block && block.enabled && events.length >= ALL_EVENTS_AT_LEAST ? "" : events.join(", ");
}

function eventsList(text) {
  return text.split(",").map((e) => e.trim()).filter(Boolean);
}

function refusal(answer, code) {
  if (!answer || !answer.message) return `Refused (${code}).`;
  const hint = answer.suggestions && answer.suggestions.length
    ? ` Did you mean: ${answer.suggestions.join(", ")}?` : "";
  return `Refused: ${answer.message}${hint}`;
}

const settings = {
  instance: null,

  path(block, action) {
    return `/${block}/${action}/${encodeURIComponent(this.instance)}`;
  },

  async load(event) {
    event.preventDefault();
    this.instance = $("settings-instance").value.trim();
    const status = $("settings-status");
    const hook = await api("GET", this.path("webhook", "find"));
    if (hook.status !== 200) {
      status.textContent = refusal(hook.answer, hook.status);
      $("settings-blocks").hidden = true;
      return;
    }
    const webhook = hook.answer || {};
    $("webhook-enabled").checked = Boolean(webhook.enabled);
    $("webhook-url").value = webhook.url || "";
    $("webhook-events").value = eventsText(webhook);
    $("webhook-by-events").checked = Boolean(webhook.webhookByEvents);
    $("webhook-base64").checked = Boolean(webhook.webhookBase64);
    const forms = [];
    for (const name of CHANNELS) {
      const found = await api("GET", this.path(name, "find"));
      forms.push(this.channelForm(name, found.status === 200 ? found.answer : {}));
    }
    $("channel-forms").replaceChildren(...forms);
    $("settings-blocks").hidden = false;
    status.textContent = hook.answer ? `Loaded “${this.instance}”.`
      : `“${this.instance}” has no webhook yet: fill in a URL to add one.`;
  },

  channelForm(name, block) {
    const form = document.createElement("form");
    form.className = "block";
    form.innerHTML = `<fieldset><legend></legend>
      <label class="check"><input type="checkbox" name="enabled"> Enabled</label>
      <div class="field wide"><label>Events <span class="hint">(comma-separated; empty: all)</span></label>
      <input name="events" autocomplete="off"></div>
      <div class="actions"><button type="submit"></button></div></fieldset>`;
    form.querySelector("legend").textContent = name;
    const id = `channel-${name}-events`;
    form.querySelector("div.field label").htmlFor = id;
    form.elements.events.id = id;
    form.elements.enabled.checked = Boolean(block && block.enabled);
    form.elements.events.value = eventsText(block);
    form.querySelector("button").textContent = `Save ${name}`;
    if (name === "pusher") this.pusherFields(form, block || {});
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const fields = {
        enabled: form.elements.enabled.checked,
        events: eventsList(form.elements.events.value),
      };
      this.save(name, name === "pusher" ? { ...fields, ...this.pusherValues(form) } : fields);
    });
    return form;
  },

  pusherFields(form, block) {
    const actions = form.querySelector("div.actions");
    for (const [field, text] of Object.entries(PUSHER_STRINGS)) {
      const div = document.createElement("div");
      div.className = "field";
      div.innerHTML = `<label></label><input autocomplete="off" spellcheck="false">`;
      const [label, input] = div.children;
      label.textContent = text;
      label.htmlFor = input.id = `channel-pusher-${field}`;
      input.name = field;
      if (field === "secret") input.type = "password";
      // What the find answered (the secret only ever masked); left as it is, it is not sent.
      input.defaultValue = block[field] || "";
      actions.before(div);
    }
    const tls = document.createElement("label");
    tls.className = "check";
    tls.innerHTML = `<input type="checkbox" name="useTLS"> Use TLS`;
    tls.firstChild.checked = block.useTLS !== false;
    actions.before(tls);
  },

  pusherValues(form) {
    const values = { useTLS: form.elements.useTLS.checked };
    for (const field of Object.keys(PUSHER_STRINGS)) {
      const input = form.elements[field];
      // The secret left as answered (masked) is left out, so the stored one is kept.
      if (field !== "secret" || input.value !== input.defaultValue) values[field] = input.value.trim();
    }
    return values;
  },

  async saveWebhook(event) {
    event.preventDefault();
    await this.save("webhook", {
      enabled: $("webhook-enabled").checked,
      url: $("webhook-url").value.trim(),
      events: eventsList($("webhook-events").value),
      byEvents: $("webhook-by-events").checked,
      base64: $("webhook-base64").checked,
    });
  },

  async save(block, fields) {
    const { status, answer } = await api("POST", this.path(block, "set"), { [block]: fields });
    $("settings-status").textContent = status === 201 || status === 200
      ? `Saved the ${block} of “${this.instance}”.` : refusal(answer, status);
  },
};

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
  $("settings-form").addEventListener("submit", (event) => settings.load(event));
  $("webhook-form").addEventListener("submit", (event) => settings.saveWebhook(event));
  $("dead-refresh").addEventListener("click", () => dead.queues());
  $("dest-refresh").addEventListener("click", () => destinations.load());
  $("dead-all").addEventListener("change", (event) => dead.chooseAll(event.target.checked));
  $("dead-replay-chosen").addEventListener("click", () => dead.replay(dead.chosen()));
  $("dead-replay-all").addEventListener("click", () => dead.replay(null));
  for (const button of document.querySelectorAll("#views button")) {
    button.addEventListener("click", () => showView(button.dataset.view));
  }
  $("live-rows").addEventListener("keydown", onRows);
  const { status, answer } = await api("GET", "/ui/session");
  if (status === 200) state.csrf = answer.csrf;
  show(status === 200);
}

document.addEventListener("DOMContentLoaded", boot);
