// Lists of events for people who work them one by one: a grid worker's tasks in their own
// cells (tabs 待核实 / 待核查 / 待处置, nearest deadline first), a handler's department queue
// (待办) and done list (已办), a camera owner's events.
//
// A list holds still under the reader's thumb: a live message changes the card it names in
// place (a card whose event left the tab stays, marked, until the reader asks for the news),
// and new events are announced ("新到 N 条") and shown only when the reader taps. Nothing is
// fetched again per message: messages carry the event. Every task is reachable, page by page.

import { api, live, once } from "../api.js";
import { errorText } from "../actions.js";
import { focusPlace, h, mount, returnFocus } from "../dom.js";
import { isStale } from "../domain.js";
import { label, t } from "../i18n.js";
import { ago, eventCard, notice } from "../widgets.js";

const PAGE = 30;
const VERIFY = ["reported", "verifying"];

// Each list's tabs: the states it shows (or `done`: the caller's done list), and its order.
const KINDS = {
  tasks: {
    title: "tasks.title",
    tabs: [
      { id: "verify", label: "tasks.tab.verify", empty: "tasks.empty", status: VERIFY, sort: "deadline", assigned: true },
      { id: "check", label: "tasks.tab.check", empty: "tasks.empty_check", status: ["resolved"], sort: "deadline" },
      { id: "handle", label: "tasks.tab.handle", empty: "tasks.empty_handle", status: ["confirmed", "dispatched", "handling"], sort: "deadline" },
    ],
  },
  queue: {
    title: "queue.title",
    tabs: [
      // Their department's only: what they passed on stays readable, in the done list.
      { id: "todo", label: "queue.tab.todo", empty: "queue.empty", status: ["dispatched", "handling"], sort: "deadline", ownDepartment: true },
      { id: "done", label: "queue.tab.done", empty: "queue.empty_done", done: true, sort: "newest" },
    ],
  },
  owner: {
    title: "owner_events.title",
    tabs: [{ id: "all", label: "owner_events.title", empty: "owner_events.empty", status: null, sort: "newest" }],
  },
};

