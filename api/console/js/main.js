// The console's shell: login, the menu of the signed-in role, the page router (#/path) and the
// live-connection indicator.

import { AFTER_LOGIN_KEY, api, ApiError, changePassword, forgetCached, live, login, logout, session, takeLogoutReason } from "./api.js";
import { restoreActionDialog } from "./actions.js";
import { h, mount } from "./dom.js";
import { getLang, label, LANGUAGES, setLang, t } from "./i18n.js";
import { refreshClocks } from "./widgets.js";
import * as accessLog from "./pages/access-log.js";
import * as cameraEditor from "./pages/camera-editor.js";
import * as cameraHealth from "./pages/camera-health.js";
import * as eventPage from "./pages/event.js";
import * as eventList from "./pages/event-list.js";
import * as gb28181 from "./pages/gb28181.js";
import * as mapPage from "./pages/map.js";
import * as ownerCameras from "./pages/owner-cameras.js";
import * as reportPage from "./pages/report.js";
import * as evaluationPage from "./pages/evaluation.js";
import * as statsPage from "./pages/stats.js";
import * as wall from "./pages/wall.js";

// Each role's menu: [route, label key]. The first entry is the role's home page.
const MENUS = {
  operator: [["/wall", "menu.wall"], ["/map", "menu.map"], ["/report", "menu.report"], ["/stats", "menu.stats"], ["/evaluation", "menu.evaluation"], ["/cameras", "menu.cameras"]],
  grid_worker: [["/tasks", "menu.tasks"], ["/report", "menu.report"]],
  camera_owner: [["/my-cameras", "menu.my_cameras"], ["/my-events", "menu.my_events"], ["/gb28181", "menu.gb28181"]],
  handler: [["/queue", "menu.queue"]],
};
MENUS.admin = [...MENUS.operator, ["/gb28181", "menu.gb28181"], ["/access-log", "menu.access_log"]];

// Route patterns, the roles that may open them, and the page that draws them.
const ROUTES = [
  { path: /^\/wall$/, roles: ["operator", "admin"], page: wall },
  { path: /^\/map$/, roles: ["operator", "admin"], page: mapPage },
  { path: /^\/stats$/, roles: ["operator", "admin"], page: statsPage },
  { path: /^\/evaluation$/, roles: ["operator", "admin"], page: evaluationPage },
  { path: /^\/cameras$/, roles: ["operator", "admin"], page: cameraHealth },
  { path: /^\/access-log$/, roles: ["admin"], page: accessLog },
  { path: /^\/gb28181$/, roles: ["admin", "camera_owner"], page: gb28181 },
  { path: /^\/tasks$/, roles: ["grid_worker"], page: eventList, params: { kind: "tasks" } },
  { path: /^\/report$/, roles: ["grid_worker", "operator", "admin"], page: reportPage },
  { path: /^\/queue$/, roles: ["handler"], page: eventList, params: { kind: "queue" } },
  { path: /^\/my-events$/, roles: ["camera_owner"], page: eventList, params: { kind: "owner" } },
  { path: /^\/my-cameras$/, roles: ["camera_owner", "admin"], page: ownerCameras },
  { path: /^\/my-cameras\/new$/, roles: ["camera_owner", "admin"], page: cameraEditor, params: { id: null } },
  { path: /^\/my-cameras\/([a-z0-9_-]+)$/, roles: ["camera_owner", "admin"], page: cameraEditor, names: ["id"] },
  { path: /^\/events\/(\d+)$/, roles: null, page: eventPage, names: ["id"] },
];

const app = document.getElementById("app");
let cleanup = null;
let liveIndicator = null;

function homeOf(role) {
  return (MENUS[role] || [["/login"]])[0][0];
}

