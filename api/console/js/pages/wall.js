// The operator's alert wall: events in scope, newest first, arriving live over the WebSocket,
// each with its evidence and one-click actions; filters by state, category, grid, camera, time.

import { api, live, once } from "../api.js";
import { openActionDialog, errorText, runAction } from "../actions.js";
import { h, mount, options, toast } from "../dom.js";
import { CAMERA_STATES, CATEGORIES, ONE_CLICK, OPEN_STATES, STATUSES, isStale, matchesFilters, newestFirst, wallActions } from "../domain.js";
import { label, t } from "../i18n.js";
import { cameraBadge, eventCard, notice } from "../widgets.js";

const PAGE_SIZE = 60;
const FILTER_KEY = "gridwatch.wall.filters";
const PRESETS = { "1h": 3600e3, "24h": 86400e3, "7d": 7 * 86400e3 };

function loadFilters() {
  try {
    return JSON.parse(sessionStorage.getItem(FILTER_KEY)) || { state: "open" };
  } catch {
    return { state: "open" };
  }
}

/** The API's query for the filter form's values. */
function toQuery(values) {
  const query = {};
  if (values.state === "open") query.status = OPEN_STATES;
  else if (values.state) query.status = [values.state];
  if (values.category) query.category = values.category;
  if (values.grid_id) query.grid_id = values.grid_id;
  if (values.camera_id) query.camera_id = values.camera_id;
  if (values.preset && PRESETS[values.preset]) {
    query.from = new Date(Date.now() - PRESETS[values.preset]).toISOString();
  } else {
    if (values.from) query.from = new Date(values.from).toISOString();
    if (values.to) query.to = new Date(values.to).toISOString();
  }
  return query;
}

function gridLabel(feature) {
  const depth = { district: 0, town: 1, community: 2, cell: 3 }[feature.properties.level] || 0;
  return `${"\u3000".repeat(depth)}${feature.properties.name}`;
}

