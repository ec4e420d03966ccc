// Kiosk (自助取号机): big service buttons, care option, prints the ticket with window.print().
// Add ?paper=58 to the address for 58 mm thermal printers (80 mm by default).
// "签到 / Check in" turns a booking code (typed, or read by a QR scanner acting as a keyboard)
// into its ticket and prints it like any other.
import {
  api,
  ApiError,
  deviceToken,
  forgetDevice,
  formatTime,
  installLanguageSwitch,
  newKey,
  pairDevice,
  serverClock,
  startClock,
  translator,
} from "/screens/static/common.js";

const tr = translator({
  zh: {
    offline: "网络中断 — 正在重新连接…",
    title: "自助取号",
    choose: "请点击要办理的业务",
    care: "爱心通道",
    care_detail: "老年人、残障人士、孕妇、军人等优先办理",
    waiting: "等候 <strong>{n}</strong> 人",
    eta: "预计等候约 <strong>{n}</strong> 分钟",
    eta_unknown: "暂无窗口办理",
    materials: "需带材料：{list}",
    sold_out: "今日号已取完",
    paused: "暂停取号 / Paused",
    take_ticket: "请取走您的号票",
    reprint: "重新打印",
    done: "完成",
    ahead: "您前面还有 {n} 人",
    issued_at: "取号时间 {time}",
    scan: "微信/手机扫码查看排队进度",
    care_ticket: "爱心优先",
    pair_title: "配对取号机",
    pair_help: "请管理员在后台添加取号机设备，并输入配对码。",
    pair_code: "配对码",
    pair: "配对",
    pair_wrong_device: "此配对码属于网点 {branch} 的 {kind} 设备",
    failed: "取号失败：{detail}",
    check_in: "预约签到",
    check_in_title: "预约签到",
    check_in_help: "请输入或扫描预约码（在小程序“我的预约”中查看）",
    check_in_code: "预约码",
    check_in_submit: "签到取号",
    cancel: "取消",
    appointment_ticket: "预约",
    BookingNotFound: "没有找到该预约，请核对预约码。",
    CheckInTooEarly: "签到尚未开始，请在预约时段前一小时内签到。",
    CheckInTooLate: "已超过签到时间，请重新取号。",
    CheckInNotToday: "该预约不是今天的。",
    NotPending: "该预约已签到、已取消或已过期。",
    CheckInBusy: "该预约正在签到，请稍候。",
    TooManyRequests: "尝试次数过多，请稍后再试，或到服务台咨询。",
  },
  en: {
    offline: "Offline — reconnecting…",
    title: "Take a number",
    choose: "Touch the service you need",
    care: "Care priority",
    care_detail: "Elderly, disabled, pregnant or military customers are served first",
    waiting: "<strong>{n}</strong> waiting",
    eta: "about <strong>{n}</strong> min",
    eta_unknown: "no counter open now",
    materials: "Bring: {list}",
    sold_out: "No more tickets today",
    paused: "暂停取号 / Paused",
    take_ticket: "Please take your ticket",
    reprint: "Print again",
    done: "Done",
    ahead: "{n} people ahead of you",
    issued_at: "Issued {time}",
    scan: "Scan to follow your place in the queue",
    care_ticket: "Care priority",
    pair_title: "Pair this kiosk",
    pair_help: "A manager adds this kiosk as a device and types its pairing code here.",
    pair_code: "Pairing code",
    pair: "Pair",
    pair_wrong_device: "This code belongs to a {kind} device of branch {branch}",
    failed: "Could not take a ticket: {detail}",
    check_in: "Check in",
    check_in_title: "Check in a booking",
    check_in_help: "Type or scan your booking code (under “My bookings” in the mini-program)",
    check_in_code: "Booking code",
    check_in_submit: "Check in",
    cancel: "Cancel",
    appointment_ticket: "Appointment",
    BookingNotFound: "No booking has this code; please check it.",
    CheckInTooEarly: "Check-in has not opened yet: it opens an hour before your slot.",
    CheckInTooLate: "Check-in has closed for this booking; please take a new ticket.",
    CheckInNotToday: "This booking is not for today.",
    NotPending: "This booking was already checked in, cancelled, or missed.",
    CheckInBusy: "This booking is being checked in; please wait.",
    TooManyRequests: "Too many attempts; please try again later or ask at the desk.",
  },
});

