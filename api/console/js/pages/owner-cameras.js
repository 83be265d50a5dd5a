// A camera owner's cameras (their organisation's only, as the API scopes them), with health,
// and the way to register a new one.

import { api } from "../api.js";
import { errorText } from "../actions.js";
import { h, mount } from "../dom.js";
import { t } from "../i18n.js";
import { notice } from "../widgets.js";
import { suppressionsSection } from "../suppressions.js";
import { cameraTable, gridNames, healthSummary } from "./camera-health.js";

export async function render(main, _params, { me }) {
  mount(main, notice(t("common.loading")));
  try {
    const [cameras, names] = await Promise.all([api("/api/v1/cameras"), gridNames()]);
    const organisation = cameras[0]?.organisation?.name || me.organisation_id || "";
    mount(
      main,
      h(
        "section",
        { class: "owner-cameras" },
        h(
          "div",
          { class: "wall-head" },
          h("h1", {}, t("owner.title")),
          h("span", { class: "count" }, organisation),
          h("a", { class: "button primary", href: "#/my-cameras/new", dataset: { testid: "register-camera" } }, "+ ", t("owner.register")),
        ),
        healthSummary(cameras),
        cameras.length
          ? cameraTable(cameras, { link: (camera) => `#/my-cameras/${camera.id}`, showOwner: false, gridNames: names, live: true })
          : notice(t("owner.empty")),
        suppressionsSection({ canRemove: true }),
      ),
    );
  } catch (err) {
    mount(main, notice(errorText(err), "error"));
  }
  return null;
}
