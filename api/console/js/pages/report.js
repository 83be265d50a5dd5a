// Reporting an event seen on the street: what, where (the phone's position or a tap on the
// map), and a photo. The photo is attached to the new event as a comment step.

import { api, once } from "../api.js";
import { errorText } from "../actions.js";
import { h, mount, options, toast } from "../dom.js";
import { CATEGORIES, SEVERITIES } from "../domain.js";
import { label, t } from "../i18n.js";
import { gridMap } from "../geo.js";
import { cameraIcon, notice } from "../widgets.js";

export async function render(main, _params, { me, role, go }) {
  const category = h("select", { name: "category" }, options(CATEGORIES.map((c) => [c, label("category", c)]), "urban_management"));
  const severity = h("select", { name: "severity" }, options(SEVERITIES.map((s) => [s, label("severity", s)]), "medium"));
  const title = h("input", { name: "title", required: true, maxlength: 300, placeholder: t("report.title_placeholder") });
  const description = h("textarea", { name: "description", rows: 3, maxlength: 5000 });
  const address = h("input", { name: "address", maxlength: 300, placeholder: t("report.address_placeholder") });
  const lat = h("input", { type: "number", name: "lat", step: "0.000001", class: "short", readonly: true });
  const lon = h("input", { type: "number", name: "lon", step: "0.000001", class: "short", readonly: true });
  const where = h("p", { class: "muted small location-status" }, t("report.where_hint"));
  const photos = h("input", { type: "file", name: "photos", accept: "image/jpeg,image/png,image/webp", capture: "environment", multiple: true });
  const previews = h("div", { class: "photo-previews" });
  const error = h("p", { class: "form-error", role: "alert" });
  const submit = h("button", { type: "submit", class: "primary" }, t("report.submit"));
  const mapHolder = h("div", { class: "mini-map report-map", "data-testid": "report-map" });
  const locate = h("button", { type: "button", class: "locate" }, "◎ ", t("report.use_position"));

  photos.addEventListener("change", () => {
    previews.replaceChildren(
      ...[...photos.files].map((file) => {
        const url = URL.createObjectURL(file);
        return h("img", { src: url, alt: file.name, class: "thumb", onload: () => URL.revokeObjectURL(url) });
      }),
    );
  });

  mount(
    main,
    h(
      "form",
      { class: "report-form", novalidate: true, onsubmit: (e) => { e.preventDefault(); send(); } },
      h("h1", {}, t("report.heading")),
      h("label", { class: "field" }, h("span", {}, t("field.category")), category),
      h("label", { class: "field" }, h("span", {}, t("field.severity")), severity),
      h("label", { class: "field" }, h("span", {}, t("report.what")), title),
      h("label", { class: "field" }, h("span", {}, t("report.details")), description),
      h("fieldset", { class: "panel" }, h("legend", {}, t("field.location")), locate, mapHolder, h("div", { class: "field-row" }, h("label", { class: "field" }, h("span", {}, t("geo.lat")), lat), h("label", { class: "field" }, h("span", {}, t("geo.lon")), lon)), where),
      h("label", { class: "field" }, h("span", {}, t("field.address")), address),
      h("label", { class: "field photo-field" }, h("span", {}, t("form.photos")), h("span", { class: "button-like" }, cameraIcon(), t("form.take_photo")), photos),
      previews,
      error,
      submit,
    ),
  );

  let marker = null;
  let map = null;
  function setLocation(latitude, longitude, how) {
    lat.value = latitude.toFixed(6);
    lon.value = longitude.toFixed(6);
    where.textContent = t(how === "gps" ? "report.located_gps" : "report.located_map");
    if (map) {
      if (marker) marker.setLatLng([latitude, longitude]);
      else marker = L.marker([latitude, longitude], { icon: L.divIcon({ className: "report-marker", iconSize: [18, 18] }) }).addTo(map);
    }
  }

  locate.addEventListener("click", () => {
    if (!navigator.geolocation) {
      where.textContent = t("report.no_gps");
      return;
    }
    where.textContent = t("report.locating");
    navigator.geolocation.getCurrentPosition(
      (position) => setLocation(position.coords.latitude, position.coords.longitude, "gps"),
      () => (where.textContent = t("report.no_gps")),
      { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 },
    );
  });

  try {
    const grids = await once("/api/v1/grids");
    const own = new Set(role === "grid_worker" ? me.grid_ids : []);
    ({ map } = await gridMap(mapHolder, grids, { highlight: own }));
    map.on("click", (clicked) => setLocation(clicked.latlng.lat, clicked.latlng.lng, "map"));
  } catch (err) {
    mount(mapHolder, notice(errorText(err), "error"));
  }

  async function send() {
    error.textContent = "";
    if (!title.value.trim()) {
      error.textContent = t("report.need_title");
      title.focus();
      return;
    }
    if (!lat.value || !lon.value) {
      error.textContent = t("report.need_location");
      return;
    }
    submit.disabled = true;
    try {
      const created = await api("/api/v1/events", {
        method: "POST",
        json: {
          source: role === "grid_worker" ? "grid_worker" : "manual",
          category: category.value,
          severity: severity.value,
          title: title.value.trim(),
          description: description.value.trim(),
          address: address.value.trim(),
          location: { lat: Number(lat.value), lon: Number(lon.value) },
        },
      });
      if (photos.files.length) {
        const form = new FormData();
        form.append("note", t("report.photo_note"));
        for (const file of photos.files) form.append("photos", file, file.name);
        await api(`/api/v1/events/${created.id}/actions/comment`, { method: "POST", form });
      }
      toast(t("report.sent", { id: created.id }), "ok");
      go(`/events/${created.id}`);
    } catch (err) {
      error.textContent = err.status === 403 ? t("report.outside") : errorText(err);
    } finally {
      submit.disabled = false;
    }
  }
  return null;
}
