// GB/T 28181 devices: those that registered (online or not, last keep-alive, what they say of
// themselves), their channels as candidates to adopt or refuse, and (admins) devices waiting to
// be accepted or refused. An owner sees the devices assigned to their organisation.

import { api } from "../api.js";
import { errorText } from "../actions.js";
import { h, mount, toast } from "../dom.js";
import { labelOr, t } from "../i18n.js";
import { ago, cameraBadge, notice } from "../widgets.js";

function onlineBadge(device) {
  if (!device.authenticated) return cameraBadge("unknown");
  return cameraBadge(device.online ? "online" : "offline");
}

function table(className, headings, rows, empty) {
  if (!rows.length) return notice(empty);
  return h(
    "table",
    { class: `table ${className}` },
    h("thead", {}, h("tr", {}, headings.map((key) => h("th", {}, t(key))))),
    h("tbody", {}, rows),
  );
}

function organisationField(organisations) {
  const list = h("datalist", { id: "gb-organisations" }, [...organisations].map(([id, name]) => h("option", { value: id }, name)));
  const input = h("input", { name: "organisation_id", list: "gb-organisations", placeholder: t("gb.organisation"), "aria-label": t("gb.organisation"), size: 18 });
  return [input, list];
}

function pendingRows(devices, organisations, refresh) {
  return devices.map((device) => {
    const [organisation, list] = organisationField(organisations);
    // A device that registered with no password here (the platform has none for new ids) can
    // only register once it has one of its own: accepting it asks for it.
    const needsPassword = !device.authenticated && !device.has_password;
    const password = h("input", {
      name: "password", type: "password", minlength: 8, maxlength: 64, autocomplete: "new-password",
      required: needsPassword, placeholder: t("gb.device_password"), "aria-label": t("gb.device_password"), size: 14,
    });
    const decide = (admission) => async () => {
      if (admission === "accepted" && !password.reportValidity()) return;
      try {
        if (admission === "accepted" && password.value) {
          await api(`/api/v1/gb28181/devices/${device.id}/password`, { method: "PUT", json: { password: password.value } });
        }
        await api(`/api/v1/gb28181/devices/${device.id}/admission`, {
          method: "PUT",
          json: { admission, organisation_id: organisation.value.trim() || null },
        });
        toast(t(admission === "accepted" ? "gb.accepted" : "gb.refused_done"), "ok");
        refresh();
      } catch (err) {
        toast(errorText(err), "error");
      }
    };
    return h(
      "tr",
      { dataset: { deviceId: device.id } },
      h("td", { class: "mono" }, device.id),
      h("td", { class: "mono small" }, device.address || "—"),
      h("td", {}, device.authenticated ? t("gb.registered") : t("gb.no_password")),
      h("td", {}, ago(device.first_seen_at)),
      h(
        "td",
        { class: "actions" },
        organisation,
        list,
        password,
        h("button", { type: "button", class: "primary accept-device", onclick: decide("accepted") }, t("gb.accept")),
        h("button", { type: "button", class: "refuse-device", onclick: decide("refused") }, t("gb.refuse")),
      ),
    );
  });
}

function deviceRows(devices) {
  return devices.map((device) =>
    h(
      "tr",
      { dataset: { deviceId: device.id, online: String(device.online) } },
      h("td", {}, onlineBadge(device)),
      h("td", {}, h("div", {}, device.name || "—"), h("div", { class: "mono small muted" }, device.id)),
      h("td", {}, [device.manufacturer, device.model].filter(Boolean).join(" ") || "—", device.firmware ? h("div", { class: "small muted" }, device.firmware) : null),
      h("td", { class: "last-keepalive" }, device.last_keepalive_at ? ago(device.last_keepalive_at) : "—"),
      h("td", {}, String(device.channel_count ?? device.channels.length)),
      h("td", {}, t(`gb.admission.${device.admission}`), device.has_password ? h("div", { class: "small muted own-password" }, t("gb.own_password")) : null),
    ),
  );
}

function position(channel) {
  return h(
    "span",
    { class: "mono small" },
    // Latitude first, in the order of the fields a channel without a position asks for.
    `${t("gb.lat")} ${channel.latitude.toFixed(6)}`,
    h("br", {}),
    `${t("gb.lon")} ${channel.longitude.toFixed(6)}`,
  );
}

