// A trainee's session (issue 12): progressive disclosure (presenting complaint -> history -> examination ->
// vitals -> orders), the bedside monitor of the virtual patient, treatments and investigations, the clock
// (pause, speed, move on), the diagnosis with a ranked differential, then the feedback report.

import { api } from "../api.js";
import { h } from "../format.js";
import { errorText, setTitle, toast } from "../ui.js";
import { field, mins } from "./training.js";
import { lineChart } from "./training_chart.js";

const STAGES = [["history", "History"], ["examination", "Examination"], ["vitals", "Vitals"], ["orders", "Orders & results"]];

export async function mountSession(root, id, ctx) {
  const base = `/api/training/sessions/${encodeURIComponent(id)}`;
  const cat = await api("/api/training/catalogue");
  let st = await api(base);
  if (st.session.status === "submitted") return showReport(root, base, ctx);
  setTitle(st.case.title);
  let timer = null;
  let chart = null;
  const clockEl = h("span.tr-clock", { role: "timer", "aria-live": "off" });
  const runBtn = h("button.btn.btn-sm", { type: "button", onclick: () => clock({ running: !st.session.running }) });
  const speed = h("select", { "aria-label": "Speed", onchange: () => clock({ speed: Number(speed.value) }) },
    ...cat.speeds.filter((s) => s > 0).map((s) => h("option", { value: s }, `${s}×`)));
  const fwd = h("button.btn.btn-sm", { type: "button", onclick: () => clock({ advance_min: 5 }) }, "+5 min");
  const stageBar = h("div.seg.tr-stages", { role: "group", "aria-label": "Case stages" });
  const narrative = h("div.tr-narrative");
  const monitorBox = h("section.panel.tr-monitor", { hidden: true }, h("h2", null, "Monitor"));
  const nowStrip = h("dl.now-strip");
  const plot = h("div.tr-plot", { role: "img", "aria-label": "Vital signs since presentation" });
  monitorBox.append(nowStrip, plot);
  const ordersBox = h("section.panel", { hidden: true }, h("h2", null, "Treat and investigate"));
  const log = h("div");
  const results = h("div");
  root.append(h("div.page-head", null, h("h1", null, st.case.title), h("div.controls", null, clockEl, runBtn, speed, fwd)),
    h("p.hint", null, "Simulated time runs while the clock runs; the patient keeps changing whatever you do. All patient data here are de-identified."),
    stageBar, narrative, monitorBox, ordersBox);

  async function call(path, body) {
    try { st = await api(`${base}/${path}`, { method: "POST", body }); render(); } catch (e) { toast(errorText(e), "error", 8000); }
  }
  const clock = (body) => call("clock", body);

  // ------------------------------------------------------------------ treatments and orders
  const kind = h("select", { "aria-label": "Treatment" }, ...cat.actions.map((a) => h("option", { value: a.kind }, a.label)));
  const params = h("div.form-grid");
  const drawParams = () => {
    const a = cat.actions.find((x) => x.kind === kind.value);
    params.replaceChildren(
      ...Object.entries(a.choices).map(([name, opts]) => field(name, h("select", { name }, ...opts.map((o) => h("option", { value: o }, o.replace(/_/g, " ")))))),
      ...a.params.map((p) => field(`${p.name} (${p.unit})`, h("input", { name: p.name, type: "number", step: "any", min: p.min, max: p.max, value: p.default ?? "" }))),
      h("div.field", null, h("span", null, " "), h("button.btn.btn-primary", { type: "button", onclick: give }, "Give")));
    if (a.description) params.append(h("p.hint", null, a.description));
  };
  async function give() {
    const body = { kind: kind.value };
    for (const el of params.querySelectorAll("[name]")) body[el.name] = el.tagName === "SELECT" ? el.value : Number(el.value);
    await call("actions", body);
  }
  kind.onchange = drawParams;
  drawParams();
  const test = h("select", { "aria-label": "Investigation" }, ...cat.investigations.map((t) => h("option", { value: t.test }, `${t.label} (${t.minutes} min)`)));
  ordersBox.append(h("h3", null, "Treatment"), h("div.form-actions", null, kind), params,
    h("h3", null, "Investigations"), h("div.form-actions", null, test, h("button.btn", { type: "button", onclick: () => call("orders", { test: test.value }) }, "Order")),
    results, h("h3", null, "What you have done"), log);

  // ------------------------------------------------------------------ diagnosis
  const dl = h("datalist#tr-dx-pick", null, ...cat.diagnoses.map((d) => h("option", { value: d.code }, `${d.code} ${d.display}`)));
  const primary = h("input", { list: "tr-dx-pick", placeholder: "ICD-10, e.g. A41.9", "aria-label": "Primary diagnosis" });
  const diffs = [1, 2, 3].map((i) => h("input", { list: "tr-dx-pick", placeholder: `differential ${i}`, "aria-label": `Differential ${i}` }));
  const reasoning = h("textarea", { rows: 2, "aria-label": "Reasoning (optional)" });
  const dxBox = h("section.panel", { hidden: true }, h("h2", null, "Diagnosis"), dl,
    h("div.form-grid", null, field("Primary", primary), ...diffs.map((d, i) => field(`Differential ${i + 1}`, d))), field("Reasoning", reasoning),
    h("div.form-actions", null, h("button.btn.btn-primary", { type: "button", onclick: submit }, "Submit and see feedback")));
  root.append(dxBox);
  async function submit() {
    const body = { primary: primary.value.trim(), differential: diffs.map((d) => d.value.trim()).filter(Boolean), reasoning: reasoning.value };
    try { await api(`${base}/diagnosis`, { method: "POST", body }); stop(); root.replaceChildren(); await showReport(root, base, ctx); } catch (e) { toast(errorText(e), "error", 8000); }
  }

  // ------------------------------------------------------------------ rendering
  function render() {
    const s = st.session;
    clockEl.textContent = `T+${mins(st.t)} / ${s.max_minutes} min`;
    runBtn.textContent = s.running ? "Pause" : "Run";
    runBtn.setAttribute("aria-pressed", String(s.running));
    speed.value = String(s.speed || 1);
    stageBar.replaceChildren(...STAGES.map(([k, label], i) => {
      const open = s.revealed.includes(k);
      const can = open || s.revealed.includes(i === 0 ? "presenting" : STAGES[i - 1][0]);
      return h("button", { type: "button", "aria-pressed": String(open), disabled: !can || open, onclick: () => call("reveal", { stage: k }) }, label);
    }));
    narrative.replaceChildren(...Object.entries(st.stages).map(([k, text]) => h("section.panel", null, h("h2", null, k === "presenting" ? "Presenting complaint" : k[0].toUpperCase() + k.slice(1)), h("p", null, text))),
      ...(Object.keys(st.patient || {}).length ? [h("p.tr-meta", null, Object.entries(st.patient).map(([k, v]) => `${k.replace("_", " ")}: ${v}`).join(" · "))] : []));
    monitorBox.hidden = !st.monitor;
    if (st.monitor) {
      const n = st.monitor.now;
      const cell = (label, v, unit) => h("div.vital", null, h("dt", null, label, unit ? h("span.unit", null, unit) : null), h("dd", null, h("span.val", null, v ?? "—")));
      nowStrip.replaceChildren(cell("HR", n.hr, "/min"), cell("SpO₂", n.spo2, "%"), cell("RR", n.rr, "/min"), cell("BP", `${n.sbp}/${n.dbp}`, "mmHg"),
        cell("MAP", n.map, "mmHg"), cell("Temp", n.temp, "°C"), cell("ACVPU", n.acvpu), cell("FiO₂", Math.round(n.fio2 * 100), "%"));
      const tr = [...st.monitor.before.map((r) => ({ ...r, before: true })), ...st.monitor.trace];
      const xs = tr.map((r) => r.t);
      const lines = [
        { label: "HR", color: "#3ddc84", ys: tr.map((r) => r.hr) }, { label: "SpO₂", color: "#4fc3f7", ys: tr.map((r) => r.spo2) },
        { label: "MAP", color: "#e0a0ff", ys: tr.map((r) => r.map) }, { label: "RR", color: "#c792ea", ys: tr.map((r) => r.rr) },
      ];
      if (chart) chart.update(xs, lines);
      else chart = lineChart(plot, xs, lines, { xLabel: "minutes from presentation (negative: the real chart before it)" });
    }
    ordersBox.hidden = !s.revealed.includes("orders");
    dxBox.hidden = !s.revealed.includes("examination");
    log.replaceChildren(st.actions.length ? h("ul.tr-log", null, ...st.actions.map((a) => h("li", null, h("span.num", null, `T+${mins(a.t)} `), a.label || `${a.kind.replace(/_/g, " ")} ${fmtParams(a.params)}`, a.note ? h("em", null, ` — ${a.note}`) : null))) : h("p.empty-note", null, "Nothing yet."));
    results.replaceChildren(...st.orders.map((o) => h("div.tr-result", { "data-ready": String(Boolean(o.result)) }, h("strong", null, `${o.label} `), h("span.hint", null, `ordered T+${mins(o.ordered)}`),
      o.result ? [o.result.values.length ? h("ul", null, ...o.result.values.map((v) => h("li", null, `${v.display}: `, h("strong.num", null, v.value), ` ${v.unit}`))) : null, o.result.report ? h("p", null, o.result.report) : null]
        : h("p.hint", null, `pending, ready at T+${mins(o.ready_at)}`))));
  }
  const fmtParams = (p) => Object.entries(p || {}).map(([k, v]) => `${k} ${typeof v === "string" ? v.replace(/_/g, " ") : v}`).join(", ");
  const poll = async () => {
    try { st = await api(base); render(); } catch (e) { if (e.status === 401) stop(); }
  };
  const stop = () => { if (timer) clearInterval(timer); timer = null; chart?.destroy(); };
  render();
  timer = setInterval(() => { if (st.session.running) poll(); }, 1500);
  return { unmount: stop };
}

