// Counter terminal (窗口叫号终端): a clerk signs in and drives the counter's tickets.
// Every command carries an Idempotency-Key; the same command repeated within 2 s reuses its key,
// and no button can be pressed while a command is in flight, so a double click never calls twice.
import {
  api,
  ApiError,
  installLanguageSwitch,
  newKey,
  Realtime,
  serverClock,
  startClock,
  translator,
} from "/screens/static/common.js";

const tr = translator({
  zh: {
    offline: "网络中断 — 正在重新连接…",
    sign_out: "退出",
    current_ticket: "当前号票",
    service: "业务",
    priority: "优先级",
    ticket_state: "状态",
    waited: "已等候",
    why_called: "叫号原因",
    waiting_here: "本窗口业务等候人数",
    parked: "挂起的号票",
    call_next: "叫号",
    recall: "重呼",
    start: "开始办理",
    finish: "办结",
    no_show: "过号",
    transfer: "转移",
    park: "挂起",
    unpark: "恢复挂起",
    pause: "暂停",
    open: "开窗 / 继续",
    sign_in_title: "窗口工作人员登录",
    username: "用户名",
    password: "密码",
    sign_in: "登录",
    transfer_title: "转移当前号票",
    transfer_to: "转到",
    transfer_position: "排队位置",
    position_keep: "保持原排队时间",
    position_first: "排在最前",
    position_last: "排在最后",
    cancel: "取消",
    minutes: "{n} 分钟",
    nobody_waiting: "当前没有等候的顾客",
    called: "已呼叫 {number}",
    done: "已完成：{action}",
    wrong_branch: "此账号不属于本网点",
    direct: "本窗口专属队列",
    to_service: "业务：{name}",
    to_counter: "窗口：{name}",
    none: "无",
    state_closed: "已关闭",
    state_open: "服务中",
    state_paused: "暂停",
    t_called: "已呼叫",
    t_serving: "办理中",
    p_normal: "普通",
    p_vip: "VIP",
    p_care: "爱心（老弱病残孕军）",
    p_appointment: "预约",
    r_direct: "转移到本窗口",
    r_sla_escalation: "超时优先",
    r_appointment: "预约",
    r_head_start: "优先客户",
    r_tier: "按顺序",
    r_manual: "手动选号",
    r_returned: "过号重排",
  },
  en: {
    offline: "Offline — reconnecting…",
    sign_out: "Sign out",
    current_ticket: "Current ticket",
    service: "Service",
    priority: "Priority",
    ticket_state: "State",
    waited: "Waited",
    why_called: "Why called",
    waiting_here: "Waiting for this counter",
    parked: "Parked tickets",
    call_next: "Call next",
    recall: "Recall",
    start: "Start",
    finish: "Finish",
    no_show: "No-show",
    transfer: "Transfer",
    park: "Park",
    unpark: "Unpark",
    pause: "Pause",
    open: "Open / resume",
    sign_in_title: "Counter sign-in",
    username: "Username",
    password: "Password",
    sign_in: "Sign in",
    transfer_title: "Transfer the current ticket",
    transfer_to: "To",
    transfer_position: "Place in the queue",
    position_keep: "Keep its original time",
    position_first: "First",
    position_last: "Last",
    cancel: "Cancel",
    minutes: "{n} min",
    nobody_waiting: "Nobody is waiting",
    called: "Called {number}",
    done: "Done: {action}",
    wrong_branch: "This account is not of this branch",
    direct: "This counter's own queue",
    to_service: "Service: {name}",
    to_counter: "Counter: {name}",
    none: "none",
    state_closed: "closed",
    state_open: "open",
    state_paused: "paused",
    t_called: "called",
    t_serving: "serving",
    p_normal: "normal",
    p_vip: "VIP",
    p_care: "care",
    p_appointment: "appointment",
    r_direct: "transferred here",
    r_sla_escalation: "waited too long",
    r_appointment: "appointment",
    r_head_start: "priority customer",
    r_tier: "in order",
    r_manual: "chosen by hand",
    r_returned: "missed, came back",
  },
});

const [, , , branch, numberText] = location.pathname.split("/");
const number = Number(numberText);
const TOKEN_KEY = `queuehall.staff.${branch}`;
const REPEAT_WINDOW_MS = 2000;
const SHORTCUTS = {
  F1: "call-next",
  F2: "recall",
  F3: "start",
  F4: "finish",
  F5: "no-show",
  F6: "transfer",
  F7: "park",
  F8: "unpark",
  F9: "pause",
  F10: "open",
};

const $ = (id) => document.getElementById(id);
let token = sessionStorage.getItem(TOKEN_KEY);
let queue = null; // the last GET /queue answer
let inFlight = null; // the action whose request is in flight
let queued = null; // {action, body} pressed while another was in flight
let lastCall = null; // {id, explanation, explanation_en} from the last call-next reply
const recentKeys = new Map(); // command+body -> {key, at}

