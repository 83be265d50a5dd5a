// One grid event: its evidence, facts, the actions open to the caller, and a timeline of who
// did what. An event outside the caller's scope answers 404 and shows "not found".

import { api, ApiError, live, once } from "../api.js";
import { errorText, openActionDialog } from "../actions.js";
import { focusPlace, h, mount, returnFocus } from "../dom.js";
import { actorName, isStale, pageActions } from "../domain.js";
import { label, labelOr, minutesText, t } from "../i18n.js";
import { ago, categoryBadge, deadline, evidenceClip, evidenceImage, notice, routingNote, severityBadge, situation, statusBadge, zoned, zonedText } from "../widgets.js";
import { livePanel } from "../live-view.js";

// Who may watch a camera live: those who may see it (the API's camera scope).
const WATCHERS = new Set(["operator", "admin", "camera_owner"]);
// Each action opens its own dialog with only its fields beside the evidence: at a desk beside
// it, on a phone as a sheet over the whole screen with the evidence above and the button at the
// bottom within reach of the thumb.
const SUPPRESSING_ROLES = new Set(["operator", "admin"]);
const PRIMARY = ["confirm", "dispatch", "accept", "resolve", "close"];
// Actions whose dialog takes photos: what was found or done on site.
const WITH_PHOTOS = new Set(["confirm", "reject", "resolve", "close", "rework", "comment"]);

function fact(name, value) {
  if (value === undefined || value === null || value === "") return null;
  return [h("dt", {}, name), h("dd", {}, value)];
}

function lightbox(url, alt) {
  const dialog = h("dialog", { class: "lightbox", onclick: () => dialog.close() }, evidenceImage(url, alt));
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
}

function photo(attachment) {
  return h(
    "button",
    { type: "button", class: "photo", title: attachment.filename, onclick: () => lightbox(attachment.url, attachment.filename) },
    evidenceImage(attachment.url, attachment.filename, "thumb"),
  );
}

function departmentName(departments, id) {
  return departments.get(id) || id;
}

function stepDetails(step, departments) {
  const details = step.details || {};
  const parts = [];
  if (details.department_id) parts.push(`${t("field.department")}: ${departmentName(departments, details.department_id)}`);
  if (details.from_level) parts.push(`${label("level", details.from_level)} → ${label("level", details.to_level)}`);
  if (details.into_event_id) parts.push(h("a", { href: `#/events/${details.into_event_id}` }, t("event.merged_into", { id: details.into_event_id })));
  if (details.suppression_id) parts.push(h("span", { class: "step-suppression", dataset: { suppressionId: details.suppression_id } }, t("suppress.made", { id: details.suppression_id })));
  return parts.length ? h("p", { class: "step-details" }, parts.flatMap((part, i) => (i ? [" · ", part] : [part]))) : null;
}

// What the system writes in a step, worded from the step's details (its English note is for
// the API's other clients); null when the details do not say, and the note is a person's.
const SYSTEM_NOTES = {
  report: (d, detail) =>
    ({
      // A camera's incident: the event names its camera and zone, which say it all.
      camera: () =>
        detail?.incident?.zone
          ? t("step.video_report", { camera: detail.camera_name || d.camera_id, zone: detail.incident.zone })
          : t("step.report_camera", { camera: d.camera_id, incident: d.incident_id }),
      source: () => t("step.report_source", { source: label("source", d.source) }),
      // Why, from the worker's code (api/health.py records it); its own text is in the description.
      video_loss: () => (d.reason ? t("step.report_video_loss_why", { reason: labelOr("camera.reason", d.reason, t("camera.reason.stream")) }) : t("step.report_video_loss")),
    })[d.origin]?.() ?? null,
  occurrence: (d) => (d.occurrence_count != null ? t("step.occurrence", { count: d.occurrence_count, incident: d.incident_id }) : null),
  attach_clip: (d) => (d.duration_s != null ? t("step.clip", { seconds: d.duration_s }) : null),
  escalate: (d) => (d.reason === "overdue" ? t("step.escalated_overdue", { status: label("status", d.status), duration: minutesText(d.overdue_minutes) }) : null),
  recover: (d) => (d.lost_minutes != null ? t("step.recovered", { duration: minutesText(d.lost_minutes) }) : null),
  expire: (d) => (d.reason === "unverified" ? t("step.expired_unverified", { minutes: d.minutes }) : null),
};

