// The educator's training pages (issue 12): the case editor (narrative, real diagnosis and accepted codes,
// tags, difficulty, status; the de-identification report, the real timeline and treatment, the virtual
// patient's calibration), the cohort of a case (results, difficulty from results) and the replay of a session.

import { api } from "../api.js";
import { fmtDateTime, h } from "../format.js";
import { errorText, setTitle, toast } from "../ui.js";
import { field, mins } from "./training.js";
import { lineChart } from "./training_chart.js";

export async function mountInstructor(view, root, id, ctx) {
  if (view === "case") return editor(root, id, ctx);
  if (view === "cohort") return cohortView(root, id);
  return replayView(root, id);
}

async function editor(root, id, ctx) {
  const url = `/api/training/cases/${encodeURIComponent(id)}`;
  let c = await api(url);
  setTitle(`Case: ${c.title}`);
  const charts = [];
  const title = h("input", { value: c.title, "aria-label": "Title" });
  const specialty = h("input", { value: c.specialty, "aria-label": "Specialty" });
  const difficulty = h("select", { "aria-label": "Difficulty" }, ...["introductory", "intermediate", "advanced"].map((d) => h("option", { value: d, selected: d === c.difficulty }, d)));
  const status = h("select", { "aria-label": "Status" }, ...["draft", "published", "archived"].map((d) => h("option", { value: d, selected: d === c.status }, d)));
  const tags = h("input", { value: (c.tags || []).join(", "), "aria-label": "Tags" });
  const stages = Object.fromEntries(["presenting", "history", "examination"].map((k) => [k, h("textarea", { rows: 3, "aria-label": k }, c.stages[k])]));
  const dx = h("input", { value: c.diagnosis.code, "aria-label": "Real diagnosis code" });
  const accepted = h("input", { value: (c.accepted || []).map((a) => a.code).join(", "), "aria-label": "Accepted codes" });
  const outcome = h("textarea", { rows: 2, "aria-label": "Outcome" }, c.real.outcome_text || "");
  const severity = h("input", { type: "number", min: 0, max: 1, step: 0.05, value: c.physiology.severity, "aria-label": "Severity" });
  const msg = h("p.hint", { role: "status" });
  const save = h("button.btn.btn-primary", { type: "button", onclick: async () => {
    const body = {
      title: title.value, specialty: specialty.value, difficulty: difficulty.value, status: status.value,
      tags: tags.value.split(",").map((t) => t.trim()).filter(Boolean),
      stages: Object.fromEntries(Object.entries(stages).map(([k, el]) => [k, el.value])),
      diagnosis: dx.value.trim(), accepted: accepted.value.split(",").map((t) => t.trim()).filter(Boolean), outcome_text: outcome.value,
    };
    if (Number(severity.value) !== c.physiology.severity) body.severity = Number(severity.value);
    try { c = await api(url, { method: "PUT", body }); msg.textContent = `Saved ${fmtDateTime(c.updated)}`; toast("Case saved", "info"); } catch (e) { msg.textContent = errorText(e); }
  } }, "Save");
  const exportBtn = h("button.btn", { type: "button", onclick: async () => {
    try {
      const doc = await api(`${url}/export`);
      const a = h("a", { href: URL.createObjectURL(new Blob([JSON.stringify(doc, null, 1)], { type: "application/json" })), download: `${c.id}.json` });
      document.body.append(a); a.click(); a.remove();
    } catch (e) { toast(errorText(e), "error"); }
  } }, "Export (de-identified JSON)");
  const deid = c.source?.deid;
  const cal = c.physiology.calibration && c.physiology.calibration.error !== null ? c.physiology.calibration : null;
  const tl = c.timeline?.vitals || [];
  const plot = h("div.tr-plot", { role: "img", "aria-label": "The real patient's vital signs around presentation" });
  root.append(h("div.page-head", null, h("h1", null, c.title), h("div.controls", null, h("a.btn.btn-sm", { href: "#/training" }, "Library"), exportBtn)),
    h("section.panel", null, h("h2", null, "Case"),
      h("div.form-grid", null, field("Title", title), field("Specialty", specialty), field("Difficulty", difficulty), field("Status", status), field("Tags", tags),
        field("Severity (0-1)", severity, c.source?.kind === "twin" ? "calibrated to the real presentation" : "virtual patient at presentation")),
      ...Object.entries(stages).map(([k, el]) => field(k[0].toUpperCase() + k.slice(1), el)),
      h("div.form-grid", null, field("Real diagnosis (ICD-10 or snomed|id)", dx, c.diagnosis.display), field("Also accept", accepted, "comma-separated codes")),
      field("Real outcome", outcome), h("div.form-actions", null, save, msg),
      h("p.hint", null, "Edits are checked against the identifiers of the source patient: typing a name, record number, date or address is refused.")),
    h("section.panel", null, h("h2", null, "Source and de-identification"),
      h("p", null, c.source?.kind === "twin" ? `Built from a real record (subject ${c.source.pseudonym}).` : c.source?.kind === "template" ? "Synthetic case (condition template)." : `Source: ${c.source?.kind}`),
      deid ? h("p.hint", null, `${deid.method}; dates: ${deid.date_mode}; ${deid.observations} readings, ${deid.medications} medications; removed: ${Object.values(deid.removed).map((r) => `${r.class} ${r.count}`).join(", ")}.`) : null,
      c.patient && Object.keys(c.patient).length ? h("p", null, Object.entries(c.patient).map(([k, v]) => `${k}: ${v}`).join(" · ")) : null),
    h("section.panel", null, h("h2", null, "Virtual patient"),
      h("p", null, `Condition ${c.physiology.condition}, severity ${c.physiology.severity}, seed ${c.physiology.seed}, ${c.physiology.weight_kg} kg.`),
      cal ? h("p.hint", null, `Calibrated to the real presentation ${JSON.stringify(cal.target)} (scaled error ${cal.error}).`) : null,
      cal?.warning ? h("p.banner", { role: "alert" }, `Calibration: ${cal.warning}.`) : null,
      tl.length ? plot : h("p.empty-note", null, "No real timeline (synthetic case).")),
    h("section.panel", null, h("h2", null, "Real treatment"), c.real.treatment.length ? h("ul.tr-log", null, ...c.real.treatment.map((a) => h("li", null, h("span.num", null, `T${a.t < 0 ? "" : "+"}${Math.round(a.t)} min `), a.label || a.kind, a.replayed ? "" : h("em", null, " (not simulated)")))) : h("p.empty-note", null, "None recorded.")),
    h("section.panel", null, h("h2", null, "Scoring checklist"), h("ul", null, ...c.scoring.items.map((i) => h("li", null, `${i.label} (weight ${i.weight}${i.deadline_min ? `, ≤ ${i.deadline_min} min` : ""}; ${i.source})`)),
      ...c.scoring.penalties.map((p) => h("li.tr-pen", null, `Penalty −${p.penalty}: ${p.label} (${p.source})`)))));
  if (tl.length) {
    charts.push(lineChart(plot, tl.map((r) => r.t), [{ label: "HR", color: "#3ddc84", ys: tl.map((r) => r.hr ?? null) }, { label: "SBP", color: "#ff7597", ys: tl.map((r) => r.sbp ?? null) },
      { label: "SpO₂", color: "#4fc3f7", ys: tl.map((r) => r.spo2 ?? null) }, { label: "NEWS2", color: "#e8edf2", ys: tl.map((r) => r.news2 ?? null) }], { xLabel: "minutes from presentation" }));
  }
  return { unmount() { charts.forEach((x) => x.destroy()); } };
}

