// Glucose–insulin twin tab of the treatment page: personalise the UVA/Padova model from the patient's CGM,
// carbohydrate and insulin records, then compare insulin regimens over a meal plan (median and 90 % band
// of sensor glucose, time in ranges, hypoglycaemia risk per the 2019 consensus) and pick one.

import { api } from "../api.js";
import { fmtDateTime, h } from "../format.js";
import { errorText, toast } from "../ui.js";
import { bandChart, field, pct } from "./treatment_chart.js";

const COLORS = ["#5cb0ff", "#ffb347", "#3ddc84", "#e0a0ff", "#ff7597"];
const ZONES = [
  { from: 0, to: 54, color: "rgba(224, 22, 43, 0.22)" },
  { from: 54, to: 70, color: "rgba(224, 22, 43, 0.10)" },
  { from: 70, to: 180, color: "rgba(76, 209, 122, 0.08)" },
];

export async function mountGlucose(root, twin) {
  const charts = [];
  const base = `/api/twins/${encodeURIComponent(twin)}/glucose`;
  const hours = h("input", { type: "number", value: 24, min: 2, "aria-label": "Hours of records" });
  const basal = h("input", { type: "number", step: "0.05", placeholder: "from the twin", "aria-label": "Basal U/h" });
  const info = h("div");
  const fitBtn = h("button.btn.btn-sm", { type: "button", onclick: async () => {
    fitBtn.disabled = true;
    try { render(await api(`${base}/fit`, { method: "POST", body: { hours: Number(hours.value), ...(basal.value ? { basal_u_per_h: Number(basal.value) } : {}) } })); } catch (e) { toast(errorText(e), "error", 8000); } finally { fitBtn.disabled = false; }
  } }, "Personalise from CGM");
  root.append(h("section.panel", null, h("h2", null, "Glucose twin (UVA/Padova 2008)"), info,
    h("div.form-grid", null, field("Records (h)", hours), field("Basal (U/h)", basal), h("div.field", null, h("span", null, " "), fitBtn))));

  const meals = h("tbody");
  const addMeal = (t = 8, g = 50) => {
    const tr = h("tr", null, h("td", null, h("input", { type: "number", value: t, step: "0.25", "aria-label": "Meal hour" })),
      h("td", null, h("input", { type: "number", value: g, step: "5", "aria-label": "Carbohydrate g" })),
      h("td", null, h("button.btn.btn-ghost.btn-sm", { type: "button", onclick: () => tr.remove() }, "Remove")));
    meals.append(tr);
  };
  const regs = h("tbody");
  const addReg = (label, b = 1, cr = 10, off = 0, scale = 1) => {
    const tr = h("tr", null, ...[["text", label, "Label"], ["number", b, "Basal U/h"], ["number", cr, "Carb ratio g/U"], ["number", off, "Bolus offset min"], ["number", scale, "Bolus scale"]]
      .map(([type, value, aria]) => h("td", null, h("input", { type, value, step: "any", "aria-label": aria }))),
      h("td", null, h("button.btn.btn-ghost.btn-sm", { type: "button", onclick: () => tr.remove() }, "Remove")));
    regs.append(tr);
  };
  const plot = h("div.tx-plot", { role: "img", "aria-label": "Sensor glucose under each regimen: median and 90 % band" });
  const out = h("div");
  const runBtn = h("button.btn.btn-primary", { type: "button", onclick: compare }, "Compare regimens");
  root.append(h("section.panel", null, h("h2", null, "Compare insulin regimens"),
    h("h3", null, "Meal plan"), h("table.score-table.tx-meals", null, h("thead", null, h("tr", null, h("th", null, "Hour"), h("th", null, "Carbs (g)"), h("th"))), meals),
    h("button.btn.btn-sm", { type: "button", onclick: () => addMeal() }, "Add meal"),
    h("h3", null, "Regimens"), h("table.score-table.tx-regs", null, h("thead", null, h("tr", null, ...["Label", "Basal (U/h)", "CR (g/U)", "Bolus offset (min)", "Bolus ×", ""].map((t) => h("th", null, t)))), regs),
    h("p", null, h("button.btn.btn-sm", { type: "button", onclick: () => addReg(`regimen ${regs.children.length + 1}`) }, "Add regimen"), " ", runBtn),
    plot, out));

  function render(f) {
    const fit = f.fit;
    info.replaceChildren(
      h("p", null, h("span.chip.tx-conf", { "data-level": f.confidence }, `confidence: ${f.confidence}`), " ",
        `template ${fit.template} · ${fit.n_cgm} CGM readings used · MARD ${pct(fit.mard)} · ${fmtDateTime(f.created)}`),
      h("table.score-table", null, h("thead", null, h("tr", null, h("th", null, "Parameter"), h("th", null, "× template"), h("th", null, "posterior SD (log)"), h("th", null, "prior SD (log)"))),
        h("tbody", null, ...fit.params.map((p, i) => h("tr", null, h("td", null, p), h("td.num", null, fit.multipliers[i].toFixed(2)),
          h("td.num", null, Math.sqrt(fit.cov[i][i]).toFixed(2)), h("td.num", null, fit.prior_sd[i].toFixed(2)))))));
    if (!meals.children.length) (f.record.meals.length ? f.record.meals : [{ time_min: 480, grams: 50 }]).forEach((m) => addMeal(+(m.time_min / 60).toFixed(2), m.grams));
    if (!regs.children.length) {
      addReg("current", f.record.basal_u_per_h, 10);
      addReg("basal +20 %", +(f.record.basal_u_per_h * 1.2).toFixed(2), 10);
    }
  }

  async function compare() {
    const candidates = [...regs.children].map((tr) => {
      const v = [...tr.querySelectorAll("input")].map((i) => i.value);
      return { label: v[0], basal_u_per_h: Number(v[1]), carb_ratio: v[2] ? Number(v[2]) : null, bolus_offset_min: Number(v[3]), bolus_scale: Number(v[4]) };
    });
    const plan = [...meals.children].map((tr) => { const v = [...tr.querySelectorAll("input")].map((i) => Number(i.value)); return { time_h: v[0], grams: v[1] }; });
    runBtn.disabled = true;
    out.replaceChildren(h("p.loading", null, "Simulating…"));
    try { show(await api(`${base}/compare`, { method: "POST", body: { candidates, meals: plan, hours: 24, n: 100 } })); } catch (e) { out.replaceChildren(h("p.banner", { role: "alert" }, errorText(e))); } finally { runBtn.disabled = false; }
  }

  function show(run) {
    const res = [...run.output.results].sort((a, b) => a.rank - b.rank);
    charts.forEach((c) => c.destroy());
    charts.length = 0;
    charts.push(bandChart(plot, res[0].curves.t_h, res.map((r, i) => ({ label: r.label, color: COLORS[i % COLORS.length], ...r.curves })), { yLabel: "mg/dL", xLabel: "hours", zones: ZONES }));
    const m = (r, k, d = 0) => `${(r.metrics[k][1] * (k === "lbgi" || k === "hbgi" || k === "mean" ? 1 : 100)).toFixed(d)}`;
    const pick = (r) => h("button.btn.btn-sm", { type: "button", onclick: async () => {
      try { const s = await api(`/api/twins/${encodeURIComponent(twin)}/treatment/runs/${run.id}/select`, { method: "POST", body: { label: r.label } }); toast(`Picked ${s.selected.label}`, "info"); show(s); } catch (e) { toast(errorText(e), "error"); }
    } }, run.selected?.label === r.label ? "Picked ✓" : "Pick");
    out.replaceChildren(
      h("table.score-table", null, h("thead", null, h("tr", null, ...["Rank", "Regimen", "P(TIR>70 %)", "P(hypo)", "TIR", "<70", "<54", ">180", ">250", "CV", "LBGI", "HBGI", "Confidence", ""].map((t) => h("th", null, t)))),
        h("tbody", null, ...res.map((r) => h("tr", { "data-eligible": String(r.eligible) }, h("td.num", null, r.rank), h("td", null, r.label), h("td.num", null, pct(r.p_target)), h("td.num", null, pct(r.p_toxicity)),
          h("td.num", null, `${m(r, "tir")} %`), h("td.num", null, `${m(r, "tbr70", 1)} %`), h("td.num", null, `${m(r, "tbr54", 1)} %`), h("td.num", null, `${m(r, "tar180")} %`), h("td.num", null, `${m(r, "tar250")} %`),
          h("td.num", null, `${m(r, "cv")} %`), h("td.num", null, m(r, "lbgi", 2)), h("td.num", null, m(r, "hbgi", 2)),
          h("td", null, h("span.chip.tx-conf", { "data-level": r.confidence.level }, r.confidence.level)), h("td", null, pick(r)))))),
      h("ul.tx-explain", null, ...res.map((r) => h("li", null, h("strong", null, `${r.label}: `), r.explanation))),
      run.output.suggestion?.explanation ? h("p.banner.tx-suggest", null, `Suggestion: ${run.output.suggestion.explanation}`) : null,
      h("p.hint", null, "Medians and 5th–95th percentiles over the patient's posterior; targets from the 2019 International Consensus on Time in Range."));
  }

  try { render(await api(`${base}/fit`)); } catch (e) {
    info.replaceChildren(h("p.empty-note", null, e.status === 404 ? "No glucose twin yet: personalise it from the CGM records." : errorText(e)));
    addMeal(7.75, 45); addMeal(12, 70); addMeal(19, 80);
  }
  return charts;
}