/** A step's note; what the system wrote is said in the reader's language. */
function stepNote(step, detail) {
  const worded = SYSTEM_NOTES[step.action]?.(step.details || {}, detail);
  if (worded) return h("p", { class: "step-note", dataset: { worded: "" } }, worded);
  return step.note ? h("p", { class: "step-note" }, step.note) : null;
}

function timeline(detail, departments) {
  const photosByStep = new Map();
  for (const attachment of detail.attachments) {
    const key = attachment.history_id ?? "none";
    photosByStep.set(key, [...(photosByStep.get(key) || []), attachment]);
  }
  return h(
    "ol",
    { class: "timeline" },
    detail.history.map((step) =>
      h(
        "li",
        { class: `step step-${step.action}`, dataset: { action: step.action } },
        zoned(step.at),
        h(
          "p",
          { class: "step-what" },
          h("strong", { class: "actor" }, actorName(step.actor)),
          " ",
          h("span", { class: "step-action" }, label("action", step.action)),
          step.from_status && step.from_status !== step.to_status
            ? h("span", { class: "step-states" }, " ", label("status", step.from_status), " → ", label("status", step.to_status))
            : null,
        ),
        stepNote(step, detail),
        stepDetails(step, departments),
        photosByStep.has(step.id) ? h("div", { class: "photos" }, photosByStep.get(step.id).map(photo)) : null,
      ),
    ),
  );
}

function incidentFacts(incident) {
  if (!incident) return null;
  return h(
    "dl",
    { class: "facts incident" },
    fact(t("incident.rule"), label("rule", incident.rule)),
    fact(t("incident.zone"), incident.zone),
    fact(t("incident.object"), `${label("object", incident.object_class)} · ${Math.round(incident.confidence * 100)}% · #${incident.track_id}`),
    fact(t("incident.detected"), zoned(incident.detected_at)),
    fact(t("incident.model"), `${incident.model_name} (${incident.model_version})`),
  );
}

// The newest occurrences shown on the page; the API pages through the rest.
const OCCURRENCES_SHOWN = 50;

/** The incidents of the event's situation, newest first, each with its picture and clip. */
function occurrences(detail) {
  if (detail.occurrence_count < 2) return null;
  const list = h("ol", { class: "occurrences" }, h("li", {}, notice(t("common.loading"))));
  api(`/api/v1/events/${detail.id}/occurrences`, { query: { limit: OCCURRENCES_SHOWN } })
    .then((page) =>
      mount(
        list,
        page.items.map((item) =>
          h(
            "li",
            { class: "occurrence", dataset: { incidentId: item.incident_id } },
            h("button", { type: "button", class: "photo", onclick: () => lightbox(item.snapshot_url, label("object", item.object_class)) }, evidenceImage(item.snapshot_url, label("object", item.object_class), "thumb")),
            h(
              "p",
              {},
              zoned(item.detected_at),
              ` · ${label("object", item.object_class)} #${item.track_id} · `,
              t("event.confidence", { value: `${Math.round(item.confidence * 100)}%` }),
              item.clip_url ? [" · ", h("a", { href: item.clip_url, target: "_blank", rel: "noopener" }, t("evidence.clip"))] : null,
            ),
          ),
        ),
      ),
    )
    .catch((err) => mount(list, notice(errorText(err), "error")));
  return h("section", { class: "panel" }, h("h2", {}, t("event.occurrences"), ` (${detail.occurrence_count})`), list);
}

