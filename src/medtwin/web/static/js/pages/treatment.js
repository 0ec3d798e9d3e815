// Treatment simulation page (issue 7): a patient's drug record (doses and measured levels, entered here
// or ingested), the personalised fit with its 90 % band, candidate regimens compared by Monte Carlo with
// their curves, probabilities and ranking, and the regimen the clinician picks. The glucose-insulin twin
// lives in treatment_glucose.js (same page, second tab). Route: #/treatment/<patient id>[?drug=vancomycin].
// API: /api/treatment/drugs, /api/twins/{id}/treatment/... (medtwin.api.treatment).

import { api } from "../api.js";
import { fmtDateTime, h } from "../format.js";
import { errorText, setTitle, toast } from "../ui.js";
import { bandChart, css, field, pct } from "./treatment_chart.js";

const PALETTE = ["#5cb0ff", "#ffb347", "#3ddc84", "#e0a0ff", "#ff7597", "#4fc3f7"];

export async function mount(root, params, ctx) {
  css();
  setTitle("Treatment simulation");
  const twin = params[0] || "";
  const [lib, patients] = await Promise.all([
    api("/api/treatment/drugs"),
    api("/api/twins", { query: { kind: "patient" } }).catch(() => []),
  ]);
  const drugs = lib.drugs.filter((d) => d.level_codes.length);
  let drug = drugs.find((d) => d.name === ctx.query?.get?.("drug")) || drugs[0];
  const go = (p, d) => ctx.navigate(`#/treatment/${encodeURIComponent(p)}${d ? `?drug=${d}` : ""}`);
  const pick = h("select", { "aria-label": "Patient", onchange: (e) => go(e.target.value, drug.name) },
    h("option", { value: "" }, "Choose a patient…"),
    ...patients.map((p) => h("option", { value: p.id, selected: p.id === twin }, p.name || p.id)));
  const drugSel = h("select", { "aria-label": "Drug", onchange: (e) => go(twin, e.target.value) },
    ...drugs.map((d) => h("option", { value: d.name, selected: d.name === drug.name }, d.display)));
  const tabPk = h("button", { type: "button", "aria-pressed": "true" }, "Drug levels (PK/PD)");
  const tabGlu = h("button", { type: "button", "aria-pressed": "false" }, "Glucose–insulin");
  root.append(h("div.page-head", null, h("h1", null, "Treatment simulation"),
    h("div.controls", null, pick, drugSel, h("div.seg", { role: "group", "aria-label": "Twin" }, tabPk, tabGlu))));
  if (!twin) {
    root.append(h("p.empty-note", null, "Choose a patient to personalise their twin and compare regimens."));
    return { unmount() {} };
  }
  const pkRoot = h("div.tx-pk");
  const gluRoot = h("div.tx-glu", { hidden: true });
  root.append(pkRoot, gluRoot);
  let gluMounted = false;
  const charts = [];
  const show = async (glu) => {
    tabPk.setAttribute("aria-pressed", String(!glu));
    tabGlu.setAttribute("aria-pressed", String(glu));
    pkRoot.hidden = glu;
    gluRoot.hidden = !glu;
    drugSel.disabled = glu;
    if (glu && !gluMounted) {
      gluMounted = true;
      const mod = await import("./treatment_glucose.js");
      charts.push(...(await mod.mountGlucose(gluRoot, twin)));
    }
  };
  tabPk.onclick = () => show(false);
  tabGlu.onclick = () => show(true);
  const base = `/api/twins/${encodeURIComponent(twin)}/treatment`;
  const unit = drug.models.find((m) => m.key === drug.default_model)?.unit || "mg/L";

  // ------------------------------------------------------------------ record: doses and levels
  const recBox = h("div");
  const levelCode = h("select", { "aria-label": "Level code" }, ...drug.level_codes.map((c) => h("option", { value: c }, c)));
  const levelVal = h("input", { type: "number", step: "0.1", min: "0", "aria-label": `Level (${unit})` });
  const levelTime = h("input", { type: "datetime-local", "aria-label": "Sample time" });
  const doseMg = h("input", { type: "number", step: "10", min: "0", "aria-label": "Dose (mg)" });
  const doseTime = h("input", { type: "datetime-local", "aria-label": "Dose time" });
  const doseDur = h("input", { type: "number", step: "5", min: "0", placeholder: "default", "aria-label": "Infusion (min)" });
  const iso = (el) => (el.value ? new Date(el.value).toISOString() : undefined);
  const covW = h("input", { type: "number", step: "0.1", min: "0", "aria-label": "Weight (kg)" });
  const covH = h("input", { type: "number", step: "1", min: "0", "aria-label": "Height (cm)" });
  const covS = h("input", { type: "number", step: "0.01", min: "0", "aria-label": "Serum creatinine (mg/dL)" });
  const saveCov = h("button.btn.btn-sm", { type: "button", onclick: async () => {
    const body = Object.fromEntries([["weight", covW], ["height", covH], ["scr", covS]].filter(([, el]) => el.value).map(([k, el]) => [k, Number(el.value)]));
    try { await api(`${base}/measurements`, { method: "POST", body }); toast("Measurements recorded", "info"); await loadRecord(); } catch (e) { toast(errorText(e), "error", 8000); }
  } }, "Record measurements");
  const post = async (path, body, msg) => {
    try {
      await api(`${base}/${drug.name}/${path}`, { method: "POST", body });
      toast(msg, "info");
      await loadRecord();
      if (path === "levels") setTimeout(loadFit, 1500); // the service refits on the new level
    } catch (e) { toast(errorText(e), "error", 8000); }
  };
  const addLevel = h("button.btn.btn-sm", { type: "button", onclick: () => post("levels", { value: Number(levelVal.value), code: levelCode.value, time: iso(levelTime) }, "Level recorded") }, "Add level");
  const addDose = h("button.btn.btn-sm", { type: "button", onclick: () => post("doses", { dose_mg: Number(doseMg.value), time: iso(doseTime), duration_min: doseDur.value ? Number(doseDur.value) : undefined }, "Dose recorded") }, "Add dose");
  pkRoot.append(h("section.panel", null, h("h2", null, `${drug.display}: record`), recBox,
    h("div.form-grid", null, field("Weight (kg)", covW), field("Height (cm)", covH), field("Creatinine (mg/dL)", covS), h("div.field", null, h("span", null, " "), saveCov)),
    h("div.form-grid", null, field(`Level (${unit})`, levelVal), field("LOINC", levelCode), field("Sample time", levelTime), h("div.field", null, h("span", null, " "), addLevel)),
    h("div.form-grid", null, field("Dose (mg)", doseMg), field("Infusion (min)", doseDur), field("Given at", doseTime), h("div.field", null, h("span", null, " "), addDose))));

  async function loadRecord() {
    try {
      const r = await api(`${base}/${drug.name}`);
      const cov = r.covariates;
      recBox.replaceChildren(
        h("p.hint", null, `Covariates: ${cov.age ?? "?"} y, ${cov.sex ?? "?"}, ${cov.weight ?? "?"} kg, ${cov.height ?? "?"} cm${cov.scr ? `, SCr ${cov.scr} mg/dL` : ""}`),
        r.missing?.length ? h("p.banner", { role: "alert" }, `Missing for the model: ${r.missing.join(", ")}. Record it below (or on the patient's twin).`) : null,
        h("table.score-table", null, h("thead", null, h("tr", null, h("th", null, "When"), h("th", null, "What"), h("th", null, "Value"))),
          h("tbody", null, ...[...r.doses.map((d) => [d.time, "dose", `${d.dose_mg} mg${d.duration_min ? ` over ${d.duration_min} min` : ""} ${d.route}`]),
            ...r.levels.map((l) => [l.time, `level ${l.code}`, `${l.value} ${l.unit}`])]
            .sort((a, b) => a[0].localeCompare(b[0]))
            .map(([t, w, v]) => h("tr", null, h("td", null, fmtDateTime(t)), h("td", null, w), h("td.num", null, v))))),
        ...r.warnings.map((w) => h("p.banner", null, w)));
    } catch (e) { recBox.replaceChildren(h("p.banner", { role: "alert" }, errorText(e))); }
  }

  // ------------------------------------------------------------------ personalised fit
  const fitInfo = h("div");
  const fitPlot = h("div.tx-plot", { role: "img", "aria-label": "Fitted concentration with 90 % band" });
  const modelSel = h("select", { "aria-label": "Model" }, ...drug.models.map((m) => h("option", { value: m.key }, m.label)));
  const refit = h("button.btn.btn-sm", { type: "button", onclick: async () => {
    try { renderFit(await api(`${base}/${drug.name}/fit`, { method: "POST", body: { model: modelSel.value } })); } catch (e) { toast(errorText(e), "error", 8000); }
  } }, "Fit now");
  pkRoot.append(h("section.panel", null, h("h2", null, "Personalised twin", h("span.tools", null, modelSel, refit)), fitInfo, fitPlot));

  function renderFit(f) {
    const fit = f.fit;
    const rows = Object.keys(fit.individual).map((k) => h("tr", null, h("td", null, k), h("td.num", null, fit.typical[k].toPrecision(3)),
      h("td.num", null, fit.individual[k].toPrecision(3)), h("td.num", null, k in (f.parameter_shrinkage || {}) ? pct(f.parameter_shrinkage[k]) : "—")));
    fitInfo.replaceChildren(
      h("p", null, h("span.chip.tx-conf", { "data-level": f.confidence }, `confidence: ${f.confidence}`), " ",
        `${f.model_label} · ${fit.n_levels} level(s) · ${f.method} · ${fmtDateTime(f.created)} · by ${f.actor}`),
      h("table.score-table", null, h("thead", null, h("tr", null, h("th", null, "Parameter"), h("th", null, "Population"), h("th", null, "This patient"), h("th", null, "Shrinkage"))), h("tbody", null, ...rows)),
      ...(f.warnings || []).map((w) => h("p.banner", null, w)));
    const c = f.curve;
    charts.forEach((x) => x.destroy?.());
    charts.length = 0;
    charts.push(bandChart(fitPlot, c.t_h, [
      { label: "fit", color: PALETTE[0], ...c.fit },
      { label: "population", color: "#8895a7", p50: c.population.p50, dash: true },
    ], { points: c.levels.map((l) => [l.t_h, l.value]), yLabel: c.unit, xLabel: "hours from now" }));
  }
  async function loadFit() {
    try { renderFit(await api(`${base}/${drug.name}/fit`)); } catch (e) {
      fitInfo.replaceChildren(h("p.empty-note", null, e.status === 404 ? "No fit yet: record levels, or press “Fit now” for the population prediction." : errorText(e)));
    }
  }

  // ------------------------------------------------------------------ candidate regimens
  const rows = h("tbody");
  const addRow = (dose = 1000, interval = drug.default_interval_h, n = 4, dur = "") => {
    const tr = h("tr", null,
      h("td", null, h("input", { type: "number", value: dose, step: drug.dose_step_mg, "aria-label": "Dose mg" })),
      h("td", null, h("input", { type: "number", value: interval, step: "1", "aria-label": "Interval h" })),
      h("td", null, h("input", { type: "number", value: n, step: "1", min: "1", "aria-label": "Number of doses" })),
      h("td", null, h("input", { type: "number", value: dur, placeholder: "default", "aria-label": "Infusion min" })),
      h("td", null, h("button.btn.btn-ghost.btn-sm", { type: "button", onclick: () => tr.remove() }, "Remove")));
    rows.append(tr);
  };
  const defaults = { vancomycin: [1000, 1250, 1500], gentamicin: [300, 400, 500], lithium: [400, 600, 800] }[drug.name] || [100];
  defaults.forEach((d) => addRow(d));
  const horizon = h("input", { type: "number", value: 48, min: 1, "aria-label": "Horizon h" });
  const mic = h("input", { type: "number", value: 1, step: "0.25", "aria-label": "MIC mg/L" });
  const tox = h("input", { type: "number", value: 10, min: 0, max: 100, "aria-label": "Toxicity limit %" });
  const results = h("div");
  const cmpPlot = h("div.tx-plot", { role: "img", "aria-label": "Candidate regimens: median and 90 % band" });
  const run = h("button.btn.btn-primary", { type: "button", onclick: compare }, "Compare");
  pkRoot.append(h("section.panel", null, h("h2", null, "Compare regimens", h("span.tools", null, drug.target ? `target ${drug.target.text}` : "")),
    h("table.score-table.tx-cands", null, h("thead", null, h("tr", null, h("th", null, "Dose (mg)"), h("th", null, "Every (h)"), h("th", null, "Doses"), h("th", null, "Infusion (min)"), h("th"))), rows),
    h("div.form-grid", null, h("div.field", null, h("span", null, " "), h("button.btn.btn-sm", { type: "button", onclick: () => addRow() }, "Add regimen")),
      field("Horizon (h)", horizon), field("MIC (mg/L)", mic), field("Toxicity limit (%)", tox), h("div.field", null, h("span", null, " "), run)),
    cmpPlot, results));

  async function compare() {
    const candidates = [...rows.children].map((tr) => {
      const v = [...tr.querySelectorAll("input")].map((i) => i.value);
      return { dose_mg: Number(v[0]), interval_h: Number(v[1]), n_doses: Number(v[2]), ...(v[3] ? { duration_min: Number(v[3]) } : {}) };
    });
    run.disabled = true;
    results.replaceChildren(h("p.loading", null, "Simulating the patient's virtual replicas…"));
    try {
      renderRun(await api(`${base}/${drug.name}/compare`, { method: "POST", body: { candidates, horizon_h: Number(horizon.value), mic: Number(mic.value), tox_limit: Number(tox.value) / 100 } }));
      loadFit();
    } catch (e) { results.replaceChildren(h("p.banner", { role: "alert" }, errorText(e))); } finally { run.disabled = false; }
  }

  function renderRun(runRow) {
    const out = runRow.output;
    const ranked = [...out.results].sort((a, b) => a.rank - b.rank);
    const c0 = ranked[0].curves;
    charts.push(bandChart(cmpPlot, c0.t_h, ranked.map((r, i) => ({ label: r.label, color: PALETTE[i % PALETTE.length], p5: r.curves.cp_p5, p50: r.curves.cp_p50, p95: r.curves.cp_p95 })), { yLabel: unit, xLabel: "hours from now" }));
    const pickBtn = (r) => h("button.btn.btn-sm", { type: "button", onclick: async () => {
      try { const s = await api(`${base}/runs/${runRow.id}/select`, { method: "POST", body: { label: r.label } }); toast(`Picked ${s.selected.label}`, "info"); renderRun(s); } catch (e) { toast(errorText(e), "error"); }
    } }, runRow.selected?.label === r.label ? "Picked ✓" : "Pick");
    results.replaceChildren(
      h("table.score-table", null, h("thead", null, h("tr", null, ...["Rank", "Regimen", "P(target)", "P(toxicity)", "Time in window", "Target metric median [5–95 %]", "Confidence", ""].map((t) => h("th", null, t)))),
        h("tbody", null, ...ranked.map((r) => h("tr", { "data-eligible": String(r.eligible) }, h("td.num", null, r.rank), h("td", null, r.label), h("td.num", null, pct(r.p_target)), h("td.num", null, pct(r.p_toxicity)), h("td.num", null, pct(r.time_in_window)),
          h("td.num", null, r.target_quantiles ? `${r.target_quantiles[1].toPrecision(3)} [${r.target_quantiles[0].toPrecision(3)}–${r.target_quantiles[2].toPrecision(3)}]` : "—"),
          h("td", null, h("span.chip.tx-conf", { "data-level": r.confidence?.level || "" }, r.confidence?.level || "—")), h("td", null, pickBtn(r)))))),
      h("ul.tx-explain", null, ...ranked.map((r) => h("li", null, h("strong", null, `${r.label}: `), r.explanation))),
      out.suggestion ? h("p.banner.tx-suggest", null, `Suggestion: ${out.suggestion.explanation}`) : null,
      runRow.selected ? h("p", null, `Picked: ${runRow.selected.label} by ${runRow.selected_by} at ${fmtDateTime(runRow.selected_at)}`) : null,
      h("p.hint", null, `Target ${out.settings.target}; toxicity ${out.settings.toxicity}; ${out.settings.n} draws of the patient's posterior; fit ${runRow.fit_id}.`));
  }

  await Promise.all([loadRecord(), loadFit()]);
  return { unmount() { charts.forEach((c) => c.destroy?.()); } };
}
