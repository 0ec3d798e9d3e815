// The charting form: vitals, ACVPU, fluids, meals, sleep, a medication given, a note. Sent to
// POST /api/twins/{id}/chart; the answer's rejected[] ({index, field, reason}) is shown next to the
// field it names, and accepted values are cleared. While the charting service is not installed the
// form falls back to POST /api/ingest with method "manual" (same validation, same error shape).

import { api } from "./api.js";
import { auth } from "./auth.js";
import { h, localInputValue } from "./format.js";
import { errorText } from "./ui.js";

// [name, code, label, unit (UCUM), input attributes]
const NUMERIC = [
  ["hr", "hr", "Heart rate", "/min", { min: 0, max: 350, step: 1 }, "/min"],
  ["rr", "rr", "Respiratory rate", "/min", { min: 0, max: 150, step: 1 }, "/min"],
  ["spo2", "spo2", "SpO₂", "%", { min: 0, max: 100, step: 1 }, "%"],
  ["sbp", "sbp", "Systolic BP", "mm[Hg]", { min: 0, max: 350, step: 1 }, "mmHg"],
  ["dbp", "dbp", "Diastolic BP", "mm[Hg]", { min: 0, max: 300, step: 1 }, "mmHg"],
  ["temp", "temp", "Temperature", "Cel", { min: 25, max: 45, step: 0.1 }, "°C"],
];
const ROUTES = ["oral", "IV", "SC", "IM", "inhaled", "topical", "PR", "SL", "other"];

