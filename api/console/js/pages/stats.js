// The district's figures as plain SVG charts: closure rate, times to dispatch and close,
// false-alarm rate per camera and per rule, the backlog by grid and department.

import { api, once } from "../api.js";
import { errorText } from "../actions.js";
import { h, mount, options, s } from "../dom.js";
import { STATUS_COLOURS } from "../domain.js";
import { label, minutesText, t } from "../i18n.js";
import { notice } from "../widgets.js";

const RANGES = { today: null, "7d": 7, "30d": 30, all: 0 };

function rangeStart(range) {
  if (range === "today") {
    const start = new Date();
    start.setHours(0, 0, 0, 0);
    return start.toISOString();
  }
  const days = RANGES[range];
  return days ? new Date(Date.now() - days * 86400e3).toISOString() : undefined;
}

function percent(value) {
  return value === null || value === undefined ? "—" : `${(value * 100).toFixed(1)}%`;
}

function truncate(text, max) {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** A horizontal bar chart; rows are {name, value, text, colour}. */
function barChart(title, rows, { max, empty } = {}) {
  const section = h("section", { class: "panel chart" }, h("h2", {}, title));
  if (!rows.length) {
    section.append(notice(empty || t("stats.no_data")));
    return section;
  }
  const rowHeight = 28;
  const labelWidth = 230;
  const barWidth = 230;
  const height = rows.length * rowHeight + 8;
  const top = max ?? Math.max(...rows.map((row) => row.value), 1);
  const svg = s(
    "svg",
    { viewBox: `0 0 ${labelWidth + barWidth + 90} ${height}`, role: "img", "aria-label": title, class: "bars" },
    rows.map((row, index) => {
      const y = index * rowHeight + 4;
      const width = top ? Math.max(row.value > 0 ? 2 : 0, (row.value / top) * barWidth) : 0;
      return s(
        "g",
        { class: "bar-row" },
        s("title", {}, `${row.name}: ${row.text}`),
        s("text", { x: labelWidth - 8, y: y + 17, "text-anchor": "end", class: "bar-label" }, truncate(row.name, 28)),
        s("rect", { x: labelWidth, y: y + 4, width: barWidth, height: 18, class: "bar-track", rx: 3 }),
        s("rect", { x: labelWidth, y: y + 4, width, height: 18, fill: row.colour || "#1a73e8", rx: 3 }),
        s("text", { x: labelWidth + barWidth + 8, y: y + 17, class: "bar-value" }, row.text),
      );
    }),
  );
  section.append(svg);
  return section;
}

/** A ring showing a rate between 0 and 1. */
function ring(rate) {
  const radius = 34;
  const circumference = 2 * Math.PI * radius;
  const filled = rate === null ? 0 : rate * circumference;
  return s(
    "svg",
    { viewBox: "0 0 90 90", class: "ring", role: "img", "aria-label": percent(rate) },
    s("circle", { cx: 45, cy: 45, r: radius, class: "ring-track" }),
    filled > 0
      ? s("circle", { cx: 45, cy: 45, r: radius, class: "ring-value", "stroke-dasharray": `${filled} ${circumference}`, transform: "rotate(-90 45 45)" })
      : null,
    s("text", { x: 45, y: 50, "text-anchor": "middle", class: "ring-text" }, percent(rate)),
  );
}

function kpi(name, value, extra) {
  return h("div", { class: "kpi" }, h("span", { class: "kpi-name" }, name), extra || h("span", { class: "kpi-value" }, value));
}

function rateRows(rates, nameOf) {
  return Object.entries(rates)
    .filter(([, rate]) => rate.rate !== null)
    .sort((a, b) => b[1].rate - a[1].rate)
    .map(([key, rate]) => ({
      name: nameOf(key),
      value: rate.rate,
      text: `${percent(rate.rate)} (${rate.false_alarms}/${rate.false_alarms + rate.confirmed})`,
      colour: rate.rate > 0.5 ? "#d93025" : rate.rate > 0.2 ? "#f29900" : "#188038",
    }));
}

function countRows(counts, nameOf, colourOf) {
  return Object.entries(counts)
    .sort((a, b) => b[1] - a[1])
    .map(([key, value]) => ({ name: nameOf(key), value, text: String(value), colour: colourOf?.(key) }));
}

export async function render(main) {
  const rangeSelect = h("select", { name: "range" }, options([["today", t("stats.today")], ["7d", t("stats.7d")], ["30d", t("stats.30d")], ["all", t("stats.all")]], "30d"));
  const body = h("div", { class: "stats-body" });
  mount(main, h("section", { class: "stats-page" }, h("div", { class: "wall-head" }, h("h1", {}, t("menu.stats")), h("label", {}, t("stats.range"), " ", rangeSelect)), body));

  const names = { camera: new Map(), grid: new Map(), department: new Map() };
  const [cameras, grids, departments] = await Promise.all([
    once("/api/v1/cameras").catch(() => []),
    once("/api/v1/grids").catch(() => ({ features: [] })),
    once("/api/v1/departments").catch(() => []),
  ]);
  for (const camera of cameras) names.camera.set(camera.id, camera.name);
  for (const grid of grids.features) names.grid.set(grid.id, grid.properties.name);
  for (const department of departments) names.department.set(department.id, department.name);
  const nameOf = (kind) => (key) => names[kind].get(key) || key;

  async function load() {
    mount(body, notice(t("common.loading")));
    try {
      const stats = await api("/api/v1/stats", { query: { from: rangeStart(rangeSelect.value) } });
      mount(
        body,
        h(
          "div",
          { class: "kpis" },
          kpi(t("stats.events"), String(stats.events)),
          kpi(t("stats.occurrences"), String(stats.occurrences)),
          kpi(t("stats.closure_rate"), null, ring(stats.closure_rate)),
          kpi(t("stats.closed"), String(stats.closed)),
          kpi(t("stats.median_dispatch"), minutesText(stats.median_minutes_to_dispatch)),
          kpi(t("stats.median_close"), minutesText(stats.median_minutes_to_close)),
          kpi(t("stats.overdue_open"), String(stats.overdue_open)),
        ),
        h(
          "div",
          { class: "charts" },
          barChart(t("stats.false_alarm_by_camera"), rateRows(stats.false_alarm_rate_by_camera, nameOf("camera")), { max: 1, empty: t("stats.no_verdicts") }),
          barChart(t("stats.false_alarm_by_rule"), rateRows(stats.false_alarm_rate_by_rule, (rule) => label("rule", rule)), { max: 1, empty: t("stats.no_verdicts") }),
          barChart(t("stats.by_status"), countRows(stats.by_status, (s) => label("status", s), (s) => STATUS_COLOURS[s])),
          barChart(t("stats.by_category"), countRows(stats.by_category, (c) => label("category", c))),
          barChart(t("stats.open_by_grid"), countRows(stats.open_by_grid, nameOf("grid"))),
          barChart(t("stats.open_by_department"), countRows(stats.open_by_department, nameOf("department"))),
        ),
      );
    } catch (err) {
      mount(body, notice(errorText(err), "error"));
    }
  }
  rangeSelect.addEventListener("change", load);
  await load();
  return null;
}
