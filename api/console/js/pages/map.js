// The operator's map: grid polygons, cameras coloured by health, events coloured by state,
// kept current by the live feed.

import { api, live, once } from "../api.js";
import { errorText } from "../actions.js";
import { h, mount } from "../dom.js";
import { CAMERA_COLOURS, CAMERA_STATES, OPEN_STATES, STATUS_COLOURS, STATUSES, matchesFilters } from "../domain.js";
import { label, t } from "../i18n.js";
import { gridMap } from "../geo.js";
import { notice } from "../widgets.js";

function eventPopup(event) {
  return h(
    "div",
    { class: "map-popup" },
    h("strong", {}, `#${event.id} `, event.title),
    h("p", {}, label("status", event.status), " · ", label("severity", event.severity), " · ", label("category", event.category)),
    h("p", {}, h("a", { href: `#/events/${event.id}` }, t("map.open_event"))),
  );
}

function cameraPopup(camera) {
  return h(
    "div",
    { class: "map-popup" },
    h("strong", {}, camera.name),
    h("p", {}, camera.organisation.name),
    h("p", {}, label("camera_status", camera.status), camera.enabled ? "" : ` · ${t("camera.disabled")}`),
  );
}

function legend() {
  const control = L.control({ position: "bottomleft" });
  control.onAdd = () =>
    h(
      "div",
      { class: "map-legend" },
      h("h3", {}, t("map.events")),
      h("ul", {}, STATUSES.filter((s) => s !== "merged").map((s) => h("li", {}, h("span", { class: "swatch round", style: { background: STATUS_COLOURS[s] } }), label("status", s)))),
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
  mount(main, h("section", { class: "map-page" }, h("div", { class: "map-toolbar" }, h("h1", {}, t("menu.map")), h("label", {}, t("map.which_events"), " ", scopeSelect), status), holder));

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
    const icon = L.divIcon({ className: `camera-marker health-${camera.status}`, iconSize: [22, 22] });
    L.marker([camera.location.lat, camera.location.lon], { icon, title: camera.name, keyboard: true })
      .bindPopup(cameraPopup(camera))
      .addTo(cameraLayer);
  }
  L.control.layers(null, { [t("map.grids")]: gridLayer, [t("map.cameras")]: cameraLayer, [t("map.events")]: eventLayer }, { collapsed: false }).addTo(map);
  legend().addTo(map);

  function statusFilter() {
    return scopeSelect.value === "open" ? OPEN_STATES : [];
  }

  function upsert(event) {
    markers.get(event.id)?.remove();
    markers.delete(event.id);
    if (!event.location || !matchesFilters(event, { status: statusFilter() }, new Map())) return;
    const marker = L.circleMarker([event.location.lat, event.location.lon], {
      pane: "events",
      radius: 7,
      color: "#ffffff",
      weight: 2,
      fillColor: STATUS_COLOURS[event.status] || "#5f6368",
      fillOpacity: 0.95,
      className: `event-marker status-${event.status}`,
    }).bindPopup(eventPopup(event));
    marker.addTo(eventLayer);
    markers.set(event.id, marker);
  }

  async function loadEvents() {
    status.textContent = t("common.loading");
    try {
      const collection = await api("/api/v1/events.geojson", { query: { status: statusFilter(), limit: 2000 } });
      eventLayer.clearLayers();
      markers.clear();
      for (const feature of collection.features) {
        if (!feature.geometry) continue;
        const [lon, lat] = feature.geometry.coordinates;
        upsert({ ...feature.properties, location: { lat, lon } });
      }
      status.textContent = t("map.event_count", { n: markers.size });
    } catch (err) {
      status.textContent = errorText(err);
    }
  }
  scopeSelect.addEventListener("change", loadEvents);
  await loadEvents();

  const stop = live.subscribe((message) => {
    if (message.event) {
      upsert(message.event);
      status.textContent = t("map.event_count", { n: markers.size });
    }
  });
  const resize = new ResizeObserver(() => map.invalidateSize());
  resize.observe(holder);
  return () => {
    stop();
    resize.disconnect();
    map.remove();
  };
}
