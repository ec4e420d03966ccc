// Lobby display (综合屏) with voice (语音播报).
//
// Options in the address: ?voice=zh-CN (the first language spoken), &voice2=en-US (a second,
// spoken after the first each time), &repeat=2 (times each call is spoken), &notice=... (the
// scrolling line), &lang=en (the screen's text).
//
// Every call and recall is spoken after a chime, `repeat` times, one announcement after the
// other. A call replayed after a reconnect that is more than 30 s old (in server time) is shown
// but not spoken; calls in a snapshot are state, never spoken. The board is kept in localStorage
// with the last seq, so a reload shows it at once and resumes from there.
import {
  api,
  ApiError,
  deviceToken,
  eventData,
  forgetDevice,
  installLanguageSwitch,
  pairDevice,
  Realtime,
  serverClock,
  startClock,
  translator,
} from "/screens/static/common.js";

const tr = translator({
  zh: {
    offline: "网络中断 — 正在重新连接… 显示的是断网前的信息",
    now_calling: "正在叫号",
    recall: "重呼",
    number: "号码",
    counter: "窗口",
    waiting: "等候 <strong>{n}</strong> 人",
    no_call: "欢迎光临",
    enable_sound: "点击此处开启语音播报",
    notice: "请留意屏幕和语音叫号，过号请到服务台重新登记。请保管好随身物品。",
    pair_title: "配对叫号大屏",
    pair_help: "请管理员在后台添加大屏设备，并输入配对码。",
    pair_code: "配对码",
    pair: "配对",
    pair_wrong_device: "此配对码属于网点 {branch} 的 {kind} 设备",
  },
  en: {
    offline: "Offline — reconnecting… showing the board as it was",
    now_calling: "Now calling",
    recall: "Recall",
    number: "Number",
    counter: "Counter",
    waiting: "<strong>{n}</strong> waiting",
    no_call: "Welcome",
    enable_sound: "Click here to turn the voice on",
    notice: "Please watch the screen and listen for your number. Keep your belongings with you.",
    pair_title: "Pair this display",
    pair_help: "A manager adds this display as a device and types its pairing code here.",
    pair_code: "Pairing code",
    pair: "Pair",
    pair_wrong_device: "This code belongs to a {kind} device of branch {branch}",
  },
});

const REPLAY_SPEAK_SECONDS = 30;
const MAX_RECENT = 8;
const params = new URLSearchParams(location.search);
const voice = params.get("voice") || "zh-CN";
const voice2 = params.get("voice2") || "";
const repeat = Math.max(1, Math.min(5, Number(params.get("repeat") || 2)));
const branch = location.pathname.split("/")[3];
const STORE_KEY = `queuehall.display.${branch}`;
const $ = (id) => document.getElementById(id);

let token = deviceToken(branch, "display");
// The board: what is shown, and kept across reloads with the seq it reflects.
let board = loadBoard();

function loadBoard() {
  try {
    const saved = JSON.parse(localStorage.getItem(STORE_KEY));
    if (saved && Array.isArray(saved.calls)) return saved;
  } catch {
    // a damaged entry: start empty
  }
  return { seq: null, name: "", calls: [], services: [], latest: null };
}

function saveBoard(seq) {
  board.seq = seq;
  localStorage.setItem(STORE_KEY, JSON.stringify(board));
}

// ---------------------------------------------------------------------------------------------
// Sentences

function counterLabel(call) {
  return call.counter_name || `${call.counter}号窗口`;
}

/** What the screen shows and the voice says: "请 A023 号 到 3号窗口". */
export function chineseSentence(call) {
  return `请 ${call.number} 号 到 ${counterLabel(call)}`;
}

function englishSentence(call) {
  return `Number ${call.number}, please go to counter ${call.counter}`;
}

function sentenceFor(lang, call) {
  return lang.toLowerCase().startsWith("zh") ? chineseSentence(call) : englishSentence(call);
}

// ---------------------------------------------------------------------------------------------
// Voice: chime, then the sentence `repeat` times; one announcement at a time.

let audio = null;
const announcements = [];
let announcing = false;

function audioContext() {
  if (!audio) {
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return null;
    audio = new Context();
  }
  return audio;
}

