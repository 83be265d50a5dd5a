// The evidence access log for administrators: who viewed or downloaded which snapshot, clip,
// photo or live picture, and which worker read which camera's credentials, newest first, with
// the same entries as a CSV download. Read-only: the API offers no way to change an entry.

import { api, localPath, session } from "../api.js";
import { errorText } from "../actions.js";
import { h, mount, options } from "../dom.js";
import { dateTime, t } from "../i18n.js";
import { notice } from "../widgets.js";

const KINDS = ["snapshot", "clip", "photo", "live_picture", "camera_credentials"];
const COLUMNS = ["at", "actor", "action", "object_kind", "object_id", "camera_id", "grid_event_id", "client_address", "user_agent"];
const PAGE = 200;

function query(kind, actor) {
  const params = { limit: PAGE };
  if (kind) params.object_kind = kind;
  if (actor) params.actor = actor;
  return params;
}

/** Fetch the CSV with the access token and hand it to the browser as a file. */
async function downloadCsv(params) {
  const { limit, ...filters } = params;
  const url = `/api/v1/evidence-access.csv?${new URLSearchParams(filters)}`;
  const response = await fetch(localPath(url), { headers: { Authorization: `Bearer ${session.token}` } });
  if (!response.ok) throw new Error(`${response.status}`);
  const link = h("a", { href: URL.createObjectURL(await response.blob()), download: "evidence-access.csv" });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 60000);
}

function cell(entry, name) {
  const value = entry[name];
  if (name === "at") return h("td", {}, h("time", { datetime: value }, dateTime(value)));
  if (name === "action") return h("td", {}, t(`access.action.${value}`));
  if (name === "object_kind") return h("td", {}, t(`access.kind.${value}`));
  if (name === "grid_event_id" && value) return h("td", {}, h("a", { href: `#/events/${value}` }, `#${value}`));
  return h("td", { class: name === "user_agent" ? "muted" : "" }, value === null || value === undefined ? "—" : String(value));
}

function table(page) {
  const head = h("tr", {}, ...COLUMNS.map((name) => h("th", {}, t(`access.${name}`))));
  const rows = page.items.map((entry) => h("tr", { dataset: { kind: entry.object_kind } }, ...COLUMNS.map((name) => cell(entry, name))));
  return [
    h("p", { class: "muted access-total" }, t("access.total", { shown: page.items.length, total: page.total })),
    h("table", { class: "table access-table" }, h("thead", {}, head), h("tbody", {}, ...rows)),
  ];
}

export async function render(main) {
  const kindSelect = h("select", { name: "object_kind" }, options([["", t("access.kind.all")], ...KINDS.map((kind) => [kind, t(`access.kind.${kind}`)])], ""));
  const actorInput = h("input", { name: "actor", placeholder: "user:…", size: 16 });
  const error = h("p", { class: "form-error", role: "alert" });
  const csvButton = h("button", { type: "button", class: "csv-download" }, t("evaluation.csv"));
  csvButton.addEventListener("click", () => downloadCsv(query(kindSelect.value, actorInput.value.trim())).catch((err) => { error.textContent = errorText(err); }));
  const body = h("div", { class: "access-body" });
  mount(
    main,
    h(
      "section",
      { class: "access-page" },
      h("div", { class: "wall-head" }, h("h1", {}, t("menu.access_log")), h("label", {}, t("access.object_kind"), " ", kindSelect), h("label", {}, t("access.actor"), " ", actorInput), csvButton),
      h("p", { class: "muted" }, t("access.help")),
      error,
      body,
    ),
  );

  async function load() {
    mount(body, notice(t("common.loading")));
    try {
      const page = await api("/api/v1/evidence-access", { query: query(kindSelect.value, actorInput.value.trim()) });
      mount(body, ...(page.items.length ? table(page) : [notice(t("access.empty"))]));
    } catch (err) {
      mount(body, notice(errorText(err), "error"));
    }
  }
  kindSelect.addEventListener("change", load);
  actorInput.addEventListener("change", load);
  await load();
  return null;
}
