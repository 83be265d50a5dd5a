// Drawing zones and privacy masks as polygons on a camera snapshot. Points are kept in
// normalised image coordinates (0..1 from the top left), as camera configurations store them.

import { h, s } from "./dom.js";
import { t } from "./i18n.js";

const DEFAULT_SIZE = [1600, 900];
const ZONE_COLOURS = ["#1a73e8", "#188038", "#e8710a", "#a142f4", "#d01884", "#12b5cb"];
const SLUG = /^[a-z0-9][a-z0-9_-]{0,62}$/;

const round = (value) => Math.round(Math.min(1, Math.max(0, value)) * 10000) / 10000;

function copyShapes(shapes) {
  return (shapes || []).map((shape, index) => ({
    name: shape.name || `mask_${index + 1}`,
    polygon: (shape.polygon || shape).map(([x, y]) => [x, y]),
  }));
}

/**
 * An editor for `zones` and `masks` ([{name, polygon}]). `onChange(kind)` is called with
 * "zones" or "masks" after each edit. Returns {element, setBackground(url), zones(), masks(),
 * validate()}.
 */
export function zoneEditor({ zones = [], masks = [], onChange = () => {} }) {
  const shapes = { zones: copyShapes(zones), masks: copyShapes(masks) };
  let size = [...DEFAULT_SIZE];
  let drawing = null; // {kind, points}
  let dragging = null; // {kind, index, vertex}

  const image = h("img", { class: "stage-image", alt: t("zones.snapshot_alt"), hidden: true });
  const blank = h("div", { class: "stage-blank" }, t("zones.no_snapshot"));
  const overlay = s("svg", { class: "stage-overlay", viewBox: `0 0 ${size[0]} ${size[1]}`, preserveAspectRatio: "none", "data-testid": "zone-canvas" });
  const stage = h("div", { class: "stage" }, image, blank, overlay);
  const hint = h("p", { class: "stage-hint muted" }, t("zones.hint_idle"));
  const error = h("p", { class: "form-error", role: "alert" });
  const zoneList = h("ul", { class: "shape-list zone-list" });
  const maskList = h("ul", { class: "shape-list mask-list" });

  const finishButton = h("button", { type: "button", class: "finish", disabled: true, onclick: () => finish() }, t("zones.finish"));
  const undoButton = h("button", { type: "button", class: "undo", disabled: true, onclick: () => undo() }, t("zones.undo"));
  const cancelButton = h("button", { type: "button", class: "cancel-drawing", disabled: true, onclick: () => cancel() }, t("form.cancel"));
  const toolbar = h(
    "div",
    { class: "stage-toolbar" },
    h("button", { type: "button", class: "add-zone", onclick: () => start("zones") }, "+ ", t("zones.add_zone")),
    h("button", { type: "button", class: "add-mask", onclick: () => start("masks") }, "+ ", t("zones.add_mask")),
    undoButton,
    finishButton,
    cancelButton,
  );

  function point(pointerEvent) {
    const box = overlay.getBoundingClientRect();
    return [round((pointerEvent.clientX - box.left) / box.width), round((pointerEvent.clientY - box.top) / box.height)];
  }

  function start(kind) {
    drawing = { kind, points: [] };
    error.textContent = "";
    draw();
  }

  function undo() {
    drawing?.points.pop();
    draw();
  }

  function cancel() {
    drawing = null;
    draw();
  }

  function finish() {
    if (!drawing) return;
    if (drawing.points.length < 3) {
      error.textContent = t("zones.need_three");
      return;
    }
    const list = shapes[drawing.kind];
    const stem = drawing.kind === "zones" ? "zone" : "mask";
    let n = list.length + 1;
    while (list.some((shape) => shape.name === `${stem}_${n}`)) n += 1;
    list.push({ name: `${stem}_${n}`, polygon: drawing.points });
    const kind = drawing.kind;
    drawing = null;
    draw();
    onChange(kind);
    // Name it now: the new row's name field takes the focus.
    const lists = { zones: zoneList, masks: maskList };
    lists[kind].querySelector("li:last-child input")?.select();
  }

  overlay.addEventListener("click", (clicked) => {
    if (!drawing || dragging) return;
    const target = clicked.target;
    if (target.classList?.contains("first-vertex") && drawing.points.length >= 3) {
      finish();
      return;
    }
    drawing.points.push(point(clicked));
    draw();
  });
  overlay.addEventListener("pointermove", (moved) => {
    if (!dragging) return;
    shapes[dragging.kind][dragging.index].polygon[dragging.vertex] = point(moved);
    dragging.moved = true;
    draw();
  });
  const endDrag = () => {
    if (!dragging) return;
    const { kind, moved } = dragging;
    // Let the click that ends a drag pass before drawing clicks count again.
    setTimeout(() => (dragging = null), 0);
    if (moved) onChange(kind);
  };
  overlay.addEventListener("pointerup", endDrag);
  overlay.addEventListener("pointerleave", endDrag);

  function polygon(kind, shape, index) {
    const colour = kind === "zones" ? ZONE_COLOURS[index % ZONE_COLOURS.length] : "#202124";
    const points = shape.polygon.map(([x, y]) => `${x * size[0]},${y * size[1]}`).join(" ");
    const radius = size[0] / 160;
    const [cx, cy] = shape.polygon.reduce(([ax, ay], [x, y]) => [ax + x / shape.polygon.length, ay + y / shape.polygon.length], [0, 0]);
    return s(
      "g",
      { class: `shape shape-${kind}`, dataset: { name: shape.name } },
      s("polygon", { points, fill: colour, "fill-opacity": kind === "zones" ? 0.25 : 0.7, stroke: kind === "zones" ? colour : "#ffffff", "stroke-width": size[0] / 400 }),
      s("text", { x: cx * size[0], y: cy * size[1], class: "shape-label", "font-size": size[0] / 45, "text-anchor": "middle" }, shape.name),
      drawing
        ? null
        : shape.polygon.map(([x, y], vertex) =>
            s("circle", {
              cx: x * size[0],
              cy: y * size[1],
              r: radius,
              class: "vertex",
              fill: "#ffffff",
              stroke: colour,
              "stroke-width": size[0] / 500,
              onpointerdown: (pressed) => {
                pressed.preventDefault();
                pressed.stopPropagation();
                overlay.setPointerCapture?.(pressed.pointerId);
                dragging = { kind, index, vertex, moved: false };
              },
            }),
          ),
    );
  }

  function drawingShape() {
    if (!drawing) return null;
    const points = drawing.points.map(([x, y]) => `${x * size[0]},${y * size[1]}`).join(" ");
    const radius = size[0] / 130;
    return s(
      "g",
      { class: "drawing" },
      s("polyline", { points, fill: "none", stroke: "#fbbc04", "stroke-width": size[0] / 350, "stroke-dasharray": `${size[0] / 100} ${size[0] / 200}` }),
      drawing.points.map(([x, y], index) =>
        s("circle", { cx: x * size[0], cy: y * size[1], r: index === 0 ? radius * 1.5 : radius, class: index === 0 ? "vertex first-vertex" : "vertex", fill: index === 0 ? "#fbbc04" : "#ffffff", stroke: "#202124", "stroke-width": size[0] / 600 }),
      ),
    );
  }

  function shapeRow(kind, shape, index) {
    const name = h("input", {
      value: shape.name,
      class: "shape-name",
      "aria-label": t("zones.name"),
      pattern: SLUG.source,
      // Enter takes the name rather than submitting the camera form around the editor.
      onkeydown: (pressed) => {
        if (pressed.key === "Enter") {
          pressed.preventDefault();
          name.blur();
        }
      },
      onchange: () => {
        shape.name = name.value.trim();
        name.classList.toggle("invalid", !SLUG.test(shape.name));
        draw();
        onChange(kind);
      },
    });
    const colour = kind === "zones" ? ZONE_COLOURS[index % ZONE_COLOURS.length] : "#202124";
    return h(
      "li",
      { dataset: { name: shape.name } },
      h("span", { class: "swatch square", style: { background: colour } }),
      name,
      h("span", { class: "muted small" }, t("zones.points", { n: shape.polygon.length })),
      h("button", {
        type: "button",
        class: "link danger",
        onclick: () => {
          shapes[kind].splice(index, 1);
          draw();
          onChange(kind);
        },
      }, t("zones.delete")),
    );
  }

  function draw() {
    overlay.setAttribute("viewBox", `0 0 ${size[0]} ${size[1]}`);
    overlay.replaceChildren(
      ...shapes.masks.map((shape, index) => polygon("masks", shape, index)),
      ...shapes.zones.map((shape, index) => polygon("zones", shape, index)),
      ...[drawingShape()].filter(Boolean),
    );
    stage.classList.toggle("is-drawing", Boolean(drawing));
    finishButton.disabled = !drawing || drawing.points.length < 3;
    undoButton.disabled = !drawing || !drawing.points.length;
    cancelButton.disabled = !drawing;
    hint.textContent = drawing ? t(drawing.kind === "zones" ? "zones.hint_zone" : "zones.hint_mask", { n: drawing.points.length }) : t("zones.hint_idle");
    zoneList.replaceChildren(...(shapes.zones.length ? shapes.zones.map((shape, index) => shapeRow("zones", shape, index)) : [h("li", { class: "muted" }, t("zones.no_zones"))]));
    maskList.replaceChildren(...(shapes.masks.length ? shapes.masks.map((shape, index) => shapeRow("masks", shape, index)) : [h("li", { class: "muted" }, t("zones.no_masks"))]));
  }

  function setBackground(url) {
    if (!url) return;
    image.onload = () => {
      size = [image.naturalWidth || DEFAULT_SIZE[0], image.naturalHeight || DEFAULT_SIZE[1]];
      image.hidden = false;
      blank.hidden = true;
      stage.style.aspectRatio = `${size[0]} / ${size[1]}`;
      draw();
    };
    image.src = url;
  }

  function validate() {
    for (const list of Object.values(shapes)) {
      const names = list.map((shape) => shape.name);
      for (const name of names) {
        if (!SLUG.test(name)) return t("zones.bad_name", { name });
      }
      const repeated = names.find((name, index) => names.indexOf(name) !== index);
      if (repeated) return t("zones.duplicate", { name: repeated });
    }
    if (drawing) return t("zones.unfinished");
    return null;
  }

  stage.style.aspectRatio = `${size[0]} / ${size[1]}`;
  draw();
  const element = h(
    "div",
    { class: "zone-editor" },
    toolbar,
    hint,
    stage,
    error,
    h("div", { class: "shape-lists" }, h("div", {}, h("h3", {}, t("zones.zones")), zoneList), h("div", {}, h("h3", {}, t("zones.masks")), maskList)),
  );
  return {
    element,
    setBackground,
    zones: () => shapes.zones.map((shape) => ({ name: shape.name, polygon: shape.polygon })),
    masks: () => shapes.masks.map((shape) => ({ name: shape.name, polygon: shape.polygon })),
    zoneNames: () => shapes.zones.map((shape) => shape.name),
    validate,
  };
}