export function chartForm(patientId, features, onSaved) {
  const ids = (n) => `cf-${n}`;
  const inputs = {};
  const errs = {};
  let timeTouched = false;

  function field(name, label, control, hint, wide = false) {
    control.id = ids(name);
    control.name = name;
    const err = h("div.field-error", { id: `${ids(name)}-err` });
    errs[name] = err;
    inputs[name] = control;
    control.setAttribute("aria-describedby", `${ids(name)}-err${hint ? ` ${ids(name)}-hint` : ""}`);
    return h(
      `div.field${wide ? ".wide" : ""}`,
      null,
      h("label", { for: ids(name) }, label),
      control,
      hint ? h("span.hint", { id: `${ids(name)}-hint` }, hint) : null,
      err,
    );
  }
  const num = (attrs) => h("input", { type: "number", inputmode: "decimal", ...attrs });
  const select = (options) => h("select", null, h("option", { value: "" }, "—"), options.map(([v, l]) => h("option", { value: v }, l)));

  const time = h("input", { type: "datetime-local", value: localInputValue() });
  time.addEventListener("input", () => {
    timeTouched = true;
  });
  const summary = h("div", { role: "status", "aria-live": "polite" });

  const vitals = h(
    "fieldset",
    null,
    h("legend", null, "Vital signs"),
    h(
      "div.form-grid",
      null,
      NUMERIC.map(([name, , label, , attrs, shown]) => field(name, `${label} (${shown})`, num(attrs))),
      field("o2_device", "Air or oxygen", select([["air", "Air"], ["oxygen", "Oxygen"]])),
      field(
        "acvpu",
        "Consciousness (ACVPU)",
        select([["A", "A – alert"], ["C", "C – new confusion"], ["V", "V – voice"], ["P", "P – pain"], ["U", "U – unresponsive"]]),
      ),
    ),
  );
  const fluids = h(
    "fieldset",
    null,
    h("legend", null, "Fluids, meals and sleep"),
    h(
      "div.form-grid",
      null,
      field("urine", "Urine output (mL)", num({ min: 0, max: 10000, step: 1 }), "since the last entry"),
      field("fluid_in", "Fluid intake (mL)", num({ min: 0, max: 20000, step: 1 }), "oral and IV"),
      field("meal", "Meal eaten", select([["0", "None"], ["25", "A quarter"], ["50", "Half"], ["75", "Three quarters"], ["100", "All"]])),
      field("sleep", "Sleep", select([["asleep", "Asleep"], ["awake", "Awake"]])),
      field("sleep_h", "Slept (hours)", num({ min: 0, max: 24, step: 0.5 })),
    ),
  );
  const meds = h(
    "fieldset",
    null,
    h("legend", null, "Medication given"),
    h(
      "div.form-grid",
      null,
      field("drug", "Drug", h("input", { type: "text", maxlength: 200, autocomplete: "off" })),
      field("dose", "Dose", num({ min: 0, step: "any" })),
      field("dose_unit", "Unit", h("input", { type: "text", maxlength: 40, placeholder: "mg", list: "cf-units" })),
      field("route", "Route", select(ROUTES.map((r) => [r, r]))),
      h("datalist#cf-units", null, ["mg", "g", "mcg", "mL", "units", "mmol"].map((u) => h("option", { value: u }))),
    ),
  );
  const notes = h(
    "fieldset",
    null,
    h("legend", null, "Note and time"),
    h(
      "div.form-grid",
      null,
      field("time", "Time observed", time, "leave as is for now", true),
    ),
    field("note", "Nursing note", h("textarea", { maxlength: 4000 })),
  );

  const form = h(
    "form.chart-form",
    { novalidate: true, "aria-label": "Chart observations" },
    summary,
    vitals,
    fluids,
    meds,
    notes,
    h(
      "div.form-actions",
      null,
      h("button.btn.btn-primary", { type: "submit" }, "Save to chart"),
      h("button.btn", { type: "reset" }, "Clear"),
      h("span.hint", null, features.chart ? "" : "Charting service not installed: saving as manual readings through the ingest API."),
    ),
  );

  form.addEventListener("reset", () => {
    setTimeout(() => {
      clearErrors();
      summary.replaceChildren();
      time.value = localInputValue();
      timeTouched = false;
    });
  });

  function clearErrors() {
    for (const [name, el] of Object.entries(errs)) {
      el.textContent = "";
      inputs[name].removeAttribute("aria-invalid");
    }
  }

  function showError(name, reason) {
    const el = errs[name];
    if (!el) return false;
    el.textContent = el.textContent ? `${el.textContent}; ${reason}` : reason;
    inputs[name].setAttribute("aria-invalid", "true");
    return true;
  }

  function collect() {
    const readings = []; // {code, value, unit?}
    const readingField = []; // form field per reading
    const push = (name, code, value, unit) => {
      readings.push(unit ? { code, value, unit } : { code, value });
      readingField.push(name);
    };
    const local = [];
    for (const [name, code, , unit] of NUMERIC) {
      const v = inputs[name].value.trim();
      if (v === "") continue;
      const n = Number(v);
      if (!Number.isFinite(n)) local.push([name, "enter a number"]);
      else push(name, code, n, unit);
    }
    for (const name of ["o2_device", "acvpu", "sleep"]) if (inputs[name].value) push(name, name, inputs[name].value);
    if (inputs.meal.value) push("meal", "meal", Number(inputs.meal.value), "%");
    if (inputs.sleep_h.value.trim()) push("sleep_h", "sleep_h", Number(inputs.sleep_h.value), "h");
    const fluid = {};
    if (inputs.urine.value.trim()) fluid.output_ml = Number(inputs.urine.value);
    if (inputs.fluid_in.value.trim()) fluid.intake_ml = Number(inputs.fluid_in.value);
    const medications = [];
    const drug = inputs.drug.value.trim();
    const anyMed = drug || inputs.dose.value.trim() || inputs.dose_unit.value.trim() || inputs.route.value;
    if (anyMed) {
      const m = { drug, dose: inputs.dose.value.trim() === "" ? null : Number(inputs.dose.value), unit: inputs.dose_unit.value.trim(), route: inputs.route.value };
      medications.push(m);
    }
    const note = inputs.note.value.trim();
    let when = null;
    if (timeTouched && time.value) {
      const d = new Date(time.value);
      if (Number.isNaN(d.getTime())) local.push(["time", "enter a date and time"]);
      else when = d.toISOString();
    }
    return { readings, readingField, fluid, medications, note, when, local };
  }

  /** Send through /chart, or through /api/ingest (manual) when the charting service is absent. */
  async function send(c) {
    if (features.chart) {
      const body = { by: auth.actor(), readings: c.readings, medications: c.medications };
      if (c.when) body.time = c.when;
      if (c.note) body.note = c.note;
      if (Object.keys(c.fluid).length) body.fluid = c.fluid;
      return { res: await api(`/api/twins/${encodeURIComponent(patientId)}/chart`, { method: "POST", body }), layout: "chart" };
    }
    const readings = c.readings.map((r) => (c.when ? { ...r, time: c.when } : { ...r }));
    const fields = [...c.readingField];
    if (c.fluid.output_ml !== undefined) {
      readings.push({ code: "urine", value: c.fluid.output_ml, unit: "mL", ...(c.when ? { time: c.when } : {}) });
      fields.push("urine");
    }
    if (c.fluid.intake_ml !== undefined) {
      readings.push({ code: "fluid_in", value: c.fluid.intake_ml, unit: "mL", ...(c.when ? { time: c.when } : {}) });
      fields.push("fluid_in");
    }
    if (c.note) {
      readings.push({ code: "note", value: c.note, ...(c.when ? { time: c.when } : {}) });
      fields.push("note");
    }
    const medications = c.medications.map((m) => ({ ...m, performer: auth.actor(), ...(c.when ? { time: c.when } : {}) }));
    const source = `ui-${auth.actor().toLowerCase().replace(/[^a-z0-9._-]+/g, "-").slice(0, 40) || "user"}`;
    const body = { source, seq: `${Date.now()}-${Math.floor(Math.random() * 1e6)}`, patient: patientId, method: "manual", readings, medications };
    try {
      return { res: await api("/api/ingest", { method: "POST", body }), layout: "ingest", fields };
    } catch (e) {
      if (e.status === 422 && e.problem && Array.isArray(e.problem.rejected)) return { res: e.problem, layout: "ingest", fields };
      throw e;
    }
  }

  /** Which form field a rejection names. */
  function fieldFor(r, c, layout, fields) {
    const f = String(r.field ?? "");
    const readingFields = layout === "ingest" ? fields : c.readingField;
    const medName = (sub) => ({ drug: "drug", dose: "dose", unit: "dose_unit", dose_unit: "dose_unit", route: "route", time: "time" })[sub] || "drug";
    let m = /^readings(?:\[(\d+)\]|\.(\d+))(?:\.(\w+))?$/.exec(f);
    if (m) return readingFields[Number(m[1] ?? m[2])] ?? null;
    m = /^medications(?:\[(\d+)\]|\.(\d+))(?:\.(\w+))?$/.exec(f);
    if (m) return medName(m[3]);
    m = /^fluid\.?(\w+)?$/.exec(f);
    if (m) return m[1] === "intake_ml" ? "fluid_in" : "urine";
    if (f === "intake_ml") return "fluid_in";
    if (f === "output_ml") return "urine";
    if (typeof r.index === "number") {
      if (r.index < readingFields.length) return readingFields[r.index];
      return medName(f);
    }
    if (["time", "note"].includes(f)) return f;
    return null;
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearErrors();
    summary.replaceChildren();
    const c = collect();
    if (c.local.length) {
      for (const [name, reason] of c.local) showError(name, reason);
      summary.replaceChildren(h("div.form-summary", null, "Please correct the highlighted fields."));
      inputs[c.local[0][0]].focus();
      return;
    }
    if (!c.readings.length && !c.medications.length && !c.note && !Object.keys(c.fluid).length) {
      summary.replaceChildren(h("div.form-summary", null, "Nothing to save: enter at least one value."));
      return;
    }
    const submit = form.querySelector("button[type=submit]");
    submit.disabled = true;
    try {
      const { res, layout, fields } = await send(c);
      const rejected = res.rejected || [];
      const unplaced = [];
      const bad = new Set();
      for (const r of rejected) {
        const name = fieldFor(r, c, layout, fields);
        if (name && showError(name, r.reason)) bad.add(name);
        else unplaced.push(`${r.field ?? "entry"}: ${r.reason}`);
      }
      const accepted = res.accepted ?? 0;
      const parts = [`${accepted} saved`];
      if (res.duplicates) parts.push(`${res.duplicates} already charted`);
      if (rejected.length) parts.push(`${rejected.length} need correcting`);
      summary.replaceChildren(
        h(
          `div.form-summary${rejected.length ? "" : ".ok"}`,
          null,
          parts.join(" · "),
          unplaced.length ? h("ul", null, unplaced.map((u) => h("li", null, u))) : null,
        ),
      );
      // clear what was stored, keep what needs correcting
      for (const [name, el] of Object.entries(inputs)) {
        if (name === "time" || bad.has(name)) continue;
        const medBad = ["drug", "dose", "dose_unit", "route"].some((n) => bad.has(n));
        if (medBad && ["drug", "dose", "dose_unit", "route"].includes(name)) continue;
        el.value = "";
      }
      if (!bad.size) {
        time.value = localInputValue();
        timeTouched = false;
      }
      const first = [...bad][0];
      if (first) inputs[first].focus();
      if (accepted) onSaved?.(res);
    } catch (e) {
      const placed = (e.errors || []).filter((er) => {
        const name = fieldFor(er, c, "chart", c.readingField) || (["by", "time", "note"].includes(er.field) ? er.field : null);
        return name && showError(name, er.reason);
      });
      summary.replaceChildren(h("div.form-summary", { role: "alert" }, `Not saved: ${errorText(e)}`));
      if (placed.length) {
        const first = Object.keys(errs).find((n) => errs[n].textContent);
        inputs[first]?.focus();
      }
    } finally {
      submit.disabled = false;
    }
  });

  return form;
}
