// The evaluator at a counter (/screens/evaluator/{branch}/{counter}), a paired `evaluator`
// device bound to that counter. Idle, it greets; when the clerk finishes a ticket there it
// lights up with the rating buttons, and goes back to idle once rated or after a minute.
// It listens on the branch's display WebSocket (public events only: ticket numbers, service
// codes, counter numbers) and asks GET .../counters/{n}/rating when a ticket is finished at its
// counter, when it (re)connects, and every 30 s as a fallback.
import {
  api,
  ApiError,
  deviceToken,
  eventData,
  forgetDevice,
  installLanguageSwitch,
  pairDevice,
  Realtime,
  translator,
} from "/screens/static/common.js";
import { RATING_STRINGS, ratingForm } from "/screens/static/rating.js";

const tr = translator({
  zh: {
    ...RATING_STRINGS.zh,
    offline: "网络中断 — 正在重新连接…",
    welcome: "欢迎光临",
    idle_hint: "办理完成后，请在这里评价我们的服务",
    your_ticket: "您的号码",
    counter: "{n}号窗口",
    pair_title: "配对评价器",
    pair_help: "请管理员在后台添加评价器设备（绑定本窗口），并输入配对码。",
    pair_code: "配对码",
    pair: "配对",
    pair_wrong_device: "此配对码属于网点 {branch} 的 {kind} 设备",
    wrong_counter: "此评价器绑定的是 {n} 号窗口",
  },
  en: {
    ...RATING_STRINGS.en,
    offline: "Offline — reconnecting…",
    welcome: "Welcome",
    idle_hint: "When your service is done, please rate it here",
    your_ticket: "Your number",
    counter: "Counter {n}",
    pair_title: "Pair this evaluator",
    pair_help: "A manager adds this evaluator (bound to this counter) and types its pairing code here.",
    pair_code: "Pairing code",
    pair: "Pair",
    pair_wrong_device: "This code belongs to a {kind} device of branch {branch}",
    wrong_counter: "This evaluator is bound to counter {n}",
  },
});

const [, , , branch, counterText] = location.pathname.split("/");
const counter = Number(counterText);
const $ = (id) => document.getElementById(id);
const en = () => document.documentElement.lang === "en";
// Asking without an event: in case the socket missed one (the socket is what lights it up).
const FALLBACK_MS = 30000;
// A ticket finished longer ago than this (server time) when first seen is not prompted for.
const FRESH_SECONDS = 120;
let token = deviceToken(branch, "evaluator");
let shown = null; // the ticket id on screen
let shownAt = 0;
const done = new Set(); // ticket ids rated or timed out here
let last = null; // the last answer, for a language switch

function promptSeconds() {
  return window.__promptSeconds ?? 60;
}

function idle() {
  if (shown !== null) done.add(shown);
  shown = null;
  $("prompt").hidden = true;
  $("idle").hidden = false;
}

function prompt(state) {
  shown = state.ticket_id;
  shownAt = Date.now();
  last = state;
  $("prompt-ticket").textContent = state.ticket;
  drawForm();
  $("idle").hidden = true;
  $("prompt").hidden = false;
}

function drawForm() {
  if (!last) return;
  ratingForm($("form"), last, {
    tr,
    en,
    withText: false, // nobody types at a counter
    send: (body) =>
      api(`/branches/${branch}/counters/${counter}/rating`, {
        method: "POST",
        token,
        json: { ...body, ticket_id: last.ticket_id },
      }),
    done: () => setTimeout(idle, 2500),
  });
}

function render() {
  $("counter-name").textContent = tr("counter", { n: counter });
  if (shown !== null) drawForm();
}

let asking = null;
let askAgain = false;

/** Ask the server what the counter's last finished ticket is, and show or hide the prompt. A
 * request while one is on its way asks once more after it: that answer may predate the finish. */
function check() {
  if (asking) {
    askAgain = true;
    return asking;
  }
  asking = ask().finally(() => {
    asking = null;
    if (askAgain) {
      askAgain = false;
      check();
    }
  });
  return asking;
}

async function ask() {
  try {
    const state = await api(`/branches/${branch}/counters/${counter}/rating`, { token });
    const fresh = state.finished_at !== null && state.now - state.finished_at <= FRESH_SECONDS;
    if (shown !== null && state.ticket_id !== shown) idle(); // a later ticket was finished
    if (shown === null && state.rateable && fresh && !done.has(state.ticket_id)) prompt(state);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      forgetDevice(branch, "evaluator");
      token = null;
      socket?.stop();
      await pair();
      socket?.start();
    }
  }
}

let socket = null;

function listen() {
  socket = new Realtime(`/ws/branches/${branch}/display`, {
    token: () => token,
    beforeConnect: () => check(),
    onState: (state) => {
      $("offline").hidden = state === "online";
    },
    onMessage: (message) => {
      // The snapshot comes once the socket follows the branch: a finish between the ask before
      // connecting and that moment is in no event, so ask again then.
      if (message.type === "snapshot") check();
      else if (message.type === "ticket_finished" && eventData(message).counter === counter) check();
    },
    onRefused: async () => {
      forgetDevice(branch, "evaluator");
      token = null;
      await pair();
      socket.start();
    },
  });
  socket.start();
}

function fallback() {
  check();
  setTimeout(fallback, FALLBACK_MS);
}

// The prompt's timeout, measured here: no event marks it.
setInterval(() => {
  if (shown !== null && Date.now() - shownAt > promptSeconds() * 1000) idle();
}, 500);

async function pair() {
  for (;;) {
    token = await pairDevice($("pairing"), branch, "evaluator", tr);
    const device = await api(`/branches/${branch}/counters/${counter}/rating`, { token }).catch(
      (error) => error,
    );
    if (!(device instanceof ApiError && device.status === 403)) return;
    forgetDevice(branch, "evaluator");
    $("pairing").hidden = false;
    $("pair-message").textContent = device.message;
  }
}

installLanguageSwitch(tr, render);
render();
if (!token) await pair();
listen();
setTimeout(fallback, FALLBACK_MS);
