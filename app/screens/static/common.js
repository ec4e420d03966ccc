// Shared by the four screens: language, REST calls, device pairing, the realtime socket.
// Plain ES module, no build step and no CDN: halls are often offline from the internet.

export const API = "/api/v1";

// ---------------------------------------------------------------------------------------------
// Language: zh-CN by default, English on request; the choice is kept per browser.

const LANG_KEY = "queuehall.lang";

export function language() {
  const fromUrl = new URLSearchParams(location.search).get("lang");
  if (fromUrl === "en" || fromUrl === "zh") return fromUrl;
  return localStorage.getItem(LANG_KEY) === "en" ? "en" : "zh";
}

export function setLanguage(lang) {
  localStorage.setItem(LANG_KEY, lang);
  document.documentElement.lang = lang === "en" ? "en" : "zh-CN";
}

/** A translator for one page's strings: tr("key", {n: 3}) fills {n}. */
export function translator(strings) {
  return (key, values = {}) => {
    const table = strings[language()] || strings.zh;
    let text = table[key] ?? strings.zh[key] ?? key;
    for (const [name, value] of Object.entries(values)) {
      text = text.replaceAll(`{${name}}`, String(value));
    }
    return text;
  };
}

/** Wire the language button(s) and translate every [data-t] element; calls rerender after. */
export function installLanguageSwitch(tr, rerender) {
  const apply = () => {
    document.documentElement.lang = language() === "en" ? "en" : "zh-CN";
    for (const el of document.querySelectorAll("[data-t]")) el.textContent = tr(el.dataset.t);
    for (const el of document.querySelectorAll("[data-t-placeholder]")) {
      el.placeholder = tr(el.dataset.tPlaceholder);
    }
    rerender();
  };
  for (const button of document.querySelectorAll("[data-lang-switch]")) {
    button.addEventListener("click", () => {
      setLanguage(language() === "en" ? "zh" : "en");
      apply();
    });
  }
  apply();
}

// ---------------------------------------------------------------------------------------------
// REST

export class ApiError extends Error {
  constructor(status, error, detail) {
    super(detail || error || `HTTP ${status}`);
    this.status = status;
    this.error = error;
  }
}

/** A random key for the Idempotency-Key header. crypto.randomUUID needs a secure context, and a
 * hall's screens often reach the server by plain http on the LAN; getRandomValues does not. */
export function newKey() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export async function api(path, { method = "GET", token, json, form, key, timeoutMs = 10000 } = {}) {
  const headers = {};
  let body;
  if (token) headers.Authorization = `Bearer ${token}`;
  if (key) headers["Idempotency-Key"] = key;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form) {
    body = new URLSearchParams(form);
  }
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  let response;
  try {
    response = await fetch(API + path, { method, headers, body, signal: controller.signal });
  } catch (error) {
    throw new ApiError(0, "Offline", String(error));
  } finally {
    clearTimeout(timer);
  }
  if (response.status === 204) return null;
  let payload = null;
  try {
    payload = await response.json();
  } catch {
    payload = null;
  }
  if (!response.ok) {
    throw new ApiError(response.status, payload?.error, payload?.detail);
  }
  return payload;
}

// ---------------------------------------------------------------------------------------------
// Device pairing: a manager adds the device (POST /branches/{b}/devices) and types the one-time
// code on it; the device token is kept in localStorage, one per branch and kind.

function deviceKey(branch, kind) {
  return `queuehall.device.${branch}.${kind}`;
}

export function deviceToken(branch, kind) {
  return localStorage.getItem(deviceKey(branch, kind));
}

export function forgetDevice(branch, kind) {
  localStorage.removeItem(deviceKey(branch, kind));
}

/** Show the pairing form in `root` until a code for a `kind` device of `branch` is accepted;
 * resolves with the device token. */
export function pairDevice(root, branch, kind, tr) {
  return new Promise((resolve) => {
    root.hidden = false;
    const form = root.querySelector("form");
    const input = root.querySelector("input");
    const message = root.querySelector(".pair-message");
    input.focus();
    form.onsubmit = async (event) => {
      event.preventDefault();
      message.textContent = "";
      try {
        const paired = await api("/devices/pair", { method: "POST", json: { code: input.value } });
        if (paired.branch !== branch || paired.kind !== kind) {
          message.textContent = tr("pair_wrong_device", { branch: paired.branch, kind: paired.kind });
          return;
        }
        localStorage.setItem(deviceKey(branch, kind), paired.device_token);
        root.hidden = true;
        resolve(paired.device_token);
      } catch (error) {
        message.textContent = error.status === 0 ? tr("offline") : error.message;
      }
    };
  });
}

// ---------------------------------------------------------------------------------------------
// Time

/** The server's clock, estimated from `now` in the last /queue answer: a screen's own clock may
 * be minutes off, and the age of a call ("replayed, older than 30 s") is measured in server time. */
export const serverClock = {
  offset: 0,
  timezone: undefined, // the branch's time zone, so that a screen shows hall time
  clocks: [],
  learn(serverNowSeconds, timezone) {
    if (typeof serverNowSeconds === "number") this.offset = serverNowSeconds - Date.now() / 1000;
    if (timezone && timezone !== this.timezone) {
      this.timezone = timezone;
      for (const tick of this.clocks) tick(); // show hall time at once, not a second later
    }
  },
  now() {
    return Date.now() / 1000 + this.offset;
  },
};

