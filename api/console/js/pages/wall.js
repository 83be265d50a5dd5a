// The operator's alert wall: events in scope, newest first, arriving live over the WebSocket.
// New alerts are counted, not toasted: an operator at the top sees them slide in, a scrolled one
// keeps their place and is told how many wait above ("新到 N 条"). The page holds a bounded
// number of items. Cards or a compact list (one row per alarm, with a preview pane); filters by
// state, severity, category, grid, camera and time; sort; bulk false alarm and merge; keys.

import { api, live, once } from "../api.js";
import { openActionDialog, openBulkDialog, errorText, runAction } from "../actions.js";
import { focusPlace, h, mount, options, returnFocus, toast } from "../dom.js";
import { CAMERA_STATES, CATEGORIES, ONE_CLICK, OPEN_STATES, SEVERITIES, STATUSES, deadlineFirst, isStale, matchesFilters, newestFirst, place, wallActions } from "../domain.js";
import { label, t } from "../i18n.js";
import { livePanel } from "../live-view.js";
import { shownStatus } from "./camera-health.js";
import { cameraBadge, eventCard, evidenceClip, evidenceImage, notice, routingNote, severityBadge, statusBadge, zoned, zonedText } from "../widgets.js";

const PAGE_SIZE = 60;
// The most items the page holds: a wall open all day stays as light as after a minute.
const MAX_SHOWN = 240;
const FILTER_KEY = "gridwatch.wall.filters";
const VIEW_KEY = "gridwatch.wall.view";
const PRESETS = { "1h": 3600e3, "24h": 86400e3, "7d": 7 * 86400e3 };
// Escalations that arrive together (the deadline loop after a restart) make one message.
const ESCALATION_GATHER_MS = 1500;
// Scrolled further than this, the operator is reading: arrivals wait above, counted.
const AT_TOP_PX = 120;
const SEVERITY_ORDER = { critical: 0, high: 1, medium: 2, low: 3 };
// The step that moves an event on, for the "main action" key, in order of preference.
const MAIN_ACTIONS = ["dispatch", "operator_close", "escalate"];
const KEYS = [
  ["j / ↓", "keys.next"],
  ["k / ↑", "keys.prev"],
  ["Enter", "keys.open"],
  ["d", "keys.main"],
  ["a", "keys.ack"],
  ["f", "keys.reject"],
  ["m", "keys.merge"],
  ["x", "keys.select"],
  ["n", "keys.top"],
  ["v", "keys.mode"],
  ["?", "keys.help"],
];

function loadFilters() {
  try {
    return JSON.parse(sessionStorage.getItem(FILTER_KEY)) || { state: "open" };
  } catch {
    return { state: "open" };
  }
}

function loadView() {
  try {
    return { mode: "cards", sort: "newest", sound: false, ...JSON.parse(localStorage.getItem(VIEW_KEY)) };
  } catch {
    return { mode: "cards", sort: "newest", sound: false };
  }
}