function chime() {
  return new Promise((resolve) => {
    const context = audioContext();
    if (!context || context.state !== "running") {
      resolve();
      return;
    }
    // Two soft tones, "ding-dong", like a hall's announcement gong.
    const start = context.currentTime + 0.02;
    for (const [offset, frequency] of [
      [0, 880],
      [0.45, 660],
    ]) {
      const oscillator = context.createOscillator();
      const gain = context.createGain();
      oscillator.type = "sine";
      oscillator.frequency.value = frequency;
      gain.gain.setValueAtTime(0.0001, start + offset);
      gain.gain.exponentialRampToValueAtTime(0.5, start + offset + 0.03);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + offset + 0.8);
      oscillator.connect(gain).connect(context.destination);
      oscillator.start(start + offset);
      oscillator.stop(start + offset + 0.85);
    }
    setTimeout(resolve, 1300);
  });
}

function say(text, lang) {
  return new Promise((resolve) => {
    if (!("speechSynthesis" in window)) {
      resolve();
      return;
    }
    const utterance = new SpeechSynthesisUtterance(text);
    utterance.lang = lang;
    utterance.rate = 0.85; // slower than default: elderly customers, a noisy hall
    const voices = speechSynthesis.getVoices?.() || [];
    const match = voices.find((v) => v.lang === lang) || voices.find((v) => v.lang.startsWith(lang.slice(0, 2)));
    if (match) utterance.voice = match;
    let done = false;
    const finish = () => {
      if (!done) {
        done = true;
        resolve();
      }
    };
    utterance.onend = finish;
    utterance.onerror = finish;
    // Some TV browsers never fire onend; never let one utterance stop the queue.
    setTimeout(finish, 12000);
    speechSynthesis.speak(utterance);
  });
}

function announce(call) {
  announcements.push(call);
  if (!announcing) pump();
}

