// Domain words the pages share: states, categories, severities, colours, and which actions an
// operator's buttons offer in each state (the API decides; these only choose what to show).

export const STATUSES = [
  "reported", "verifying", "confirmed", "false_alarm", "dispatched", "handling", "resolved",
  "closed", "merged", "expired",
];
export const OPEN_STATES = ["reported", "verifying", "confirmed", "dispatched", "handling", "resolved"];
export const CATEGORIES = [
  "public_safety", "urban_management", "health_emergency", "fire_hazard", "device_fault",
];
export const SEVERITIES = ["low", "medium", "high", "critical"];
export const CAMERA_STATES = ["unassigned", "offline", "degraded", "unknown", "online"];

export const STATUS_COLOURS = {
  reported: "#d93025",
  verifying: "#e8710a",
  confirmed: "#c5221f",
  dispatched: "#1a73e8",
  handling: "#7b1fa2",
  resolved: "#188038",
  closed: "#5f6368",
  false_alarm: "#9aa0a6",
  merged: "#9aa0a6",
};
export const CAMERA_COLOURS = {
  online: "#188038",
  degraded: "#f29900",
  offline: "#d93025",
  unknown: "#80868b",
};

// What the alert wall offers an operator per state. "dispatch" before "confirmed" confirms
// first, so one click takes a real alarm to its department; both steps are in the timeline.
const WALL_ACTIONS = {
  reported: ["reject", "verify", "dispatch", "escalate", "merge"],
  verifying: ["reject", "dispatch", "escalate", "merge"],
  confirmed: ["dispatch", "escalate", "merge"],
  dispatched: ["escalate", "merge"],
  handling: ["escalate", "merge"],
  resolved: ["operator_close", "rework", "escalate", "merge"],
};

export function wallActions(event) {
  const actions = WALL_ACTIONS[event.status] || [];
  // Acknowledging ("seen, on it") is one click on an open event nobody has acknowledged yet.
  return actions.length && !event.acknowledged_at ? ["acknowledge", ...actions] : actions;
}

/** Actions the wall runs at once, with no dialog: they need nothing more than the click. */
export const ONE_CLICK = new Set(["acknowledge"]);

/** The actions to offer on an event page: the API's list for the caller, where an operator
 * may also confirm and dispatch in one go. */
export function pageActions(detail, role) {
  const actions = [...detail.actions];
  const commands = role === "operator" || role === "admin";
  if (commands && actions.includes("confirm") && !actions.includes("dispatch")) {
    actions.splice(actions.indexOf("confirm") + 1, 0, "dispatch");
  }
  return actions;
}

const time = (iso) => Date.parse(iso);

/** Whether `candidate` is an older copy of `current` (answers and live messages can cross). */
export function isStale(candidate, current) {
  if (!current) return false;
  if (candidate.history && current.history && candidate.history.length !== current.history.length) {
    return candidate.history.length < current.history.length;
  }
  return time(candidate.updated_at) < time(current.updated_at);
}

/** Sort key: newest occurrence first, then highest id (the API's order). */
export function newestFirst(a, b) {
  return time(b.occurred_at) - time(a.occurred_at) || b.id - a.id;
}

/** Sort key: nearest deadline first; events without one last, then newest. */
export function deadlineFirst(a, b) {
  if (a.deadline_at && b.deadline_at) return time(a.deadline_at) - time(b.deadline_at);
  if (a.deadline_at) return -1;
  if (b.deadline_at) return 1;
  return newestFirst(a, b);
}

/** Where an event is: its address in words, else its coordinates. */
export function place(event) {
  if (event.address) return event.address;
  return event.location ? `${event.location.lat.toFixed(5)}, ${event.location.lon.toFixed(5)}` : "";
}

/** The user name of an audit-trail actor ("user:operator" -> "operator"). */
export function actorName(actor) {
  return actor.replace(/^(user|worker):/, "");
}

/**
 * Whether an event passes a filter set like the list's (status list, category, camera, grid
 * and everything below it, occurred between from and to), for events that arrive live.
 */
export function matchesFilters(event, filters, gridParents) {
  if (filters.status?.length && !filters.status.includes(event.status)) return false;
  if (filters.category && event.category !== filters.category) return false;
  if (filters.camera_id && event.camera_id !== filters.camera_id) return false;
  if (filters.grid_id) {
    let grid = event.grid_id;
    while (grid && grid !== filters.grid_id) grid = gridParents.get(grid);
    if (!grid) return false;
  }
  if (filters.from && time(event.occurred_at) < time(filters.from)) return false;
  if (filters.to && time(event.occurred_at) >= time(filters.to)) return false;
  return true;
}
