// Talking to the GridWatch API: the access token, JSON and form requests, evidence images
// fetched with the token (an <img src> cannot send it), and the live WebSocket.

import { getLang } from "./i18n.js";

const TOKEN_KEY = "gridwatch.token";

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail || `HTTP ${status}`);
    this.status = status;
    this.detail = detail || "";
  }
}

export const session = {
  token: sessionStorage.getItem(TOKEN_KEY),
  me: null,
  onLogout: () => {},
};

function describe(detail) {
  if (Array.isArray(detail)) {
    // FastAPI's validation errors: [{loc: [...], msg}]
    return detail.map((item) => `${(item.loc || []).slice(1).join(".")}: ${item.msg}`).join("; ");
  }
  return typeof detail === "string" ? detail : "";
}

/** A path on this origin for a URL the API gave (it may name the host it saw behind a proxy). */
export function localPath(url) {
  const parsed = new URL(url, location.origin);
  return parsed.pathname + parsed.search;
}

/**
 * Call the API. `query` values may be arrays (repeated parameters); `json` or `form` is the
 * body. Resolves to the parsed JSON (null for 204); rejects with ApiError.
 */
export async function api(path, { method = "GET", query, json, form, signal } = {}) {
  const url = new URL(path, location.origin);
  for (const [key, value] of Object.entries(query || {})) {
    if (value === undefined || value === null || value === "") continue;
    for (const item of Array.isArray(value) ? value : [value]) url.searchParams.append(key, item);
  }
  // Titles and descriptions the system writes come in the console's language.
  const headers = { "Accept-Language": getLang() };
  if (session.token) headers.Authorization = `Bearer ${session.token}`;
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    body = form;
  }
  let response;
  try {
    response = await fetch(url, { method, headers, body, signal });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, "network");
  }
  if (response.status === 401 && session.token) {
    logout();
    throw new ApiError(401, "session expired");
  }
  if (!response.ok) {
    const problem = await response.json().catch(() => ({}));
    throw new ApiError(response.status, describe(problem.detail));
  }
  if (response.status === 204) return null;
  return response.json();
}

export async function login(username, password) {
  const body = new URLSearchParams({ username, password });
  const response = await fetch("/api/v1/auth/token", { method: "POST", body });
  if (!response.ok) {
    const problem = await response.json().catch(() => ({}));
    throw new ApiError(response.status, describe(problem.detail));
  }
  const { access_token: token } = await response.json();
  session.token = token;
  sessionStorage.setItem(TOKEN_KEY, token);
  session.me = await api("/api/v1/auth/me");
  return session.me;
}

export function logout() {
  session.token = null;
  session.me = null;
  sessionStorage.removeItem(TOKEN_KEY);
  for (const url of blobCache.values()) url.then((u) => u && URL.revokeObjectURL(u));
  blobCache.clear();
  session.onLogout();
}

// Object URLs of fetched evidence, newest last; the oldest are released past the limit.
const blobCache = new Map();
const BLOB_CACHE_LIMIT = 300;

/** An object URL for an image or clip that needs the access token; null if it cannot be had. */
export function authorisedObjectUrl(url) {
  const key = localPath(url);
  if (blobCache.has(key)) return blobCache.get(key);
  const pending = fetch(key, { headers: { Authorization: `Bearer ${session.token}` } })
    .then((response) => (response.ok ? response.blob() : null))
    .then((blob) => (blob ? URL.createObjectURL(blob) : null))
    .catch(() => null);
  blobCache.set(key, pending);
  if (blobCache.size > BLOB_CACHE_LIMIT) {
    const [oldest, promise] = blobCache.entries().next().value;
    blobCache.delete(oldest);
    promise.then((u) => u && setTimeout(() => URL.revokeObjectURL(u), 60000));
  }
  return pending;
}

/**
 * The live feed: one WebSocket shared by every page, reconnecting with back-off. Listeners get
 * each message; `onStatus` listeners get "live", "connecting" or "offline", and a page that
 * hears "live" after a gap reloads what it shows, since messages sent meanwhile are gone.
 */
class LiveFeed {
  constructor() {
    this.listeners = new Set();
    this.statusListeners = new Set();
    this.socket = null;
    this.delay = 1000;
    this.timer = null;
    this.status = "offline";
    this.wanted = false;
  }

  start() {
    this.wanted = true;
    if (!this.socket) this.connect();
  }

  stop() {
    this.wanted = false;
    clearTimeout(this.timer);
    if (this.socket) this.socket.close(1000);
    this.socket = null;
    this.setStatus("offline");
  }

  connect() {
    if (!session.token || !this.wanted) return;
    this.setStatus("connecting");
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const url = `${scheme}//${location.host}/api/v1/live/ws?token=${encodeURIComponent(session.token)}`;
    const socket = new WebSocket(url);
    this.socket = socket;
    socket.addEventListener("message", (message) => {
      let data;
      try {
        data = JSON.parse(message.data);
      } catch {
        return;
      }
      if (data.type === "hello") {
        this.delay = 1000;
        this.setStatus("live");
        return;
      }
      for (const listener of this.listeners) listener(data);
    });
    socket.addEventListener("close", (closed) => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (closed.code === 4401) {
        logout();
        return;
      }
      this.setStatus(this.wanted ? "connecting" : "offline");
      if (this.wanted) {
        this.timer = setTimeout(() => this.connect(), this.delay);
        this.delay = Math.min(this.delay * 2, 15000);
      }
    });
  }

  setStatus(status) {
    if (status === this.status) return;
    this.status = status;
    for (const listener of this.statusListeners) listener(status);
  }

  /** Listen to messages; returns the function that stops listening. */
  subscribe(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onStatus(listener) {
    this.statusListeners.add(listener);
    return () => this.statusListeners.delete(listener);
  }
}

export const live = new LiveFeed();

// Reference data that changes rarely, fetched once per login.
const cached = new Map();
export function once(path) {
  if (!cached.has(path)) {
    const pending = api(path).catch((err) => {
      cached.delete(path);
      throw err;
    });
    cached.set(path, pending);
  }
  return cached.get(path);
}
export function forgetCached() {
  cached.clear();
}
