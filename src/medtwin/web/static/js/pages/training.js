// Training (issue 12): virtual patients cloned from de-identified real cases.
// Routes: #/training (library; educators also build, publish and see cohorts), #/training/session/<id>
// (trainee's session and feedback: training_session.js), #/training/case/<id>, #/training/cohort/<id>,
// #/training/replay/<id> (educator's editor, cohort and replay: training_instructor.js).
// API: /api/training/... (medtwin.api.training). Trainees only ever receive de-identified case data.

import { api } from "../api.js";
import { fmtDateTime, h } from "../format.js";
import { errorText, setTitle, toast } from "../ui.js";

export function css() {
  if (!document.querySelector("link[data-training-css]")) {
    document.head.append(h("link", { rel: "stylesheet", href: "/static/css/training.css", "data-training-css": "" }));
  }
}

export const field = (label, input, hint) => h("label.field", null, h("span", null, label), input, hint ? h("span.hint", null, hint) : null);
export const mins = (t) => (t === null || t === undefined ? "—" : `${Math.floor(t)}:${String(Math.round((t % 1) * 60)).padStart(2, "0")}`);

export async function mount(root, params, ctx) {
  css();
  const [view, id] = params;
  if (view === "session") return (await import("./training_session.js")).mountSession(root, id, ctx);
  if (["case", "cohort", "replay"].includes(view)) return (await import("./training_instructor.js")).mountInstructor(view, root, id, ctx);
  setTitle("Training");
  const cat = await api("/api/training/catalogue");
  const teach = cat.conditions.length > 0;
  root.append(h("div.page-head", null, h("h1", null, "Training"),
    h("p.hint", null, teach ? "Build cases from real (de-identified) records, publish them and follow your trainees."
      : "Work a virtual patient: take the history, examine, treat and diagnose. The patient responds to what you do.")));
  const lib = h("section.panel", null, h("h2", null, "Case library"));
  root.append(lib);
  await renderLibrary(lib, teach, ctx);
  const mine = h("section.panel", null, h("h2", null, teach ? "All sessions" : "My sessions"));
  root.append(mine);
  await renderSessions(mine, teach, ctx);
  if (teach) {
    const build = h("section.panel", null, h("h2", null, "Build a case"));
    root.append(build);
    await renderBuilder(build, cat, ctx);
    const coh = h("section.panel", null, h("h2", null, "Cohorts"));
    root.append(coh);
    await renderCohorts(coh, ctx);
  }
  return { unmount() {} };
}

async function start(caseId, speed, ctx) {
  try {
    const st = await api("/api/training/sessions", { method: "POST", body: { case_id: caseId, speed: Number(speed) } });
    ctx.navigate(`#/training/session/${encodeURIComponent(st.session.id)}`);
  } catch (e) { toast(errorText(e), "error", 8000); }
}

function speedSelect() {
  return h("select", { "aria-label": "Clock speed" }, ...[1, 2, 5, 10, 30, 60].map((s) => h("option", { value: s, selected: s === 10 }, `${s}× time`)));
}

async function renderLibrary(box, teach, ctx) {
  let cases;
  try { cases = await api("/api/training/cases"); } catch (e) { box.append(h("p.banner", { role: "alert" }, errorText(e))); return; }
  if (!cases.length) { box.append(h("p.empty-note", null, teach ? "No cases yet: build one below." : "No published cases yet.")); return; }
  if (!teach) {
    box.append(h("ul.tr-cards", null, ...cases.map((c) => {
      const sp = speedSelect();
      return h("li.tr-card", null, h("h3", null, c.title),
        h("p.tr-meta", null, [c.specialty, c.difficulty, c.patient?.sex, c.patient?.age ? `${c.patient.age} y` : null].filter(Boolean).join(" · ")),
        h("p", null, c.presenting),
        h("div.form-actions", null, sp, h("button.btn.btn-primary.btn-sm", { type: "button", onclick: () => start(c.id, sp.value, ctx) }, "Start")));
    })));
    return;
  }
  const rows = cases.map((c) => {
    const sp = speedSelect();
    const pub = c.status === "published";
    const toggle = h("button.btn.btn-sm", { type: "button", onclick: async () => {
      try { await api(`/api/training/cases/${encodeURIComponent(c.id)}`, { method: "PUT", body: { status: pub ? "draft" : "published" } }); ctx.navigate("#/training"); } catch (e) { toast(errorText(e), "error"); }
    } }, pub ? "Unpublish" : "Publish");
    return h("tr", null, h("td", null, h("a", { href: `#/training/case/${encodeURIComponent(c.id)}` }, c.title)),
      h("td", null, c.condition), h("td", null, `${c.diagnosis?.code || ""} ${c.diagnosis?.display || ""}`),
      h("td", null, c.difficulty), h("td", null, h("span.chip", { "data-status": c.status }, c.status)),
      h("td", null, c.source?.kind === "twin" ? "real record (de-identified)" : c.source?.kind || ""),
      h("td", null, toggle, " ", h("a.btn.btn-sm", { href: `#/training/cohort/${encodeURIComponent(c.id)}` }, "Cohort"), " ",
        sp, h("button.btn.btn-sm", { type: "button", onclick: () => start(c.id, sp.value, ctx) }, "Try")));
  });
  box.append(h("table.score-table.tr-table", null, h("thead", null, h("tr", null, ...["Case", "Condition", "Diagnosis", "Difficulty", "Status", "Source", ""].map((t) => h("th", null, t)))), h("tbody", null, ...rows)));
}

