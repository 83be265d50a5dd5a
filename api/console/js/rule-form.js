// A camera rule's form, drawn from the camera file's JSON schema (GET /api/v1/cameras.schema.json).
// Each rule kind is one variant of the schema's `rules` union; each of its fields gets the input
// its type calls for. A form writes back only what a person changes: every other field, known to
// this console or not, goes back exactly as it came, so a rule kind added on the server is
// offered and kept here with no change to the console.

import { h, options } from "./dom.js";
import { getLang, label, labelOr, t } from "./i18n.js";

// Fields that name one of the camera's drawn shapes, and the camera list each one names.
export const REFERENCES = { zone: "zones", line: "lines" };
// Object classes offered for a rule's class list besides those it already names.
export const OBJECT_CLASSES = ["person", "bicycle", "car", "motorcycle", "bus", "truck"];
// The i18n label group of a list field's items, where it differs from the field's name.
const ITEM_LABELS = { days: "day", classes: "object" };
// What a field starts with when a person switches it on, where the schema's default is empty.
const FIRST_VALUES = { windows: ["22:00-06:00"] };
const WINDOW = /^(\d\d:\d\d)-(\d\d:\d\d)$/;

function pointer(root, ref) {
  if (!ref.startsWith("#/")) return {};
  return ref
    .slice(2)
    .split("/")
    .reduce((node, part) => node?.[part.replaceAll("~1", "/").replaceAll("~0", "~")], root) || {};
}

/** The schema node with its $ref (or single allOf) followed; the field's own keys win. */
function resolve(node, root) {
  let current = node || {};
  for (;;) {
    if (current.$ref) {
      const { $ref, ...own } = current;
      current = { ...pointer(root, $ref), ...own };
    } else if (current.allOf?.length === 1) {
      const { allOf, ...own } = current;
      current = { ...resolve(allOf[0], root), ...own };
    } else {
      return current;
    }
  }
}

/** {schema, nullable}: `X | None` (anyOf [X, null]) as X, with whether null is allowed. */
function unwrap(node, root) {
  const resolved = resolve(node, root);
  const choices = resolved.anyOf || (resolved.discriminator ? null : resolved.oneOf);
  if (choices) {
    const others = choices.filter((choice) => choice.type !== "null");
    if (others.length === 1) {
      const { anyOf, oneOf, ...own } = resolved;
      return { schema: { ...resolve(others[0], root), ...own }, nullable: others.length < choices.length };
    }
  }
  if (Array.isArray(resolved.type)) {
    const types = resolved.type.filter((type) => type !== "null");
    return { schema: { ...resolved, type: types.length === 1 ? types[0] : types }, nullable: types.length < resolved.type.length };
  }
  return { schema: resolved, nullable: false };
}

function constOf(node, root) {
  const resolved = resolve(node, root);
  if (resolved.const !== undefined) return resolved.const;
  return resolved.enum?.length === 1 ? resolved.enum[0] : undefined;
}

/**
 * The rule kinds a camera schema offers: {tag, kinds: [kind], variant(kind), kindLabel(kind)}.
 * `taxonomy` (GET /api/v1/taxonomy, optional) names a kind the console has no label for by the
 * event type it raises.
 */
export function ruleSchema(root, taxonomy = null) {
  const items = resolve(root.properties?.rules?.items, root);
  const tag = items.discriminator?.propertyName || "kind";
  const variants = new Map();
  for (const choice of items.oneOf || items.anyOf || [items]) {
    const variant = resolve(choice, root);
    const kind = constOf(variant.properties?.[tag], root);
    if (kind !== undefined) variants.set(kind, variant);
  }
  const eventNames = new Map();
  for (const major of taxonomy?.classes || []) {
    for (const minor of major.minors) eventNames.set(minor.code, minor);
  }
  function kindLabel(kind) {
    const event = eventNames.get(taxonomy?.rules?.[kind]);
    const eventName = event && (getLang() === "zh-CN" ? event.name_zh : event.name_en);
    return labelOr("rule", kind, eventName || String(kind).replaceAll("_", " "));
  }
  return { root, tag, kinds: [...variants.keys()], variant: (kind) => variants.get(kind), kindLabel };
}

function initialValue(name, node, root) {
  if (FIRST_VALUES[name]) return structuredClone(FIRST_VALUES[name]);
  const { schema } = unwrap(node, root);
  if (schema.default !== undefined && schema.default !== null) return structuredClone(schema.default);
  if (schema.type === "object" && schema.properties) return newObject(schema, root);
  return undefined;
}