async function pump() {
  announcing = true;
  while (announcements.length) {
    const call = announcements.shift();
    await chime();
    for (let i = 0; i < repeat; i++) {
      await say(sentenceFor(voice, call), voice);
      if (voice2) await say(sentenceFor(voice2, call), voice2);
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  announcing = false;
}

function unlockSound() {
  const context = audioContext();
  if (context && context.state !== "running") context.resume();
  $("sound-hint").hidden = true;
}

// ---------------------------------------------------------------------------------------------
// Board

function render() {
  $("branch-name").textContent = board.name || branch;
  const latest = board.latest;
  const latestEl = $("latest");
  latestEl.classList.toggle("empty", !latest);
  $("recall-tag").hidden = !latest?.recall;
  const sentence = $("latest-sentence");
  if (latest) {
    sentence.innerHTML =
      '<span class="line">请 <span class="num"></span> 号</span> <span class="line">到 <span class="ctr"></span></span>';
    sentence.querySelector(".num").textContent = latest.number;
    sentence.querySelector(".ctr").textContent = counterLabel(latest);
    sentence.dataset.sentence = chineseSentence(latest);
    $("latest-sentence-en").textContent = englishSentence(latest);
  } else {
    sentence.textContent = tr("no_call");
    sentence.dataset.sentence = "";
    $("latest-sentence-en").textContent = "";
  }
  const list = $("recent-calls");
  list.replaceChildren();
  for (const call of board.calls.slice(0, MAX_RECENT)) {
    const li = document.createElement("li");
    li.innerHTML = '<span class="num"></span><span class="ctr"></span>';
    li.firstChild.textContent = call.number;
    li.lastChild.textContent = counterLabel(call);
    if (call.recall) {
      const tag = document.createElement("span");
      tag.className = "recall";
      tag.textContent = tr("recall");
      li.firstChild.append(tag);
    }
    list.append(li);
  }
  const waiting = $("waiting");
  waiting.replaceChildren();
  const en = document.documentElement.lang === "en";
  for (const service of board.services) {
    const box = document.createElement("div");
    box.className = "svc";
    box.dataset.service = service.code;
    box.innerHTML = '<div class="name"></div><div class="count"></div>';
    box.firstChild.textContent = `${service.code} ${en && service.name_en ? service.name_en : service.name}`;
    box.lastChild.innerHTML = tr("waiting", { n: Number(service.waiting) });
    waiting.append(box);
  }
  renderNotice();
}

// Managed notices (GET .../notices/current): shown while their window holds by server time;
// without any, the address's &notice= or the default line.
let notices = [];

function noticeLine() {
  const now = serverClock.now();
  const en = document.documentElement.lang === "en";
  const active = notices.filter((n) => n.starts_at <= now && (n.ends_at === null || now < n.ends_at));
  if (!active.length) return params.get("notice") || tr("notice");
  return active.map((n) => (en && n.text_en ? n.text_en : n.text)).join("　　");
}

function renderNotice() {
  const line = noticeLine();
  if ($("notice").textContent !== line) $("notice").textContent = line;
}

async function loadNotices() {
  try {
    const current = await api(`/branches/${branch}/notices/current`, { token });
    serverClock.learn(current.now);
    notices = current.notices;
    renderNotice();
  } catch {
    // Keep the notices shown; the next event or the periodic ask tries again.
  }
}

// A notice starts or ends with no event: re-check every few seconds, ask again every minute.
setInterval(renderNotice, 5000);
setInterval(loadNotices, 60000);

function flash() {
  const latest = $("latest");
  latest.classList.remove("flash");
  void latest.offsetWidth; // restart the animation
  latest.classList.add("flash");
}

function setServices(services) {
  board.services = services.map(({ code, name, name_en, waiting }) => ({
    code,
    name,
    name_en,
    waiting,
  }));
}

function applySnapshot(state) {
  board.name = state.name || board.name;
  setServices(state.services || []);
  const calls = [...(state.recent_calls || [])].sort((a, b) => b.called_at - a.called_at);
  board.calls = calls.map((c) => ({ ...c, recall: false }));
  board.latest = board.calls[0] || null;
}

function applyCall(message, recall) {
  const data = eventData(message);
  const call = {
    number: data.number,
    service: data.service,
    counter: data.counter,
    counter_name: data.counter_name,
    called_at: message.at,
    recall,
  };
  board.calls = [call, ...board.calls.filter((c) => c.number !== call.number)].slice(0, 20);
  board.latest = call;
  flash();
  const age = serverClock.now() - message.at;
  if (age <= REPLAY_SPEAK_SECONDS) announce(call);
}

function onMessage(message) {
  switch (message.type) {
    case "snapshot":
      applySnapshot(eventData(message));
      break;
    case "ticket_called":
      applyCall(message, false);
      break;
    case "ticket_recalled":
      applyCall(message, true);
      break;
    case "queue_status":
      setServices(eventData(message).services || []);
      break;
    case "notices_changed":
      loadNotices();
      return;
    case "business_day_started":
      board.calls = [];
      board.latest = null;
      break;
    case "ping":
      serverClock.learn(message.at);
      return;
    default:
      return;
  }
  saveBoard(socket.lastSeq);
  render();
}

async function refresh() {
  // Server time (to tell the age of replayed calls), branch name and waiting counts.
  try {
    const queue = await api(`/branches/${branch}/queue`, { token });
    serverClock.learn(queue.now, queue.timezone);
    board.name = queue.name;
    setServices(queue.services);
    render();
    loadNotices();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) await repair();
  }
}

async function repair() {
  socket.stop();
  forgetDevice(branch, "display");
  token = await pairDevice($("pairing"), branch, "display", tr);
  socket.start();
}

const socket = new Realtime(`/ws/branches/${branch}/display`, {
  token: () => token,
  since: board.seq,
  beforeConnect: refresh,
  onMessage,
  onState: (state) => {
    document.body.dataset.connection = state;
    $("offline").hidden = state === "online";
    document.body.classList.toggle("offline", state !== "online");
  },
  onRefused: () => repair(),
});

installLanguageSwitch(tr, render);
startClock($("clock"));
document.addEventListener("click", unlockSound);
document.addEventListener("keydown", unlockSound);
(async () => {
  if (!token) token = await pairDevice($("pairing"), branch, "display", tr);
  render();
  const context = audioContext();
  if (context && context.state !== "running") {
    context.resume().catch(() => undefined);
    setTimeout(() => {
      if (context.state !== "running") $("sound-hint").hidden = false;
    }, 1000);
  }
  socket.start();
})();