export async function render(main, { kind }, { me }) {
  function inTab(tab, event) {
    if (tab.done) return false; // the done list is not told by live messages; it is read on opening
    if (tab.ownDepartment && event.department_id !== me.department_id) return false;
    return !tab.status || tab.status.includes(event.status);
  }

  function tabQuery(tab) {
    return {
      status: tab.status || undefined,
      department_id: tab.ownDepartment ? me.department_id : undefined,
      done: tab.done ? "true" : undefined,
      sort: tab.sort,
    };
  }

  const spec = KINDS[kind];
  // A card explains its routing by the departments' names, not their ids.
  const departments = new Map((await once("/api/v1/departments").catch(() => [])).map((department) => [department.id, department.name]));
  const tabKey = `gridwatch.tab.${kind}`;
  let tab = spec.tabs.find((candidate) => candidate.id === sessionStorage.getItem(tabKey)) || spec.tabs[0];
  const counts = new Map(); // tab id -> total
  const tabButtons = new Map();

  const assignedList = h("div", { class: "cards assigned-list" });
  const assignedSection = h("section", { class: "assigned-section", hidden: true }, h("h2", {}, t("tasks.assigned_heading")), assignedList);
  const list = h("div", { class: `cards list-${kind}`, dataset: { tab: tab.id } });
  const count = h("span", { class: "count" });
  const banner = h("button", { type: "button", class: "new-items", hidden: true, onclick: () => showNews() });
  const more = h("button", { type: "button", class: "load-more", hidden: true, onclick: () => loadMore() });
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
  const tabBar =
    spec.tabs.length > 1
      ? h(
          "nav",
          { class: "list-tabs", role: "tablist", "aria-label": t(spec.title) },
          spec.tabs.map((candidate) => {
            const button = h(
              "button",
              { type: "button", role: "tab", dataset: { tab: candidate.id }, onclick: () => switchTab(candidate) },
              t(candidate.label),
              h("span", { class: "tab-count" }),
            );
            tabButtons.set(candidate.id, button);
            return button;
          }),
        )
      : null;
  mount(
    main,
    h(
      "section",
      { class: `event-list event-list-${kind}` },
      h("div", { class: "wall-head" }, h("h1", {}, t(spec.title)), count),
      scope,
      tabBar,
      banner,
      assignedSection,
      list,
      more,
    ),
  );

  // What the list shows: event id -> {event, card}; the news not yet shown; paging.
  let shown = new Map();
  let news = new Map();
  let offset = 0;
  let total = 0;
  let controller = null;

  function card(event) {
    const left = !inTab(tab, event) && !tab.done;
    const element = eventCard(event, { compact: kind !== "owner", departments });
    if (event.assignee && event.assignee === me.username && VERIFY.includes(event.status)) {
      element.classList.add("assigned-to-me");
      element.querySelector(".card-body").prepend(
        h(
          "p",
          { class: "assignment" },
          h("strong", {}, t("tasks.assigned_to_me")),
          event.assigned_by ? [" · ", t("tasks.assigned_by", { who: event.assigned_by })] : null,
          event.assigned_at ? [" · ", ago(event.assigned_at)] : null,
        ),
      );
    }
    if (left) {
      // It left this tab: kept where it is, so nothing moves under the reader's thumb.
      element.classList.add("is-left");
      element.querySelector(".card-body").append(h("p", { class: "left-note" }, t("list.left", { status: label("status", event.status) })));
    }
    return element;
  }

  function showCounts() {
    for (const [id, button] of tabButtons) {
      const n = counts.get(id);
      button.querySelector(".tab-count").textContent = n === undefined ? "" : String(n);
      button.setAttribute("aria-selected", String(id === tab.id));
      button.classList.toggle("active", id === tab.id);
    }
    count.textContent = t("list.count", { n: total });
  }

  function showBanner() {
    banner.hidden = news.size === 0;
    banner.textContent = t("list.new_items", { n: news.size });
  }

  function showMore() {
    // `offset` counts what was read of the tab's pages (less what left it since).
    more.hidden = offset >= total;
    more.textContent = t("list.load_more", { left: Math.max(0, total - offset) });
  }

  function add(container, events, { assigned = false } = {}) {
    for (const event of events) {
      if (shown.has(event.id)) continue;
      news.delete(event.id);
      const element = card(event);
      shown.set(event.id, { event, card: element, assigned });
      container.append(element);
    }
  }

  async function countTabs() {
    // One small question per other tab (limit 1): how many wait there.
    await Promise.all(
      spec.tabs
        .filter((other) => other.id !== tab.id)
        .map((other) =>
          api("/api/v1/events", { query: { ...tabQuery(other), limit: 1 } })
            .then((page) => counts.set(other.id, page.total))
            .catch(() => {}),
        ),
    );
    showCounts();
  }

  /** Read the tab afresh from its first page (on opening, on the reader's request, after a gap). */
  async function load() {
    controller?.abort();
    controller = new AbortController();
    const { signal } = controller;
    if (!shown.size) mount(list, notice(t("common.loading")));
    try {
      const [page, assigned] = await Promise.all([
        api("/api/v1/events", { query: { ...tabQuery(tab), limit: PAGE }, signal }),
        tab.assigned
          ? api("/api/v1/events", { query: { status: tab.status, assigned_to_me: "true", sort: "deadline", limit: 50 }, signal })
          : null,
      ]);
      shown = new Map();
      news = new Map();
      offset = page.items.length;
      total = page.total;
      counts.set(tab.id, total);
      // A reload after the live feed's gap redraws every card: the keyboard keeps its place.
      const place = focusPlace(main);
      list.replaceChildren();
      assignedList.replaceChildren();
      add(assignedList, assigned ? assigned.items : [], { assigned: true });
      assignedSection.hidden = !assigned || assigned.items.length === 0;
      add(list, page.items);
      returnFocus(main, place);
      if (!page.items.length) mount(list, notice(t(tab.empty)));
      showBanner();
      showMore();
      showCounts();
    } catch (err) {
      if (err.name !== "AbortError") mount(list, notice(errorText(err), "error"));
    }
  }

  async function loadMore() {
    more.disabled = true;
    try {
      const page = await api("/api/v1/events", { query: { ...tabQuery(tab), limit: PAGE, offset } });
      offset += page.items.length;
      total = page.total;
      add(list, page.items);
      showMore();
      showCounts();
    } catch (err) {
      more.after(notice(errorText(err), "error"));
    } finally {
      more.disabled = false;
    }
  }

  function showNews() {
    load().then(() => list.closest(".event-list").scrollIntoView({ block: "start" }));
  }

  function switchTab(next) {
    if (next.id === tab.id) return;
    tab = next;
    sessionStorage.setItem(tabKey, tab.id);
    list.dataset.tab = tab.id;
    shown = new Map();
    assignedSection.hidden = true;
    load();
  }

  function countChange(message) {
    const event = message.event;
    for (const candidate of spec.tabs) {
      if (candidate.done || !counts.has(candidate.id)) continue;
      const was = Boolean(message.from_status) && inTab(candidate, { ...event, status: message.from_status });
      const is = inTab(candidate, event);
      if (was === is) continue;
      counts.set(candidate.id, Math.max(0, counts.get(candidate.id) + (is ? 1 : -1)));
    }
  }

  /**
   * Run `change` without moving what the reader looks at: the card in the middle of the screen
   * (where a thumb holds it), else the first in view, stays where it was (a card above it that
   * grew, the banner that appeared, do not push it down). The browser's own scroll anchoring is off for the list (a replaced card
   * cannot be its anchor), so this is the one rule.
   */
  function holdStill(change) {
    const top = document.querySelector(".topbar")?.getBoundingClientRect().bottom || 0;
    const middle = (top + window.innerHeight) / 2;
    const inView = [...shown.values()].filter((item) => item.card.isConnected && item.card.getBoundingClientRect().bottom > top);
    const anchor =
      inView.find((item) => {
        const box = item.card.getBoundingClientRect();
        return box.top <= middle && box.bottom >= middle;
      }) || inView[0];
    const id = anchor?.event.id;
    const before = anchor?.card.getBoundingClientRect().top;
    change();
    const now = id !== undefined ? shown.get(id)?.card : null;
    if (now?.isConnected) {
      const moved = now.getBoundingClientRect().top - before;
      if (Math.abs(moved) >= 1) window.scrollBy(0, moved);
    }
  }

  function apply(message) {
    const event = message.event;
    if (!event || !message.type.startsWith("event.")) return;
    holdStill(() => applyChange(message, event));
  }

  function applyChange(message, event) {
    countChange(message);
    const known = shown.get(event.id);
    if (known) {
      if (isStale(event, known.event)) return;
      const wasIn = inTab(tab, known.event);
      const element = card(event);
      const place = focusPlace(main);
      known.card.replaceWith(element);
      returnFocus(main, place);
      known.card = element;
      known.event = event;
      // One that left moves the pages not read yet up by one. Where an arrival lands in them
      // is not known, so the offset only ever errs low: a card read twice is skipped.
      if (!known.assigned && wasIn && !inTab(tab, event)) offset = Math.max(0, offset - 1);
    } else if (inTab(tab, event)) {
      news.set(event.id, event);
    } else {
      news.delete(event.id);
    }
    total = counts.get(tab.id) ?? total;
    showBanner();
    showMore();
    showCounts();
  }

  const stop = live.subscribe(apply);
  // Messages sent while the feed was down are gone: after a gap, the tab is read afresh.
  let gap = false;
  const stopStatus = live.onStatus((status) => {
    if (status !== "live") gap = true;
    else if (gap) {
      gap = false;
      load();
      countTabs();
    }
  });
  await load();
  countTabs();
  return () => {
    stop();
    stopStatus();
    controller?.abort();
  };
}