/** The API's query for the filter form's values. */
function toQuery(values) {
  const query = {};
  if (values.state === "open") query.status = OPEN_STATES;
  else if (values.state) query.status = [values.state];
  if (values.severity) query.severity = [values.severity];
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

const ORDERS = {
  newest: newestFirst,
  severity: (a, b) => (SEVERITY_ORDER[a.severity] ?? 9) - (SEVERITY_ORDER[b.severity] ?? 9) || newestFirst(a, b),
  deadline: deadlineFirst,
};

/** A short beep (Web Audio: no file to fetch); `played` counts them on the toggle. */
function beep(toggle) {
  try {
    const context = (beep.context ||= new AudioContext());
    const oscillator = context.createOscillator();
    const gain = context.createGain();
    oscillator.frequency.value = 880;
    gain.gain.setValueAtTime(0.15, context.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.001, context.currentTime + 0.25);
    oscillator.connect(gain).connect(context.destination);
    oscillator.start();
    oscillator.stop(context.currentTime + 0.25);
    toggle.dataset.played = String(Number(toggle.dataset.played || 0) + 1);
  } catch {
    // No audio device: the counter still tells.
  }
}

export async function render(main, _params, { go } = {}) {
  let values = loadFilters();
  const view = loadView();
  let query = toQuery(values);
  let offset = 0;
  let total = 0;
  const shown = []; // items in page order: {event, el}
  const byId = new Map(); // event id -> item (shown)
  const waiting = new Map(); // event id -> event: arrived while the operator was scrolled
  const selected = new Map(); // event id -> event
  let unseen = 0; // arrivals since the operator last went to the top
  let focusId = null;
  let previewId = null;
  let previewLive = null;
  const gridParents = new Map();
  const departments = new Map();
  let lastBeep = 0;

  const list = h("div", { class: "cards", role: "feed", "aria-busy": "false", "aria-label": t("wall.title") });
  const count = h("span", { class: "count" });
  const freshButton = h("button", { type: "button", class: "fresh-count", hidden: true, title: t("wall.fresh_help"), onclick: () => showNewest() });
  const bounded = h("p", { class: "notice muted wall-bounded", hidden: true }, t("wall.bounded", { n: MAX_SHOWN }));
  const more = h("button", { type: "button", class: "load-more", hidden: true, onclick: () => load(false) }, t("wall.load_more"));
  const healthBox = h("div", { class: "health-summary" });
  const preview = h("aside", { class: "preview-pane", "aria-label": t("wall.preview"), hidden: true });
  const bulkBar = h("div", { class: "bulk-bar", hidden: true });

  const stateSelect = h("select", { name: "state" }, options([["open", t("filter.open")], ["", t("filter.all")], ...STATUSES.map((s) => [s, label("status", s)])], values.state));
  const severitySelect = h("select", { name: "severity" }, options([["", t("filter.all")], ...[...SEVERITIES].reverse().map((s) => [s, label("severity", s)])], values.severity));
  const categorySelect = h("select", { name: "category" }, options([["", t("filter.all")], ...CATEGORIES.map((c) => [c, label("category", c)])], values.category));
  const gridSelect = h("select", { name: "grid_id" }, options([["", t("filter.all")]], ""));
  const cameraSelect = h("select", { name: "camera_id" }, options([["", t("filter.all")]], ""));
  const presetSelect = h("select", { name: "preset" }, options([["", t("filter.any_time")], ["1h", t("filter.last_hour")], ["24h", t("filter.last_day")], ["7d", t("filter.last_week")]], values.preset));
  const fromInput = h("input", { type: "datetime-local", name: "from", value: values.from || "" });
  const toInput = h("input", { type: "datetime-local", name: "to", value: values.to || "" });

  const sortSelect = h("select", { name: "sort", "aria-label": t("wall.sort") }, options(Object.keys(ORDERS).map((key) => [key, t(`wall.sort.${key}`)]), view.sort));
  const modeButtons = ["cards", "list"].map((mode) =>
    h("button", { type: "button", class: "mode", dataset: { mode }, "aria-pressed": String(view.mode === mode), onclick: () => setMode(mode) }, t(`wall.mode_${mode}`)),
  );
  const soundToggle = h("input", { type: "checkbox", name: "sound", checked: view.sound });
  const shortcuts = h(
    "details",
    { class: "shortcuts" },
    h("summary", {}, "⌨ ", t("keys.title")),
    h("dl", {}, KEYS.map(([key, what]) => [h("dt", {}, h("kbd", {}, key)), h("dd", {}, t(what))])),
  );

  const filterForm = h(
    "form",
    { class: "filters", onchange: () => applyFilters(), onsubmit: (e) => { e.preventDefault(); applyFilters(); } },
    h("h2", {}, t("filter.title")),
    h("label", { class: "field" }, h("span", {}, t("field.status")), stateSelect),
    h("label", { class: "field" }, h("span", {}, t("field.severity")), severitySelect),
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
    for (const input of [severitySelect, categorySelect, gridSelect, cameraSelect, presetSelect, fromInput, toInput]) input.value = "";
  }

  function saveView() {
    localStorage.setItem(VIEW_KEY, JSON.stringify(view));
  }

  function applyFilters() {
    values = Object.fromEntries(new FormData(filterForm).entries());
    sessionStorage.setItem(FILTER_KEY, JSON.stringify(values));
    query = toQuery(values);
    load(true);
  }

  sortSelect.addEventListener("change", () => {
    view.sort = sortSelect.value;
    saveView();
    load(true);
  });
  soundToggle.addEventListener("change", () => {
    view.sound = soundToggle.checked;
    saveView();
  });

  function setMode(mode) {
    if (view.mode === mode) return;
    view.mode = mode;
    saveView();
    for (const button of modeButtons) button.setAttribute("aria-pressed", String(button.dataset.mode === mode));
    redrawAll();
  }

  function atTop() {
    return window.scrollY < AT_TOP_PX;
  }

  function updateCount() {
    count.textContent = t("wall.count", { shown: shown.length, total });
    const n = unseen;
    freshButton.hidden = n === 0;
    freshButton.textContent = t("wall.fresh_show", { n });
    freshButton.dataset.count = String(n);
    freshButton.classList.toggle("waiting", waiting.size > 0);
  }

  // ---- drawing one item ------------------------------------------------------------------

  async function onAction(current, action) {
    const event = byId.get(current.id)?.event || current;
    if (ONE_CLICK.has(action)) {
      try {
        upsert(await runAction(event, action), false);
        toast(t("action.done", { action: label("action", action), id: event.id }), "ok");
      } catch (err) {
        toast(errorText(err), "error");
      }
      return;
    }
    const detail = await openActionDialog(event, action);
    if (detail) upsert(detail, false);
  }

  function onSelect(event, on) {
    if (on) selected.set(event.id, event);
    else selected.delete(event.id);
    byId.get(event.id)?.el.classList.toggle("is-selected", on);
    drawBulkBar();
  }

  function ownerOf(event) {
    return event.acknowledged_by || event.assignee || "—";
  }

  /** Today's times without the date (its zone kept); the full time in the tooltip. */
  function shortZoned(iso) {
    const text = zonedText(iso);
    const today = zonedText(new Date().toISOString()).slice(0, 10);
    return h("time", { class: "zoned", datetime: iso, title: text }, text.startsWith(today) ? text.slice(11) : text);
  }

  // A row offers the quick verdicts; the preview pane has every action.
  const ROW_ACTIONS = new Set(["acknowledge", "reject", "dispatch"]);

  function row(event) {
    const actions = wallActions(event).filter((action) => ROW_ACTIONS.has(action));
    return h(
      "tr",
      { class: `alarm-row status-${event.status}${event.overdue ? " is-overdue" : ""}${selected.has(event.id) ? " is-selected" : ""}`, dataset: { eventId: event.id }, onclick: (e) => { if (!e.target.closest("button, input, a")) showPreview(event.id); } },
      h("td", { class: "col-select" }, h("input", { type: "checkbox", class: "select-event", checked: selected.has(event.id), "aria-label": `${t("wall.select")} #${event.id}`, onchange: (e) => onSelect(event, e.target.checked) })),
      h("td", { class: "col-priority" }, severityBadge(event.severity)),
      h("td", { class: "col-state" }, statusBadge(event.status), event.acknowledged_at ? h("span", { class: "ack-mark", title: t("event.acknowledged") }, " ✓") : null),
      h("td", { class: "col-owner" }, ownerOf(event)),
      h("td", { class: "col-time" }, shortZoned(event.occurred_at)),
      h("td", { class: "col-camera", title: event.camera_name || place(event) || "" }, event.camera_name || place(event) || "—"),
      h("td", { class: "col-title", title: event.title }, h("a", { href: `#/events/${event.id}` }, `#${event.id} `, event.title), event.occurrence_count > 1 ? h("span", { class: "muted" }, ` ×${event.occurrence_count}`) : null),
      h("td", { class: "col-actions" }, actions.map((action) => h("button", { type: "button", class: `action action-${action}`, dataset: { action }, onclick: () => onAction(event, action) }, label("action", action)))),
    );
  }

  function element(event) {
    const el = view.mode === "list"
      ? row(event)
      : eventCard(event, { actions: wallActions(event), onAction, departments, onSelect, selected: selected.has(event.id) });
    el.tabIndex = -1;
    el.addEventListener("focus", () => {
      focusId = event.id;
    });
    return el;
  }

  function container() {
    if (view.mode !== "list") return list;
    let body = list.querySelector("tbody");
    if (!body) {
      body = h("tbody");
      list.replaceChildren(
        h(
          "table",
          { class: "alarm-list" },
          h("thead", {}, h("tr", {}, [["", ""], ["col.priority"], ["col.state"], ["col.owner"], ["col.time"], ["col.camera"], ["col.title"], [""]].map(([key]) => h("th", { scope: "col" }, key ? t(key) : "")))),
          body,
        ),
      );
    }
    return body;
  }

  function redrawAll() {
    list.className = view.mode === "list" ? "alarm-table" : "cards";
    preview.hidden = view.mode !== "list";
    list.replaceChildren();
    const into = container();
    for (const item of shown) {
      item.el = element(item.event);
      into.append(item.el);
    }
    if (!shown.length) list.append(notice(t("wall.empty")));
    if (view.mode === "list" && previewId && byId.has(previewId)) showPreview(previewId);
    else clearPreview();
    rovingFocus();
  }

  /** One stop in the Tab order for the whole list: the focused item, else the first. */
  function rovingFocus() {
    const target = (focusId && byId.get(focusId)) || shown[0];
    for (const item of shown) {
      item.el.tabIndex = item === target ? 0 : -1;
      // Where the page's skip link lands (main.js).
      item.el.toggleAttribute("data-skip-target", item === target);
    }
  }

  function clearPreview() {
    previewLive?.stop();
    previewLive = null;
    previewId = null;
    mount(preview, h("h2", {}, t("wall.preview")), notice(t("wall.preview_empty")));
  }

  function showPreview(id) {
    const item = byId.get(id);
    if (!item || view.mode !== "list") return;
    for (const other of shown) other.el.classList.toggle("is-previewed", other === item);
    if (previewId === id && preview.dataset.updated === item.event.updated_at) return;
    previewLive?.stop();
    const event = item.event;
    previewId = id;
    preview.dataset.eventId = String(id);
    preview.dataset.updated = event.updated_at;
    previewLive = event.camera_id ? livePanel(event.camera_id) : null;
    mount(
      preview,
      h("h2", {}, h("a", { href: `#/events/${event.id}`, title: t("wall.open_event") }, `#${event.id} `, event.title)),
      h("p", { class: "badges" }, severityBadge(event.severity), statusBadge(event.status), " ", zoned(event.occurred_at)),
      event.snapshot_url
        ? evidenceImage(event.snapshot_url, event.title, "snapshot preview-snapshot")
        : h("div", { class: "evidence placeholder preview-snapshot" }, h("span", {}, label("source", event.source))),
      evidenceClip(event),
      routingNote(event, departments),
      previewLive,
      h("div", { class: "card-actions" }, wallActions(event).map((action) => h("button", { type: "button", class: `action action-${action}`, dataset: { action }, onclick: () => onAction(event, action) }, label("action", action)))),
    );
  }

  function drawBulkBar() {
    bulkBar.hidden = selected.size === 0;
    if (!selected.size) return mount(bulkBar);
    const events = [...selected.values()];
    mount(
      bulkBar,
      h("strong", { class: "selected-count" }, t("wall.selected", { n: selected.size })),
      h("button", { type: "button", class: "bulk-reject", onclick: () => bulk("reject", events) }, t("wall.bulk_reject")),
      h("button", { type: "button", class: "bulk-merge", disabled: selected.size < 2, title: selected.size < 2 ? t("wall.bulk_merge_needs_two") : "", onclick: () => bulk("merge", events) }, t("wall.bulk_merge")),
      h("button", { type: "button", class: "link bulk-clear", onclick: () => clearSelection() }, t("wall.clear_selection")),
    );
  }

  function clearSelection() {
    selected.clear();
    for (const input of list.querySelectorAll("input.select-event")) input.checked = false;
    for (const item of shown) item.el.classList.remove("is-selected");
    drawBulkBar();
  }

  async function bulk(kind, events) {
    const results = await openBulkDialog(kind, events);
    for (const detail of results) {
      selected.delete(detail.id);
      upsert(detail, false);
    }
    if (kind === "merge" && results.length) {
      const keep = events.find((event) => !results.some((r) => r.id === event.id));
      if (keep) {
        selected.delete(keep.id);
        api(`/api/v1/events/${keep.id}`).then((detail) => upsert(detail, false)).catch(() => {});
      }
    }
    clearSelection();
  }

  // ---- keeping the list --------------------------------------------------------------------

  function order() {
    return ORDERS[view.sort] || newestFirst;
  }

  /** Put `item` where the sort says, among what is shown (DOM order = `shown` order). */
  function insert(item) {
    const compare = order();
    let index = shown.findIndex((other) => compare(item.event, other.event) < 0);
    if (index < 0) index = shown.length;
    const into = container();
    list.querySelector(":scope > .notice")?.remove();
    if (index < shown.length) shown[index].el.before(item.el);
    else into.append(item.el);
    shown.splice(index, 0, item);
    byId.set(item.event.id, item);
    trim();
  }

  function removeItem(item) {
    item.el.remove();
    shown.splice(shown.indexOf(item), 1);
    byId.delete(item.event.id);
    if (previewId === item.event.id) clearPreview();
  }

  /** Keep the page bounded: drop what is furthest down. */
  function trim() {
    while (shown.length > MAX_SHOWN) removeItem(shown[shown.length - 1]);
    bounded.hidden = !(shown.length >= MAX_SHOWN && total > shown.length);
    more.hidden = offset >= total || shown.length >= MAX_SHOWN;
  }

  function upsert(event, fresh) {
    const known = byId.get(event.id);
    if (known && isStale(event, known.event)) return;
    const matches = matchesFilters(event, query, gridParents) && (!query.severity || query.severity.includes(event.severity));
    if (selected.has(event.id)) {
      if (matches) selected.set(event.id, event);
      else selected.delete(event.id);
      drawBulkBar();
    }
    if (waiting.has(event.id)) {
      if (matches) waiting.set(event.id, event);
      else {
        waiting.delete(event.id);
        unseen = Math.max(0, unseen - 1);
      }
      updateCount();
      return;
    }
    if (known) {
      if (matches) {
        const el = element(event);
        el.tabIndex = known.el.tabIndex;
        const place = focusPlace(list);
        known.el.replaceWith(el);
        returnFocus(list, place);
        known.event = event;
        known.el = el;
        if (previewId === event.id) showPreview(event.id);
      } else {
        removeItem(known);
        total = Math.max(0, total - 1);
      }
    } else if (matches) {
      total += 1;
      if (fresh) {
        unseen += 1;
        alertSound();
        if (!atTop() || view.sort !== "newest") {
          // Reading further down: their place holds; the counter says what waits above.
          waiting.set(event.id, event);
          updateCount();
          return;
        }
      }
      const item = { event, el: element(event) };
      if (fresh) item.el.classList.add("fresh");
      insert(item);
    }
    rovingFocus();
    updateCount();
  }

  function alertSound() {
    if (!view.sound || Date.now() - lastBeep < 2000) return;
    lastBeep = Date.now();
    beep(soundToggle);
  }

  /** The counter's click (and key n): the new alerts in place, the operator at the top. */
  function showNewest() {
    if (view.sort !== "newest") {
      view.sort = "newest";
      sortSelect.value = "newest";
      saveView();
      unseen = 0;
      waiting.clear();
      load(true);
      window.scrollTo({ top: 0 });
      return;
    }
    for (const event of waiting.values()) {
      const item = { event, el: element(event) };
      item.el.classList.add("fresh");
      insert(item);
    }
    waiting.clear();
    unseen = 0;
    window.scrollTo({ top: 0 });
    updateCount();
    rovingFocus();
    shown[0]?.el.focus({ preventScroll: true });
  }

  let loading = null;
  // Live messages that arrive while the wall reloads: the answer may predate them, so they are
  // applied after it, not lost under it.
  let heldMessages = null;
  async function load(reset) {
    if (reset) {
      heldMessages ||= [];
      offset = 0;
      unseen = 0;
      waiting.clear();
      if (loading) loading.abort();
    }
    const controller = new AbortController();
    loading = controller;
    if (reset && !shown.length) mount(list, notice(t("common.loading")));
    list.setAttribute("aria-busy", "true");
    try {
      const page = await api("/api/v1/events", { query: { ...query, sort: view.sort, limit: PAGE_SIZE, offset }, signal: controller.signal });
      // A reload (the live feed back after a gap, or first connected after the page opened)
      // redraws every card: the keyboard keeps its place in the one it was on.
      const place = reset ? focusPlace(list) : null;
      if (reset) {
        shown.length = 0;
        byId.clear();
        list.replaceChildren();
      }
      list.className = view.mode === "list" ? "alarm-table" : "cards";
      const into = container();
      for (const event of page.items) {
        if (byId.has(event.id)) continue;
        const item = { event, el: element(event) };
        shown.push(item);
        byId.set(event.id, item);
        into.append(item.el);
      }
      total = page.total;
      offset += page.items.length;
      const held = heldMessages || [];
      heldMessages = null;
      for (const message of held) onMessage(message);
      trim();
      if (!shown.length) mount(list, notice(t("wall.empty")));
      if (view.mode === "list" && !previewId) clearPreview();
      rovingFocus();
      returnFocus(list, place);
      updateCount();
    } catch (err) {
      if (err.name === "AbortError") return;
      const held = heldMessages || [];
      heldMessages = null;
      mount(list, notice(errorText(err), "error"));
      for (const message of held) onMessage(message);
    } finally {
      if (loading === controller) list.setAttribute("aria-busy", "false");
    }
  }

  async function loadReferenceData() {
    try {
      const [grids, cameras, departmentList] = await Promise.all([once("/api/v1/grids"), api("/api/v1/cameras"), once("/api/v1/departments").catch(() => [])]);
      for (const feature of grids.features) gridParents.set(feature.id, feature.properties.parent);
      for (const department of departmentList) departments.set(department.id, department.name);
      gridSelect.replaceChildren(...options([["", t("filter.all")], ...grids.features.map((f) => [f.id, gridLabel(f)])], values.grid_id));
      cameraSelect.replaceChildren(...options([["", t("filter.all")], ...cameras.map((c) => [c.id, c.name])], values.camera_id));
      const byState = Object.fromEntries(CAMERA_STATES.map((s) => [s, 0]));
      // As the camera page shows them: a camera nobody watches is off the air, not "unknown".
      for (const camera of cameras) byState[shownStatus(camera)] = (byState[shownStatus(camera)] || 0) + 1;
      mount(
        healthBox,
        h("h2", {}, h("a", { href: "#/cameras" }, t("menu.cameras"))),
        h("ul", { class: "plain" }, CAMERA_STATES.filter((s) => byState[s]).map((s) => h("li", {}, cameraBadge(s), " ", String(byState[s])))),
      );
    } catch (err) {
      mount(healthBox, notice(errorText(err), "error"));
    }
  }

  // ---- escalations: one message for those that come together --------------------------------

  let escalations = [];
  let escalationTimer = null;
  function escalated(message) {
    escalations.push(message);
    if (escalationTimer) return;
    escalationTimer = setTimeout(async () => {
      const batch = escalations;
      escalations = [];
      escalationTimer = null;
      const last = batch[batch.length - 1];
      const level = label("level", last.level);
      toast(batch.length === 1 ? t("wall.escalated", { id: last.event_id, level }) : t("wall.escalated_many", { n: batch.length, id: last.event_id, level }), "info");
      const ids = [...new Set(batch.map((m) => m.event_id))].filter((id) => byId.has(id));
      for (const id of ids.slice(0, 20)) {
        try {
          upsert(await api(`/api/v1/events/${id}`), false);
        } catch {
          // Gone from scope: the next reload shows it as it is.
        }
      }
    }, ESCALATION_GATHER_MS);
  }

  // ---- keys --------------------------------------------------------------------------------

  function focused() {
    return (focusId && byId.get(focusId)) || null;
  }

  function move(step) {
    if (!shown.length) return;
    const current = focused();
    let index = current ? shown.indexOf(current) + step : 0;
    index = Math.max(0, Math.min(shown.length - 1, index));
    const item = shown[index];
    focusId = item.event.id;
    rovingFocus();
    item.el.focus();
    item.el.scrollIntoView({ block: "nearest" });
    if (view.mode === "list") showPreview(item.event.id);
  }

  function keydown(event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    if (document.querySelector("dialog[open]")) return;
    if (event.target.closest?.("input, textarea, select, [contenteditable]")) return;
    const key = event.key;
    // Enter on a button or a link is that button's or link's (the skip link, an action).
    if (key === "Enter" && event.target.closest?.("button, a, summary")) return;
    const item = focused();
    const act = (action) => {
      if (!item) return;
      const offered = wallActions(item.event);
      if (offered.includes(action)) onAction(item.event, action);
    };
    const handled = {
      j: () => move(1),
      ArrowDown: () => move(1),
      k: () => move(-1),
      ArrowUp: () => move(-1),
      Enter: () => item && !event.target.closest("button, a") && go?.(`/events/${item.event.id}`),
      d: () => item && act(MAIN_ACTIONS.find((a) => wallActions(item.event).includes(a))),
      a: () => act("acknowledge"),
      f: () => act("reject"),
      m: () => act("merge"),
      x: () => item && toggleSelection(item),
      n: () => showNewest(),
      v: () => setMode(view.mode === "list" ? "cards" : "list"),
      "?": () => (shortcuts.open = !shortcuts.open),
    }[key];
    if (!handled) return;
    if ((key === "ArrowDown" || key === "ArrowUp") && !event.target.closest?.(".cards, .alarm-table")) return;
    event.preventDefault();
    handled();
  }

  function toggleSelection(item) {
    onSelect(item.event, !selected.has(item.event.id));
    for (const input of item.el.querySelectorAll("input.select-event")) input.checked = selected.has(item.event.id);
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
        h(
          "div",
          { class: "wall-head" },
          h("h1", {}, t("wall.title")),
          count,
          freshButton,
          h("span", { class: "wall-tools" },
            h("span", { class: "modes", role: "group", "aria-label": t("wall.mode") }, modeButtons),
            h("label", {}, t("wall.sort"), " ", sortSelect),
            h("label", { class: "check" }, soundToggle, " ", t("wall.sound")),
            shortcuts,
          ),
        ),
        bulkBar,
        h("div", { class: "wall-body" }, list, preview),
        bounded,
        more,
      ),
    ),
  );
  preview.hidden = view.mode !== "list";

  function onMessage(message) {
    if (heldMessages) {
      heldMessages.push(message);
    } else if (message.type === "event.created" || message.type === "event.updated") {
      upsert(message.event, message.type === "event.created");
    } else if (message.type === "event.escalated") {
      escalated(message);
    }
  }
  const stopMessages = live.subscribe(onMessage);
  let wasLive = live.status === "live";
  const stopStatus = live.onStatus((status) => {
    // Messages sent while disconnected are gone: reload what the wall shows.
    if (status === "live" && !wasLive) load(true);
    wasLive = status === "live";
  });
  const onScroll = () => {
    if (atTop() && waiting.size === 0 && unseen) {
      unseen = 0;
      updateCount();
    }
  };
  window.addEventListener("scroll", onScroll, { passive: true });
  document.addEventListener("keydown", keydown);

  await loadReferenceData();
  await load(true);
  return () => {
    stopMessages();
    stopStatus();
    window.removeEventListener("scroll", onScroll);
    document.removeEventListener("keydown", keydown);
    clearTimeout(escalationTimer);
    previewLive?.stop();
    if (loading) loading.abort();
  };
}
