// Acting on an event: the form (note, department, merge target, photos, "do not raise this
// again" on a false alarm) and the dialog the alert wall opens for one action.

import { api, ApiError, once, session } from "./api.js";
import { dropDraft, loadDraft, saveDraft } from "./drafts.js";
import { h, options, toast } from "./dom.js";
import { label, t } from "./i18n.js";
import { ago, cameraIcon, evidenceClip, evidenceImage, statusBadge, zoned } from "./widgets.js";

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
export async function runAction(event, action, { note = "", departmentId, assigneeId, intoEventId, photos = [], suppress } = {}) {
  if (action === "dispatch" && CONFIRM_FIRST.has(event.status)) {
    const confirm = new FormData();
    confirm.append("note", note);
    await api(`/api/v1/events/${event.id}/actions/confirm`, { method: "POST", form: confirm });
  }
  const form = new FormData();
  form.append("note", note);
  if (departmentId) form.append("department_id", departmentId);
  if (assigneeId) form.append("assignee_id", assigneeId);
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

/**
 * The merge picker: open events of the same category nearby, newest first, each with its
 * picture, time, camera and distance; or an event number typed in. `value()` is the chosen id.
 */
function mergePicker(event) {
  const list = h("ul", { class: "merge-candidates", role: "radiogroup", "aria-label": t("form.merge_into") }, h("li", { class: "muted" }, t("common.loading")));
  const manual = h("input", { type: "number", min: 1, name: "into_event_id_manual", placeholder: t("merge.by_number"), class: "short" });
  api(`/api/v1/events/${event.id}/merge-candidates`)
    .then((candidates) => {
      if (!candidates.length) {
        list.replaceChildren(h("li", { class: "muted" }, t("merge.none_nearby")));
        return;
      }
      list.replaceChildren(
        ...candidates.map(({ event: other, distance_m: metres }) =>
          h(
            "li",
            {},
            h(
              "label",
              { class: "merge-candidate", dataset: { eventId: other.id } },
              h("input", { type: "radio", name: "into_event_id", value: other.id }),
              other.snapshot_url ? evidenceImage(other.snapshot_url, other.title, "thumb") : h("span", { class: "thumb placeholder" }, label("source", other.source)),
              h(
                "span",
                { class: "candidate-text" },
                h("strong", {}, `#${other.id} `, other.title),
                h("span", { class: "candidate-meta" }, zoned(other.occurred_at), " · ", ago(other.occurred_at)),
                h("span", { class: "candidate-meta" }, other.camera_name || other.address || "—", " · ", h("span", { class: "distance" }, t("merge.distance", { m: Math.round(metres) })), " · ", statusBadge(other.status)),
              ),
            ),
          ),
        ),
      );
    })
    .catch((err) => list.replaceChildren(h("li", { class: "form-error" }, errorText(err))));
  const box = h("fieldset", { class: "merge-picker" }, h("legend", {}, t("form.merge_into")), list, h("label", { class: "field inline" }, h("span", {}, t("merge.manual")), manual));
  box.value = () => list.querySelector("input[name=into_event_id]:checked")?.value || manual.value;
  return box;
}

/** Whom to send to verify: the grid workers of the event's cell, or anyone there. */
function verifierSelect(event, chosen = null) {
  const select = h("select", { name: "assignee_id" }, h("option", { value: "" }, t("verify.any")));
  api(`/api/v1/events/${event.id}/verifiers`)
    .then((workers) => {
      if (!workers.length) select.replaceChildren(h("option", { value: "" }, t("verify.none")));
      else select.append(...workers.map((w) => h("option", { value: w.id, selected: String(w.id) === String(chosen) }, w.full_name ? `${w.full_name} (${w.username})` : w.username)));
    })
    .catch(() => {});
  return select;
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
    h("small", { class: "muted" }, t("suppress.help", { object: label("object", event.incident.object_class), zone: event.incident.zone })),
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
export function actionForm({ event, actions, onDone, photos = true, autofocus = false, suppress = false, draft = null, onChange = null }) {
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
    const chosen = draft?.department_id || event.department_id;
    department = h("select", { name: "department_id" }, h("option", { value: chosen || "" }, "…"));
    departmentOptions(department, chosen);
    fields.push(h("label", { class: "field" }, h("span", {}, t("form.department")), department));
  } else if (actions.includes("reassign")) {
    // Passing an event on names another department than the one that has it.
    department = h("select", { name: "department_id" }, h("option", { value: "" }, "…"));
    departmentOptions(department, draft?.department_id || null, { exclude: event.department_id });
    fields.push(h("label", { class: "field" }, h("span", {}, t("form.department")), department));
  }

  let mergeTarget = null;
  if (actions.includes("merge")) {
    mergeTarget = mergePicker(event);
    fields.push(mergeTarget);
  }

  let assignee = null;
  if (actions.includes("verify")) {
    assignee = verifierSelect(event, draft?.assignee_id);
    fields.push(h("label", { class: "field" }, h("span", {}, t("verify.assignee")), assignee));
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
  if (draft) {
    note.value = draft.note || "";
    if (photoInput && draft.photos?.length) {
      const kept = new DataTransfer();
      for (const file of draft.photos) kept.items.add(file);
      photoInput.files = kept.files;
      photoInput.dispatchEvent(new Event("change"));
    }
  }
  // What the person typed and chose, for a draft that outlives a reload or a login that ran out.
  const values = () => ({
    note: note.value,
    department_id: department?.value || null,
    assignee_id: assignee?.value || null,
    photos: photoInput ? [...photoInput.files] : [],
  });
  if (onChange) {
    form.addEventListener("input", () => onChange(values()));
    form.addEventListener("change", () => onChange(values()));
  }
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
    const intoEventId = mergeTarget ? mergeTarget.value() : undefined;
    if (action === "merge" && !intoEventId) {
      error.textContent = t("merge.pick");
      return;
    }
    for (const button of buttons) button.disabled = true;
    try {
      const detail = await runAction(event, action, {
        note: text,
        departmentId: TAKES_DEPARTMENT.has(action) ? department?.value : undefined,
        assigneeId: action === "verify" ? assignee?.value : undefined,
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

/** The evidence a dialog shows beside its fields: the snapshot and the clip, small. */
function dialogEvidence(event) {
  const clip = evidenceClip(event);
  if (!event.snapshot_url && !clip) return null;
  return h(
    "div",
    { class: "dialog-evidence", "aria-label": t("event.evidence") },
    event.snapshot_url ? evidenceImage(event.snapshot_url, event.title, "dialog-snapshot") : null,
    clip,
  );
}

// The action dialog open in this tab (event, action, page, person): a reload or a login that ran
// out and was taken up again opens it again where it was, with its draft (restoreActionDialog).
const OPEN_DIALOG_KEY = "gridwatch.open_action";

// The page is going (a reload, a closed tab): what its dialogs close with is not the person's.
let leaving = false;
window.addEventListener("pagehide", () => {
  leaving = true;
});

function pagePath() {
  return location.hash.replace(/^#/, "") || "/";
}

function dialogDraftKey(event, action) {
  return `action:${session.me?.username || ""}:${event.id}:${action}`;
}

/**
 * A modal dialog for one action on one event, with only that action's fields beside the
 * event's snapshot and clip; resolves to the updated event or null. What the person types is
 * kept as a draft until the dialog is sent or cancelled, and the dialog opens again with it
 * after a reload or a new login (restoreActionDialog).
 * `photos`: offer photos; `suppress`: offer "do not raise this again" with a false alarm.
 */
export async function openActionDialog(event, action, { photos = false, suppress = true } = {}) {
  const draftKey = dialogDraftKey(event, action);
  const draft = await loadDraft(draftKey);
  const opened = { path: pagePath(), username: session.me?.username, event_id: event.id, action, options: { photos, suppress } };
  sessionStorage.setItem(OPEN_DIALOG_KEY, JSON.stringify(opened));
  return new Promise((resolve) => {
    let result = null;
    const dialog = h("dialog", { class: "action-dialog", dataset: { action, eventId: event.id } });
    const close = () => dialog.close();
    dialog.append(
      h("h2", {}, label("action", action), " · #", String(event.id)),
      h("p", { class: "dialog-event" }, event.title, " · ", zoned(event.occurred_at)),
      draft ? h("p", { class: "notice draft-restored" }, t("session.draft_restored")) : null,
      h(
        "div",
        { class: "dialog-body" },
        dialogEvidence(event),
        h(
          "div",
          { class: "dialog-fields" },
          h("p", { class: "muted" }, t(`action.help.${action}`)),
          actionForm({
            event,
            actions: [action],
            photos,
            suppress,
            autofocus: true,
            draft,
            onChange: (values) => saveDraft(draftKey, values),
            onDone: (detail) => {
              result = detail;
              close();
            },
          }),
        ),
      ),
      h("button", { type: "button", class: "dialog-cancel", onclick: close }, t("form.cancel")),
    );
    dialog.addEventListener("close", () => {
      // Taken away with the page (a reload, a login that ran out): the draft and the mark stay.
      if (dialog.isConnected && !leaving) {
        dropDraft(draftKey);
        sessionStorage.removeItem(OPEN_DIALOG_KEY);
      }
      dialog.remove();
      resolve(result);
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

/** Open again the action dialog this tab had open on this page, with its draft (after a
 * reload, or a login that ran out); nothing when there was none, or it was another person's. */
export async function restoreActionDialog() {
  let opened = null;
  try {
    opened = JSON.parse(sessionStorage.getItem(OPEN_DIALOG_KEY) || "null");
  } catch {
    opened = null;
  }
  if (!opened || opened.path !== pagePath() || opened.username !== session.me?.username) return;
  if (document.querySelector("dialog.action-dialog")) return;
  let event;
  try {
    event = await api(`/api/v1/events/${opened.event_id}`);
  } catch {
    sessionStorage.removeItem(OPEN_DIALOG_KEY);
    return;
  }
  if (pagePath() === opened.path && !document.querySelector("dialog.action-dialog")) openActionDialog(event, opened.action, opened.options);
}

/**
 * One verdict for several alerts: "reject" (false alarm, one reason for all) or "merge" (keep
 * one, the others merge into it). Resolves to the events as the API returned them (empty when
 * cancelled); each that failed is named in the dialog, which then stays open.
 */
export function openBulkDialog(kind, events) {
  return new Promise((resolve) => {
    const done = [];
    const dialog = h("dialog", { class: "action-dialog bulk-dialog", dataset: { bulk: kind } });
    const note = h("textarea", { name: "note", rows: 3, maxlength: 5000, placeholder: t("form.note_placeholder"), autofocus: true });
    const error = h("div", { class: "form-error", role: "alert" });
    const ordered = [...events].sort((a, b) => Date.parse(b.occurred_at) - Date.parse(a.occurred_at) || b.id - a.id);
    const rows = ordered.map((event, index) =>
      h(
        "li",
        { dataset: { eventId: event.id } },
        h(
          "label",
          { class: "merge-candidate" },
          kind === "merge" ? h("input", { type: "radio", name: "keep", value: event.id, checked: index === 0 }) : null,
          event.snapshot_url ? evidenceImage(event.snapshot_url, event.title, "thumb") : h("span", { class: "thumb placeholder" }, label("source", event.source)),
          h("span", { class: "candidate-text" }, h("strong", {}, `#${event.id} `, event.title), h("span", { class: "candidate-meta" }, zoned(event.occurred_at), " · ", event.camera_name || event.address || "—")),
        ),
      ),
    );
    const submit = h("button", { type: "submit", class: "primary", dataset: { action: kind } }, t(kind === "merge" ? "wall.bulk_merge" : "wall.bulk_reject"), ` (${events.length})`);
    const form = h(
      "form",
      { class: "action-form", novalidate: true },
      h("p", { class: "muted" }, t(kind === "merge" ? "wall.bulk_merge_help" : "wall.bulk_reject_help")),
      kind === "merge" ? h("p", {}, h("strong", {}, t("wall.bulk_keep"))) : null,
      h("ul", { class: "merge-candidates bulk-list" }, rows),
      h("label", { class: "field" }, h("span", {}, t("form.note")), note),
      error,
      h("div", { class: "form-buttons" }, submit),
    );
    form.addEventListener("submit", async (submitted) => {
      submitted.preventDefault();
      error.replaceChildren();
      const text = note.value.trim();
      if (!text) {
        error.textContent = t("form.note_required");
        note.focus();
        return;
      }
      const keep = kind === "merge" ? Number(form.querySelector("input[name=keep]:checked")?.value) : null;
      const targets = ordered.filter((event) => event.id !== keep && !done.some((d) => d.id === event.id));
      submit.disabled = true;
      const failures = [];
      for (const event of targets) {
        try {
          done.push(await runAction(event, kind, { note: text, intoEventId: keep || undefined }));
        } catch (err) {
          failures.push(h("p", {}, t("wall.bulk_failed", { id: event.id, reason: errorText(err) })));
        }
      }
      submit.disabled = false;
      if (failures.length) {
        error.replaceChildren(...failures);
        return;
      }
      toast(t("wall.bulk_done", { n: done.length }), "ok");
      dialog.close();
    });
    dialog.append(
      h("h2", {}, t(kind === "merge" ? "wall.bulk_merge" : "wall.bulk_reject"), " · ", t("wall.selected", { n: events.length })),
      form,
      h("button", { type: "button", class: "dialog-cancel", onclick: () => dialog.close() }, t("form.cancel")),
    );
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(done);
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}