async function cohortView(root, id) {
  const r = await api(`/api/training/cases/${encodeURIComponent(id)}/cohort`);
  setTitle(`Cohort: ${r.title}`);
  const d = r.difficulty;
  root.append(h("div.page-head", null, h("h1", null, `Cohort: ${r.title}`), h("div.controls", null, h("a.btn.btn-sm", { href: "#/training" }, "Library"))),
    h("section.panel", null, h("h2", null, "Difficulty from results"),
      d ? h("p", null, `${r.n} scored session(s); exact diagnosis ${Math.round(d.p_exact_diagnosis * 100)} %; mean score ${d.mean_total}, median ${d.median_total}; `, h("strong", null, d.band || "too few sessions for a band"), h("br"), h("span.hint", null, d.method))
        : h("p.empty-note", null, "No scored sessions yet.")),
    h("section.panel", null, h("h2", null, "Checklist items"), h("table.score-table", null, h("thead", null, h("tr", null, h("th", null, "Item"), h("th", null, "Done by"), h("th", null, "Median time"))),
      h("tbody", null, ...(r.items || []).map((i) => h("tr", null, h("td", null, i.label), h("td.num", null, `${Math.round(i.done_share * 100)} %`), h("td.num", null, i.median_time_min === null ? "—" : `T+${mins(i.median_time_min)}`)))))),
    h("section.panel", null, h("h2", null, "Sessions"), h("table.score-table", null, h("thead", null, h("tr", null, ...["When", "Trainee", "Diagnosis", "Match", "Diagnosis", "Management", "Outcome", "Total", ""].map((t) => h("th", null, t)))),
      h("tbody", null, ...r.sessions.map((s) => h("tr", null, h("td", null, fmtDateTime(s.created)), h("td", null, s.trainee), h("td", null, `${s.diagnosis.code} ${s.diagnosis.display}`), h("td", null, s.match),
        h("td.num", null, s.parts.diagnosis), h("td.num", null, s.parts.management), h("td.num", null, s.parts.outcome), h("td.num", null, s.total),
        h("td", null, h("a", { href: `#/training/replay/${encodeURIComponent(s.session_id)}` }, "Replay"))))))));
  return { unmount() {} };
}

