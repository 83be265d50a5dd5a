// The suppressions ("do not raise this again") of the cameras in the reader's scope: what each
// holds back and since when; admins and a camera's owner may remove one, after which that
// camera's incidents open items again.

import { api } from "./api.js";
import { errorText } from "./actions.js";
import { h, mount, toast } from "./dom.js";
import { label, t } from "./i18n.js";
import { notice, zoned } from "./widgets.js";

function timeOfDay(item) {
  if (!item.starts_at_time || !item.ends_at_time) return t("suppressions.all_day");
  return `${item.starts_at_time.slice(0, 5)}–${item.ends_at_time.slice(0, 5)}`;
}

function row(item, { canRemove, onRemoved }) {
  const cells = [
    h("td", {}, item.camera_name),
    h("td", {}, label("rule", item.rule)),
    h("td", {}, item.zone),
    h("td", {}, label("object", item.object_class)),
    h("td", {}, timeOfDay(item)),
    h("td", {}, item.expires_at ? zoned(item.expires_at) : t("suppress.days.never")),
    h("td", { class: "number" }, String(item.suppressed_count)),
    h("td", {}, item.created_by, item.grid_event_id ? [" · ", h("a", { href: `#/events/${item.grid_event_id}` }, `#${item.grid_event_id}`)] : null),
  ];
  if (canRemove) {
    const remove = h("button", { type: "button", class: "danger remove-suppression" }, t("suppressions.remove"));
    remove.addEventListener("click", async () => {
      if (!window.confirm(t("suppressions.remove_confirm", { id: item.id }))) return;
      remove.disabled = true;
      try {
        await api(`/api/v1/suppressions/${item.id}`, { method: "DELETE" });
        toast(t("suppressions.removed", { id: item.id }), "ok");
        onRemoved();
      } catch (err) {
        remove.disabled = false;
        toast(errorText(err), "error");
      }
    });
    cells.push(h("td", {}, remove));
  }
  return h("tr", { class: item.active ? "" : "muted", dataset: { suppressionId: item.id } }, ...cells);
}

/** A section listing the suppressions in scope; `canRemove` adds a remove button to each row. */
export function suppressionsSection({ canRemove = false } = {}) {
  const body = h("div", { class: "suppressions-body" });
  const section = h(
    "section",
    { class: "suppressions" },
    h("h2", {}, t("suppressions.title")),
    h("p", { class: "muted" }, t(canRemove ? "suppressions.help_manage" : "suppressions.help")),
    body,
  );
  const names = ["camera", "rule", "zone", "object", "time", "expires", "suppressed", "created_by"];
  async function load() {
    try {
      const items = await api("/api/v1/suppressions");
      if (!items.length) {
        mount(body, notice(t("suppressions.empty")));
        return;
      }
      mount(
        body,
        h(
          "table",
          { class: "table suppressions-table" },
          h("thead", {}, h("tr", {}, ...names.map((name) => h("th", {}, t(`suppressions.${name}`))), canRemove ? h("th", {}, "") : null)),
          h("tbody", {}, ...items.map((item) => row(item, { canRemove, onRemoved: load }))),
        ),
      );
    } catch (err) {
      mount(body, notice(errorText(err), "error"));
    }
  }
  load();
  return section;
}
