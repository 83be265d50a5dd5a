// Lists of events for people who work them one by one: a grid worker's tasks in their own
// cells (nearest deadline first), a handler's department queue, a camera owner's events.

import { api, live, once } from "../api.js";
import { errorText } from "../actions.js";
import { h, mount } from "../dom.js";
import { deadlineFirst, newestFirst } from "../domain.js";
import { t } from "../i18n.js";
import { eventCard, notice } from "../widgets.js";

const KINDS = {
  // A grid worker verifies new events and checks handled ones on site.
  tasks: { title: "tasks.title", empty: "tasks.empty", status: ["reported", "verifying", "resolved"], order: deadlineFirst, compact: true },
  queue: { title: "queue.title", empty: "queue.empty", status: ["dispatched", "handling"], order: deadlineFirst, compact: true },
  owner: { title: "owner_events.title", empty: "owner_events.empty", status: [], order: newestFirst, compact: false },
};

export async function render(main, { kind }, { me }) {
  const spec = KINDS[kind];
  const list = h("div", { class: `cards list-${kind}` });
  const count = h("span", { class: "count" });
  const scope = kind === "tasks" && me.grid_ids.length ? h("p", { class: "muted scope" }, t("tasks.scope", { grids: me.grid_ids.join(", ") })) : null;
  if (scope) {
    // Name the worker's cells in words once the grids are known.
    once("/api/v1/grids")
      .then((grids) => {
        const names = new Map(grids.features.map((feature) => [feature.id, feature.properties.name]));
        scope.textContent = t("tasks.scope", { grids: me.grid_ids.map((id) => names.get(id) || id).join("、") });
      })
      .catch(() => {});
  }
  mount(main, h("section", { class: `event-list event-list-${kind}` }, h("div", { class: "wall-head" }, h("h1", {}, t(spec.title)), count), scope, list));

  let controller = null;
  async function load() {
    controller?.abort();
    controller = new AbortController();
    if (!list.children.length) mount(list, notice(t("common.loading")));
    try {
      const page = await api("/api/v1/events", { query: { status: spec.status, limit: 200 }, signal: controller.signal });
      const events = [...page.items].sort(spec.order);
      count.textContent = t("list.count", { n: page.total });
      if (!events.length) mount(list, notice(t(spec.empty)));
      else mount(list, events.map((event) => eventCard(event, { compact: spec.compact })));
    } catch (err) {
      if (err.name !== "AbortError") mount(list, notice(errorText(err), "error"));
    }
  }

  let timer = null;
  const stop = live.subscribe((message) => {
    if (!message.type.startsWith("event.")) return;
    clearTimeout(timer);
    timer = setTimeout(load, 300);
  });
  const stopStatus = live.onStatus((status) => status === "live" && load());
  await load();
  return () => {
    stop();
    stopStatus();
    clearTimeout(timer);
    controller?.abort();
  };
}