const branch = location.pathname.split("/")[3];
const paper = new URLSearchParams(location.search).get("paper") === "58" ? 58 : 80;
const $ = (id) => document.getElementById(id);
let token = deviceToken(branch, "kiosk");
let config = null; // GET /branches/{b}: name, services with materials
let queue = null; // GET /queue: waiting and estimates
let issuing = false;
let closeTimer = null;

const en = () => document.documentElement.lang === "en";
const nameOf = (service) => (en() && service.name_en ? service.name_en : service.name);

function render() {
  if (!config) return;
  $("branch-name").textContent = config.name;
  const root = $("services");
  root.replaceChildren();
  for (const service of config.services) {
    const live = queue?.services.find((s) => s.code === service.code);
    const button = document.createElement("button");
    button.className = "service";
    button.dataset.service = service.code;
    const soldOut = live && live.quota_left === 0;
    // A paused service (暂停取号) is greyed out and not offered; the reason says why.
    const paused = service.paused || Boolean(live?.paused);
    button.disabled = issuing || soldOut || paused;
    if (paused) button.classList.add("paused");
    const name = document.createElement("div");
    name.className = "name";
    name.innerHTML = '<span class="code"></span><span></span>';
    name.firstChild.textContent = service.code;
    name.lastChild.textContent = nameOf(service);
    const numbers = document.createElement("div");
    numbers.className = "numbers";
    if (paused) {
      const reason =
        en() && service.pause_reason_en ? service.pause_reason_en : service.pause_reason;
      numbers.textContent = reason ? `${tr("paused")} · ${reason}` : tr("paused");
    } else if (soldOut) {
      numbers.textContent = tr("sold_out");
    } else if (live) {
      const eta =
        live.eta_minutes === null ? tr("eta_unknown") : tr("eta", { n: live.eta_minutes });
      numbers.innerHTML = `${tr("waiting", { n: live.waiting })} · ${eta}`;
    }
    button.append(name, numbers);
    if (service.materials.length) {
      const materials = document.createElement("div");
      materials.className = "materials";
      materials.textContent = tr("materials", { list: service.materials.join("、") });
      button.append(materials);
    }
    if (!paused) button.addEventListener("click", () => issue(service.code));
    root.append(button);
  }
}

async function load() {
  try {
    const [branchConfig, queueNow] = await Promise.all([
      api(`/branches/${branch}`, { token }),
      api(`/branches/${branch}/queue`, { token }),
    ]);
    config = branchConfig;
    queue = queueNow;
    serverClock.learn(queue.now, queue.timezone);
    $("offline").hidden = true;
    render();
  } catch (error) {
    await failed(error);
  }
}

async function failed(error) {
  if (error instanceof ApiError && error.status === 401) {
    forgetDevice(branch, "kiosk");
    token = await pairDevice($("pairing"), branch, "kiosk", tr);
    await load();
    return;
  }
  if (error.status === 0) $("offline").hidden = false;
}

