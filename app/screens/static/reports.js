// Service-quality reports (/screens/reports/{branch}) for managers: a range of business days
// grouped by service, counter, clerk, hour or day, as charts (Chart.js, bundled in vendor/) and
// a table, with the CSV export. The figures come from GET /branches/{b}/reports.
import { api, API, installLanguageSwitch, translator } from "/screens/static/common.js";
import { SIGN_IN_STRINGS, staffSession } from "/screens/static/staff.js";

const tr = translator({
  zh: {
    ...SIGN_IN_STRINGS.zh,
    title: "统计报表",
    dashboard: "实时看板",
    from: "开始日期",
    to: "结束日期",
    by: "分组",
    by_service: "按业务",
    by_counter: "按窗口",
    by_clerk: "按工作人员",
    by_hour: "按时段",
    by_day: "按日期",
    by_total: "合计",
    show: "查询",
    csv: "导出 CSV",
    total: "合计",
    nobody: "（无）",
    key: "项目",
    issued: "取号",
    served: "办结",
    no_show: "过号",
    cancelled: "取消",
    transferred: "转移",
    expired: "过期",
    wait_mean: "平均等候(分)",
    wait_p50: "等候中位数(分)",
    wait_p90: "等候P90(分)",
    wait_max: "最长等候(分)",
    service_mean: "平均办理(分)",
    service_p90: "办理P90(分)",
    within_sla_share: "等候达标率",
    remote_share: "远程取号",
    appointment_share: "预约",
    ratings: "评价数",
    satisfaction_rate: "满意率",
    cases_opened: "督办新增",
    cases_closed: "督办办结",
    cases_overdue: "督办逾期",
    volume: "取号与办结",
    waits: "等候时间(分)",
    satisfaction: "满意率(%)",
    levels: "评价分布",
    very_satisfied: "非常满意",
    satisfied: "满意",
    average: "一般",
    basically_satisfied: "基本满意",
    dissatisfied: "不满意",
    very_dissatisfied: "非常不满意",
  },
  en: {
    ...SIGN_IN_STRINGS.en,
    title: "Reports",
    dashboard: "Live dashboard",
    from: "From",
    to: "To",
    by: "Group by",
    by_service: "Service",
    by_counter: "Counter",
    by_clerk: "Clerk",
    by_hour: "Hour",
    by_day: "Day",
    by_total: "Total",
    show: "Show",
    csv: "Export CSV",
    total: "Total",
    nobody: "(none)",
    key: "Item",
    issued: "Issued",
    served: "Served",
    no_show: "No-show",
    cancelled: "Cancelled",
    transferred: "Transferred",
    expired: "Expired",
    wait_mean: "Mean wait (min)",
    wait_p50: "Wait p50 (min)",
    wait_p90: "Wait p90 (min)",
    wait_max: "Max wait (min)",
    service_mean: "Mean service (min)",
    service_p90: "Service p90 (min)",
    within_sla_share: "Within SLA",
    remote_share: "Remote",
    appointment_share: "Appointments",
    ratings: "Ratings",
    satisfaction_rate: "Satisfaction",
    cases_opened: "Cases opened",
    cases_closed: "Cases closed",
    cases_overdue: "Cases overdue",
    volume: "Issued and served",
    waits: "Waiting time (min)",
    satisfaction: "Satisfaction (%)",
    levels: "Ratings by level",
    very_satisfied: "Very satisfied",
    satisfied: "Satisfied",
    average: "Average",
    basically_satisfied: "Basically satisfied",
    dissatisfied: "Dissatisfied",
    very_dissatisfied: "Very dissatisfied",
  },
});

const COUNTS = ["issued", "served", "no_show", "cancelled", "transferred", "expired"];
const MINUTES = ["wait_mean", "wait_p50", "wait_p90", "wait_max", "service_mean", "service_p90"];
const SHARES = ["within_sla_share", "remote_share", "appointment_share"];
const QUALITY = ["ratings", "satisfaction_rate", "cases_opened", "cases_closed", "cases_overdue"];
const LEVELS = [
  "very_satisfied",
  "satisfied",
  "average",
  "basically_satisfied",
  "dissatisfied",
  "very_dissatisfied",
];
const COLOURS = ["#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#d62728", "#8c564b"];

const [, , , branch] = location.pathname.split("/");
const $ = (id) => document.getElementById(id);
let report = null;
const charts = {};

function label(row) {
  const key = row.key;
  if (report.by === "total") return tr("total");
  if (report.by === "hour") return key.hour === null ? tr("nobody") : `${String(key.hour).padStart(2, "0")}:00`;
  if (report.by === "day") return key.day;
  const value = report.by === "counter" ? key.counter : key[report.by];
  if (value === null) return tr("nobody");
  return key.name ? `${key.name}` : String(value);
}

function minutes(seconds) {
  return seconds === null ? null : Math.round((seconds / 60) * 10) / 10;
}

function percent(share) {
  return share === null ? null : Math.round(share * 1000) / 10;
}

