// Evaluation figures (GB/T 30428's closed-loop evaluation) as a table per department, grid,
// grid worker or camera over a period, with the same table as a CSV download; below it, each
// camera's top false-alarm sources with a suggested mask.

import { api, localPath, session } from "../api.js";
import { errorText } from "../actions.js";
import { h, mount, options, s } from "../dom.js";
import { label, minutesText, t } from "../i18n.js";
import { notice } from "../widgets.js";
import { suppressionsSection } from "../suppressions.js";

const GROUPS = ["department", "grid", "grid_worker", "camera"];
const RANGE_DAYS = { "7d": 7, "30d": 30, "90d": 90, all: 0 };
const COUNTS = ["reported", "occurrences", "filed", "dispatched", "handled_on_time", "reworked", "closed"];
const RATES = ["on_time_rate", "closure_rate", "rework_rate", "false_alarm_rate"];
const MEDIANS = ["median_minutes_to_dispatch", "median_minutes_to_close"];

function percent(value) {
  return value === null || value === undefined ? "—" : `${(value * 100).toFixed(1)}%`;
}

function query(by, range) {
  const days = RANGE_DAYS[range];
  const params = { by };
  if (days) params.from = new Date(Date.now() - days * 86400e3).toISOString();
  return params;
}

/** Fetch the CSV with the access token and hand it to the browser as a file. */
async function downloadCsv(params) {
  const url = `/api/v1/evaluation?${new URLSearchParams({ ...params, format: "csv" })}`;
  const response = await fetch(localPath(url), { headers: { Authorization: `Bearer ${session.token}` } });
  if (!response.ok) throw new Error(`${response.status}`);
  const link = h("a", { href: URL.createObjectURL(await response.blob()), download: `evaluation-by-${params.by}.csv` });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 60000);
}

function cells(row) {
  return [
    ...COUNTS.map((name) => h("td", { class: "number" }, String(row[name]))),
    ...RATES.map((name) => h("td", { class: "number" }, percent(row[name]))),
    ...MEDIANS.map((name) => h("td", { class: "number" }, minutesText(row[name]))),
  ];
}

function table(evaluation) {
  const head = h("tr", {}, h("th", {}, t(`evaluation.by.${evaluation.by}`)), ...[...COUNTS, ...RATES, ...MEDIANS].map((name) => h("th", {}, t(`evaluation.${name}`))));
  const rows = evaluation.rows.map((row) => h("tr", {}, h("td", {}, row.name || row.key || "—"), ...cells(row)));
  const total = h("tr", { class: "total" }, h("th", {}, t("evaluation.total")), ...cells(evaluation.total));
  return h("table", { class: "evaluation-table" }, h("thead", {}, head), h("tbody", {}, ...rows), h("tfoot", {}, total));
}

/** The suggested mask drawn in a 16:9 frame (the mask is in normalised image coordinates). */
function maskPicture(mask) {
  if (!mask.length) return "—";
  const points = mask.map(([x, y]) => `${x * 160},${y * 90}`).join(" ");
  return s(
    "svg",
    { class: "mask-picture", viewBox: "0 0 160 90", width: 80, height: 45, role: "img", "aria-label": t("evaluation.sources.mask") },
    s("rect", { x: 0, y: 0, width: 160, height: 90, fill: "#3c4043" }),
    s("polygon", { points, fill: "rgba(217, 48, 37, 0.55)", stroke: "#d93025", "stroke-width": 2 }),
    s("title", {}, mask.map(([x, y]) => `(${x}, ${y})`).join(" ")),
  );
}

function falseAlarmSources(cameras) {
  if (!cameras.length) return null;
  const names = ["rule", "zone", "object", "false_alarms", "suppressed", "mask"];
  return h(
    "section",
    { class: "false-alarm-sources" },
    h("h2", {}, t("evaluation.sources")),
    h("p", { class: "muted" }, t("evaluation.sources.help")),
    h(
      "table",
      { class: "table sources-table" },
      h("thead", {}, h("tr", {}, h("th", {}, t("evaluation.by.camera")), ...names.map((name) => h("th", {}, t(`evaluation.sources.${name}`))))),
      h(
        "tbody",
        {},
        cameras.flatMap((camera) =>
          camera.sources.map((source, index) =>
            h(
              "tr",
              { dataset: { cameraId: camera.camera_id } },
              h("td", {}, index === 0 ? camera.camera_name : ""),
              h("td", {}, label("rule", source.rule)),
              h("td", {}, source.zone),
              h("td", {}, label("object", source.object_class)),
              h("td", { class: "number" }, String(source.false_alarms)),
              h("td", { class: "number" }, String(source.suppressed)),
              h("td", {}, maskPicture(source.suggested_mask)),
            ),
          ),
        ),
      ),
    ),
  );
}

export async function render(main, _params, { role }) {
  const bySelect = h("select", { name: "by" }, options(GROUPS.map((by) => [by, t(`evaluation.by.${by}`)]), "department"));
  const rangeSelect = h("select", { name: "range" }, options([["7d", t("stats.7d")], ["30d", t("stats.30d")], ["90d", t("evaluation.90d")], ["all", t("stats.all")]], "30d"));
  const error = h("p", { class: "form-error", role: "alert" });
  const csvButton = h("button", { type: "button", class: "csv-download" }, t("evaluation.csv"));
  csvButton.addEventListener("click", () => downloadCsv(query(bySelect.value, rangeSelect.value)).catch((err) => { error.textContent = errorText(err); }));
  const body = h("div", { class: "evaluation-body" });
  mount(
    main,
    h(
      "section",
      { class: "evaluation-page" },
      h("div", { class: "wall-head" }, h("h1", {}, t("menu.evaluation")), h("label", {}, t("evaluation.group"), " ", bySelect), h("label", {}, t("stats.range"), " ", rangeSelect), csvButton),
      error,
      body,
      // Operators see what is held back; admins may also remove it.
      suppressionsSection({ canRemove: role === "admin" }),
    ),
  );

  async function load() {
    mount(body, notice(t("common.loading")));
    try {
      const evaluation = await api("/api/v1/evaluation", { query: query(bySelect.value, rangeSelect.value) });
      mount(body, evaluation.rows.length ? table(evaluation) : notice(t("stats.no_data")), falseAlarmSources(evaluation.false_alarm_sources));
    } catch (err) {
      mount(body, notice(errorText(err), "error"));
    }
  }
  bySelect.addEventListener("change", load);
  rangeSelect.addEventListener("change", load);
  await load();
  return null;
}
