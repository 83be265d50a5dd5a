// The freshest picture of a camera to draw zones on, and how old it is: the camera's live
// picture when a worker watches it (asked for here, as the live view does), else the newest
// event's snapshot, said to be old. Zones drawn on a stale view of a camera that moved are wrong.

import { api, session } from "./api.js";
import { ageText, t } from "./i18n.js";

const WAIT_MS = 4000;
const POLL_MS = 700;
// A live picture older than this is not "live".
const FRESH_S = 30;

async function livePicture(cameraId) {
  try {
    await api(`/api/v1/cameras/${cameraId}/live-view`, { method: "POST" });
  } catch {
    return null;
  }
  const until = Date.now() + WAIT_MS;
  while (Date.now() < until) {
    const response = await fetch(`/api/v1/cameras/${cameraId}/live.jpg`, {
      headers: { Authorization: `Bearer ${session.token}` },
      cache: "no-store",
    }).catch(() => null);
    if (response?.ok) {
      const age = Number(response.headers.get("X-GridWatch-Picture-Age-S") || 0);
      const captured = response.headers.get("X-GridWatch-Captured-At");
      if (age <= FRESH_S) return { url: URL.createObjectURL(await response.blob()), takenAt: captured || new Date(Date.now() - age * 1000).toISOString(), live: true };
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  return null;
}

async function newestEventPicture(cameraId, objectUrl) {
  const page = await api("/api/v1/events", { query: { camera_id: cameraId, limit: 1 } });
  const event = page.items[0];
  if (!event?.snapshot_url) return null;
  const url = await objectUrl(event.snapshot_url);
  return url ? { url, takenAt: event.last_seen_at || event.occurred_at, live: false } : null;
}

/**
 * The freshest picture of `camera`: {url, takenAt (ISO 8601), live}, or null. A live one is
 * asked for only when the camera is up (a worker is there to send it).
 * `objectUrl(url)` fetches an evidence URL with the token (api.authorisedObjectUrl).
 */
export async function freshestPicture(camera, objectUrl) {
  const up = camera.status === "online" || camera.status === "degraded";
  return (up && (await livePicture(camera.id))) || (await newestEventPicture(camera.id, objectUrl).catch(() => null));
}

/** Words for a picture's age: "画面拍摄于 3 分钟前", and whether it is live. */
export function pictureAgeText(picture) {
  if (!picture) return t("zones.no_snapshot");
  const age = t("camera.snapshot_age", { age: ageText(picture.takenAt) });
  return picture.live ? `${age} · ${t("camera.snapshot_live")}` : `${age} · ${t("camera.snapshot_old")}`;
}
