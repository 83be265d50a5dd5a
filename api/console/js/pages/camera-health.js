// Camera health at a glance: how many are offline or degraded, and which, since when.

import { api, invalidWords, once, session } from "../api.js";
import { errorText } from "../actions.js";
import { h, mount } from "../dom.js";
import { CAMERA_STATES } from "../domain.js";
import { dateTime, label, labelOr, t } from "../i18n.js";
import { openLiveDialog } from "../live-view.js";
import { ago, cameraBadge, notice } from "../widgets.js";

const ORDER = Object.fromEntries(CAMERA_STATES.map((state, index) => [state, index]));
const SHOWN_STATES = CAMERA_STATES.filter((state) => state !== "unknown");

/**
 * The health to show: a camera nobody has reported on is not "unknown" to the person who owns
 * it but off the air (离线), with the reason saying why (unwatched, disabled, ...).
 */
export function shownStatus(camera) {
  return camera.status === "unknown" || camera.status_reason === "disabled" ? "offline" : camera.status;
}

/**
 * Why a camera is not online, worded from its code in the reader's language, with the worker's
 * own text only as the detail beneath; null when it is online.
 */
export function statusReason(camera) {
  if (!camera.status_reason) return null;
  const params = { worker: camera.watched_by || "" };
  const text = labelOr("camera.reason", camera.status_reason, null) ?? t("camera.reason.stream", params);
  return h(
    "div",
    { class: "status-reason small", dataset: { reason: camera.status_reason } },
    h("span", { class: "reason-words" }, text.replace("{worker}", params.worker)),
    camera.status_error ? h("div", { class: "reason-detail muted" }, t("camera.reason.detail", { error: camera.status_error })) : null,
  );
}

/** When the camera entered its present state, if the API says (status_since). */
export function since(camera) {
  const when = camera.status_since || camera.health?.since;
  return when ? h("span", { title: dateTime(when) }, ago(when)) : h("span", { class: "muted" }, "—");
}

/** Grid names by id, for showing a camera's grid in words. */
export async function gridNames() {
  try {
    const grids = await once("/api/v1/grids");
    return new Map(grids.features.map((feature) => [feature.id, feature.properties.name]));
  } catch {
    return new Map();
  }
}

/**
 * A table of cameras, worst health first; `link(camera)` may make the name a link; `live` adds
 * a button that opens the camera's live view.
 */
export function cameraTable(cameras, { link, showOwner = true, gridNames = new Map(), live = false } = {}) {
  const rows = [...cameras].sort((a, b) => (ORDER[shownStatus(a)] ?? 9) - (ORDER[shownStatus(b)] ?? 9) || a.name.localeCompare(b.name));
  return h(
    "table",
    { class: "table cameras-table" },
    h(
      "thead",
      {},
      h("tr", {}, h("th", {}, t("camera.status")), h("th", {}, t("camera.since")), h("th", {}, t("camera.name")), showOwner ? h("th", {}, t("camera.owner")) : null, h("th", {}, t("field.grid")), h("th", {}, t("camera.source")), h("th", {}, t("camera.enabled")), live ? h("th", {}, t("liveview.title")) : null),
    ),
    h(
      "tbody",
      {},
      rows.map((camera) =>
        h(
          "tr",
          { dataset: { cameraId: camera.id, health: shownStatus(camera) } },
          h("td", {}, cameraBadge(shownStatus(camera)), statusReason(camera)),
          h("td", {}, since(camera)),
          h("td", {}, link ? h("a", { href: link(camera) }, camera.name) : camera.name, h("div", { class: "muted small" }, camera.id)),
          showOwner ? h("td", {}, camera.organisation.name) : null,
          h("td", { title: camera.grid_id || "" }, camera.grid_id ? gridNames.get(camera.grid_id) || camera.grid_id : t("grid.outside")),
          h("td", { class: "mono small" }, camera.source),
          h("td", {}, camera.enabled ? t("common.yes") : t("common.no")),
          live
            ? h("td", {}, h("button", { type: "button", class: "live-open", dataset: { cameraId: camera.id }, onclick: () => openLiveDialog(camera) }, t("liveview.start")))
            : null,
        ),
      ),
    ),
  );
}

