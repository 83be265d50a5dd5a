// Registering or editing a camera: its address (RTSP/HTTP URL or ONVIF device, credentials),
// a connection test that shows the live snapshot, zones and privacy masks drawn on it, and
// the rules (with schedules) that run on it.
//
// Endpoints: GET /api/v1/cameras/{id}; GET /api/v1/cameras.schema.json (every rule kind's fields,
// which the rule forms are drawn from); POST /api/v1/cameras/test {source};
// POST /api/v1/cameras (new) or PATCH /api/v1/cameras/{id} (changed fields only).

import { api, ApiError, authorisedObjectUrl, once } from "../api.js";
import { errorText } from "../actions.js";
import { h, mount, options, toast } from "../dom.js";
import { t } from "../i18n.js";
import { gridMap } from "../geo.js";
import { newRule, ruleForm, ruleSchema } from "../rule-form.js";
import { zoneEditor } from "../zone-editor.js";
import { notice } from "../widgets.js";
import { freshestPicture, pictureAgeText } from "../snapshot.js";

const SLUG = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/** Whether an API error means the server has no such endpoint (yet). */
function missingEndpoint(err) {
  return err instanceof ApiError && (err.status === 404 || err.status === 405);
}

/** The stream address from the form: a URL, or onvif://host:port, with credentials in it. */
export function composeSource({ kind, url, host, port, username, password }) {
  if (kind === "onvif") {
    if (!host) return "";
    const credentials = username ? `${encodeURIComponent(username)}:${encodeURIComponent(password || "")}@` : "";
    return `onvif://${credentials}${host}:${port || 80}`;
  }
  if (!url) return "";
  if (!username) return url;
  try {
    const parsed = new URL(url);
    parsed.username = username;
    parsed.password = password || "";
    return parsed.toString();
  } catch {
    return url;
  }
}

function maskSource(source) {
  return source.replace(/\/\/[^/@]*@/, "//***@");
}

function resolutionText(resolution) {
  if (Array.isArray(resolution)) return resolution.join("×");
  if (resolution && typeof resolution === "object") return `${resolution.width}×${resolution.height}`;
  return String(resolution ?? "—").replace("x", "×");
}

