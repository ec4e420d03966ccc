// The customer's ticket page (/t/{token}): live state, position, estimate; "it is your turn"
// with vibration and a sound where the phone allows; cancel; rating once finished (issue #6).
import {
  api,
  eventData,
  installLanguageSwitch,
  Realtime,
  translator,
} from "/screens/static/common.js";
import { RATING_STRINGS, ratingForm } from "/screens/static/rating.js";

const tr = translator({
  zh: {
    offline: "网络中断 — 正在重新连接…",
    enable_sound: "开启叫号提醒音",
    sound_on: "提醒音已开启",
    waiting: "排队中",
    ahead: "您前面还有 {n} 人",
    eta: "预计等候约 {n} 分钟",
    eta_unknown: "暂无开放的窗口，等候时间待定",
    almost: "快到您了，请留意叫号",
    called: "轮到您了：请到 {counter}",
    recalled: "再次呼叫：请尽快到 {counter}",
    serving: "正在为您办理",
    parked: "您的业务暂时挂起，请在 {counter} 附近等候",
    missed: "您已过号",
    missed_detail: "请到服务台说明，可重新排队",
    finished: "办理完成，感谢您的耐心等候",
    cancelled: "号票已取消",
    expired: "号票已过期",
    not_found: "找不到这张号票，可能是以前的号票",
    cancel: "取消排队",
    cancel_question: "确定要取消这张号票吗？取消后不能恢复。",
    cancel_yes: "确定取消",
    cancel_no: "不取消",
    ...RATING_STRINGS.zh,
  },
  en: {
    offline: "Offline — reconnecting…",
    enable_sound: "Turn on the call alert",
    sound_on: "Call alert is on",
    waiting: "Waiting",
    ahead: "{n} people ahead of you",
    eta: "about {n} min",
    eta_unknown: "No counter is open yet; the wait is not known",
    almost: "Almost your turn: please listen for your number",
    called: "It is your turn: please go to {counter}",
    recalled: "Calling again: please go to {counter} now",
    serving: "Being served",
    parked: "Your service is on hold; please wait near {counter}",
    missed: "Your number was missed",
    missed_detail: "Please ask at the service desk to queue again",
    finished: "Done. Thank you for waiting",
    cancelled: "Ticket cancelled",
    expired: "Ticket expired",
    not_found: "No ticket has this link; it may be from an earlier day",
    cancel: "Leave the queue",
    cancel_question: "Cancel this ticket? This cannot be undone.",
    cancel_yes: "Yes, cancel",
    cancel_no: "No",
    ...RATING_STRINGS.en,
  },
});

const token = location.pathname.split("/")[2];
const $ = (id) => document.getElementById(id);
let view = null; // the ticket as the server last described it
let missing = false;
let audio = null;
let alerted = null; // the call (counter + recalls) we already alerted for
let rating = null; // GET /tickets/{token}/rating, once the ticket is finished
let ratingAsked = false;
const CANCELLABLE = new Set(["waiting", "called", "parked", "missed"]);

const en = () => document.documentElement.lang === "en";

function counterText(v) {
  if (v.counter_name) return en() ? `counter ${v.counter}` : v.counter_name;
  return en() ? `counter ${v.counter}` : `${v.counter}号窗口`;
}

function render() {
  const main = $("ticket");
  if (missing) {
    main.dataset.state = "missing";
    $("headline").textContent = tr("not_found");
    $("cancel-area").hidden = true;
    return;
  }
  if (!view) return;
  main.dataset.state = view.state;
  $("branch-name").textContent = view.branch_name || view.branch || "";
  const serviceName = en() && view.service_name_en ? view.service_name_en : view.service_name;
  $("service").textContent = `${view.service} ${serviceName || ""}`;
  $("number").textContent = view.number;
  const detail = $("detail");
  detail.replaceChildren();
  let headline;
  switch (view.state) {
    case "waiting": {
      headline = tr("waiting");
      const lines = [];
      if (view.ahead !== null && view.ahead !== undefined) lines.push(tr("ahead", { n: view.ahead }));
      if (view.eta_minutes !== null && view.eta_minutes !== undefined) {
        lines.push(tr("eta", { n: view.eta_minutes }));
      } else {
        lines.push(tr("eta_unknown"));
      }
      for (const line of lines) {
        const div = document.createElement("div");
        div.textContent = line;
        detail.append(div);
      }
      if (view.almost_your_turn) {
        const div = document.createElement("div");
        div.className = "almost";
        div.textContent = tr("almost");
        detail.append(div);
      }
      break;
    }
    case "called":
      headline = tr(view.recalls > 0 ? "recalled" : "called", { counter: counterText(view) });
      break;
    case "parked":
      headline = tr("parked", { counter: counterText(view) });
      break;
    case "missed":
      headline = tr("missed");
      detail.textContent = tr("missed_detail");
      break;
    default:
      headline = tr(view.state);
  }
  $("headline").textContent = headline;
  $("rating").hidden = view.state !== "finished" || rating === null;
  if (view.state === "finished") showRating();
  $("cancel-area").hidden = !CANCELLABLE.has(view.state);
}

