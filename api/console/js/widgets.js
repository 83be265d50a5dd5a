// Pieces several pages show: badges, evidence images and clips, event cards, timers.

import { authorisedObjectUrl } from "./api.js";
import { h, s } from "./dom.js";
import { CAMERA_COLOURS, STATUS_COLOURS, place } from "./domain.js";
import { ageText, deadlineText, getLang, label, t } from "./i18n.js";

export function statusBadge(status) {
  return h(
    "span",
    { class: "badge badge-status", dataset: { status }, style: { background: STATUS_COLOURS[status] || "#5f6368" } },
    label("status", status),
  );
}

export function severityBadge(severity) {
  return h("span", { class: `badge badge-severity sev-${severity}` }, label("severity", severity));
}

export function categoryBadge(category) {
  return h("span", { class: "badge badge-category" }, label("category", category));
}

export function cameraBadge(status) {
  return h(
    "span",
    { class: "badge badge-camera", dataset: { health: status }, style: { background: CAMERA_COLOURS[status] || CAMERA_COLOURS.unknown } },
    label("camera_status", status),
  );
}

/** An <img> of evidence that needs the access token; shows a placeholder until it loads. */
export function evidenceImage(url, alt, extraClass = "") {
  const img = h("img", { class: `evidence ${extraClass} loading`, alt, decoding: "async" });
  if (!url) {
    img.classList.replace("loading", "missing");
    return img;
  }
  authorisedObjectUrl(url).then((objectUrl) => {
    if (objectUrl) {
      img.src = objectUrl;
      img.classList.remove("loading");
    } else {
      img.classList.replace("loading", "missing");
      img.alt = t("evidence.unavailable");
    }
  });
  return img;
}

/** A <video> for an event's clip (fetched with the token); null when the event has none. */
export function evidenceClip(event) {
  const url = event.clip_url || event.incident?.clip_url;
  if (!url) return null;
  const video = h("video", { class: "evidence-clip", controls: true, muted: true, playsinline: true, preload: "metadata" });
  authorisedObjectUrl(url).then((objectUrl) => {
    if (objectUrl) video.src = objectUrl;
    else video.replaceWith(h("p", { class: "muted" }, t("evidence.clip_unavailable")));
  });
  return video;
}

const pad = (n) => String(n).padStart(2, "0");

/**
 * A time with its zone, as burned into the snapshots: "2026-11-29 16:00:05 UTC+08:00", in the
 * browser's zone (a district's consoles and cameras share one).
 */
export function zonedText(iso) {
  const at = new Date(iso);
  const minutes = -at.getTimezoneOffset();
  const sign = minutes < 0 ? "-" : "+";
  const offset = `UTC${sign}${pad(Math.floor(Math.abs(minutes) / 60))}:${pad(Math.abs(minutes) % 60)}`;
  return `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())} ${pad(at.getHours())}:${pad(at.getMinutes())}:${pad(at.getSeconds())} ${offset}`;
}

/** A <time> element with its zone (see zonedText). */
export function zoned(iso) {
  return h("time", { class: "zoned", datetime: iso }, zonedText(iso));
}

/**
 * Why an event's department is not the one its category goes to (the owner's routing, the
 * event code's type, or a person's dispatch); null when they agree. `departments`: id -> name.
 */
export function routingNote(event, departments = new Map()) {
  if (!event.routed_by || !event.department_id) return null;
  const name = (id) => departments.get(id) || id || "—";
  return h(
    "p",
    { class: "routing-note", dataset: { routedBy: event.routed_by } },
    "ⓘ ",
    t(`routing.${event.routed_by}`, {
      category: label("category", event.category),
      default: name(event.category_department_id),
      department: name(event.department_id),
      code: event.event_code || "",
      name: (getLang() === "en" ? event.event_name_en : event.event_name_zh) || "",
    }),
  );
}

/** Text that says how long ago; kept current by the clock in main.js. */
export function ago(iso) {
  return h("time", { class: "age", datetime: iso, dataset: { age: iso }, title: zonedText(iso) }, ageText(iso));
}

/**
 * Whether the event's situation goes on now: it still went on when last seen, and the quiet
 * period after that (ongoing_until) has not passed by this page's clock, so a page left open
 * clears it without any new message.
 */
export function ongoingNow(event) {
  return Boolean(event.ongoing) && (!event.ongoing_until || Date.parse(event.ongoing_until) > Date.now());
}

function ongoingBadge(ongoing, until) {
  return h(
    "span",
    { class: `badge ${ongoing ? "badge-ongoing" : "badge-ended"}`, dataset: ongoing && until ? { ongoingUntil: until } : {} },
    t(ongoing ? "situation.ongoing" : "situation.ended"),
  );
}

/** One situation, one item: how often it occurred, when last, and whether it goes on. */
export function situation(event) {
  if (!event.last_seen_at) return null;
  const ongoing = ongoingNow(event);
  return h(
    "p",
    { class: `situation${ongoing ? " is-ongoing" : ""}` },
    h("span", { class: "occurrences" }, t("situation.count", { n: event.occurrence_count })),
    " · ",
    t("situation.last_seen"),
    " ",
    Object.assign(ago(event.last_seen_at), { className: "last-seen" }),
    " ",
    ongoingBadge(ongoing, event.ongoing_until),
  );
}