// A retry of the same command (double click, or a click after a timeout) within 2 s reuses its key,
// so the server answers it once; any other command in between starts afresh (finish, then call
// the next customer at once, is two real calls).
function keyFor(command, body) {
  const id = command + JSON.stringify(body ?? null);
  const now = Date.now();
  const seen = recentKeys.get(id);
  if (seen && now - seen.at < REPEAT_WINDOW_MS) return seen.key;
  const key = newKey();
  recentKeys.set(id, { key, at: now });
  return key;
}

function counter() {
  return queue?.counters.find((c) => c.number === number) ?? null;
}

function servedCodes(c) {
  return c ? [...new Set(c.tiers.flat())] : [];
}

function serviceName(code) {
  const service = queue?.services.find((s) => s.code === code);
  if (!service) return code;
  const lang = document.documentElement.lang;
  return lang === "en" && service.name_en ? service.name_en : service.name;
}

function setStatus(text, error = false) {
  const status = $("status");
  status.textContent = text;
  status.classList.toggle("error", error);
}

function allowed(action, c) {
  if (!c) return false;
  const ticket = c.ticket;
  const state = ticket?.state;
  switch (action) {
    case "call-next":
      return c.state === "open" && !ticket;
    case "recall":
    case "start":
    case "no-show":
      return state === "called";
    case "finish":
    case "transfer":
    case "park":
      return state === "called" || state === "serving";
    case "unpark":
      return !ticket && c.parked.length > 0 && c.state !== "closed";
    case "pause":
      return c.state === "open";
    case "open":
      return c.state !== "open";
    default:
      return false;
  }
}

function render() {
  const c = counter();
  if (queue) $("branch-name").textContent = queue.name || branch;
  $("counter-name").textContent = c ? c.name : `${number}`;
  const stateEl = $("counter-state");
  stateEl.textContent = c ? tr(`state_${c.state}`) : "";
  stateEl.className = `state ${c ? c.state : ""}`;
  for (const button of document.querySelectorAll("[data-action]")) {
    button.disabled = inFlight !== null || !allowed(button.dataset.action, c);
  }
  const ticket = c?.ticket;
  $("current").classList.toggle("empty", !ticket);
  $("current-number").textContent = ticket ? ticket.number : "—";
  $("current-service").textContent = ticket ? `${ticket.service} ${serviceName(ticket.service)}` : "—";
  $("current-priority").textContent = ticket ? tr(`p_${ticket.priority}`) : "—";
  $("current-state").textContent = ticket ? tr(`t_${ticket.state}`) : "—";
  $("current-waited").textContent =
    ticket && ticket.called_at
      ? tr("minutes", { n: Math.round((ticket.called_at - ticket.issued_at) / 60) })
      : "—";
  let reason = ticket?.call_reason ? tr(`r_${ticket.call_reason}`) : "—";
  if (ticket && lastCall && lastCall.id === ticket.id) {
    reason = document.documentElement.lang === "en" ? lastCall.explanation_en : lastCall.explanation;
  }
  $("current-reason").textContent = reason;

  const list = $("waiting-list");
  list.replaceChildren();
  for (const code of servedCodes(c)) {
    const service = queue.services.find((s) => s.code === code);
    const li = document.createElement("li");
    li.dataset.service = code;
    li.innerHTML = "<span></span><strong></strong>";
    li.firstChild.textContent = `${code} ${serviceName(code)}`;
    li.lastChild.textContent = String(service ? service.waiting : 0);
    list.append(li);
  }
  if (c && c.direct_waiting) {
    const li = document.createElement("li");
    li.innerHTML = "<span></span><strong></strong>";
    li.firstChild.textContent = tr("direct");
    li.lastChild.textContent = String(c.direct_waiting);
    list.append(li);
  }
  const parked = $("parked-list");
  parked.replaceChildren();
  for (const display of c?.parked ?? []) {
    const li = document.createElement("li");
    li.textContent = display;
    parked.append(li);
  }
  if (!c?.parked.length) {
    const li = document.createElement("li");
    li.textContent = tr("none");
    parked.append(li);
  }
}

async function refresh() {
  if (!token) return;
  try {
    queue = await api(`/branches/${branch}/queue`, { token });
    serverClock.learn(queue.now, queue.timezone);
    render();
  } catch (error) {
    handleError(error);
  }
}

function handleError(error) {
  if (error instanceof ApiError && error.status === 401) {
    signOut();
    return;
  }
  setStatus(error.status === 0 ? tr("offline") : error.message, true);
}

async function command(action, body) {
  if (inFlight) {
    // Another key pressed while a command is in flight (finish, then call the next customer at
    // once) runs when it is done; the same one again is a double press and is dropped.
    if (action !== inFlight) queued = { action, body };
    return;
  }
  const c = counter();
  if (!allowed(action, c)) return;
  const path = `/branches/${branch}/counters/${number}/${action}`;
  inFlight = action;
  render();
  try {
    const reply = await api(path, {
      method: "POST",
      token,
      json: body,
      key: keyFor(action, body),
    });
    for (const id of [...recentKeys.keys()]) {
      if (!id.startsWith(action + "{") && !id.startsWith(action + "null")) recentKeys.delete(id);
    }
    if (action === "call-next") {
      if (reply === null) {
        setStatus(tr("nobody_waiting"));
      } else {
        lastCall = {
          id: reply.ticket.id,
          explanation: reply.explanation,
          explanation_en: reply.explanation_en,
        };
        setStatus(tr("called", { number: reply.ticket.number }));
      }
    } else {
      setStatus(tr("done", { action: tr(action.replace("-", "_")) }));
    }
  } catch (error) {
    handleError(error);
  } finally {
    inFlight = null;
  }
  await refresh();
  const next = queued;
  queued = null;
  if (next) await command(next.action, next.body);
}

