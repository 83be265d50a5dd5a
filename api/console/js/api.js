// Talking to the GridWatch API: the access token (renewed before it runs out; when it ran out
// anyway, the person logs in again over the page they were on, and the request goes through),
// JSON and form requests, evidence images fetched with the token (an <img src> cannot send it),
// and the live WebSocket. The token never goes into an address or the browser's console.

import { getLang, label, labelOr, t } from "./i18n.js";

const TOKEN_KEY = "gridwatch.token";
const EXPIRES_KEY = "gridwatch.token_expires";
const REASON_KEY = "gridwatch.logout_reason";
export const AFTER_LOGIN_KEY = "gridwatch.after_login";
// Renew when half the token's remaining life has passed: a renewal that waits on a slow network
// or a busy API still arrives in time. A failed renewal is retried, sooner than the token runs out.
const RENEW_AT = 0.5;
const RENEW_RETRY_MS = 10000;

export class ApiError extends Error {
  constructor(status, detail, code = null) {
    super(detail || `HTTP ${status}`);
    this.status = status;
    this.detail = detail || "";
    this.code = code;
  }
}

// What an error code's parameters are, so that they are worded too (a state, a role, an action).
const PARAM_KINDS = { state: "status", role: "role", roles: "role", action: "action", category: "category" };

function wordParam(name, value) {
  if (name === "field") return fieldWords(value);
  const kind = PARAM_KINDS[name];
  if (Array.isArray(value)) return value.map((item) => wordParam(name, item)).join(t("invalid.list_separator"));
  return kind ? label(kind, value) : String(value ?? "");
}

/** A field's path in words: "rules.0.zone" -> "规则 #1 › 区域"; a name without words stays. */
function fieldWords(path) {
  return String(path || "")
    .split(".")
    .filter(Boolean)
    .map((part) => (/^\d+$/.test(part) ? `#${Number(part) + 1}` : labelOr("fieldname", part, part)))
    .join(" › ");
}

/** One validation error ({field, type, params}) in words: "说明：最多 5000 个字符". */
export function invalidWords({ field, type, params }) {
  const words = labelOr("invalid", type, null) ?? t("invalid.other");
  const filled = words.replace(/\{(\w+)\}/g, (_, name) => {
    const value = (params || {})[name];
    return Array.isArray(value) ? value.join(", ") : String(value ?? "");
  });
  const where = fieldWords(field);
  return where ? `${where}${t("invalid.field_separator")}${filled}` : filled;
}

/** An API error in the reader's language, from its code (api/problems.py: every error the
 * API answers has one); the API's English `detail` only for an answer without a code, which
 * is not the API's (a proxy's page). */
export function wordProblem(problem, status = 0) {
  const code = problem.code || (status ? `http_${status}` : null);
  if (code === "invalid") {
    const errors = problem.params?.errors || [];
    const listed = errors.map(invalidWords).join(t("invalid.list_separator"));
    return t("apierror.invalid", { errors: listed || t("invalid.other") });
  }
  const words = code ? labelOr("apierror", code, null) : null;
  if (words) {
    return words.replace(/\{(\w+)\}/g, (_, name) => wordParam(name, (problem.params || {})[name]));
  }
  if (status) return labelOr("apierror", `http_${status}`, null) ?? t("error.generic");
  return describe(problem.detail);
}

export const session = {
  token: sessionStorage.getItem(TOKEN_KEY),
  expiresAt: Number(sessionStorage.getItem(EXPIRES_KEY)) || 0, // ms since the epoch
  me: null,
  onLogout: () => {},
  // Asks the person to log in again over the page; resolves true when they did (main.js).
  onExpired: null,
};

let renewTimer = null;

/** Keep a token the API issued (`expires_in` seconds), and plan its renewal. */
function keep(token, expiresIn) {
  session.token = token;
  session.expiresAt = Date.now() + expiresIn * 1000;
  sessionStorage.setItem(TOKEN_KEY, token);
  sessionStorage.setItem(EXPIRES_KEY, String(session.expiresAt));
  planRenewal();
  live.authenticate();
}

function planRenewal() {
  clearTimeout(renewTimer);
  if (!session.token || !session.expiresAt) return;
  const left = session.expiresAt - Date.now();
  if (left <= 0) return;
  renewTimer = setTimeout(renew, Math.max(500, left * RENEW_AT));
}

/** When to try a failed renewal again: in ten seconds, or sooner while the token has less than
 * twice that left (half of what is left, at least half a second). */
function retryDelay() {
  return Math.max(500, Math.min(RENEW_RETRY_MS, (session.expiresAt - Date.now()) / 2));
}

/** Exchange the token for a fresh one while it is still valid. */
export async function renew() {
  if (!session.token) return;
  let response;
  try {
    response = await fetch("/api/v1/auth/refresh", { method: "POST", headers: { Authorization: `Bearer ${session.token}` } });
  } catch {
    renewTimer = setTimeout(renew, retryDelay()); // the network, not the login: try again
    return;
  }
  if (response.ok) {
    const { access_token: token, expires_in: expiresIn } = await response.json();
    keep(token, expiresIn);
  } else if (response.status !== 401) {
    renewTimer = setTimeout(renew, retryDelay());
  }
  // 401: it ran out already; the next request asks the person to log in again.
}

// A tab in the background has its timers slowed: plan again from what is left on coming back.
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") planRenewal();
});

