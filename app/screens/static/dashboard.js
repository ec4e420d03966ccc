// Live dashboard (/screens/dashboard/{branch}) for managers: waiting and longest wait per
// service, each counter's state, today's figures and the alerts. The branch's dashboard socket
// says when something happened (every event, including rating_received); the board itself comes
// from GET /branches/{b}/dashboard, asked after each burst of events and every 10 s (a wait
// passes its SLA with no event).
import {
  api,
  formatTime,
  installLanguageSwitch,
  minutesText,
  Realtime,
  serverClock,
  startClock,
  translator,
} from "/screens/static/common.js";
import { SIGN_IN_STRINGS, staffSession } from "/screens/static/staff.js";

const tr = translator({
  zh: {
    ...SIGN_IN_STRINGS.zh,
    title: "实时看板",
    reports: "统计报表",
    waiting: "等候人数",
    served: "今日办结",
    wait_mean: "平均等候(分)",
    satisfaction: "今日满意率",
    ratings: "今日评价",
    cases_overdue: "逾期督办",
    alerts: "告警",
    no_alerts: "暂无告警",
    services: "业务",
    service: "业务",
    longest_wait: "最长等候(分)",
    sla: "时限(分)",
    counters: "窗口",
    counter: "窗口",
    state: "状态",
    ticket: "号票",
    for: "时长(分)",
    open: "空闲",
    serving: "办理中",
    called: "已呼叫",
    paused: "暂停",
    closed: "关闭",
  },
  en: {
    ...SIGN_IN_STRINGS.en,
    title: "Live dashboard",
    reports: "Reports",
    waiting: "Waiting",
    served: "Served today",
    wait_mean: "Mean wait (min)",
    satisfaction: "Satisfaction today",
    ratings: "Ratings today",
    cases_overdue: "Overdue cases",
    alerts: "Alerts",
    no_alerts: "No alerts",
    services: "Services",
    service: "Service",
    longest_wait: "Longest wait (min)",
    sla: "Limit (min)",
    counters: "Counters",
    counter: "Counter",
    state: "State",
    ticket: "Ticket",
    for: "For (min)",
    open: "Idle",
    serving: "Serving",
    called: "Called",
    paused: "Paused",
    closed: "Closed",
  },
});

const [, , , branch] = location.pathname.split("/");
const $ = (id) => document.getElementById(id);
const en = () => document.documentElement.lang === "en";
let board = null;
let socket = null;
let timer = null;

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text ?? "—";
  if (className) td.className = className;
  return td;
}

function rows(tbody, items, build) {
  tbody.replaceChildren(
    ...items.map((item) => {
      const tr = document.createElement("tr");
      build(tr, item);
      return tr;
    }),
  );
}

function percent(share) {
  return share === null || share === undefined ? "—" : `${Math.round(share * 1000) / 10}%`;
}

function render() {
  $("reports-link").href = `/screens/reports/${branch}`;
  if (!board) return;
  $("branch-name").textContent = board.name;
  const today = board.today;
  $("fig-waiting").textContent = board.waiting;
  $("fig-served").textContent = today.served;
  $("fig-wait").textContent = today.wait_mean === null ? "—" : minutesText(today.wait_mean);
  $("fig-satisfaction").textContent = percent(today.satisfaction_rate);
  $("fig-ratings").textContent = today.ratings;
  $("fig-overdue").textContent = today.cases_overdue;
  const alerts = $("alerts");
  if (!board.alerts.length) {
    const li = document.createElement("li");
    li.className = "none";
    li.textContent = tr("no_alerts");
    alerts.replaceChildren(li);
  } else {
    alerts.replaceChildren(
      ...board.alerts.map((alert) => {
        const li = document.createElement("li");
        li.className = alert.severity;
        li.dataset.kind = alert.kind;
        li.textContent = `${formatTime(alert.at)} ${en() ? alert.message_en : alert.message}`;
        return li;
      }),
    );
  }
  rows($("services").tBodies[0], board.services, (row, s) => {
    row.dataset.service = s.code;
    if (s.over_sla) row.className = "over";
    row.append(
      cell(`${s.code} ${en() && s.name_en ? s.name_en : s.name}`),
      cell(s.waiting),
      cell(s.waiting ? minutesText(s.longest_wait_seconds) : "—"),
      cell(s.sla_seconds ? minutesText(s.sla_seconds) : "—"),
    );
  });
  const now = board.now;
  rows($("counters").tBodies[0], board.counters, (row, c) => {
    row.dataset.counter = c.number;
    const state = c.state === "open" && c.ticket ? c.ticket.state : c.state;
    const idle = board.alerts.some((a) => a.kind === "idle_counter" && a.counter === c.number);
    row.append(
      cell(c.name),
      cell(tr(state), idle ? "over" : ""),
      cell(c.ticket ? c.ticket.number : "—"),
      cell(c.since ? minutesText(now - c.since) : "—"),
    );
  });
}

async function refresh() {
  if (!session.token) return;
  try {
    board = await api(`/branches/${branch}/dashboard`, { token: session.token });
    serverClock.learn(board.now, board.timezone);
    render();
  } catch (error) {
    if (error.status === 401 || error.status === 403) session.signOut();
  }
}

let pending = null;
function scheduleRefresh() {
  if (pending) return;
  pending = setTimeout(() => {
    pending = null;
    refresh();
  }, 200);
}

const session = staffSession(branch, tr, {
  key: "queuehall.manager.token",
  onStart: () => {
    $("board").hidden = false;
    refresh();
    timer ??= setInterval(refresh, 10000);
    if (!socket) {
      socket = new Realtime(`/ws/branches/${branch}/dashboard`, {
        token: () => session.token,
        onMessage: () => scheduleRefresh(),
        onState: (state) => {
          $("offline").hidden = state === "online";
        },
        onRefused: () => session.signOut(),
      });
      socket.start();
    }
  },
  onSignOut: () => {
    $("board").hidden = true;
    socket?.stop();
    socket = null;
  },
});

installLanguageSwitch(tr, render);
startClock($("clock"), { seconds: false });
if (session.token) session.start();
else session.signOut();