/** The duplicates operators merged into this event, newest first, each with its picture. */
function mergedHere(detail) {
  const list = h("ol", { class: "merged-here" });
  const section = h("section", { class: "panel merged-panel", hidden: true }, h("h2", {}, t("event.merged_here")), list);
  api("/api/v1/events", { query: { merged_into_id: detail.id, limit: 100 } })
    .then((page) => {
      if (!page.items.length) return;
      section.hidden = false;
      section.querySelector("h2").append(` (${page.total})`);
      mount(
        list,
        page.items.map((other) =>
          h(
            "li",
            { class: "merged-event", dataset: { eventId: other.id } },
            other.snapshot_url ? evidenceImage(other.snapshot_url, other.title, "thumb") : null,
            h("p", {}, h("a", { href: `#/events/${other.id}` }, `#${other.id} `, other.title), h("br"), zoned(other.occurred_at), " · ", other.camera_name || other.address || "—"),
          ),
        ),
      );
    })
    .catch(() => {});
  return section;
}

function notFound(main, id) {
  mount(
    main,
    h(
      "section",
      { class: "not-found", dataset: { notFound: id } },
      h("h1", {}, t("event.not_found")),
      h("p", { class: "muted" }, t("event.not_found_help")),
      h("p", {}, h("a", { href: "#/" }, t("event.back_home"))),
    ),
  );
}