export async function render(main, { id }, { go }) {
  const isNew = !id;
  mount(main, notice(t("common.loading")));
  let camera = null;
  // The rule forms come from the server's schema; without it rules are shown as kept, not editable.
  const rulesReady = Promise.all([once("/api/v1/cameras.schema.json"), once("/api/v1/taxonomy").catch(() => null)])
    .then(([schema, taxonomy]) => ruleSchema(schema, taxonomy))
    .catch(() => null);
  if (!isNew) {
    try {
      camera = await api(`/api/v1/cameras/${id}`);
    } catch (err) {
      mount(main, notice(err instanceof ApiError && err.status === 404 ? t("owner.not_found") : errorText(err), "error"));
      return null;
    }
  }
  const rules = await rulesReady;
  // Which parts the person changed: an edit sends only those, so fields this server does not
  // show (zones on an older API) are never overwritten by an empty list.
  const dirty = new Set();
  const mark = (part) => () => dirty.add(part);

  // --- the camera itself
  const idInput = h("input", { name: "id", required: true, pattern: SLUG.source, placeholder: "school-east-gate", disabled: !isNew, value: camera?.id || "" });
  const nameInput = h("input", { name: "name", required: true, value: camera?.name || "", oninput: mark("name") });
  const enabledInput = h("input", { type: "checkbox", name: "enabled", checked: camera ? camera.enabled : true, onchange: mark("enabled") });

  // --- where its video comes from
  const existingSource = camera?.source || "";
  const kindSelect = h("select", { name: "source_kind" }, options([["url", t("source.url")], ["onvif", t("source.onvif")]], existingSource.startsWith("onvif://") ? "onvif" : "url"));
  const urlInput = h("input", { name: "url", placeholder: "rtsp://192.168.1.64:554/Streaming/Channels/101", value: existingSource.startsWith("onvif://") ? "" : existingSource, class: "wide" });
  const hostInput = h("input", { name: "host", placeholder: "192.168.1.64" });
  const portInput = h("input", { name: "port", type: "number", min: 1, max: 65535, value: 80, class: "short" });
  const userInput = h("input", { name: "username", autocomplete: "off" });
  const passwordInput = h("input", { name: "password", type: "password", autocomplete: "new-password" });
  const sourcePreview = h("code", { class: "source-preview" });
  const urlRow = h("label", { class: "field" }, h("span", {}, t("source.address")), urlInput);
  const onvifRow = h("div", { class: "field-row" }, h("label", { class: "field" }, h("span", {}, t("source.host")), hostInput), h("label", { class: "field" }, h("span", {}, t("source.port")), portInput));

  function sourceValues() {
    return { kind: kindSelect.value, url: urlInput.value.trim(), host: hostInput.value.trim(), port: portInput.value, username: userInput.value.trim(), password: passwordInput.value };
  }
  function syncSource() {
    urlRow.hidden = kindSelect.value !== "url";
    onvifRow.hidden = kindSelect.value !== "onvif";
    const source = composeSource(sourceValues());
    sourcePreview.textContent = source ? maskSource(source) : "—";
  }
  const sourceBox = h(
    "fieldset",
    { class: "panel", oninput: () => { dirty.add("source"); syncSource(); }, onchange: () => { dirty.add("source"); syncSource(); } },
    h("legend", {}, t("owner.source")),
    h("label", { class: "field" }, h("span", {}, t("source.kind")), kindSelect),
    urlRow,
    onvifRow,
    h("div", { class: "field-row" }, h("label", { class: "field" }, h("span", {}, t("source.username")), userInput), h("label", { class: "field" }, h("span", {}, t("source.password")), passwordInput)),
    h("p", { class: "muted small" }, t("source.preview"), " ", sourcePreview),
    camera ? h("p", { class: "muted small" }, t("source.keep_hint")) : null,
  );

  // --- the connection test
  const testButton = h("button", { type: "button", class: "test-connection" }, t("owner.test"));
  const testResult = h("div", { class: "test-result", "aria-live": "polite" });
  const localImage = h("input", { type: "file", accept: "image/*", class: "local-image" });

  // --- location
  const latInput = h("input", { type: "number", name: "lat", step: "0.00001", value: camera?.location.lat ?? "", class: "short" });
  const lonInput = h("input", { type: "number", name: "lon", step: "0.00001", value: camera?.location.lon ?? "", class: "short" });
  const mapHolder = h("div", { class: "mini-map" });

  // --- zones, masks, rules
  const editor = zoneEditor({
    zones: camera?.config?.zones || [],
    masks: camera?.config?.privacy_masks || [],
    onChange: (kind) => {
      dirty.add(kind);
      refreshRuleZones();
    },
  });
  const pictureAge = h("p", { class: "picture-age muted small", "data-testid": "picture-age" }, camera ? t("common.loading") : t("zones.no_snapshot"));
  const showPictureAge = (picture) => {
    pictureAge.textContent = pictureAgeText(picture);
    pictureAge.classList.toggle("is-old", Boolean(picture && !picture.live));
    if (picture) pictureAge.dataset.takenAt = picture.takenAt;
  };
  const ruleList = h("div", { class: "rules" });
  const lineNames = (camera?.config?.lines || []).map((line) => line.name);
  const detectedClasses = camera?.config?.detect?.classes || [];
  let ruleEditors = [];
  // Without the schema the stored rules are sent back untouched (they are never marked changed).
  let keptRules = camera?.config?.rules || [];
  function addRule(rule) {
    const shapes = { zones: editor.zoneNames(), lines: lineNames };
    const editorEl = ruleForm(rule, {
      rules,
      shapes,
      classes: detectedClasses,
      onChange: () => dirty.add("rules"),
      onRemove: () => {
        ruleEditors = ruleEditors.filter((r) => r !== editorEl);
        editorEl.remove();
        dirty.add("rules");
      },
    });
    ruleEditors.push(editorEl);
    ruleList.append(editorEl);
  }
  function refreshRuleZones() {
    if (!rules) return;
    const values = ruleEditors.map((r) => r.read());
    ruleList.replaceChildren();
    ruleEditors = [];
    for (const value of values) addRule(value);
  }
  const kindPicker = h("select", { name: "new_rule_kind", class: "rule-kind-picker", "aria-label": t("rules.kind") }, options((rules?.kinds || []).map((kind) => [kind, rules.kindLabel(kind)])));
  const addButton = h("button", {
    type: "button",
    class: "add-rule",
    disabled: !rules,
    onclick: () => {
      addRule(newRule(rules, kindPicker.value, { zones: editor.zoneNames(), lines: lineNames }));
      dirty.add("rules");
    },
  }, "+ ", t("rules.add"));
  if (rules) {
    for (const rule of keptRules) addRule(rule);
    keptRules = null;
  } else {
    mount(ruleList, notice(t("rules.no_schema"), "error"));
  }
  const saveError = h("p", { class: "form-error", role: "alert" });
  const saveButton = h("button", { type: "submit", class: "primary save-camera" }, isNew ? t("owner.create") : t("owner.save"));

  mount(
    main,
    h(
      "form",
      { class: "camera-editor", novalidate: true, onsubmit: (e) => { e.preventDefault(); save(); } },
      h("div", { class: "wall-head" }, h("h1", {}, isNew ? t("owner.register") : camera.name), h("a", { href: "#/my-cameras" }, "← ", t("owner.back"))),
      h(
        "div",
        { class: "editor-grid" },
        h(
          "div",
          { class: "editor-side" },
          h(
            "fieldset",
            { class: "panel" },
            h("legend", {}, t("owner.basics")),
            h("label", { class: "field" }, h("span", {}, t("camera.id")), idInput),
            h("label", { class: "field" }, h("span", {}, t("camera.name")), nameInput),
            h("label", { class: "check" }, enabledInput, t("camera.enabled")),
          ),
          sourceBox,
          h("fieldset", { class: "panel" }, h("legend", {}, t("owner.test_title")), h("p", {}, testButton), testResult, h("label", { class: "field small" }, h("span", {}, t("owner.local_image")), localImage)),
          h(
            "fieldset",
            { class: "panel", onchange: mark("location") },
            h("legend", {}, t("field.location")),
            h("div", { class: "field-row" }, h("label", { class: "field" }, h("span", {}, t("geo.lat")), latInput), h("label", { class: "field" }, h("span", {}, t("geo.lon")), lonInput)),
            h("p", { class: "muted small" }, t("owner.map_hint")),
            mapHolder,
          ),
        ),
        h(
          "div",
          { class: "editor-main" },
          h("section", { class: "panel" }, h("h2", {}, t("zones.title")), pictureAge, editor.element),
          h("section", { class: "panel" }, h("h2", {}, t("rules.title")), ruleList, h("div", { class: "add-rule-row" }, kindPicker, addButton)),
        ),
      ),
      h("div", { class: "save-bar" }, saveError, saveButton),
    ),
  );
  syncSource();

  // Zones are drawn on the freshest picture there is (live if a worker watches the camera),
  // and the page says how old it is; a connection test replaces it with one taken now.
  if (camera) {
    freshestPicture(camera, authorisedObjectUrl)
      .then((picture) => {
        if (picture) editor.setBackground(picture.url);
        showPictureAge(picture);
      })
      .catch(() => {});
  }
  localImage.addEventListener("change", () => {
    const file = localImage.files[0];
    if (file) editor.setBackground(URL.createObjectURL(file));
  });

  testButton.addEventListener("click", async () => {
    const source = composeSource(sourceValues());
    if (!source) {
      mount(testResult, notice(t("owner.need_source"), "error"));
      return;
    }
    testButton.disabled = true;
    mount(testResult, notice(t("owner.testing")));
    try {
      const result = await api("/api/v1/cameras/test", { method: "POST", json: { source } });
      let snapshot = null;
      if (result.snapshot_jpeg_base64) snapshot = `data:image/jpeg;base64,${result.snapshot_jpeg_base64}`;
      else if (result.snapshot_url) snapshot = await authorisedObjectUrl(result.snapshot_url);
      mount(
        testResult,
        h("p", { class: result.ok === false ? "notice error" : "notice ok" }, result.ok === false ? t("owner.test_failed") : t("owner.test_ok")),
        h(
          "dl",
          { class: "facts test-facts" },
          h("dt", {}, t("test.resolution")), h("dd", { dataset: { fact: "resolution" } }, resolutionText(result.resolution)),
          h("dt", {}, t("test.fps")), h("dd", { dataset: { fact: "fps" } }, result.fps != null ? String(result.fps) : "—"),
          h("dt", {}, t("test.codec")), h("dd", { dataset: { fact: "codec" } }, result.codec || "—"),
          h("dt", {}, t("test.first_frame")), h("dd", {}, result.time_to_first_frame_s != null ? `${Number(result.time_to_first_frame_s).toFixed(2)} s` : "—"),
        ),
      );
      if (snapshot) {
        editor.setBackground(snapshot);
        showPictureAge({ takenAt: new Date().toISOString(), live: true });
      }
    } catch (err) {
      mount(testResult, notice(missingEndpoint(err) ? t("owner.test_unavailable") : `${t("owner.test_failed")}: ${errorText(err)}`, "error"));
    } finally {
      testButton.disabled = false;
    }
  });

  // Location: the map sets it; the fields move the marker.
  Promise.all([once("/api/v1/grids"), once("/api/v1/cameras")])
    .then(async ([grids, cameras]) => {
      const { map } = await gridMap(mapHolder, grids, { interactiveGrids: false });
      let marker = null;
      const place = (lat, lon) => {
        if (marker) marker.setLatLng([lat, lon]);
        else marker = L.circleMarker([lat, lon], { radius: 8, color: "#fff", weight: 2, fillColor: "#1a73e8", fillOpacity: 1 }).addTo(map);
      };
      for (const other of cameras) {
        if (other.id === camera?.id) continue;
        L.circleMarker([other.location.lat, other.location.lon], { radius: 4, color: "#5f6368", weight: 1, fillOpacity: 0.5 }).bindTooltip(document.createTextNode(other.name)).addTo(map);
      }
      if (latInput.value && lonInput.value) place(Number(latInput.value), Number(lonInput.value));
      map.on("click", (clicked) => {
        latInput.value = clicked.latlng.lat.toFixed(5);
        lonInput.value = clicked.latlng.lng.toFixed(5);
        place(clicked.latlng.lat, clicked.latlng.lng);
        dirty.add("location");
      });
      for (const input of [latInput, lonInput]) {
        input.addEventListener("change", () => latInput.value && lonInput.value && place(Number(latInput.value), Number(lonInput.value)));
      }
    })
    .catch(() => mount(mapHolder, notice(t("error.generic"), "error")));

  async function save() {
    saveError.textContent = "";
    const problem = editor.validate();
    if (problem) {
      saveError.textContent = problem;
      return;
    }
    const source = composeSource(sourceValues());
    if (isNew && !SLUG.test(idInput.value.trim())) {
      saveError.textContent = t("owner.bad_id");
      return;
    }
    if (!nameInput.value.trim()) {
      saveError.textContent = t("owner.need_name");
      return;
    }
    if ((isNew || dirty.has("source")) && !source) {
      saveError.textContent = t("owner.need_source");
      return;
    }
    if (!latInput.value || !lonInput.value) {
      saveError.textContent = t("owner.need_location");
      return;
    }
    const ruleValues = keptRules || ruleEditors.map((r) => r.read());
    const ruleProblem = ruleEditors.map((r) => r.validate()).find(Boolean);
    if (ruleProblem && (isNew || dirty.has("rules") || dirty.has("zones"))) {
      saveError.textContent = ruleProblem;
      return;
    }
    const body = {
      name: nameInput.value.trim(),
      enabled: enabledInput.checked,
      location: { lat: Number(latInput.value), lon: Number(lonInput.value) },
    };
    if (isNew || dirty.has("source")) body.source = source;
    if (isNew || dirty.has("zones")) body.zones = editor.zones();
    if (isNew || dirty.has("masks")) body.privacy_masks = editor.masks();
    if (isNew || dirty.has("rules") || dirty.has("zones")) body.rules = ruleValues;
    saveButton.disabled = true;
    try {
      if (isNew) {
        await api("/api/v1/cameras", { method: "POST", json: { id: idInput.value.trim(), ...body } });
      } else {
        await api(`/api/v1/cameras/${camera.id}`, { method: "PATCH", json: body });
      }
      toast(t("owner.saved", { name: body.name }), "ok");
      go("/my-cameras");
    } catch (err) {
      saveError.textContent = missingEndpoint(err) ? t("owner.save_unavailable") : errorText(err);
    } finally {
      saveButton.disabled = false;
    }
  }
  return null;
}