async function renderSessions(box, teach, ctx) {
  let rows;
  try { rows = await api("/api/training/sessions"); } catch (e) { box.append(h("p.banner", { role: "alert" }, errorText(e))); return; }
  if (!rows.length) { box.append(h("p.empty-note", null, "No sessions yet.")); return; }
  box.append(h("table.score-table", null, h("thead", null, h("tr", null, ...["Started", teach ? "Trainee" : null, "Case", "Status", "Score", ""].filter((x) => x !== null).map((t) => h("th", null, t)))),
    h("tbody", null, ...rows.slice(0, 50).map((s) => h("tr", null, h("td", null, fmtDateTime(s.created)), teach ? h("td", null, s.trainee) : null,
      h("td", null, s.case_id), h("td", null, s.status), h("td.num", null, s.score_total ?? "—"),
      h("td", null, h("a", { href: `#/training/session/${encodeURIComponent(s.id)}` }, s.status === "active" ? "Continue" : "Report"),
        teach ? [" ", h("a", { href: `#/training/replay/${encodeURIComponent(s.id)}` }, "Replay")] : null))))));
}

async function renderBuilder(box, cat, ctx) {
  let cands = [];
  try { cands = await api("/api/training/candidates"); } catch (e) { box.append(h("p.banner", null, errorText(e))); }
  const condOpts = () => [h("option", { value: "" }, "from the record"), ...cat.conditions.map((c) => h("option", { value: c.key }, c.label))];
  const pat = h("select", { "aria-label": "Patient" }, h("option", { value: "" }, cands.length ? "Choose a patient in your scope…" : "No patients in your scope"),
    ...cands.map((p) => h("option", { value: p.id }, `${p.display} · ${p.ward || "—"} · ${p.condition || ""}`)));
  const cond = h("select", { "aria-label": "Condition" }, ...condOpts());
  const dx = h("input", { list: "tr-dx", placeholder: "e.g. A41.9", "aria-label": "Diagnosis code" });
  const dl = h("datalist#tr-dx", null, ...cat.diagnoses.map((d) => h("option", { value: d.code }, d.display)));
  const title = h("input", { placeholder: "optional", "aria-label": "Title" });
  const status = h("p.hint", { role: "status" });
  const go = h("button.btn.btn-primary", { type: "button", onclick: async () => {
    if (!pat.value) { status.textContent = "Choose a patient."; return; }
    go.disabled = true; status.textContent = "De-identifying the record and calibrating the virtual patient…";
    try {
      const body = Object.fromEntries([["condition", cond.value], ["diagnosis", dx.value.trim()], ["title", title.value.trim()]].filter(([, v]) => v));
      const c = await api(`/api/training/twins/${encodeURIComponent(pat.value)}/case`, { method: "POST", body });
      toast("Case built (draft)", "info");
      ctx.navigate(`#/training/case/${encodeURIComponent(c.id)}`);
    } catch (e) { status.textContent = errorText(e); } finally { go.disabled = false; }
  } }, "Build from record");
  const tcond = h("select", { "aria-label": "Template condition" }, ...cat.conditions.map((c) => h("option", { value: c.key }, c.label)));
  const tgo = h("button.btn", { type: "button", onclick: async () => {
    try { const c = await api("/api/training/cases", { method: "POST", body: { condition: tcond.value } }); ctx.navigate(`#/training/case/${encodeURIComponent(c.id)}`); } catch (e) { toast(errorText(e), "error"); }
  } }, "New synthetic case");
  box.append(h("h3", null, "From a real patient's record"),
    h("p.hint", null, "The record goes through the de-identified export (HIPAA Safe Harbor): no name, record number, date, address, contact or device id leaves; the case is checked again for every identifier of the source patient."),
    h("div.form-grid", null, field("Patient", pat), field("Condition", cond), field("Real diagnosis (ICD-10)", dx, "leave empty to take it from the record"), field("Title", title), h("div.field", null, h("span", null, " "), go)), dl, status,
    h("h3", null, "Synthetic"), h("div.form-actions", null, tcond, tgo));
}

async function renderCohorts(box) {
  let rows;
  try { rows = await api("/api/training/cohort"); } catch (e) { box.append(h("p.banner", null, errorText(e))); return; }
  box.append(h("table.score-table", null, h("thead", null, h("tr", null, ...["Case", "Status", "Sessions", "Mean score", "Exact diagnosis", "Difficulty"].map((t) => h("th", null, t)))),
    h("tbody", null, ...rows.map((r) => h("tr", null, h("td", null, h("a", { href: `#/training/cohort/${encodeURIComponent(r.case_id)}` }, r.title)), h("td", null, r.status), h("td.num", null, r.n),
      h("td.num", null, r.difficulty?.mean_total ?? "—"), h("td.num", null, r.difficulty ? `${Math.round(r.difficulty.p_exact_diagnosis * 100)} %` : "—"),
      h("td", null, r.difficulty?.band || (r.n ? "too few sessions" : "—")))))));
}