function newObject(schema, root) {
  const value = {};
  for (const [name, node] of Object.entries(schema.properties || {})) {
    const first = initialValue(name, node, root);
    if (first !== undefined) value[name] = first;
  }
  return value;
}

/** A new rule of `kind` with the schema's defaults, watching the first of the camera's shapes. */
export function newRule(rules, kind, shapes) {
  const variant = rules.variant(kind);
  const value = { [rules.tag]: kind };
  for (const [name, node] of Object.entries(variant.properties || {})) {
    if (name === rules.tag) continue;
    if (REFERENCES[name]) value[name] = shapes[REFERENCES[name]]?.[0] ?? "";
    else {
      const { schema } = unwrap(node, rules.root);
      if (schema.default !== undefined && schema.default !== null) value[name] = structuredClone(schema.default);
    }
  }
  return value;
}

function fieldLabel(name, schema) {
  return labelOr("rulefield", name, schema.title || name);
}

function itemLabel(name, value) {
  return label(ITEM_LABELS[name] || name, value);
}

/** Why `number` does not fit the schema's bounds, or "" when it does. */
function numberProblem(number, schema) {
  if (!Number.isFinite(number)) return t("rules.need_number");
  if (schema.type === "integer" && !Number.isInteger(number)) return t("rules.need_integer");
  if (schema.minimum !== undefined && number < schema.minimum) return t("rules.at_least", { n: schema.minimum });
  if (schema.exclusiveMinimum !== undefined && number <= schema.exclusiveMinimum) return t("rules.above", { n: schema.exclusiveMinimum });
  if (schema.maximum !== undefined && number > schema.maximum) return t("rules.at_most", { n: schema.maximum });
  if (schema.exclusiveMaximum !== undefined && number >= schema.exclusiveMaximum) return t("rules.below", { n: schema.exclusiveMaximum });
  return "";
}

// Each input writes into `holder[name]` and calls ctx.onChange(); ctx.checks collects the
// functions that say what is wrong with the form (null when nothing is).

function referenceInput(ctx, holder, name) {
  const names = ctx.shapes[REFERENCES[name]] || [];
  const current = holder[name];
  const pairs = names.map((shape) => [shape, shape]);
  // A name that is not (or no longer) drawn stays chosen, visibly, instead of silently becoming another.
  if (current !== undefined && current !== null && !names.includes(current)) pairs.unshift([current, t("rules.missing_ref", { name: current })]);
  const select = h("select", { name, onchange: () => { holder[name] = select.value; ctx.onChange(); } }, options(pairs, current));
  ctx.checks.push(() => (names.includes(holder[name]) ? null : t(name === "line" ? "rules.needs_line" : "rules.needs_zone")));
  return select;
}

function enumInput(ctx, holder, name, schema, nullable) {
  const pairs = schema.enum.map((value) => [value, label(name, value)]);
  if (nullable) pairs.unshift(["", "—"]);
  if (holder[name] !== undefined && holder[name] !== null && !schema.enum.includes(holder[name])) pairs.push([holder[name], String(holder[name])]);
  const select = h("select", { name, onchange: () => { holder[name] = select.value === "" && nullable ? null : select.value; ctx.onChange(); } }, options(pairs, holder[name] ?? ""));
  return select;
}

function numberInput(ctx, holder, name, schema, nullable, title) {
  const input = h("input", {
    type: "number",
    name,
    class: "short",
    value: holder[name] ?? "",
    min: schema.minimum ?? schema.exclusiveMinimum,
    max: schema.maximum ?? schema.exclusiveMaximum,
    step: schema.type === "integer" ? 1 : "any",
  });
  const problem = () => {
    if (input.value === "") return nullable ? "" : t("rules.need_number");
    return numberProblem(Number(input.value), schema);
  };
  input.addEventListener("change", () => {
    const message = problem();
    input.setCustomValidity(message);
    input.classList.toggle("invalid", Boolean(message));
    if (message) return;
    holder[name] = input.value === "" ? null : Number(input.value);
    ctx.onChange();
  });
  ctx.checks.push(() => {
    const message = problem();
    return message ? `${title}: ${message}` : null;
  });
  return input;
}

function choiceList(ctx, holder, name, values, minItems, title) {
  const list = () => (Array.isArray(holder[name]) ? holder[name] : []);
  const group = h("span", { class: "choices", dataset: { field: name } });
  function draw(candidates) {
    group.replaceChildren(
      ...candidates.map((value) =>
        h(
          "label",
          { class: "check" },
          h("input", {
            type: "checkbox",
            value,
            checked: list().includes(value),
            onchange: (changed) => {
              // The list keeps its order; a newly ticked value goes at the end.
              const current = list().filter((item) => item !== value);
              if (changed.target.checked) current.push(value);
              holder[name] = current;
              ctx.onChange();
            },
          }),
          itemLabel(name, value),
        ),
      ),
    );
  }
  draw(values);
  if (minItems) ctx.checks.push(() => (list().length >= minItems ? null : `${title}: ${t("rules.pick_one")}`));
  return { group, draw };
}