export async function render(main) {
  let values = loadFilters();
  let query = toQuery(values);
  let offset = 0;
  let total = 0;
  let freshCount = 0;
  const cards = new Map(); // event id -> {event, el}
  const gridParents = new Map();

  const list = h("div", { class: "cards", "aria-live": "polite", "aria-relevant": "additions" });
  const count = h("span", { class: "count" });
  const freshBadge = h("span", { class: "fresh-count", hidden: true });
  const more = h("button", { type: "button", class: "load-more", hidden: true, onclick: () => load(false) }, t("wall.load_more"));
  const healthBox = h("div", { class: "health-summary" });

  const stateSelect = h("select", { name: "state" }, options([["open", t("filter.open")], ["", t("filter.all")], ...STATUSES.map((s) => [s, label("status", s)])], values.state));
  const categorySelect = h("select", { name: "category" }, options([["", t("filter.all")], ...CATEGORIES.map((c) => [c, label("category", c)])], values.category));
  const gridSelect = h("select", { name: "grid_id" }, options([["", t("filter.all")]], ""));
  const cameraSelect = h("select", { name: "camera_id" }, options([["", t("filter.all")]], ""));
  const presetSelect = h("select", { name: "preset" }, options([["", t("filter.any_time")], ["1h", t("filter.last_hour")], ["24h", t("filter.last_day")], ["7d", t("filter.last_week")]], values.preset));
  const fromInput = h("input", { type: "datetime-local", name: "from", value: values.from || "" });
  const toInput = h("input", { type: "datetime-local", name: "to", value: values.to || "" });

  const filterForm = h(
    "form",
    { class: "filters", onchange: () => applyFilters(), onsubmit: (e) => { e.preventDefault(); applyFilters(); } },
    h("h2", {}, t("filter.title")),
    h("label", { class: "field" }, h("span", {}, t("field.status")), stateSelect),
    h("label", { class: "field" }, h("span", {}, t("field.category")), categorySelect),
    h("label", { class: "field" }, h("span", {}, t("field.grid")), gridSelect),
    h("label", { class: "field" }, h("span", {}, t("field.camera")), cameraSelect),
    h("label", { class: "field" }, h("span", {}, t("filter.time")), presetSelect),
    h("label", { class: "field" }, h("span", {}, t("filter.from")), fromInput),
    h("label", { class: "field" }, h("span", {}, t("filter.to")), toInput),
    h("button", { type: "button", class: "link", onclick: () => { values = { state: "open" }; resetForm(); applyFilters(); } }, t("filter.reset")),
    healthBox,
  );

  function resetForm() {
    stateSelect.value = "open";
    for (const input of [categorySelect, gridSelect, cameraSelect, presetSelect, fromInput, toInput]) input.value = "";
  }

  function applyFilters() {
    values = Object.fromEntries(new FormData(filterForm).entries());
    sessionStorage.setItem(FILTER_KEY, JSON.stringify(values));
    query = toQuery(values);
    load(true);
  }

  function updateCount() {
    count.textContent = t("wall.count", { shown: cards.size, total });
    freshBadge.hidden = freshCount === 0;
    freshBadge.textContent = t("wall.fresh", { n: freshCount });
  }

  function cardFor(event) {
    return eventCard(event, {
      actions: wallActions(event),
      onAction: async (current, action) => {
        const shown = cards.get(current.id)?.event || current;
        if (ONE_CLICK.has(action)) {
          try {
            upsert(await runAction(shown, action), false);
            toast(t("action.done", { action: label("action", action), id: shown.id }), "ok");
          } catch (err) {
            toast(errorText(err), "error");
          }
          return;
        }
        const detail = await openActionDialog(shown, action);
        if (detail) upsert(detail, false);
      },
    });
  }

  function place(event, el) {
    // Keep the wall in the API's order: newest occurrence first.
    for (const [, other] of cards) {
      if (other.el !== el && newestFirst(event, other.event) < 0) {
        other.el.before(el);
        return;
      }
    }
    list.append(el);
  }

  function upsert(event, fresh) {
    const known = cards.get(event.id);
    if (known && isStale(event, known.event)) return;
    const matches = matchesFilters(event, query, gridParents);
    if (known) {
      if (matches) {
        const el = cardFor(event);
        known.el.replaceWith(el);
        cards.set(event.id, { event, el });
      } else {
        known.el.remove();
        cards.delete(event.id);
        total = Math.max(0, total - 1);
      }
    } else if (matches) {
      const el = cardFor(event);
      cards.set(event.id, { event, el });
      list.querySelector(".notice")?.remove();
      place(event, el);
      total += 1;
      if (fresh) {
        el.classList.add("fresh");
        freshCount += 1;
        toast(`${t("wall.new_alert")}: ${event.title}`, "info");
      }
    }
    updateCount();
  }

  let loading = null;
  async function load(reset) {
    if (reset) {
      offset = 0;
      freshCount = 0;
      if (loading) loading.abort();
    }
    const controller = new AbortController();
    loading = controller;
    if (reset && !cards.size) mount(list, notice(t("common.loading")));
    try {
      const page = await api("/api/v1/events", { query: { ...query, limit: PAGE_SIZE, offset }, signal: controller.signal });
      if (reset) {
        cards.clear();
        list.replaceChildren();
      }
      for (const event of page.items) {
        if (cards.has(event.id)) continue;
        const el = cardFor(event);
        cards.set(event.id, { event, el });
        list.append(el);
      }
      total = page.total;
      offset += page.items.length;
      more.hidden = offset >= total;
      if (!cards.size) mount(list, notice(t("wall.empty")));
      updateCount();
    } catch (err) {
      if (err.name === "AbortError") return;
      mount(list, notice(errorText(err), "error"));
    }
  }

  async function loadReferenceData() {
    try {
      const [grids, cameras] = await Promise.all([once("/api/v1/grids"), api("/api/v1/cameras")]);
      for (const feature of grids.features) gridParents.set(feature.id, feature.properties.parent);
      gridSelect.replaceChildren(...options([["", t("filter.all")], ...grids.features.map((f) => [f.id, gridLabel(f)])], values.grid_id));
      cameraSelect.replaceChildren(...options([["", t("filter.all")], ...cameras.map((c) => [c.id, c.name])], values.camera_id));
      const byState = Object.fromEntries(CAMERA_STATES.map((s) => [s, 0]));
      for (const camera of cameras) byState[camera.status] = (byState[camera.status] || 0) + 1;
      mount(
        healthBox,
        h("h2", {}, h("a", { href: "#/cameras" }, t("menu.cameras"))),
        h("ul", { class: "plain" }, CAMERA_STATES.filter((s) => byState[s]).map((s) => h("li", {}, cameraBadge(s), " ", String(byState[s])))),
      );
    } catch (err) {
      mount(healthBox, notice(errorText(err), "error"));
    }
  }

  mount(
    main,
    h(
      "div",
      { class: "wall-layout" },
      filterForm,
      h(
        "section",
        { class: "wall" },
        h("div", { class: "wall-head" }, h("h1", {}, t("wall.title")), count, freshBadge),
        list,
        more,
      ),
    ),
  );

  const stopMessages = live.subscribe((message) => {
    if (message.type === "event.created" || message.type === "event.updated") {
      upsert(message.event, message.type === "event.created");
    } else if (message.type === "event.escalated") {
      toast(t("wall.escalated", { id: message.event_id, level: label("level", message.level) }), "info");
      api(`/api/v1/events/${message.event_id}`).then((detail) => upsert(detail, false)).catch(() => {});
    }
  });
  let wasLive = live.status === "live";
  const stopStatus = live.onStatus((status) => {
    // Messages sent while disconnected are gone: reload what the wall shows.
    if (status === "live" && !wasLive) load(true);
    wasLive = status === "live";
  });

  await Promise.all([loadReferenceData(), load(true)]);
  return () => {
    stopMessages();
    stopStatus();
    if (loading) loading.abort();
  };
}