/** "09:05" (or "09:05:07", or "2025-11-20 09:05") in the branch's time zone. */
export function formatTime(epochSeconds, { seconds = false, date = false } = {}) {
  const options = { hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
  if (seconds) options.second = "2-digit";
  if (date) Object.assign(options, { year: "numeric", month: "2-digit", day: "2-digit" });
  let parts;
  try {
    parts = new Intl.DateTimeFormat("en-CA", { ...options, timeZone: serverClock.timezone })
      .formatToParts(new Date(epochSeconds * 1000));
  } catch {
    parts = new Intl.DateTimeFormat("en-CA", options).formatToParts(new Date(epochSeconds * 1000));
  }
  const part = (type) => parts.find((p) => p.type === type)?.value ?? "";
  const time = `${part("hour")}:${part("minute")}` + (seconds ? `:${part("second")}` : "");
  return date ? `${part("year")}-${part("month")}-${part("day")} ${time}` : time;
}

export function startClock(el, { seconds = true } = {}) {
  const tick = () => {
    el.textContent = formatTime(serverClock.now(), { seconds });
  };
  tick();
  serverClock.clocks.push(tick);
  setInterval(tick, 1000);
}

export function minutesText(seconds) {
  return Math.max(0, Math.round(seconds / 60));
}

// ---------------------------------------------------------------------------------------------
// Realtime socket: hello with the credential and the last seq seen, answer pings, resume after a
// drop with exponential backoff (1 s doubling to 30 s, with jitter), drop duplicate seqs.

// Branch events (the queue engine's event types). Only these are dropped when their seq was
// already seen; other messages (snapshot, queue_status, ping, ticket updates) carry the seq they
// reflect and are always handled.
export const EVENT_TYPES = new Set([
  "ticket_issued",
  "ticket_cancelled",
  "ticket_called",
  "ticket_recalled",
  "service_started",
  "ticket_finished",
  "ticket_missed",
  "ticket_returned",
  "ticket_transferred",
  "ticket_parked",
  "ticket_unparked",
  "ticket_expired",
  "counter_state_changed",
  "business_day_started",
  "rating_received",
  "notices_changed",
  "case_overdue",
]);

export class Realtime {
  /**
   * @param {string} path  e.g. /ws/branches/demo/display
   * @param {object} options
   *   token(): the credential for hello (or null on /ws/tickets)
   *   onMessage(message, {replayed}): every event and snapshot, in seq order, never twice
   *   onState("online"|"offline")
   *   onRefused(code): the server refused the credential (4401/4403), the thing is gone (4404)
   *     or closed for good (one of finalCodes); no reconnect
   *   beforeConnect(): awaited before each (re)connect, e.g. to refresh the board over REST
   *   since: the last seq already seen (e.g. restored after a reload), or null
   */
  constructor(path, options) {
    this.path = path;
    this.options = options;
    this.lastSeq = options.since ?? null;
    this.attempt = 0;
    this.socket = null;
    this.stopped = false;
    this.online = null; // unknown until the first connection succeeds or fails
    this.lastHeard = Date.now();
    // The server pings every 25 s: a socket silent for 60 s is half-open (a dead Wi-Fi link
    // never says goodbye), so drop it and reconnect.
    setInterval(() => {
      if (this.socket && this.online && Date.now() - this.lastHeard > 60000) this.socket.close();
    }, 5000);
  }

  url() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${location.host}${this.path}`;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    if (this.socket) this.socket.close(1000);
  }

  setState(online) {
    if (this.online === online) return;
    this.online = online;
    this.options.onState?.(online ? "online" : "offline");
  }

  async connect() {
    if (this.stopped) return;
    try {
      await this.options.beforeConnect?.();
    } catch {
      // The board stays as it is; the socket below tells whether the server is back.
    }
    let socket;
    try {
      socket = new WebSocket(this.url());
    } catch {
      this.retry();
      return;
    }
    this.socket = socket;
    let live = false;
    socket.onopen = () => {
      const hello = { type: "hello", since: this.lastSeq };
      const token = this.options.token?.();
      if (token) hello.token = token;
      socket.send(JSON.stringify(hello));
    };
    socket.onmessage = (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      this.lastHeard = Date.now();
      if (!live) {
        live = true;
        this.attempt = 0;
        this.setState(true);
      }
      if (message.type === "ping") {
        socket.send(JSON.stringify({ type: "pong" }));
        return;
      }
      if (message.type === "pong") return;
      if (typeof message.seq === "number") {
        if (EVENT_TYPES.has(message.type)) {
          if (this.lastSeq !== null && message.seq <= this.lastSeq) return; // replay/live overlap
          this.lastSeq = message.seq;
        } else if (message.type === "snapshot") {
          this.lastSeq = message.seq; // the state as of this seq, whatever came before
        } else if (this.lastSeq === null || message.seq > this.lastSeq) {
          this.lastSeq = message.seq;
        }
      }
      this.options.onMessage(message);
    };
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.setState(false);
      const final = this.options.finalCodes || [];
      if (event.code === 4401 || event.code === 4403 || event.code === 4404 || final.includes(event.code)) {
        this.options.onRefused?.(event.code);
        return;
      }
      this.retry();
    };
    socket.onerror = () => {
      // onclose follows and schedules the retry
    };
    // Opened sockets get their first message (replay, snapshot or ping) quickly; one that stays
    // silent through the handshake is treated as down, so "offline" shows instead of a stale board.
    setTimeout(() => {
      if (!live && this.socket === socket) socket.close();
    }, 15000);
  }

  retry() {
    if (this.stopped) return;
    const base = Math.min(30000, 1000 * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 5);
    const delay = base / 2 + Math.random() * (base / 2);
    setTimeout(() => this.connect(), delay);
  }
}

/** The event's payload, whether it comes as {type, data} or flattened. */
export function eventData(message) {
  return message.data && typeof message.data === "object" ? message.data : message;
}