function ticketBody(ticket) {
  const body = document.createElement("div");
  body.className = "ticket-body";
  const line = (cls, text) => {
    const el = document.createElement("div");
    el.className = cls;
    el.textContent = text;
    body.append(el);
    return el;
  };
  line("t-branch", config.name);
  const service = config.services.find((s) => s.code === ticket.service);
  line("t-service", `${ticket.service} ${service ? nameOf(service) : ""}`);
  line("t-number", ticket.number);
  if (ticket.priority === "care") line("t-priority", tr("care_ticket"));
  if (ticket.priority === "appointment") line("t-priority", tr("appointment_ticket"));
  line("t-ahead", tr("ahead", { n: ticket.ahead }));
  line("t-time", tr("issued_at", { time: formatTime(ticket.issued_at, { date: true }) }));
  const qr = document.createElement("img");
  qr.className = "t-qr";
  qr.alt = "QR";
  qr.src = `/t/${encodeURIComponent(ticket.token)}/qr.svg`;
  body.append(qr);
  line("t-scan", tr("scan"));
  return body;
}

async function issue(code) {
  if (issuing) return;
  issuing = true;
  render();
  try {
    const ticket = await api(`/branches/${branch}/tickets`, {
      method: "POST",
      token,
      key: newKey(),
      json: { service: code, priority: $("care").checked ? "care" : "normal", channel: "kiosk" },
    });
    await show(ticket);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      await failed(error);
    } else {
      showError(tr("failed", { detail: error.status === 0 ? tr("offline") : error.message }));
    }
  } finally {
    issuing = false;
    $("care").checked = false;
    load();
  }
}

async function show(ticket) {
  const printed = ticketBody(ticket);
  $("ticket").replaceChildren(printed);
  $("preview").replaceChildren(ticketBody(ticket));
  $("issued").hidden = false;
  document.body.dataset.ticketToken = ticket.token;
  // Print only once the QR code is there, or the paper comes out without it.
  await Promise.all(
    [...document.querySelectorAll(".t-qr")].map((img) => img.decode().catch(() => undefined)),
  );
  window.print();
  clearTimeout(closeTimer);
  closeTimer = setTimeout(closeIssued, 20000);
}

let errorTimer = null;
function showError(text) {
  // Not alert(): a modal nobody dismisses would freeze the kiosk for the next customer.
  const box = $("error");
  box.textContent = text;
  box.hidden = false;
  clearTimeout(errorTimer);
  errorTimer = setTimeout(() => (box.hidden = true), 8000);
}

function closeIssued() {
  $("issued").hidden = true;
  clearTimeout(closeTimer);
}

function openCheckIn() {
  $("check-in-message").textContent = "";
  $("check-in-code").value = "";
  $("check-in").hidden = false;
  $("check-in-code").focus();
}

let checkingIn = false;
async function checkIn(event) {
  event.preventDefault();
  const code = $("check-in-code").value.trim().toUpperCase();
  if (!code || checkingIn) return;
  checkingIn = true;
  $("check-in-submit").disabled = true;
  $("check-in-message").textContent = "";
  try {
    const ticket = await api(`/branches/${branch}/check-in`, {
      method: "POST",
      token,
      json: { code },
    });
    $("check-in").hidden = true;
    await show(ticket);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      $("check-in").hidden = true;
      await failed(error);
    } else if (error.status === 0) {
      $("check-in-message").textContent = tr("offline");
    } else {
      // The screen's own language, whatever the browser's Accept-Language made of the detail.
      const known = tr(error.error);
      $("check-in-message").textContent = known !== error.error ? known : error.message;
    }
  } finally {
    checkingIn = false;
    $("check-in-submit").disabled = false;
    load();
  }
}

if (paper === 58) {
  document.body.classList.add("paper-58");
  $("page-size").textContent = "@page { size: 58mm auto; margin: 0; }";
}
$("done").addEventListener("click", closeIssued);
$("check-in-open").addEventListener("click", openCheckIn);
$("check-in-cancel").addEventListener("click", () => ($("check-in").hidden = true));
$("check-in-form").addEventListener("submit", checkIn);
$("reprint").addEventListener("click", () => window.print());
installLanguageSwitch(tr, render);
startClock($("clock"), { seconds: false });
(async () => {
  if (!token) token = await pairDevice($("pairing"), branch, "kiosk", tr);
  await load();
  setInterval(load, 10000);
})();