export async function render(main, { id }, { role, go }) {
  mount(main, notice(t("common.loading")));
  let detail;
  const departments = new Map();
  try {
    const [loaded, list] = await Promise.all([
      api(`/api/v1/events/${id}`),
      once("/api/v1/departments").catch(() => []),
    ]);
    detail = loaded;
    for (const department of list) departments.set(department.id, department.name);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) notFound(main, id);
    else mount(main, notice(errorText(err), "error"));
    return null;
  }

  const actionsBox = h("section", { class: "panel actions-panel" });
  let shownActions = null;

  function drawActions() {
    const actions = pageActions(detail, role);
    const key = actions.join(",");
    if (key === shownActions) return;
    shownActions = key;
    if (!actions.length) {
      mount(actionsBox, h("h2", {}, t("event.actions")), notice(t("event.no_actions")));
      return;
    }
    const primary = PRIMARY.find((action) => actions.includes(action));
    mount(
      actionsBox,
      h("h2", {}, t("event.actions")),
      h(
        "div",
        { class: "action-buttons" },
        actions.map((action) =>
          h("button", {
            type: "button",
            class: `action action-${action}${action === primary ? " primary" : ""}`,
            dataset: { action },
            onclick: async () => {
              const updated = await openActionDialog(detail, action, { photos: WITH_PHOTOS.has(action), suppress: SUPPRESSING_ROLES.has(role) });
              if (updated) show(updated);
            },
          }, label("action", action)),
        ),
      ),
    );
  }

  const page = h("div", { class: "event-page", dataset: { eventId: detail.id } });
  // Made once, so that a redraw moves the same panel and the view goes on.
  const liveView = detail.camera_id && WATCHERS.has(role) ? livePanel(detail.camera_id) : null;

  function show(fresh) {
    if (isStale(fresh, detail)) return;
    detail = fresh;
    draw();
  }

  function draw() {
    // A live update redraws the page: the keyboard keeps its place (the same action, say).
    const place = focusPlace(page);
    const clip = evidenceClip(detail);
    const loose = detail.attachments.filter((a) => a.history_id === null);
    mount(
      page,
      h(
        "div",
        { class: "event-head" },
        h("button", { type: "button", class: "back link", onclick: () => (history.length > 1 ? history.back() : go("/")) }, "← ", t("event.back")),
        h("h1", {}, h("span", { class: "event-id" }, `#${detail.id} `), h("span", { class: "event-title" }, detail.title)),
        h(
          "div",
          { class: "badges" },
          severityBadge(detail.severity),
          categoryBadge(detail.category),
          statusBadge(detail.status),
          detail.overdue ? h("span", { class: "badge badge-overdue" }, t("event.overdue")) : null,
          detail.intake === "verify" && detail.status === "reported" ? h("span", { class: "badge badge-alert-queue" }, t("event.alert_queue")) : null,
          detail.acknowledged_at ? h("span", { class: "badge badge-acknowledged" }, t("event.acknowledged")) : null,
          ago(detail.occurred_at),
        ),
        situation(detail),
        routingNote(detail, departments),
      ),
      h(
        "div",
        { class: "event-grid" },
        h(
          "section",
          { class: "evidence-col" },
          h(
            "div",
            { class: `evidence-pair${detail.snapshot_url && clip ? " two" : ""}` },
            detail.snapshot_url
              ? h("button", { type: "button", class: "snapshot-button", onclick: () => lightbox(detail.snapshot_url, detail.title) }, evidenceImage(detail.snapshot_url, detail.title, "snapshot-large"))
              : null,
            clip,
          ),
          liveView,
          detail.description ? h("p", { class: "description" }, detail.description) : null,
          incidentFacts(detail.incident),
          loose.length ? h("div", { class: "photos" }, loose.map(photo)) : null,
        ),
        h(
          "section",
          { class: "side-col" },
          h(
            "dl",
            { class: "facts" },
            fact(t("field.source"), label("source", detail.source) + (detail.source_reference ? ` ${detail.source_reference}` : "")),
            fact(t("field.camera"), detail.camera_name),
            fact(t("field.address"), detail.address),
            fact(t("field.grid"), detail.grid_name || detail.grid_id || t("grid.outside")),
            detail.location ? fact(t("field.location"), `${detail.location.lat.toFixed(5)}, ${detail.location.lon.toFixed(5)}`) : null,
            fact(t("field.department"), detail.department_id ? departmentName(departments, detail.department_id) : null),
            fact(t("field.level"), label("level", detail.level)),
            fact(t("field.assignee"), detail.assignee),
            fact(t("field.deadline"), detail.deadline_at ? deadline(detail.deadline_at) : null),
            detail.expires_at ? fact(t("event.alert_queue"), t("event.expires", { when: zonedText(detail.expires_at) })) : null,
            detail.acknowledged_at
              ? fact(t("event.acknowledged"), h("span", { class: "acknowledged" }, t("event.acknowledged_by", { who: detail.acknowledged_by, when: zonedText(detail.acknowledged_at) })))
              : null,
            fact(t("field.occurred"), zoned(detail.occurred_at)),
            detail.first_seen_at ? fact(t("field.first_seen"), zoned(detail.first_seen_at)) : null,
            detail.last_seen_at ? fact(t("field.last_seen"), zoned(detail.last_seen_at)) : null,
            fact(t("field.reporter"), detail.reporter),
            detail.escalations ? fact(t("field.escalations"), String(detail.escalations)) : null,
            detail.reworks ? fact(t("field.reworks"), String(detail.reworks)) : null,
            detail.merged_into_id ? fact(t("field.merged_into"), h("a", { href: `#/events/${detail.merged_into_id}` }, `#${detail.merged_into_id}`)) : null,
          ),
          actionsBox,
          mergedHere(detail),
          occurrences(detail),
          h("section", { class: "panel" }, h("h2", {}, t("event.timeline")), timeline(detail, departments)),
        ),
      ),
    );
    drawActions();
    returnFocus(page, place);
  }

  mount(main, page);
  draw();

  const stop = live.subscribe(async (message) => {
    const changed = message.event?.id ?? message.event_id;
    if (String(changed) !== String(detail.id)) return;
    try {
      show(await api(`/api/v1/events/${detail.id}`));
    } catch {
      // Gone from scope (e.g. merged away from a worker's cell): leave what is shown.
    }
  });
  return () => {
    stop();
    liveView?.stop();
  };
}