function currentPath() {
  return location.hash.replace(/^#/, "") || "/";
}

function go(path) {
  if (currentPath() === path) route();
  else location.hash = `#${path}`;
}

function languageSwitch() {
  return h(
    "div",
    { class: "lang-switch", role: "group", "aria-label": "Language / 语言" },
    LANGUAGES.map(([code, name]) =>
      h("button", {
        type: "button",
        class: code === getLang() ? "active" : "",
        lang: code,
        dataset: { lang: code },
        "aria-pressed": String(code === getLang()),
        onclick: () => {
          setLang(code);
          route();
        },
      }, name),
    ),
  );
}

/** Why a login failed, in the reader's language: wrong password, too many tries, no network. */
function loginProblem(err) {
  if (!(err instanceof ApiError) || err.status === 0) return t("error.network");
  return err.status === 401 ? t("login.wrong") : err.detail || t("error.generic");
}

/**
 * The login ran out: log in again in a dialog over the page, which stays as it was (an open
 * dialog, a half-written report). Resolves true once the same person logged in again.
 */
function reloginDialog() {
  return new Promise((resolve) => {
    const me = session.me;
    const username = h("input", { name: "username", autocomplete: "username", value: me?.username || "", readonly: Boolean(me), required: true });
    const password = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true, autofocus: true });
    const error = h("p", { class: "form-error", role: "alert" });
    const submit = h("button", { type: "submit", class: "primary" }, t("login.submit"));
    let done = false;
    const dialog = h("dialog", { class: "relogin-dialog" });
    const finish = (ok) => {
      done = true;
      dialog.close();
      resolve(ok);
    };
    dialog.append(
      h(
        "form",
        {
          class: "login-form relogin-form",
          onsubmit: async (submitted) => {
            submitted.preventDefault();
            error.textContent = "";
            submit.disabled = true;
            try {
              const again = await login(username.value.trim(), password.value);
              if (me && again.id !== me.id) {
                error.textContent = t("session.relogin_other", { user: me.username });
                return;
              }
              finish(true);
            } catch (err) {
              error.textContent = loginProblem(err);
            } finally {
              submit.disabled = false;
            }
          },
        },
        h("h2", {}, t("session.relogin_title")),
        h("p", { class: "muted" }, t("session.relogin_hint")),
        h("label", { class: "field" }, h("span", {}, t("login.username")), username),
        h("label", { class: "field" }, h("span", {}, t("login.password")), password),
        error,
        h("div", { class: "form-buttons" }, submit, h("button", { type: "button", class: "logout", onclick: () => finish(false) }, t("login.logout"))),
      ),
    );
    // Escape does not dismiss it: the page behind cannot work without a login.
    dialog.addEventListener("cancel", (cancelled) => cancelled.preventDefault());
    dialog.addEventListener("close", () => {
      dialog.remove();
      if (!done) resolve(false);
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

function loginPage() {
  const reason = takeLogoutReason();
  const username = h("input", { name: "username", autocomplete: "username", required: true, autofocus: true });
  const password = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true });
  const error = h("p", { class: "form-error", role: "alert" });
  const button = h("button", { type: "submit", class: "primary" }, t("login.submit"));
  const form = h(
    "form",
    {
      class: "login-form",
      onsubmit: async (submitted) => {
        submitted.preventDefault();
        error.textContent = "";
        button.disabled = true;
        try {
          const me = await login(username.value.trim(), password.value);
          live.start();
          go(homeOf(me.role));
        } catch (err) {
          error.textContent = loginProblem(err);
        } finally {
          button.disabled = false;
        }
      },
    },
    h("h1", {}, h("span", { class: "logo" }, "GridWatch"), " ", t("app.name")),
    h("p", { class: "muted" }, t("login.hint")),
    reason ? h("p", { class: `notice session-notice session-${reason}`, role: "status" }, t(reason === "expired" ? "session.expired" : "session.ended")) : null,
    h("label", { class: "field" }, h("span", {}, t("login.username")), username),
    h("label", { class: "field" }, h("span", {}, t("login.password")), password),
    error,
    button,
    languageSwitch(),
  );
  mount(app, h("main", { class: "login-page" }, form));
}

function header(activePath) {
  const me = session.me;
  const menu = MENUS[me.role] || [];
  liveIndicator = h("span", { class: `live-indicator live-${live.status}`, title: t(`live.${live.status}`) }, h("span", { class: "dot" }), h("span", { class: "live-text" }, t(`live.${live.status}`)));
  return h(
    "header",
    { class: "topbar" },
    h("button", { type: "button", class: "skip-link", onclick: skipToContent }, t("skip.to_content")),
    h("a", { class: "brand", href: `#${homeOf(me.role)}` }, h("span", { class: "logo" }, "GridWatch"), h("span", { class: "brand-name" }, t("app.name"))),
    h(
      "nav",
      { class: "menu", "aria-label": t("menu.label") },
      menu.map(([path, key]) =>
        h("a", { href: `#${path}`, class: activePath.startsWith(path) ? "active" : "", dataset: { menu: path.slice(1) } }, t(key)),
      ),
    ),
    h(
      "div",
      { class: "session" },
      liveIndicator,
      h("span", { class: "who", title: me.username }, me.full_name || me.username, h("small", {}, label("role", me.role))),
      languageSwitch(),
      accountMenu(),
      h("button", { type: "button", class: "logout", onclick: () => logout("ended") }, t("login.logout")),
    ),
  );
}

/** Past the menus to what the page is for: the item a page marks (the wall's current alert),
 * else the page itself. A button, not a #fragment link: the fragment is the page's route. */
function skipToContent() {
  const main = document.querySelector("main.page");
  if (!main) return;
  const target = main.querySelector("[data-skip-target]") || main;
  if (target === main) main.tabIndex = -1;
  target.focus();
  target.scrollIntoView({ block: "nearest" });
}

/** The account menu: a small form to change one's own password. */
function accountMenu() {
  const message = h("p", { class: "account-message", role: "status" });
  const field = (name, key, autocomplete) =>
    h("label", {}, t(key), h("input", { type: "password", name, required: true, autocomplete, minlength: name === "current" ? 1 : 10 }));
  const form = h(
    "form",
    { class: "account-form" },
    field("current", "account.current", "current-password"),
    field("next", "account.new", "new-password"),
    field("again", "account.again", "new-password"),
    h("button", { type: "submit" }, t("account.save")),
    message,
  );
  form.addEventListener("submit", async (submitted) => {
    submitted.preventDefault();
    const values = Object.fromEntries(new FormData(form));
    message.className = "account-message";
    if (values.next !== values.again) {
      message.textContent = t("account.mismatch");
      message.classList.add("error");
      return;
    }
    try {
      await changePassword(values.current, values.next);
      form.reset();
      message.textContent = t("account.changed");
    } catch (err) {
      message.textContent = err.detail || err.message;
      message.classList.add("error");
    }
  });
  return h("details", { class: "account-menu" }, h("summary", {}, t("account.menu")), form);
}

function updateLiveIndicator(status) {
  if (!liveIndicator) return;
  liveIndicator.className = `live-indicator live-${status}`;
  liveIndicator.title = t(`live.${status}`);
  liveIndicator.querySelector(".live-text").textContent = t(`live.${status}`);
}

async function route() {
  if (cleanup) {
    try {
      cleanup();
    } catch (err) {
      console.error(err);
    }
    cleanup = null;
  }
  document.documentElement.lang = getLang();
  document.title = `GridWatch · ${t("app.name")}`;
  if (!session.token) {
    if (currentPath() !== "/login") {
      sessionStorage.setItem(AFTER_LOGIN_KEY, currentPath());
    }
    loginPage();
    return;
  }
  if (!session.me) {
    try {
      session.me = await api("/api/v1/auth/me");
    } catch {
      if (session.token) logout("expired");
      return;
    }
  }
  const role = session.me.role;
  let path = currentPath();
  const afterLogin = sessionStorage.getItem(AFTER_LOGIN_KEY);
  if (afterLogin) {
    sessionStorage.removeItem(AFTER_LOGIN_KEY);
    if (afterLogin !== "/" && afterLogin !== "/login") {
      go(afterLogin);
      return;
    }
  }
  if (path === "/" || path === "/login") {
    go(homeOf(role));
    return;
  }
  let found = null;
  for (const candidate of ROUTES) {
    const match = candidate.path.exec(path);
    if (match && (!candidate.roles || candidate.roles.includes(role))) {
      const params = { ...(candidate.params || {}) };
      (candidate.names || []).forEach((name, index) => {
        params[name] = match[index + 1];
      });
      found = { page: candidate.page, params };
      break;
    }
  }
  if (!found) {
    go(homeOf(role));
    return;
  }
  const main = h("main", { class: `page role-${role}` });
  mount(app, header(path), main);
  document.body.dataset.role = role;
  try {
    cleanup = (await found.page.render(main, found.params, { role, me: session.me, go })) || null;
    restoreActionDialog();
  } catch (err) {
    console.error(err);
    mount(main, h("p", { class: "notice error" }, t("error.generic"), " ", String(err.message || err)));
  }
}

async function boot() {
  session.onExpired = reloginDialog;
  session.onLogout = () => {
    for (const open of document.querySelectorAll("dialog")) open.remove();
    live.stop();
    forgetCached();
    delete document.body.dataset.role;
    if (currentPath() === "/login") route();
    else location.hash = "#/login";
  };
  live.onStatus(updateLiveIndicator);
  window.addEventListener("hashchange", route);
  setInterval(() => refreshClocks(), 30000);
  if (session.token) live.start();
  await route();
}

boot();
