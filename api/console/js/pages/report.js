// Reporting an event seen on the street: what, where (the phone's position or a tap on the
// map), and a photo. The photo is attached to the new event as a comment step. What is typed
// and the photos chosen are kept as a draft (drafts.js) until the report is sent.

import { api, once } from "../api.js";
import { dropDraft, loadDraft, saveDraft } from "../drafts.js";
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
  // At the command center cases come from the 12345 hotline and WeChat, with their case numbers.
  const desk = role !== "grid_worker";
  const source = desk ? h("select", { name: "source" }, options(["hotline_12345", "wechat", "manual"].map((s) => [s, label("source", s)]), "hotline_12345")) : null;
  const reference = desk ? h("input", { name: "source_reference", maxlength: 100 }) : null;

  const draftKey = `report:${me.username}`;
  const draftNote = h("p", { class: "notice draft-restored", hidden: true });
  const fieldsKept = { category, severity, title, description, address, lat, lon };
  let saving = null;
  function keepDraft() {
    clearTimeout(saving);
    saving = setTimeout(() => {
      const values = Object.fromEntries(Object.entries(fieldsKept).map(([name, input]) => [name, input.value]));
      saveDraft(draftKey, { ...values, photos: [...photos.files], saved_at: new Date().toISOString() });
    }, 200);
  }

  function showPreviews() {
    previews.replaceChildren(
      ...[...photos.files].map((file) => {
        const url = URL.createObjectURL(file);
        return h("img", { src: url, alt: file.name, class: "thumb", onload: () => URL.revokeObjectURL(url) });
      }),
    );
  }
  photos.addEventListener("change", () => {
    showPreviews();
    keepDraft();
  });

  mount(
    main,
    h(
      "form",
      { class: "report-form", novalidate: true, onsubmit: (e) => { e.preventDefault(); send(); } },
      h("h1", {}, t("report.heading")),
      draftNote,
      desk ? h("div", { class: "field-row" }, h("label", { class: "field" }, h("span", {}, t("report.source")), source), h("label", { class: "field" }, h("span", {}, t("report.reference")), reference)) : null,
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

  main.querySelector("form.report-form").addEventListener("input", keepDraft);
  main.querySelector("form.report-form").addEventListener("change", keepDraft);

  const draft = await loadDraft(draftKey);
  if (draft) {
    for (const [name, input] of Object.entries(fieldsKept)) if (draft[name] !== undefined) input.value = draft[name];
    if (draft.photos?.length) {
      const chosen = new DataTransfer();
      for (const file of draft.photos) chosen.items.add(file);
      photos.files = chosen.files;
      showPreviews();
    }
    draftNote.hidden = false;
    draftNote.append(
      t("session.draft_restored"),
      " ",
      h("button", {
        type: "button",
        class: "link discard-draft",
        onclick: async () => {
          await dropDraft(draftKey);
          render(main, _params, { me, role, go });
        },
      }, t("session.draft_discard")),
    );
  }

  let marker = null;
  let map = null;
  function setLocation(latitude, longitude, how) {
    lat.value = latitude.toFixed(6);
    lon.value = longitude.toFixed(6);
    where.textContent = t(how === "gps" ? "report.located_gps" : "report.located_map");
    keepDraft();
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
    if (lat.value && lon.value) setLocation(Number(lat.value), Number(lon.value), "map");
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
          source: desk ? source.value : "grid_worker",
          source_reference: desk && reference.value.trim() ? reference.value.trim() : undefined,
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
      clearTimeout(saving);
      await dropDraft(draftKey);
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
