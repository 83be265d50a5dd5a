// Acting on an event: the form (note, department, merge target, photos, "do not raise this
// again" on a false alarm) and the dialog the alert wall opens for one action.

import { api, ApiError, once } from "./api.js";
import { h, options, toast } from "./dom.js";
import { label, t } from "./i18n.js";
import { cameraIcon } from "./widgets.js";

const NEEDS_NOTE = new Set(["reject", "rework", "merge", "operator_close", "send_back", "reassign"]);
// Actions that name a department: where to dispatch, or where to pass an event on (改派).
const TAKES_DEPARTMENT = new Set(["dispatch", "reassign"]);
// The on-site check closes an event only with a photo of what the grid worker found.
const NEEDS_PHOTO = new Set(["close"]);
const CONFIRM_FIRST = new Set(["reported", "verifying"]);
const PRIMARY = ["confirm", "dispatch", "accept", "resolve", "close"];
// How far a suppression reaches beyond the object's box, as a share of its size on each side.
const SUPPRESS_MARGINS = [["0.25", "suppress.margin.small"], ["0.5", "suppress.margin.medium"], ["1", "suppress.margin.large"]];
const SUPPRESS_DAYS = [["7", "suppress.days.7"], ["30", "suppress.days.30"], ["90", "suppress.days.90"], ["", "suppress.days.never"]];

/** Post one action; "dispatch" of an unconfirmed event confirms it first. Returns the detail. */
export async function runAction(event, action, { note = "", departmentId, intoEventId, photos = [], suppress } = {}) {
  if (action === "dispatch" && CONFIRM_FIRST.has(event.status)) {
    const confirm = new FormData();
    confirm.append("note", note);
    await api(`/api/v1/events/${event.id}/actions/confirm`, { method: "POST", form: confirm });
  }
  const form = new FormData();
  form.append("note", note);
  if (departmentId) form.append("department_id", departmentId);
  if (intoEventId) form.append("into_event_id", intoEventId);
  for (const photo of photos) form.append("photos", photo, photo.name);
  if (suppress) form.append("suppress", JSON.stringify(suppress));
  return api(`/api/v1/events/${event.id}/actions/${action}`, { method: "POST", form });
}

export function errorText(err) {
  if (err instanceof ApiError) {
    if (err.status === 0) return t("error.network");
    if (err.status === 404) return t("error.not_found");
    if (err.status === 403) return `${t("error.forbidden")} ${err.detail}`;
    return err.detail || t("error.generic");
  }
  return String(err?.message || err);
}

async function departmentOptions(select, current, { exclude } = {}) {
  try {
    const departments = (await once("/api/v1/departments")).filter((d) => d.id !== exclude);
    select.replaceChildren(
      ...(exclude ? [h("option", { value: "" }, t("form.pick_department"))] : []),
      ...departments.map((d) => h("option", { value: d.id, selected: d.id === current }, d.name)),
    );
  } catch {
    select.replaceChildren(h("option", { value: current || "" }, current || "—"));
  }
}

async function mergeOptions(select, hint, event) {
  try {
    const candidates = await api(`/api/v1/events/${event.id}/merge-candidates`);
    if (!candidates.length) hint.textContent = t("merge.none_nearby");
    select.replaceChildren(
      h("option", { value: "" }, t("merge.pick")),
      ...candidates.map(({ event: other, distance_m: metres }) =>
        h("option", { value: other.id }, `#${other.id} ${other.title} (${Math.round(metres)} m, ${label("status", other.status)})`),
      ),
    );
  } catch (err) {
    hint.textContent = errorText(err);
  }
}

function hhmm(date) {
  return `${String(date.getHours()).padStart(2, "0")}:${String(date.getMinutes()).padStart(2, "0")}`;
}

/**
 * "Do not raise this again" for a false-alarm verdict on a camera's alert: the region around
 * the object, optionally only at this time of day (an hour either side of the incident), with
 * an expiry. `value()` is the API's `suppress` object, or null when not chosen.
 */
function suppressFields(event) {
  const detected = new Date(event.incident.detected_at);
  const enabled = h("input", { type: "checkbox", name: "suppress" });
  const margin = h("select", { name: "suppress_margin" }, options(SUPPRESS_MARGINS.map(([v, key]) => [v, t(key)]), "0.5"));
  const timed = h("input", { type: "checkbox", name: "suppress_timed" });
  const starts = h("input", { type: "time", name: "suppress_starts", value: hhmm(new Date(detected.getTime() - 3600e3)) });
  const ends = h("input", { type: "time", name: "suppress_ends", value: hhmm(new Date(detected.getTime() + 3600e3)) });
  const days = h("select", { name: "suppress_days" }, options(SUPPRESS_DAYS.map(([v, key]) => [v, t(key)]), "30"));
  const details = h(
    "div",
    { class: "suppress-details", hidden: true },
    h("label", { class: "field" }, h("span", {}, t("suppress.margin")), margin),
    h("label", { class: "check" }, timed, " ", t("suppress.timed"), " ", starts, " – ", ends),
    h("label", { class: "field" }, h("span", {}, t("suppress.expires")), days),
    h("small", { class: "muted" }, t("suppress.help", { object: event.incident.object_class, zone: event.incident.zone })),
  );
  enabled.addEventListener("change", () => {
    details.hidden = !enabled.checked;
  });
  const box = h("fieldset", { class: "suppress-choice" }, h("label", { class: "check" }, enabled, " ", t("suppress.choice")), details);
  box.value = () => {
    if (!enabled.checked) return null;
    const suppress = { margin: Number(margin.value) };
    if (timed.checked && starts.value && ends.value) Object.assign(suppress, { starts_at_time: starts.value, ends_at_time: ends.value });
    if (days.value) suppress.expires_in_days = Number(days.value);
    return suppress;
  };
  return box;
}