function openTransfer() {
  const c = counter();
  if (!allowed("transfer", c)) return;
  const select = $("transfer-target");
  select.replaceChildren();
  for (const service of queue.services) {
    const option = new Option(tr("to_service", { name: `${service.code} ${serviceName(service.code)}` }), `service:${service.code}`);
    select.append(option);
  }
  for (const other of queue.counters) {
    if (other.number === number) continue;
    select.append(new Option(tr("to_counter", { name: other.name }), `counter:${other.number}`));
  }
  $("transfer-dialog").hidden = false;
  select.focus();
}

function openUnpark() {
  const c = counter();
  if (!allowed("unpark", c)) return;
  if (c.parked.length === 1) {
    command("unpark", { ticket: c.parked[0] });
    return;
  }
  const select = $("unpark-ticket");
  select.replaceChildren(...c.parked.map((display) => new Option(display, display)));
  $("unpark-dialog").hidden = false;
  select.focus();
}

function act(action) {
  if (action === "transfer") openTransfer();
  else if (action === "unpark") openUnpark();
  else command(action);
}

function signOut() {
  token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  $("terminal").hidden = true;
  $("sign-out").hidden = true;
  $("clerk-name").textContent = "";
  $("sign-in").hidden = false;
  $("username").focus();
}

async function signIn(event) {
  event.preventDefault();
  const message = $("sign-in-message");
  message.textContent = "";
  try {
    const reply = await api("/auth/token", {
      method: "POST",
      form: { username: $("username").value, password: $("password").value },
    });
    if (reply.branch !== null && reply.branch !== branch) {
      message.textContent = tr("wrong_branch");
      return;
    }
    token = reply.access_token;
    sessionStorage.setItem(TOKEN_KEY, token);
    sessionStorage.setItem(`${TOKEN_KEY}.name`, reply.display_name || $("username").value);
    $("password").value = "";
    start();
  } catch (error) {
    message.textContent = error.status === 0 ? tr("offline") : error.message;
  }
}

let socket = null;
let refreshTimer = null;
function start() {
  $("sign-in").hidden = true;
  $("terminal").hidden = false;
  $("sign-out").hidden = false;
  $("clerk-name").textContent = sessionStorage.getItem(`${TOKEN_KEY}.name`) || "";
  refresh();
  // The counter's socket says when something changed; the board itself comes from /queue.
  // A slow poll stays as a safety net (and covers servers without the socket).
  if (!refreshTimer) refreshTimer = setInterval(refresh, 5000);
  if (!socket) {
    socket = new Realtime(`/ws/branches/${branch}/counters/${number}`, {
      token: () => token,
      since: null,
      onMessage: () => scheduleRefresh(),
      onState: () => {},
      onRefused: () => signOut(),
    });
    socket.start();
  }
}

let pending = null;
function scheduleRefresh() {
  if (pending) return;
  pending = setTimeout(() => {
    pending = null;
    refresh();
  }, 150);
}

$("sign-in-form").addEventListener("submit", signIn);
$("sign-out").addEventListener("click", signOut);
for (const button of document.querySelectorAll("[data-action]")) {
  button.addEventListener("click", () => act(button.dataset.action));
}
$("transfer-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const [kind, value] = $("transfer-target").value.split(":");
  const body = { position: $("transfer-position").value };
  if (kind === "service") body.service = value;
  else body.counter = Number(value);
  $("transfer-dialog").hidden = true;
  command("transfer", body);
});
$("transfer-cancel").addEventListener("click", () => ($("transfer-dialog").hidden = true));
$("unpark-form").addEventListener("submit", (event) => {
  event.preventDefault();
  $("unpark-dialog").hidden = true;
  command("unpark", { ticket: $("unpark-ticket").value });
});
$("unpark-cancel").addEventListener("click", () => ($("unpark-dialog").hidden = true));
document.addEventListener("keydown", (event) => {
  const action = SHORTCUTS[event.key];
  if (!action) {
    if (event.key === "Escape") {
      $("transfer-dialog").hidden = true;
      $("unpark-dialog").hidden = true;
    }
    return;
  }
  event.preventDefault(); // F5 must not reload the page, F1 must not open help
  if (!token || event.repeat) return;
  if (!$("transfer-dialog").hidden || !$("unpark-dialog").hidden) return;
  act(action);
});

installLanguageSwitch(tr, render);
startClock($("clock"), { seconds: false });
if (token) start();
else signOut();