function enumListInput(ctx, holder, name, schema, itemSchema, title) {
  return choiceList(ctx, holder, name, itemSchema.enum, schema.minItems, title).group;
}

function stringListInput(ctx, holder, name, schema, title) {
  const suggested = name === "classes" ? [...OBJECT_CLASSES, ...ctx.classes] : [];
  const candidates = () => [...new Set([...(holder[name] || []), ...(schema.default || []), ...suggested])];
  const { group, draw } = choiceList(ctx, holder, name, candidates(), schema.minItems, title);
  const other = h("input", {
    class: "short other-value",
    "aria-label": t("rules.other_value"),
    placeholder: t("rules.other_value"),
    onkeydown: (pressed) => {
      if (pressed.key !== "Enter") return;
      pressed.preventDefault();
      const value = other.value.trim();
      if (!value) return;
      if (!(holder[name] || []).includes(value)) holder[name] = [...(holder[name] || []), value];
      other.value = "";
      draw(candidates());
      ctx.onChange();
    },
  });
  return h("span", { class: "string-list" }, group, other);
}

function windowListInput(ctx, holder, name) {
  const box = h("span", { class: "windows" });
  const timeValue = (text) => (text === "24:00" ? "00:00" : text);
  function draw() {
    const windows = holder[name] || [];
    box.replaceChildren(
      ...windows.map((window, index) => {
        const match = WINDOW.exec(window.trim());
        const write = (text) => {
          holder[name] = windows.map((old, at) => (at === index ? text : old));
          ctx.onChange();
        };
        let editor;
        if (match) {
          // An end at or before the start crosses midnight, so 24:00 shows as 00:00: same window.
          const start = h("input", { type: "time", class: "window-start", value: timeValue(match[1]) });
          const end = h("input", { type: "time", class: "window-end", value: timeValue(match[2]) });
          const changed = () => start.value && end.value && write(`${start.value}-${end.value}`);
          start.addEventListener("change", changed);
          end.addEventListener("change", changed);
          editor = [start, " – ", end];
        } else {
          const text = h("input", { class: "window-text", value: window, onchange: () => write(text.value.trim()) });
          editor = [text];
        }
        return h(
          "span",
          { class: "window" },
          editor,
          h("button", { type: "button", class: "link remove-window", "aria-label": t("rules.remove_window"), onclick: () => { holder[name] = windows.filter((_, at) => at !== index); draw(); ctx.onChange(); } }, "×"),
        );
      }),
      h("button", { type: "button", class: "link add-window", onclick: () => { holder[name] = [...windows, FIRST_VALUES.windows[0]]; draw(); ctx.onChange(); } }, "+ ", t("rules.add_window")),
    );
  }
  draw();
  return box;
}

function objectInput(ctx, holder, name, schema, nullable) {
  const body = h("div", { class: "rule-fields nested" });
  // The nested fields' checks count only while the object is set, and are made anew with it.
  const inner = { ...ctx, checks: [] };
  ctx.checks.push(() => (holder[name] ? inner.checks.map((check) => check()).find(Boolean) || null : null));
  const drawBody = () => {
    inner.checks = [];
    body.replaceChildren(...(holder[name] ? fieldsOf(inner, holder[name], schema, null) : []));
    body.hidden = !holder[name];
  };
  drawBody();
  if (!nullable) return body;
  const toggle = h(
    "select",
    {
      name,
      onchange: () => {
        holder[name] = toggle.value === "on" ? holder[name] || newObject(schema, ctx.root) : null;
        drawBody();
        ctx.onChange();
      },
    },
    options([["off", labelOr("rulefield", `${name}.off`, t("rules.unset"))], ["on", labelOr("rulefield", `${name}.on`, t("rules.set"))]], holder[name] ? "on" : "off"),
  );
  return h("span", { class: "optional-object" }, toggle, body);
}

