// The operator's map: grid polygons, cameras coloured by health, and events gathered into
// clusters (one mark per few dozen pixels) lit red when overdue and yellow when due within the
// hour. A cluster sits beside its spot, so the camera-health mark under it stays visible, and
// opens a list to pick an event from. Kept current by the live feed.

import { api, live, once } from "../api.js";
import { errorText } from "../actions.js";
import { h, mount } from "../dom.js";
import { CAMERA_COLOURS, CAMERA_STATES, OPEN_STATES, matchesFilters } from "../domain.js";
import { label, t } from "../i18n.js";
import { consoleConfig, gridMap } from "../geo.js";
import { notice, statusBadge, zoned } from "../widgets.js";
import { shownStatus, statusReason } from "./camera-health.js";

// Events closer than this on screen share one mark.
const CLUSTER_PX = 44;
const DUE_SOON_MS = 3600e3;
// A popup lists this many of a cluster's events, newest first.
const POPUP_ROWS = 60;

/** "overdue", "soon" (due within the hour) or "ok". */
function light(event, now = Date.now()) {
  if (event.overdue || (event.deadline_at && Date.parse(event.deadline_at) < now)) return "overdue";
  if (event.deadline_at && Date.parse(event.deadline_at) - now < DUE_SOON_MS) return "soon";
  return "ok";
}

const LIGHT_RANK = { overdue: 0, soon: 1, ok: 2 };

function clusterPopup(events) {
  const newest = [...events].sort((a, b) => Date.parse(b.occurred_at) - Date.parse(a.occurred_at) || b.id - a.id);
  return h(
    "div",
    { class: "map-popup cluster-popup" },
    h("strong", {}, events.length > 1 ? t("map.cluster", { n: events.length }) : `#${newest[0].id} ${newest[0].title}`),
    events.length > 1 ? h("p", { class: "muted" }, t("map.pick")) : null,
    h(
      "ul",
      { class: "cluster-events" },
      newest.slice(0, POPUP_ROWS).map((event) =>
        h(
          "li",
          { class: `light-${light(event)}`, dataset: { eventId: event.id } },
          h("a", { href: `#/events/${event.id}` }, `#${event.id} `, event.title),
          h("br"),
          statusBadge(event.status),
          " ",
          label("severity", event.severity),
          " · ",
          zoned(event.occurred_at),
        ),
      ),
      events.length > POPUP_ROWS ? h("li", { class: "muted" }, "…") : null,
    ),
  );
}

function cameraPopup(camera) {
  return h(
    "div",
    { class: "map-popup" },
    h("strong", {}, camera.name),
    h("p", {}, camera.organisation.name),
    h("p", {}, label("camera_status", shownStatus(camera)), camera.enabled ? "" : ` · ${t("camera.disabled")}`),
    statusReason(camera),
  );
}

function legend() {
  const control = L.control({ position: "bottomleft" });
  control.onAdd = () =>
    h(
      "div",
      { class: "map-legend" },
      h("h3", {}, t("map.lights")),
      h("ul", {}, ["overdue", "soon", "ok"].map((l) => h("li", {}, h("span", { class: `swatch round light-${l}` }), t(l === "overdue" ? "map.overdue" : l === "soon" ? "map.due_soon" : "map.on_time")))),
      h("h3", {}, t("map.cameras")),
      h("ul", {}, CAMERA_STATES.map((s) => h("li", {}, h("span", { class: "swatch square", style: { background: CAMERA_COLOURS[s] } }), label("camera_status", s)))),
    );
  return control;
}

