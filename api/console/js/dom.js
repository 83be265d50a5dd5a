// Building DOM nodes without innerHTML: event titles, notes and names come from people and
// cameras, so text is always inserted as text.

const SVG_NS = "http://www.w3.org/2000/svg";

function setAttributes(el, attrs) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.setAttribute("class", value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "style") Object.assign(el.style, value);
    else if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "value" && "value" in el) el.value = value;
    else if (key === "checked" || key === "selected" || key === "disabled") {
      el[key] = Boolean(value);
      if (value) el.setAttribute(key, "");
    } else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
}

function appendChildren(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

/** An HTML element: h("button", {class: "primary", onclick}, "Save"). */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttributes(el, attrs);
  appendChildren(el, children);
  return el;
}

/** An SVG element, same calling convention as h(). */
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttributes(el, attrs);
  appendChildren(el, children);
  return el;
}

/** Replace everything inside `el`. */
export function mount(el, ...children) {
  el.replaceChildren();
  appendChildren(el, children);
  return el;
}

/** A short message that fades away: kind is "ok", "error" or "info". */
export function toast(message, kind = "info") {
  const box = document.getElementById("toasts");
  if (!box) return;
  const item = h("div", { class: `toast toast-${kind}`, role: kind === "error" ? "alert" : "status" }, message);
  box.append(item);
  setTimeout(() => item.classList.add("toast-leaving"), 4200);
  setTimeout(() => item.remove(), 4800);
}

/** Options for a <select> from [value, label] pairs, the current one selected. */
export function options(pairs, current) {
  return pairs.map(([value, label]) =>
    h("option", { value, selected: String(value) === String(current ?? "") }, label),
  );
}

// What the keyboard can stop on, in the order a redraw can find it again.
const FOCUSABLE = "a[href], button, input, select, textarea, summary, [tabindex]";

/**
 * Where the keyboard is inside `root`, so that a redraw (a live update, a reload after the live
 * feed reconnects) can give it back. The place is the nearest item around the focused element
 * (an element with `data-event-id`, else `root` itself) and, inside it, the focused element's
 * `data-action` or its index among the item's focusable elements. Returns null when the focus is
 * not inside `root`.
 */
export function focusPlace(root) {
  const active = document.activeElement;
  if (!active || active === document.body || !root.contains(active)) return null;
  const item = active.closest("[data-event-id]");
  const owner = item && item !== root && root.contains(item) ? item : root;
  return {
    eventId: owner === root ? null : owner.dataset.eventId,
    self: active === owner,
    action: active.dataset.action || null,
    index: [...owner.querySelectorAll(FOCUSABLE)].indexOf(active),
  };
}

/**
 * Put the keyboard back where `focusPlace` found it, in the redrawn `root`: the same control
 * of the same item, or the item itself when the control is gone. Does nothing when something
 * else has taken the focus since, or when the item is no longer shown.
 */
export function returnFocus(root, place) {
  if (!place) return;
  const active = document.activeElement;
  if (active && active !== document.body && active.isConnected) return;
  const owner = place.eventId === null ? root : root.querySelector(`[data-event-id="${CSS.escape(place.eventId)}"]`);
  if (!owner) return;
  let target = owner;
  if (!place.self) {
    const controls = [...owner.querySelectorAll(FOCUSABLE)];
    target =
      (place.action && controls.find((el) => el.dataset.action === place.action)) ||
      controls[place.index] ||
      owner;
  }
  target.focus({ preventScroll: true });
}

/** Run `change`, which redraws part of `root`, keeping the keyboard's place; returns its result. */
export function keepingFocus(root, change) {
  const place = focusPlace(root);
  const result = change();
  returnFocus(root, place);
  return result;
}