/** Text that says how long until a deadline (or how long past it). */
export function deadline(iso) {
  if (!iso) return h("span", { class: "deadline muted" }, t("deadline.none"));
  const late = Date.parse(iso) < Date.now();
  return h("time", { class: `deadline${late ? " overdue" : ""}`, datetime: iso, dataset: { deadline: iso } }, deadlineText(iso));
}

/** Refresh every age and deadline text on the page. */
export function refreshClocks(root = document) {
  for (const el of root.querySelectorAll("[data-age]")) el.textContent = ageText(el.dataset.age);
  for (const el of root.querySelectorAll("[data-deadline]")) {
    el.textContent = deadlineText(el.dataset.deadline);
    el.classList.toggle("overdue", Date.parse(el.dataset.deadline) < Date.now());
  }
  // A situation nobody has seen going on for the quiet period has ended, message or none.
  for (const el of root.querySelectorAll("[data-ongoing-until]")) {
    if (Date.parse(el.dataset.ongoingUntil) > Date.now()) continue;
    el.closest(".situation")?.classList.remove("is-ongoing");
    el.replaceWith(ongoingBadge(false));
  }
}

function sourceIcon(event) {
  return h("div", { class: "evidence placeholder" }, h("span", {}, label("source", event.source)));
}

/**
 * A card for one event: its evidence, what and where, and (when `actions` is given) buttons
 * that call `onAction(event, action)`.
 */
export function eventCard(event, { actions = [], onAction, href, compact = false, departments, onSelect, selected = false } = {}) {
  const clip = compact ? null : evidenceClip(event);
  const picture = event.snapshot_url
    ? evidenceImage(event.snapshot_url, event.title, "snapshot")
    : sourceIcon(event);
  // The picture links where the title does; the keyboard's stop is the title (one, not two).
  const media = h("a", { class: "card-media", href: href || `#/events/${event.id}`, tabindex: -1 }, picture);
  let playButton = null;
  if (clip) {
    playButton = h("button", {
      type: "button",
      class: "play",
      title: t("evidence.play_clip"),
      onclick: () => {
        media.replaceWith(clip);
        clip.play().catch(() => {});
        playButton.remove();
      },
    }, "▶ ", t("evidence.clip"));
  }
  const facts = h(
    "dl",
    { class: "facts" },
    event.camera_name && [h("dt", {}, t("field.camera")), h("dd", { class: "camera" }, event.camera_name)],
    [h("dt", {}, t("field.place")), h("dd", { class: "place" }, place(event) || "—")],
    [h("dt", {}, t("field.grid")), h("dd", { class: "grid" }, event.grid_name || event.grid_id || t("grid.outside"))],
  );
  const pick = onSelect
    ? h("label", { class: "card-select", title: t("wall.select") }, h("input", { type: "checkbox", class: "select-event", checked: selected, "aria-label": `${t("wall.select")} #${event.id}`, onchange: (e) => onSelect(event, e.target.checked) }))
    : null;
  return h(
    "article",
    { class: `event-card status-${event.status}${event.overdue ? " is-overdue" : ""}${selected ? " is-selected" : ""}`, dataset: { eventId: event.id } },
    pick,
    media,
    h(
      "div",
      { class: "card-body" },
      h(
        "div",
        { class: "badges" },
        severityBadge(event.severity),
        categoryBadge(event.category),
        statusBadge(event.status),
        event.intake === "verify" && event.status === "reported" ? h("span", { class: "badge badge-alert-queue" }, t("event.alert_queue")) : null,
        ago(event.occurred_at),
        h("small", { class: "occurred muted" }, zoned(event.occurred_at)),
      ),
      h("h3", { class: "title" }, h("a", { href: href || `#/events/${event.id}` }, event.title)),
      facts,
      situation(event),
      routingNote(event, departments),
      event.acknowledged_at
        ? h("p", { class: "acknowledged", title: zonedText(event.acknowledged_at) }, "✓ ", t("event.acknowledged"), " · ", event.acknowledged_by)
        : null,
      compact && event.deadline_at ? h("p", { class: "deadline-line" }, t("field.deadline"), ": ", deadline(event.deadline_at)) : null,
      actions.length || playButton
        ? h(
            "div",
            { class: "card-actions" },
            playButton,
            actions.map((action) =>
              h("button", {
                type: "button",
                class: `action action-${action}`,
                dataset: { action },
                onclick: () => onAction(event, action),
              }, label("action", action)),
            ),
          )
        : null,
    ),
  );
}

/** A small camera icon for photo buttons. */
export function cameraIcon() {
  return s(
    "svg",
    { viewBox: "0 0 24 24", width: 18, height: 18, "aria-hidden": "true", class: "icon" },
    s("path", { d: "M4 7h3l2-2.5h6L17 7h3a1 1 0 0 1 1 1v10a1 1 0 0 1-1 1H4a1 1 0 0 1-1-1V8a1 1 0 0 1 1-1z", fill: "none", stroke: "currentColor", "stroke-width": 1.8, "stroke-linejoin": "round" }),
    s("circle", { cx: 12, cy: 13, r: 3.6, fill: "none", stroke: "currentColor", "stroke-width": 1.8 }),
  );
}

/** A loading line, an empty line or an error line inside a list. */
export function notice(text, kind = "muted") {
  return h("p", { class: `notice ${kind}` }, text);
}