/** Whether the API still takes the session's token: a password change or a disabled account
 * ends a login before its token runs out. */
async function tokenHolds() {
  try {
    const response = await fetch("/api/v1/auth/me", { headers: { Authorization: `Bearer ${session.token}` } });
    return response.status !== 401;
  } catch {
    return true; // the network, not the login
  }
}

let reauthenticating = null;

/** Have the person log in again (once, however many requests are waiting); true when they did. */
export function reauthenticate() {
  if (!reauthenticating) {
    const ask = session.onExpired ? session.onExpired() : Promise.resolve(false);
    reauthenticating = ask
      .catch(() => false)
      .then((ok) => {
        reauthenticating = null;
        if (!ok && session.token) logout("expired");
        return ok;
      });
  }
  return reauthenticating;
}

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
export async function api(path, options = {}) {
  try {
    return await request(path, options);
  } catch (err) {
    // The login ran out: the person logs in again over the page, and the request goes through.
    if (err instanceof ApiError && err.status === 401 && err.expired && (await reauthenticate())) {
      return request(path, options);
    }
    throw err;
  }
}

async function request(path, { method = "GET", query, json, form, signal } = {}) {
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
    const expired = new ApiError(401, "session expired");
    expired.expired = true;
    throw expired;
  }
  if (!response.ok) {
    const problem = await response.json().catch(() => ({}));
    throw new ApiError(response.status, wordProblem(problem, response.status), problem.code || null);
  }
  if (response.status === 204) return null;
  return response.json();
}

export async function login(username, password) {
  const body = new URLSearchParams({ username, password });
  const response = await fetch("/api/v1/auth/token", { method: "POST", body });
  if (!response.ok) {
    const problem = await response.json().catch(() => ({}));
    throw new ApiError(response.status, wordProblem(problem, response.status), problem.code || null);
  }
  const { access_token: token, expires_in: expiresIn } = await response.json();
  keep(token, expiresIn);
  sessionStorage.removeItem(REASON_KEY);
  session.me = await request("/api/v1/auth/me");
  return session.me;
}

/**
 * Change the signed-in user's password. Every token issued before stops working, this one
 * too, so the answer's new token replaces it and the live feed authenticates with it.
 */
export async function changePassword(currentPassword, newPassword) {
  const answer = await api("/api/v1/auth/password", {
    method: "POST",
    json: { current_password: currentPassword, new_password: newPassword },
  });
  keep(answer.access_token, answer.expires_in);
}

/**
 * End the session. `reason`: "ended" (the person logged out) or "expired" (the login ran out
 * and they did not log in again), which the login page says, and after which it returns them
 * to the page they were on.
 */
export function logout(reason = "ended") {
  if (reason === "expired") {
    const path = location.hash.replace(/^#/, "");
    if (path && path !== "/login") sessionStorage.setItem(AFTER_LOGIN_KEY, path);
  }
  sessionStorage.setItem(REASON_KEY, reason);
  clearTimeout(renewTimer);
  session.token = null;
  session.expiresAt = 0;
  session.me = null;
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(EXPIRES_KEY);
  for (const url of blobCache.values()) url.then((u) => u && URL.revokeObjectURL(u));
  blobCache.clear();
  session.onLogout();
}

/** Why the last session ended ("ended", "expired"), once; null when nobody logged out. */
export function takeLogoutReason() {
  const reason = sessionStorage.getItem(REASON_KEY);
  sessionStorage.removeItem(REASON_KEY);
  return reason;
}

// Object URLs of fetched evidence, newest last; the oldest are released past the limit.
const blobCache = new Map();
const BLOB_CACHE_LIMIT = 300;

/** An object URL for an image or clip that needs the access token; null if it cannot be had. */
export function authorisedObjectUrl(url) {
  const key = localPath(url);
  if (blobCache.has(key)) return blobCache.get(key);
  const get = () => fetch(key, { headers: { Authorization: `Bearer ${session.token}` } });
  const pending = get()
    // A picture refused for a login that ran out comes once the person logged in again.
    .then(async (response) => (response.status === 401 && session.token && (await reauthenticate()) ? get() : response))
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
    // The token goes as the first message, never in the address (addresses end up in logs).
    const socket = new WebSocket(`${scheme}//${location.host}/api/v1/live/ws`);
    this.socket = socket;
    socket.addEventListener("open", () => this.authenticate());
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
        // Its token ran out, or the login ended before it (the password changed, the account
        // was disabled). A token the API still takes reconnects at once; else the person logs
        // in again.
        this.setStatus("connecting");
        const inDate = session.token && session.expiresAt > Date.now();
        const ready = inDate ? tokenHolds().then((ok) => ok || reauthenticate()) : reauthenticate();
        ready.then((ok) => ok && this.wanted && !this.socket && this.connect());
        return;
      }
      this.setStatus(this.wanted ? "connecting" : "offline");
      if (this.wanted) {
        this.timer = setTimeout(() => this.connect(), this.delay);
        this.delay = Math.min(this.delay * 2, 15000);
      }
    });
  }

  /** Tell an open socket the current token (first thing, and after each renewal). */
  authenticate() {
    if (this.socket?.readyState === WebSocket.OPEN && session.token) {
      this.socket.send(JSON.stringify({ type: "auth", token: session.token }));
    }
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
planRenewal();

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