function fieldInput(ctx, holder, name, node, title) {
  const { schema, nullable } = unwrap(node, ctx.root);
  if (REFERENCES[name] && schema.type === "string") return referenceInput(ctx, holder, name);
  if (schema.enum) return enumInput(ctx, holder, name, schema, nullable);
  if (schema.type === "boolean") {
    return h("input", { type: "checkbox", name, checked: Boolean(holder[name]), onchange: (changed) => { holder[name] = changed.target.checked; ctx.onChange(); } });
  }
  if (schema.type === "integer" || schema.type === "number") return numberInput(ctx, holder, name, schema, nullable, title);
  if (schema.type === "array") {
    const items = unwrap(schema.items, ctx.root).schema;
    if (items.enum) return enumListInput(ctx, holder, name, schema, items, title);
    if (name === "windows" && items.type === "string") return windowListInput(ctx, holder, name);
    if (items.type === "string") return stringListInput(ctx, holder, name, schema, title);
  }
  if (schema.type === "object" && schema.properties) return objectInput(ctx, holder, name, schema, nullable);
  if (schema.type === "string") {
    return h("input", { name, value: holder[name] ?? "", onchange: (changed) => { holder[name] = changed.target.value; ctx.onChange(); } });
  }
  // A shape this console cannot edit is shown and kept as it is.
  return h("code", { class: "rule-raw" }, JSON.stringify(holder[name] ?? null));
}

// Where a field goes in the form: what it watches first, then lists, numbers, choices, and
// nested settings (the schedule) last.
function order(name, node, root) {
  const { schema } = unwrap(node, root);
  if (REFERENCES[name]) return 0;
  if (schema.type === "array") return 1;
  if (schema.type === "object") return 4;
  if (schema.enum) return 3;
  return 2;
}

function fieldsOf(ctx, holder, schema, tag) {
  const entries = Object.entries(schema.properties || {}).filter(([name]) => name !== tag);
  const ranked = entries.map(([name, node], index) => ({ name, node, rank: order(name, node, ctx.root), index }));
  ranked.sort((a, b) => a.rank - b.rank || a.index - b.index);
  const fields = ranked.map(({ name, node, rank }) => {
    const { schema: field } = unwrap(node, ctx.root);
    const title = fieldLabel(name, field);
    // The schema's description explains a field; shown on hover where the console has no words of its own.
    const hint = getLang() === "zh-CN" && labelOr("rulefield", name, null) ? null : field.description;
    const input = fieldInput(ctx, holder, name, node, title);
    const wide = rank === 1 || rank === 4;
    const tagName = input.tagName === "SELECT" || input.tagName === "INPUT" ? "label" : "div";
    return h(tagName, { class: wide ? "rule-field wide" : "rule-field", dataset: { field: name }, title: hint }, h("span", { class: "rule-label" }, title), input);
  });
  // Fields the schema does not describe (a newer camera file): shown, and kept as they are.
  const known = new Set(Object.keys(schema.properties || {}));
  for (const [name, value] of Object.entries(holder)) {
    if (known.has(name) || name === tag) continue;
    fields.push(h("div", { class: "rule-field wide", dataset: { field: name } }, h("span", { class: "rule-label" }, name), h("code", { class: "rule-raw" }, JSON.stringify(value))));
  }
  return fields;
}

/**
 * A <fieldset> editing one rule. `ctx`: {rules (from ruleSchema), shapes: {zones, lines} (names),
 * classes (names the camera detects), onChange(), onRemove()}. The element's read() gives the rule
 * (the one given, with only the person's changes applied); validate() says what is wrong, or null.
 */
export function ruleForm(rule, { rules, shapes, classes = [], onChange, onRemove }) {
  const value = structuredClone(rule);
  const kind = value[rules.tag];
  const variant = rules.variant(kind);
  const ctx = { root: rules.root, shapes, classes, checks: [], onChange };
  const reference = Object.keys(REFERENCES).find((name) => typeof value[name] === "string");
  const body = variant
    ? h("div", { class: "rule-fields" }, fieldsOf(ctx, value, variant, rules.tag))
    : h("div", { class: "rule-fields" }, h("p", { class: "notice error" }, t("rules.unknown_kind")), h("code", { class: "rule-raw" }, JSON.stringify(value)));
  const fieldset = h(
    "fieldset",
    { class: "rule", dataset: { kind } },
    h("legend", {}, rules.kindLabel(kind), reference ? h("span", { class: "muted" }, ` · ${value[reference]}`) : null),
    body,
    h("button", { type: "button", class: "link danger", onclick: onRemove }, t("rules.remove")),
  );
  fieldset.read = () => value;
  fieldset.validate = () => {
    for (const check of ctx.checks) {
      const problem = check();
      if (problem) return `${rules.kindLabel(kind)}: ${problem}`;
    }
    return null;
  };
  return fieldset;
}