export function healthSummary(cameras) {
  const counts = Object.fromEntries(SHOWN_STATES.map((state) => [state, 0]));
  for (const camera of cameras) counts[shownStatus(camera)] = (counts[shownStatus(camera)] || 0) + 1;
  return h(
    "div",
    { class: "kpis health-kpis" },
    SHOWN_STATES.map((state) => h("div", { class: `kpi health-${state}`, dataset: { health: state } }, h("span", { class: "kpi-name" }, label("camera_status", state)), h("span", { class: "kpi-value" }, String(counts[state])))),
  );
}

/** Why a camera file was refused, worded from its code; the API's English only as the detail. */
function refusedReason(problem) {
  if (!problem.type) return problem.reason;
  return [
    h("span", { class: "reason-words" }, invalidWords({ field: "", type: problem.type, params: problem.params })),
    h("div", { class: "reason-detail muted small" }, t("camera.reason.detail", { error: problem.reason })),
  ];
}

/** Camera files the API refused at start-up (admins): file, field and reason; none: nothing. */
export function refusedFiles(refused) {
  if (!refused.length) return null;
  return h(
    "section",
    { class: "refused-camera-files" },
    h("h2", {}, t("health.refused_files"), " ", h("span", { class: "count" }, String(refused.length))),
    h("p", { class: "muted small" }, t("health.refused_files_hint")),
    h(
      "table",
      { class: "table" },
      h("thead", {}, h("tr", {}, h("th", {}, t("health.file")), h("th", {}, t("health.field")), h("th", {}, t("health.reason")))),
      h(
        "tbody",
        {},
        refused.map((problem) => h("tr", { dataset: { file: problem.file, type: problem.type || "" } }, h("td", { class: "mono small" }, problem.file), h("td", { class: "mono small" }, problem.field || "—"), h("td", {}, refusedReason(problem)))),
      ),
    ),
  );
}

/** The fleet for admins: workers, capacity, cameras held and cameras no worker holds. */
export function fleetPanel(fleet) {
  if (!fleet || !fleet.leasing) return null;
  const figures = [
    ["workers", fleet.worker_count],
    ["capacity", fleet.capacity],
    ["held", fleet.held],
    ["spare", fleet.spare],
    ["waiting", fleet.waiting],
  ];
  return h(
    "section",
    { class: "fleet-panel" },
    h("h2", {}, t("health.fleet")),
    fleet.waiting ? notice(t("health.fleet_short", { n: fleet.waiting }), "error") : null,
    h(
      "div",
      { class: "kpis fleet-kpis" },
      figures.map(([name, value]) => h("div", { class: `kpi fleet-${name}`, dataset: { figure: name } }, h("span", { class: "kpi-name" }, t(`health.fleet_${name}`)), h("span", { class: "kpi-value" }, String(value)))),
    ),
  );
}

export async function render(main) {
  mount(main, notice(t("common.loading")));
  try {
    const admin = session.me?.role === "admin";
    const [cameras, names, refused, fleet] = await Promise.all([
      api("/api/v1/cameras"),
      gridNames(),
      admin ? api("/api/v1/camera-files/refused") : Promise.resolve([]),
      admin ? api("/api/v1/fleet") : Promise.resolve(null),
    ]);
    mount(
      main,
      h(
        "section",
        { class: "camera-health" },
        h("div", { class: "wall-head" }, h("h1", {}, t("health.title")), h("span", { class: "count" }, t("list.count", { n: cameras.length }))),
        fleetPanel(fleet),
        refusedFiles(refused),
        healthSummary(cameras),
        cameras.length ? cameraTable(cameras, { gridNames: names, live: true }) : notice(t("health.empty")),
      ),
    );
  } catch (err) {
    mount(main, notice(errorText(err), "error"));
  }
  return null;
}