async function showRating() {
  if (rating === null) {
    if (ratingAsked) return;
    ratingAsked = true;
    try {
      rating = await api(`/tickets/${encodeURIComponent(token)}/rating`);
    } catch {
      ratingAsked = false;
      return;
    }
  }
  $("rating").hidden = false;
  ratingForm($("rating"), rating, {
    tr,
    en,
    send: (body) =>
      api(`/tickets/${encodeURIComponent(token)}/rating`, { method: "POST", json: body }),
    done: (stored) => {
      rating = { ...rating, rating: stored, rateable: false };
    },
  });
}

function beep() {
  if (!audio || audio.state !== "running") return;
  const start = audio.currentTime + 0.02;
  for (let i = 0; i < 3; i++) {
    const oscillator = audio.createOscillator();
    const gain = audio.createGain();
    oscillator.frequency.value = 988;
    gain.gain.setValueAtTime(0.0001, start + i * 0.5);
    gain.gain.exponentialRampToValueAtTime(0.6, start + i * 0.5 + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, start + i * 0.5 + 0.35);
    oscillator.connect(gain).connect(audio.destination);
    oscillator.start(start + i * 0.5);
    oscillator.stop(start + i * 0.5 + 0.4);
  }
}

function alertIfCalled() {
  if (view?.state !== "called") return;
  const call = `${view.counter}/${view.recalls}`;
  if (alerted === call) return;
  alerted = call;
  // navigator.vibrate exists on Android browsers; iOS ignores it. Both are best effort.
  if (navigator.vibrate) navigator.vibrate([600, 200, 600, 200, 600]);
  beep();
  const main = $("ticket");
  main.classList.remove("alert");
  void main.offsetWidth;
  main.classList.add("alert");
  window.__alerts = (window.__alerts || 0) + 1;
}

function show(next) {
  view = next;
  missing = false;
  render();
  alertIfCalled();
}

async function load() {
  try {
    const ticket = await api(`/tickets/${encodeURIComponent(token)}`);
    show({ ...view, ...ticket, almost_your_turn: view?.almost_your_turn ?? false });
  } catch (error) {
    if (error.status === 404 || error.status === 422) {
      missing = true;
      render();
    }
  }
}

const socket = new Realtime(`/ws/tickets/${encodeURIComponent(token)}`, {
  token: () => null,
  since: null,
  onMessage: (message) => {
    if (message.type === "ping" || message.type === "queue_status") return;
    const data = eventData(message);
    if (data && data.state) show(data);
  },
  onState: (state) => {
    document.body.dataset.connection = state;
    $("offline").hidden = state === "online";
  },
  // 1000 after "expired", or 4404: the ticket is from an earlier day; nothing to reconnect to,
  // and nothing is "offline".
  finalCodes: [1000],
  onRefused: (code) => {
    $("offline").hidden = true;
    if (code === 4404) {
      // Gone before this socket joined (a new day began): the last view is no longer true.
      missing = true;
      render();
    }
  },
});

$("sound").addEventListener("click", () => {
  const Context = window.AudioContext || window.webkitAudioContext;
  if (Context && !audio) audio = new Context();
  audio?.resume();
  $("sound").textContent = tr("sound_on");
  beep();
});
$("cancel").addEventListener("click", () => {
  $("confirm").hidden = false;
  $("cancel").hidden = true;
});
$("cancel-no").addEventListener("click", () => {
  $("confirm").hidden = true;
  $("cancel").hidden = false;
});
$("cancel-yes").addEventListener("click", async () => {
  $("cancel-yes").disabled = true;
  try {
    show(await api(`/tickets/${encodeURIComponent(token)}`, { method: "DELETE" }));
  } catch (error) {
    $("detail").textContent = error.message;
  } finally {
    $("cancel-yes").disabled = false;
    $("confirm").hidden = true;
    $("cancel").hidden = false;
  }
});

installLanguageSwitch(tr, render);
await load();
if (!missing) socket.start();
