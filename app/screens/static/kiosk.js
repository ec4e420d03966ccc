// Kiosk (自助取号机): big service buttons, care option, prints the ticket with window.print().
// Add ?paper=58 to the address for 58 mm thermal printers (80 mm by default).
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
    button.disabled = issuing || soldOut;
    const name = document.createElement("div");
    name.className = "name";
    name.innerHTML = '<span class="code"></span><span></span>';
    name.firstChild.textContent = service.code;
    name.lastChild.textContent = nameOf(service);
    const numbers = document.createElement("div");
    numbers.className = "numbers";
    if (soldOut) {
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
    button.addEventListener("click", () => issue(service.code));
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

if (paper === 58) {
  document.body.classList.add("paper-58");
  $("page-size").textContent = "@page { size: 58mm auto; margin: 0; }";
}
$("done").addEventListener("click", closeIssued);
$("reprint").addEventListener("click", () => window.print());
installLanguageSwitch(tr, render);
startClock($("clock"), { seconds: false });
(async () => {
  if (!token) token = await pairDevice($("pairing"), branch, "kiosk", tr);
  await load();
  setInterval(load, 10000);
})();