export async function showReport(root, base, ctx) {
  const r = await api(`${base}/report`);
  setTitle(`Feedback: ${r.case.title}`);
  const pct = (v) => `${Math.round(v)} / 100`;
  const dx = r.diagnosis;
  const charts = [];
  const plot = h("div.tr-plot", { role: "img", "aria-label": "NEWS2 (without its oxygen point) of your course, the real team's and no treatment" });
  const mapPlot = h("div.tr-plot", { role: "img", "aria-label": "Mean arterial pressure of the three courses" });
  root.append(h("div.page-head", null, h("h1", null, `Feedback: ${r.case.title}`), h("div.controls", null, h("a.btn.btn-sm", { href: "#/training" }, "Back to the library"))),
    h("section.panel.tr-total", null, h("h2", null, `Score ${pct(r.total)}`),
      h("p", null, ...Object.entries(r.parts).map(([k, v]) => h("span.chip", null, `${k} ${Math.round(v)} (weight ${r.weights[k]})`)))),
    h("section.panel", null, h("h2", null, "Diagnosis"),
      h("p", null, "Real diagnosis: ", h("strong", null, `${dx.real.code} ${dx.real.display}`)),
      h("p", null, "Yours: ", h("strong", null, `${dx.submitted.code} ${dx.submitted.display}`), ` — ${dx.match === "exact" ? "exact match" : dx.match === "category" ? "same category" : "no match"}`,
        dx.differential_rank ? ` (real diagnosis at rank ${dx.differential_rank} of your differential)` : "")),
    h("section.panel", null, h("h2", null, "Management"),
      h("table.score-table", null, h("thead", null, h("tr", null, ...["Expected", "Weight", "Target", "Done at", "Status", "Source"].map((t) => h("th", null, t)))),
        h("tbody", null, ...r.management.items.map((i) => h("tr", { "data-status": i.status }, h("td", null, i.label), h("td.num", null, i.weight), h("td", null, i.deadline_min ? `≤ ${i.deadline_min} min` : "—"),
          h("td.num", null, i.t === null ? "—" : `T+${mins(i.t)}`), h("td", null, i.status), h("td", null, h("abbr", { title: i.citation }, i.source)))))),
      r.management.penalties.length ? h("ul.tr-penalties", null, ...r.management.penalties.map((p) => h("li", null, `−${p.penalty}: ${p.label} at T+${mins(p.t)} `, h("abbr", { title: p.citation }, `(${p.source})`)))) : h("p.hint", null, "No harmful or contraindicated orders.")),
    h("section.panel.tr-outcome", null, h("h2", null, "Outcome"), h("ul", null, ...r.outcome.comparisons.map((c) => h("li", { "data-reference": c.reference }, c.text))), plot, mapPlot),
    h("section.panel", null, h("h2", null, "What was done for the real patient"),
      h("ul.tr-log", null, ...r.feedback.real_treatment.map((a) => h("li", null, h("span.num", null, a.t < 0 ? `${Math.round(-a.t)} min before presentation ` : `T+${mins(a.t)} `), a.label || a.kind))),
      h("p", null, r.feedback.real_outcome)),
    h("section.panel", null, h("h2", null, "Teaching points"), h("ul", null, ...r.feedback.teaching.map((t) => h("li", null, t.text, " ", h("abbr", { title: t.citation || "" }, `(${t.source})`))))),
    h("details.panel", null, h("summary", null, "Sources"), h("ul.tr-sources", null, ...r.sources.map((s) => h("li", null, h("strong", null, s.key), ": ", s.text)))));
  const tj = r.trajectories;
  // the real patient's observed course (5-min means, built from the record) on the same minutes
  const obs = new Map((tj.real_observed || []).map((x) => [x.t, x]));
  const xs = tj.trainee.map((x) => x.t);
  const series = (key, obsKey) => [{ label: "you", color: "#5cb0ff", ys: tj.trainee.map((x) => x[key]) }, { label: "real team (model)", color: "#ffb347", ys: tj.real_team.map((x) => x[key]) },
    { label: "no treatment", color: "#8895a7", ys: tj.no_treatment.map((x) => x[key]), dash: true },
    ...(obs.size ? [{ label: "real patient (observed)", color: "#3ddc84", ys: xs.map((t) => obs.get(t)?.[obsKey] ?? null) }] : [])];
  charts.push(lineChart(plot, xs, series("news2_physiology", "news2"), { yLabel: "NEWS2 (no O₂ point)", xLabel: "minutes" }));
  charts.push(lineChart(mapPlot, xs, series("map", "map"), { yLabel: "MAP mmHg", xLabel: "minutes" }));
  return { unmount() { charts.forEach((c) => c.destroy()); } };
}