/**
 * The form that acts on `event`: one button per action in `actions`, with the fields those
 * actions take. `onDone(detail)` gets the event as the API returns it after the action.
 * `suppress`: offer "do not raise this again" with a false-alarm verdict on a camera's alert.
 */
export function actionForm({ event, actions, onDone, photos = true, autofocus = false, suppress = false }) {
  const note = h("textarea", {
    name: "note",
    rows: 3,
    maxlength: 5000,
    placeholder: t("form.note_placeholder"),
    autofocus,
  });
  const error = h("p", { class: "form-error", role: "alert" });
  const fields = [h("label", { class: "field" }, h("span", {}, t("form.note")), note)];

  let department = null;
  if (actions.includes("dispatch")) {
    department = h("select", { name: "department_id" }, h("option", { value: event.department_id || "" }, "…"));
    departmentOptions(department, event.department_id);
    fields.push(h("label", { class: "field" }, h("span", {}, t("form.department")), department));
  } else if (actions.includes("reassign")) {
    // Passing an event on names another department than the one that has it.
    department = h("select", { name: "department_id" }, h("option", { value: "" }, "…"));
    departmentOptions(department, null, { exclude: event.department_id });
    fields.push(h("label", { class: "field" }, h("span", {}, t("form.department")), department));
  }

  let mergeTarget = null;
  if (actions.includes("merge")) {
    const hint = h("small", { class: "muted" });
    mergeTarget = h("select", { name: "into_event_id" }, h("option", { value: "" }, "…"));
    const manual = h("input", { type: "number", min: 1, name: "into_event_id_manual", placeholder: t("merge.by_number"), class: "short" });
    mergeOptions(mergeTarget, hint, event);
    mergeTarget.manual = manual;
    fields.push(h("label", { class: "field" }, h("span", {}, t("form.merge_into")), mergeTarget, manual, hint));
  }

  const suppression = suppress && actions.includes("reject") && event.incident ? suppressFields(event) : null;
  if (suppression) fields.push(suppression);

  let photoInput = null;
  const previews = h("div", { class: "photo-previews" });
  if (photos) {
    photoInput = h("input", {
      type: "file",
      name: "photos",
      accept: "image/jpeg,image/png,image/webp",
      capture: "environment",
      multiple: true,
      onchange: () => {
        previews.replaceChildren(
          ...[...photoInput.files].map((file) => {
            const url = URL.createObjectURL(file);
            return h("img", { src: url, alt: file.name, class: "thumb", onload: () => URL.revokeObjectURL(url) });
          }),
        );
      },
    });
    fields.push(
      h("label", { class: "field photo-field" }, h("span", {}, t("form.photos")), h("span", { class: "button-like" }, cameraIcon(), t("form.take_photo")), photoInput),
      previews,
    );
  }

  const form = h("form", { class: "action-form", novalidate: true }, ...fields, error);
  // The step that moves the event on is the prominent one; a dialog's single action always is.
  const primary = actions.length === 1 ? actions[0] : PRIMARY.find((action) => actions.includes(action));
  const buttons = actions.map((action) =>
    h("button", { type: "submit", class: `action action-${action}${action === primary ? " primary" : ""}`, value: action, dataset: { action } }, label("action", action)),
  );
  form.append(h("div", { class: "form-buttons" }, buttons));

  form.addEventListener("submit", async (submitted) => {
    submitted.preventDefault();
    const action = submitted.submitter?.value || actions[0];
    error.textContent = "";
    const text = note.value.trim();
    if (NEEDS_NOTE.has(action) && !text) {
      error.textContent = t("form.note_required");
      note.focus();
      return;
    }
    if (NEEDS_PHOTO.has(action) && !(photoInput && photoInput.files.length)) {
      error.textContent = t("form.photo_required");
      return;
    }
    if (action === "reassign" && !department?.value) {
      error.textContent = t("form.pick_department");
      department?.focus();
      return;
    }
    const intoEventId = mergeTarget ? mergeTarget.value || mergeTarget.manual.value : undefined;
    if (action === "merge" && !intoEventId) {
      error.textContent = t("merge.pick");
      return;
    }
    for (const button of buttons) button.disabled = true;
    try {
      const detail = await runAction(event, action, {
        note: text,
        departmentId: TAKES_DEPARTMENT.has(action) ? department?.value : undefined,
        intoEventId: action === "merge" ? intoEventId : undefined,
        photos: photoInput ? [...photoInput.files] : [],
        suppress: action === "reject" ? suppression?.value() : undefined,
      });
      toast(t("action.done", { action: label("action", action), id: event.id }), "ok");
      onDone?.(detail, action);
    } catch (err) {
      error.textContent = errorText(err);
    } finally {
      for (const button of buttons) button.disabled = false;
    }
  });
  return form;
}

/** A modal dialog for one action on one event; resolves to the updated event or null. */
export function openActionDialog(event, action) {
  return new Promise((resolve) => {
    let result = null;
    const dialog = h("dialog", { class: "action-dialog", dataset: { action } });
    const close = () => dialog.close();
    dialog.append(
      h("h2", {}, label("action", action), " · #", String(event.id)),
      h("p", { class: "dialog-event" }, event.title),
      h("p", { class: "muted" }, t(`action.help.${action}`)),
      actionForm({
        event,
        actions: [action],
        photos: false,
        autofocus: true,
        onDone: (detail) => {
          result = detail;
          close();
        },
      }),
      h("button", { type: "button", class: "dialog-cancel", onclick: close }, t("form.cancel")),
    );
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(result);
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}
