// Live view: the camera now, to check whether a situation is still there. While the panel is
// open the console renews its viewer registration every few seconds and fetches the newest
// picture about once a second; the camera's worker sends pictures only while someone watches.

import { api, session } from "./api.js";
import { errorText } from "./actions.js";
import { h } from "./dom.js";
import { t } from "./i18n.js";

const REFRESH_MS = 1000;
const RENEW_EVERY = 4; // refreshes: the API keeps a viewer for 10 s
const STALE_S = 5;

/**
 * A "实时画面" panel for camera `cameraId`: a button starts watching, another stops; watching
 * also stops when the panel has left the page. `start: true` starts at once (an explicit
 * click opened it). `panel.stop()` ends it. The picture's capture time is in
 * `data-captured-at` and its age (by the API's clock) in `data-age-s`.
 */
export function livePanel(cameraId, { start = false } = {}) {
  const image = h("img", { class: "live-picture", alt: t("liveview.alt"), hidden: true });
  const status = h("p", { class: "live-status muted", role: "status" });
  const toggle = h("button", { type: "button", class: "live-toggle" }, t("liveview.start"));
  const panel = h(
    "section",
    { class: "panel live-view", dataset: { cameraId } },
    h("div", { class: "live-head" }, h("h2", {}, t("liveview.title")), toggle),
    image,
    status,
  );
  let timer = null;
  let ticks = 0;
  let absent = 0;
  let shown = null; // object URL of the picture shown
  let received = null; // [Date.now() when fetched, age in seconds then]

  function showAge() {
    if (!received) {
      status.textContent = t("liveview.waiting");
      return;
    }
    const age = received[1] + (Date.now() - received[0]) / 1000;
    panel.dataset.ageS = age.toFixed(1);
    panel.classList.toggle("is-stale", age > STALE_S);
    status.textContent = t(age > STALE_S ? "liveview.stale" : "liveview.age", { s: Math.max(0, Math.round(age)) });
  }

  async function renew() {
    try {
      await api(`/api/v1/cameras/${cameraId}/live-view`, { method: "POST" });
    } catch (err) {
      status.textContent = t("liveview.failed", { reason: errorText(err) });
      stop();
    }
  }

  async function refresh() {
    let response;
    try {
      response = await fetch(`/api/v1/cameras/${cameraId}/live.jpg`, {
        headers: { Authorization: `Bearer ${session.token}` },
        cache: "no-store",
      });
    } catch {
      showAge();
      return;
    }
    if (response.ok && timer) {
      const blob = await response.blob();
      const url = URL.createObjectURL(blob);
      image.src = url;
      image.hidden = false;
      if (shown) URL.revokeObjectURL(shown);
      shown = url;
      received = [Date.now(), Number(response.headers.get("X-GridWatch-Picture-Age-S") || 0)];
      panel.dataset.capturedAt = response.headers.get("X-GridWatch-Captured-At") || "";
    }
    showAge();
  }

  function tick() {
    if (!panel.isConnected) {
      // Moved between redraws is fine; gone from the page for good stops the view.
      if (++absent >= 3) stop();
      return;
    }
    absent = 0;
    ticks += 1;
    if (ticks % RENEW_EVERY === 0) renew();
    refresh();
  }

  function begin() {
    if (timer) return;
    ticks = 0;
    received = null;
    panel.classList.add("is-watching");
    toggle.textContent = t("liveview.stop");
    timer = setInterval(tick, REFRESH_MS);
    showAge();
    renew().then(refresh);
  }

  function stop() {
    if (timer) clearInterval(timer);
    timer = null;
    panel.classList.remove("is-watching");
    toggle.textContent = t("liveview.start");
  }

  toggle.addEventListener("click", () => (timer ? stop() : begin()));
  panel.stop = stop;
  if (start) begin();
  return panel;
}

/** A dialog with the live panel of `camera` ({id, name}), watching at once until closed. */
export function openLiveDialog(camera) {
  const panel = livePanel(camera.id, { start: true });
  const dialog = h(
    "dialog",
    { class: "live-dialog" },
    h("p", { class: "dialog-event" }, camera.name),
    panel,
    h("button", { type: "button", class: "dialog-cancel", onclick: () => dialog.close() }, t("form.cancel")),
  );
  dialog.addEventListener("close", () => {
    panel.stop();
    dialog.remove();
  });
  document.body.append(dialog);
  dialog.showModal();
}