export async function render(main) {
  const holder = h("div", { class: "map-holder", id: "district-map" });
  const scopeSelect = h(
    "select",
    { name: "events", "aria-label": t("map.which_events") },
    h("option", { value: "open" }, t("filter.open")),
    h("option", { value: "all" }, t("filter.all")),
  );
  const status = h("span", { class: "muted map-status" });
  const config = await consoleConfig();
  const noTiles = config.tile_url ? null : h("p", { class: "map-no-tiles muted" }, t("map.no_tiles"));
  mount(main, h("section", { class: "map-page" }, h("div", { class: "map-toolbar" }, h("h1", {}, t("menu.map")), h("label", {}, t("map.which_events"), " ", scopeSelect), status), noTiles, holder));

  let grids;
  let cameras;
  try {
    [grids, cameras] = await Promise.all([once("/api/v1/grids"), once("/api/v1/cameras")]);
  } catch (err) {
    mount(holder, notice(errorText(err), "error"));
    return null;
  }
  const { map, gridLayer } = await gridMap(holder, grids, { labels: true });
  // Video events sit on their camera: draw them in a pane above the camera squares.
  map.createPane("events").style.zIndex = 650;
  const cameraLayer = L.layerGroup().addTo(map);
  const eventLayer = L.layerGroup().addTo(map);
  const markers = new Map();

  for (const camera of cameras) {
    const icon = L.divIcon({ className: `camera-marker health-${shownStatus(camera)}`, iconSize: [22, 22] });
    L.marker([camera.location.lat, camera.location.lon], { icon, title: camera.name, keyboard: true })
      .bindPopup(cameraPopup(camera))
      .addTo(cameraLayer);
  }
  L.control.layers(null, { [t("map.grids")]: gridLayer, [t("map.cameras")]: cameraLayer, [t("map.events")]: eventLayer }, { collapsed: false }).addTo(map);
  legend().addTo(map);

  function statusFilter() {
    return scopeSelect.value === "open" ? OPEN_STATES : [];
  }

  const events = new Map(); // id -> event with a location

  /** Gather the events into screen cells at this zoom and draw one mark per cell. */
  function drawClusters() {
    eventLayer.clearLayers();
    markers.clear();
    const cells = new Map();
    for (const event of events.values()) {
      const point = map.latLngToLayerPoint([event.location.lat, event.location.lon]);
      const key = `${Math.floor(point.x / CLUSTER_PX)}:${Math.floor(point.y / CLUSTER_PX)}`;
      if (!cells.has(key)) cells.set(key, []);
      cells.get(key).push(event);
    }
    for (const members of cells.values()) {
      const worst = members.reduce((a, b) => (LIGHT_RANK[light(b)] < LIGHT_RANK[light(a)] ? b : a));
      const lat = members.reduce((sum, e) => sum + e.location.lat, 0) / members.length;
      const lon = members.reduce((sum, e) => sum + e.location.lon, 0) / members.length;
      const lit = light(worst);
      const icon = L.divIcon({
        className: `event-cluster light-${lit} status-${worst.status}`,
        html: String(members.length),
        iconSize: [30, 30],
        // Up and to the right of the spot: the camera's health mark there stays in sight.
        iconAnchor: [-12, 40],
        popupAnchor: [27, -40],
      });
      const marker = L.marker([lat, lon], { icon, pane: "events", keyboard: true, title: t("map.cluster", { n: members.length }) })
        .bindPopup(() => clusterPopup(members), { maxHeight: 320, minWidth: 260 });
      marker.on("add", () => {
        const el = marker.getElement();
        if (!el) return;
        el.dataset.count = String(members.length);
        el.dataset.eventIds = members.map((e) => e.id).join(",");
      });
      marker.addTo(eventLayer);
      for (const member of members) markers.set(member.id, marker);
    }
  }

  let redraw = null;
  function scheduleDraw() {
    if (redraw) return;
    redraw = requestAnimationFrame(() => {
      redraw = null;
      drawClusters();
      status.textContent = t("map.event_count", { n: events.size });
    });
  }

  function upsert(event) {
    events.delete(event.id);
    if (!event.location || !matchesFilters(event, { status: statusFilter() }, new Map())) return;
    events.set(event.id, event);
  }

  async function loadEvents() {
    status.textContent = t("common.loading");
    try {
      const collection = await api("/api/v1/events.geojson", { query: { status: statusFilter(), limit: 2000 } });
      events.clear();
      for (const feature of collection.features) {
        if (!feature.geometry) continue;
        const [lon, lat] = feature.geometry.coordinates;
        upsert({ ...feature.properties, location: { lat, lon } });
      }
      drawClusters();
      status.textContent = t("map.event_count", { n: events.size });
    } catch (err) {
      status.textContent = errorText(err);
    }
  }
  scopeSelect.addEventListener("change", loadEvents);
  await loadEvents();

  const stop = live.subscribe((message) => {
    if (message.event) {
      upsert(message.event);
      scheduleDraw();
    }
  });
  map.on("zoomend", drawClusters);
  const resize = new ResizeObserver(() => map.invalidateSize());
  resize.observe(holder);
  return () => {
    stop();
    if (redraw) cancelAnimationFrame(redraw);
    resize.disconnect();
    map.remove();
  };
}