function chart(id, type, labels, datasets, options = {}) {
  charts[id]?.destroy();
  charts[id] = new window.Chart($(id), {
    type,
    data: { labels, datasets },
    options: {
      animation: false,
      maintainAspectRatio: false,
      plugins: { title: { display: true, text: options.title } },
    },
  });
}

function drawCharts() {
  const rows = report.rows;
  const labels = rows.map(label);
  const series = (name, field, colour, map = (v) => v) => ({
    label: tr(name),
    data: rows.map((row) => map(row[field])),
    backgroundColor: colour,
    borderColor: colour,
  });
  chart("chart-volume", "bar", labels, [
    series("issued", "issued", COLOURS[0]),
    series("served", "served", COLOURS[1]),
    series("no_show", "no_show", COLOURS[4]),
  ], { title: tr("volume") });
  chart("chart-wait", "bar", labels, [
    series("wait_mean", "wait_mean", COLOURS[0], minutes),
    series("wait_p90", "wait_p90", COLOURS[2], minutes),
  ], { title: tr("waits") });
  chart("chart-satisfaction", "bar", labels, [
    series("satisfaction_rate", "satisfaction_rate", COLOURS[1], percent),
  ], { title: tr("satisfaction") });
  const totals = LEVELS.map((level) => rows.reduce((sum, row) => sum + row.rating_levels[level], 0));
  const shown = LEVELS.filter((_, i) => totals[i] > 0);
  chart("chart-levels", "doughnut", shown.map((level) => tr(level)), [
    {
      label: tr("ratings"),
      data: LEVELS.map((_, i) => totals[i]).filter((n) => n > 0),
      backgroundColor: LEVELS.map((_, i) => COLOURS[i]).filter((_, i) => totals[i] > 0),
    },
  ], { title: tr("levels") });
}

function drawTable() {
  const columns = [...COUNTS, ...MINUTES, ...SHARES, ...QUALITY];
  const head = document.createElement("tr");
  for (const name of ["key", ...columns]) {
    const th = document.createElement("th");
    th.textContent = tr(name);
    head.append(th);
  }
  $("rows").tHead.replaceChildren(head);
  $("rows").tBodies[0].replaceChildren(
    ...report.rows.map((row) => {
      const tr_ = document.createElement("tr");
      tr_.dataset.key = JSON.stringify(row.key);
      const cells = [label(row)];
      for (const name of columns) {
        const value = row[name];
        if (value === null) cells.push("—");
        else if (MINUTES.includes(name)) cells.push(minutes(value));
        else if (name.endsWith("_share") || name === "satisfaction_rate") cells.push(`${percent(value)}%`);
        else cells.push(value);
      }
      for (const [i, text] of cells.entries()) {
        const td = document.createElement("td");
        td.textContent = text;
        td.dataset.column = i === 0 ? "key" : columns[i - 1];
        tr_.append(td);
      }
      return tr_;
    }),
  );
}

function render() {
  $("dashboard-link").href = `/screens/dashboard/${branch}`;
  if (!report) return;
  drawCharts();
  drawTable();
}

function query() {
  return new URLSearchParams({ from: $("from").value, to: $("to").value, by: $("by").value });
}

async function load(event) {
  event?.preventDefault();
  $("report-message").textContent = "";
  try {
    report = await api(`/branches/${branch}/reports?${query()}`, { token: session.token });
    render();
  } catch (error) {
    if (error.status === 401) session.signOut();
    else $("report-message").textContent = error.message;
  }
}

async function downloadCsv() {
  // The export needs the bearer token: fetched, then handed to the browser as a file.
  const params = query();
  params.set("format", "csv");
  params.set("lang", document.documentElement.lang === "en" ? "en" : "zh");
  const response = await fetch(`${API}/branches/${branch}/reports?${params}`, {
    headers: { Authorization: `Bearer ${session.token}` },
  });
  if (!response.ok) {
    $("report-message").textContent = `HTTP ${response.status}`;
    return;
  }
  const link = document.createElement("a");
  link.href = URL.createObjectURL(await response.blob());
  link.download = `report-${branch}-${params.get("from")}-${params.get("to")}-${params.get("by")}.csv`;
  link.click();
  URL.revokeObjectURL(link.href);
}

const session = staffSession(branch, tr, {
  key: "queuehall.manager.token",
  onStart: async () => {
    $("report").hidden = false;
    if (!$("from").value) {
      const info = await api(`/branches/${branch}`, { token: session.token }).catch(() => null);
      const today = info?.business_day ?? new Date().toISOString().slice(0, 10);
      $("branch-name").textContent = info?.name ?? branch;
      $("from").value = today;
      $("to").value = today;
    }
    load();
  },
  onSignOut: () => {
    $("report").hidden = true;
  },
});

$("query").addEventListener("submit", load);
$("csv").addEventListener("click", downloadCsv);
installLanguageSwitch(tr, render);
if (session.token) session.start();
else session.signOut();