async function replayView(root, id) {
  const r = await api(`/api/training/sessions/${encodeURIComponent(id)}/replay`);
  setTitle("Session replay");
  const tr = r.trace;
  const plot = h("div.tr-plot", { role: "img", "aria-label": "The virtual patient's course in this session" });
  const slider = h("input", { type: "range", min: 0, max: Math.max(0, tr.length - 1), value: 0, "aria-label": "Minute" });
  const now = h("p.tr-replay-now", { role: "status" });
  const steps = h("ol.tr-steps", null, ...r.steps.map((s) => h("li", { "data-t": s.t }, h("span.num", null, `T+${mins(s.t)} `), s.text)));
  let timer = null;
  const show = () => {
    const i = Number(slider.value);
    const row = tr[i] || {};
    now.textContent = `T+${mins(row.t)}: HR ${row.hr}, BP ${row.sbp}, MAP ${row.map}, RR ${row.rr}, SpO₂ ${row.spo2}, glucose ${row.glucose}, ACVPU ${row.acvpu}, NEWS2 ${row.news2}`;
    for (const li of steps.children) li.classList.toggle("tr-done", Number(li.dataset.t) <= (row.t ?? 0));
  };
  slider.oninput = show;
  const play = h("button.btn.btn-sm", { type: "button", onclick: () => {
    if (timer) { clearInterval(timer); timer = null; play.textContent = "Play"; return; }
    play.textContent = "Pause";
    timer = setInterval(() => { if (Number(slider.value) >= tr.length - 1) { clearInterval(timer); timer = null; play.textContent = "Play"; return; } slider.value = Number(slider.value) + 1; show(); }, 250);
  } }, "Play");
  root.append(h("div.page-head", null, h("h1", null, "Session replay"), h("div.controls", null, h("a.btn.btn-sm", { href: "#/training" }, "Library"))),
    h("p", null, `Trainee ${r.session.trainee} · case ${r.session.case_id} · ${r.session.status}${r.score ? ` · score ${r.score.total}` : ""}`),
    r.score ? h("section.panel.tr-outcome", null, h("h2", null, "Score and outcome"),
      h("p", null, ...Object.entries(r.score.parts).map(([k, v]) => h("span.chip", null, `${k} ${Math.round(v)} (weight ${r.score.weights[k]})`))),
      h("ul", null, ...r.score.outcome.comparisons.map((c) => h("li", { "data-reference": c.reference }, c.text))),
      h("p", null, h("a", { href: `#/training/session/${encodeURIComponent(r.session.id)}` }, "Full feedback report"))) : null,
    h("section.panel", null, h("h2", null, "Course", h("span.tools", null, play)), plot, slider, now),
    h("section.panel", null, h("h2", null, "Steps"), steps));
  const chart = lineChart(plot, tr.map((x) => x.t), [{ label: "HR", color: "#3ddc84", ys: tr.map((x) => x.hr) }, { label: "MAP", color: "#e0a0ff", ys: tr.map((x) => x.map) },
    { label: "SpO₂", color: "#4fc3f7", ys: tr.map((x) => x.spo2) }, { label: "RR", color: "#c792ea", ys: tr.map((x) => x.rr) }], { xLabel: "minutes" });
  show();
  return { unmount() { if (timer) clearInterval(timer); chart.destroy(); } };
}