function candidateRows(devices, refresh) {
  const rows = [];
  for (const device of devices.filter((d) => d.admission === "accepted")) {
    for (const channel of device.channels.filter((c) => !c.camera_id && !c.refused)) {
      // A channel that gives no position needs one: the camera's place on the map and grid.
      const located = channel.latitude !== null && channel.longitude !== null;
      const lat = located ? null : h("input", { name: "lat", type: "number", step: "any", min: -90, max: 90, required: true, placeholder: t("gb.lat"), "aria-label": t("gb.lat"), class: "coordinate" });
      const lon = located ? null : h("input", { name: "lon", type: "number", step: "any", min: -180, max: 180, required: true, placeholder: t("gb.lon"), "aria-label": t("gb.lon"), class: "coordinate" });
      const adopt = async () => {
        const id = `gb-${channel.channel_id}`;
        if (!located && (!lat.reportValidity() || !lon.reportValidity())) return;
        try {
          const body = { id, name: channel.name || channel.channel_id };
          if (!located) body.location = { lat: Number(lat.value), lon: Number(lon.value) };
          await api(`/api/v1/gb28181/devices/${device.id}/channels/${channel.channel_id}/camera`, { method: "POST", json: body });
          toast(t("gb.adopted"), "ok");
          location.hash = `#/my-cameras/${id}`; // zones and rules next
        } catch (err) {
          toast(errorText(err), "error");
        }
      };
      const refuse = async () => {
        try {
          await api(`/api/v1/gb28181/devices/${device.id}/channels/${channel.channel_id}/refusal`, { method: "PUT", json: { refused: true } });
          toast(t("gb.channel_refused"), "ok");
          refresh();
        } catch (err) {
          toast(errorText(err), "error");
        }
      };
      rows.push(
        h(
          "tr",
          { dataset: { channelId: channel.channel_id } },
          h("td", {}, channel.name || "—", h("div", { class: "mono small muted" }, channel.channel_id)),
          h("td", { class: "mono small" }, device.id),
          h("td", {}, [channel.manufacturer, channel.model].filter(Boolean).join(" ") || "—"),
          h("td", { class: "mono small civil-code" }, channel.civil_code || "—"),
          // The device's own word (ON/OFF in GB/T 28181's catalog), worded when it is a known one.
          h("td", {}, channel.status ? labelOr("gb.channel_state", channel.status.toUpperCase(), channel.status) : "—"),
          // Where the device says the channel is; where it says nothing, the adopter gives it.
          h("td", { class: "position" }, located ? position(channel) : [lat, lon]),
          h(
            "td",
            { class: "actions" },
            h("button", { type: "button", class: "primary adopt-channel", onclick: adopt }, t("gb.adopt")),
            h("button", { type: "button", class: "refuse-channel", onclick: refuse }, t("gb.refuse")),
          ),
        ),
      );
    }
  }
  return rows;
}

export async function render(main, _params, { me }) {
  const refresh = () => render(main, _params, { me });
  mount(main, notice(t("common.loading")));
  try {
    const admin = me.role === "admin";
    const [devices, cameras] = await Promise.all([api("/api/v1/gb28181/devices"), admin ? api("/api/v1/cameras") : Promise.resolve([])]);
    const organisations = new Map(cameras.map((camera) => [camera.organisation.id, camera.organisation.name]));
    const pending = devices.filter((d) => d.admission === "pending");
    const known = devices.filter((d) => d.admission !== "pending");
    mount(
      main,
      h(
        "section",
        { class: "gb28181" },
        h("div", { class: "wall-head" }, h("h1", {}, t("gb.title")), h("span", { class: "count" }, String(devices.length))),
        admin
          ? h(
              "section",
              { class: "gb-pending" },
              h("h2", {}, t("gb.pending")),
              table("gb-pending-table", ["gb.device", "gb.address", "gb.state", "gb.first_seen", "gb.decide"], pendingRows(pending, organisations, refresh), t("gb.no_pending")),
            )
          : null,
        h(
          "section",
          { class: "gb-devices" },
          h("h2", {}, t("gb.devices")),
          table("gb-devices-table", ["gb.online", "gb.device", "gb.maker", "gb.keepalive", "gb.channels", "gb.admission_label"], deviceRows(known), t("gb.no_devices")),
        ),
        h(
          "section",
          { class: "gb-candidates" },
          h("h2", {}, t("gb.candidates")),
          table("gb-candidates-table", ["gb.channel", "gb.device", "gb.maker", "gb.civil_code", "gb.channel_status", "gb.position", "gb.decide"], candidateRows(known, refresh), t("gb.no_candidates")),
        ),
      ),
    );
  } catch (err) {
    mount(main, notice(errorText(err), "error"));
  }
  return null;
}
