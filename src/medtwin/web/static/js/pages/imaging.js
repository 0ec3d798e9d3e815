// Imaging page (issue 11): studies of a patient twin, a slice viewer (server-rendered PNG slices with
// window presets and label overlay), a three.js organ view, segmentation tools, RECIST 1.1 across
// studies, and resection plans placed by double-click in 3D or by coordinates, compared side by side.
// Route: #/imaging/<patient id>. All data comes from /api/twins/{id}/imaging/... (medtwin.api.imaging).

import { ApiError, api } from "../api.js";
import { auth } from "../auth.js";
import { fmtDateTime, h } from "../format.js";
import { errorText, setTitle, toast } from "../ui.js";

const WINDOWS = { "soft tissue": [50, 350], liver: [30, 150], lung: [-600, 1500], bone: [400, 1800], brain: [40, 80] };
const NORMALS = { "→ left (L)": [1, 0, 0], "→ right (R)": [-1, 0, 0], "→ posterior (P)": [0, 1, 0], "→ anterior (A)": [0, -1, 0], "→ superior (S)": [0, 0, 1], "→ inferior (I)": [0, 0, -1] };

async function binary(url, { method = "GET", body } = {}) {
  const res = await fetch(url, { method, body, headers: { ...auth.headers(), ...(body ? { "Content-Type": "application/octet-stream" } : {}) }, cache: "no-store" });
  if (!res.ok) throw new ApiError(res.status, await res.json().catch(() => null));
  return res;
}

function css() {
  if (!document.querySelector('link[data-imaging-css]')) {
    document.head.append(h("link", { rel: "stylesheet", href: "/static/css/imaging.css", "data-imaging-css": "" }));
  }
}

const field = (label, input) => h("label.field", null, h("span", null, label), input);
const num = (v, d = 1) => (v === null || v === undefined ? "—" : Number(v).toFixed(d));

export async function mount(root, params) {
  css();
  setTitle("Imaging");
  let twin = params[0] || "";
  const state = { studies: [], series: null, seg: null, slice: 0, viewer: null, planPoint: [0, 0, 0], plans: [], urls: [] };
  const patients = await api("/api/twins", { query: { kind: "patient" } }).catch(() => []);
  const pick = h("select", { "aria-label": "Patient", onchange: (e) => { location.hash = `#/imaging/${encodeURIComponent(e.target.value)}`; } },
    h("option", { value: "" }, "Choose a patient…"),
    ...patients.map((p) => h("option", { value: p.id, selected: p.id === twin }, p.name || p.id)));
  root.append(h("div.page-head", null, h("h1", null, "Imaging and surgery planning"), h("div.controls", null, pick)));
  if (!twin) {
    root.append(h("p.empty-note", null, "Choose a patient to see their studies."));
    return { unmount() {} };
  }
  const base = `/api/twins/${encodeURIComponent(twin)}/imaging`;
  const status = h("p.img-status", { role: "status", "aria-live": "polite" });
  const say = (t) => { status.textContent = t; };
  const fail = (e) => { say(""); toast(errorText(e), "error", 8000); };

  // ---------------------------------------------------------------- studies and import
  const tree = h("ul.img-tree");
  const file = h("input", { type: "file", "aria-label": "Study file (ZIP of DICOM, DICOM, NIfTI, NRRD)" });
  const importBtn = h("button.btn.btn-sm", { type: "button", onclick: async () => {
    const f = file.files[0];
    if (!f) return;
    say(`Importing ${f.name}…`);
    try {
      const r = await (await binary(`${base}/upload?filename=${encodeURIComponent(f.name)}`, { method: "POST", body: f })).json();
      toast(`Imported ${r.series.length} series`, "info");
      for (const w of r.warnings) toast(w, "info", 8000);
      await loadStudies();
    } catch (e) { fail(e); }
  } }, "Import");
  const studiesPanel = h("section.panel", null, h("h2", null, "Studies"), tree, h("div.img-tools", null, file, importBtn), status);

  // ---------------------------------------------------------------- slice viewer
  const img = h("img", { alt: "CT slice" });
  const slider = h("input", { type: "range", min: 0, max: 0, value: 0, "aria-label": "Slice" });
  const sliceLabel = h("span.num");
  const win = h("select", { "aria-label": "Window" }, ...Object.keys(WINDOWS).map((k) => h("option", { value: k }, k)));
  const overlay = h("input", { type: "checkbox", checked: true, "aria-label": "Show labels" });
  let pending = 0;
  async function drawSlice() {
    if (!state.series) return;
    const [c, w] = WINDOWS[win.value];
    const q = new URLSearchParams({ centre: c, width: w });
    if (overlay.checked && state.seg && state.seg.series_id === state.series.id) q.set("seg", state.seg.id);
    const token = ++pending;
    try {
      const blob = await (await binary(`${base}/series/${state.series.id}/slices/${state.slice}?${q}`)).blob();
      if (token !== pending) return;
      const url = URL.createObjectURL(blob);
      state.urls.push(url);
      img.src = url;
      while (state.urls.length > 3) URL.revokeObjectURL(state.urls.shift());
      sliceLabel.textContent = `${state.slice + 1} / ${state.series.geometry.shape[0]}`;
    } catch (e) { fail(e); }
  }
  slider.addEventListener("input", () => { state.slice = Number(slider.value); drawSlice(); });
  win.addEventListener("change", drawSlice);
  overlay.addEventListener("change", drawSlice);
  const lower = h("input", { type: "number", value: 100, "aria-label": "Lower HU" });
  const upper = h("input", { type: "number", value: 200, "aria-label": "Upper HU" });
  const segName = h("input", { type: "text", value: "lesion", "aria-label": "Segment name" });
  const role = h("select", { "aria-label": "Role" }, ...["lesion", "organ", "vessel", "node", "graft"].map((r) => h("option", { value: r }, r)));
  const split = h("input", { type: "checkbox", checked: true, "aria-label": "One segment per island" });
  const segBtn = h("button.btn.btn-sm", { type: "button", onclick: async () => {
    if (!state.series) return;
    say("Segmenting…");
    try {
      const body = { lower: Number(lower.value), upper: Number(upper.value), name: segName.value, role: role.value, split_islands: split.checked };
      const s = await api(`${base}/series/${state.series.id}/segment`, { method: "POST", body });
      toast(`Segmentation ${s.segments.length} segment(s)`, "info");
      await loadStudies();
      await selectSeg(s);
    } catch (e) { fail(e); }
  } }, "Threshold");
  const slicePanel = h("section.panel", null, h("h2", null, "Slices"), h("div.img-view", null, img),
    h("div.img-tools", null, slider, sliceLabel, win, h("label", null, overlay, " labels")),
    h("div.img-tools", null, "HU", lower, "–", upper, segName, role, h("label", null, split, " islands"), segBtn));

  // ---------------------------------------------------------------- 3D view and planning
  const view3d = h("div.img-view");
  const measures = h("div");
  const px = h("input", { type: "text", value: "0, 0, 0", "aria-label": "Plane point x, y, z (LPS mm)" });
  const normal = h("select", { "aria-label": "Plane normal (towards the resected side)" }, ...Object.keys(NORMALS).map((k) => h("option", { value: k }, k)));
  const liver = h("select", { "aria-label": "Liver state" }, ...["healthy", "chemotherapy", "cirrhosis"].map((k) => h("option", { value: k }, k)));
  const planName = h("input", { type: "text", placeholder: "plan name", "aria-label": "Plan name" });
  const plansBox = h("div");
  const point = () => px.value.split(",").map(Number);
  function showPlane() {
    if (state.viewer) state.viewer.showPlane(point(), NORMALS[normal.value], 180);
  }
  px.addEventListener("change", showPlane);
  normal.addEventListener("change", showPlane);
  const planBtn = h("button.btn.btn-primary.btn-sm", { type: "button", onclick: async () => {
    if (!state.seg) return;
    say("Computing the plan…");
    try {
      const body = { segmentation: state.seg.id, name: planName.value || undefined, liver_state: liver.value,
        plane: { point: point(), normal: NORMALS[normal.value] } };
      await api(`${base}/plans`, { method: "POST", body });
      say("");
      await loadPlans();
    } catch (e) { fail(e); }
  } }, "Save plan");
  const planPanel = h("section.panel", null, h("h2", null, "3D and resection plane"), view3d,
    h("p.img-status", null, "Drag to rotate; double-click an organ to put the plane there."),
    h("div.img-tools", null, px, normal, liver, planName, planBtn), measures);

  // ---------------------------------------------------------------- RECIST
  const baseSel = h("select", { "aria-label": "Baseline segmentation" });
  const fuSel = h("select", { "aria-label": "Follow-up segmentation" });
  const recistOut = h("div");
  const recistBtn = h("button.btn.btn-sm", { type: "button", onclick: async () => {
    say("Assessing…");
    try {
      const r = await api(`${base}/recist`, { method: "POST", body: { baseline: baseSel.value, followups: [fuSel.value] } });
      say("");
      const f = r.followups.at(-1);
      recistOut.replaceChildren(
        h("p", null, "Overall response ", h("span.img-category", { "data-cat": f.overall }, f.overall),
          ` · SOD ${num(f.sod_mm)} mm (baseline ${num(r.baseline.sod_mm)}, nadir ${num(f.nadir_sod_mm)}) · ${num(f.change_from_baseline_pct)} % vs baseline`),
        h("p", null, `New lesions: ${f.new_lesions.join(", ") || "none"} · volumetric: ${f.volumetric_response ?? "—"} (${num(f.tumour_volume_ml, 2)} mL)`),
        h("p.img-status", null, r.criteria));
    } catch (e) { fail(e); }
  } }, "Assess RECIST 1.1");
  const recistPanel = h("section.panel", null, h("h2", null, "Follow-up (RECIST 1.1)"),
    h("div.img-tools", null, field("Baseline", baseSel), field("Follow-up", fuSel), recistBtn), recistOut);

  root.append(h("div.img-grid", null, h("div", null, studiesPanel, slicePanel, recistPanel), h("div", null, planPanel,
    h("section.panel", null, h("h2", null, "Plans"), plansBox))));

  state.viewer = createViewerSafe(view3d, (p, name) => {
    px.value = p.map((x) => x.toFixed(1)).join(", ");
    say(`Plane point on ${name || "model"}: ${px.value}`);
    showPlane();
  });

  async function selectSeries(s) {
    state.series = s;
    slider.max = s.geometry.shape[0] - 1;
    state.slice = Math.floor(s.geometry.shape[0] / 2);
    slider.value = state.slice;
    await drawSlice();
  }
  async function selectSeg(g) {
    state.seg = g;
    const series = state.studies.flatMap((st) => st.series).find((s) => s.id === g.series_id);
    if (series && series !== state.series) await selectSeries(series); else drawSlice();
    say("Building the 3D model…");
    try {
      const buf = await (await binary(`${base}/segmentations/${g.id}/mesh.glb`)).arrayBuffer();
      if (state.viewer) await state.viewer.load(buf);
      const m = await api(`${base}/segmentations/${g.id}/measurements`);
      measures.replaceChildren(h("table.data", null,
        h("tr", null, ...["segment", "role", "mL", "long axis mm", "short axis mm", "max Ø mm", "mean HU"].map((t) => h("th", null, t))),
        ...m.segments.map((s) => h("tr", null, h("td", null, s.name), h("td", null, s.role), h("td.num", null, num(s.volume_ml, 2)),
          h("td.num", null, num(s.long_axis_mm)), h("td.num", null, num(s.short_axis_mm)), h("td.num", null, num(s.max_diameter_mm)), h("td.num", null, num(s.hu?.mean))))));
      say("");
      showPlane();
    } catch (e) { fail(e); }
  }
  async function loadStudies() {
    state.studies = await api(`${base}/studies`);
    const segs = [];
    tree.replaceChildren(...state.studies.map((st) => h("li", null, h("strong", null, fmtDateTime(st.started)), ` ${st.modalities} ${st.description || ""}`,
      h("ul", null, ...st.series.map((s) => h("li", null, `${s.modality} #${s.number ?? ""} ${s.description || ""} ${s.geometry.shape.join("×")}`,
        h("button.btn.btn-sm", { type: "button", onclick: () => selectSeries(s) }, "View"),
        h("ul", null, ...s.segmentations.map((g) => { segs.push([st, g]); return h("li", null, g.name,
          h("button.btn.btn-sm", { type: "button", onclick: () => selectSeg(g) }, "3D")); }))))))));
    if (!state.studies.length) tree.append(h("li.empty-note", null, "No studies yet: import one."));
    const opts = () => segs.map(([st, g]) => h("option", { value: g.id }, `${fmtDateTime(st.started)} · ${g.name}`));
    baseSel.replaceChildren(...opts());
    fuSel.replaceChildren(...opts());
    if (segs.length > 1) fuSel.value = segs.at(-1)[1].id;
    if (!state.series && state.studies[0]?.series[0]) await selectSeries(state.studies[0].series[0]);
  }
  async function loadPlans() {
    state.plans = await api(`${base}/plans`);
    if (!state.plans.length) { plansBox.replaceChildren(h("p.empty-note", null, "No plans yet.")); return; }
    const cmp = await api(`${base}/plans/compare`, { query: { ids: state.plans.map((p) => p.id).join(",") } });
    const byId = new Map(state.plans.map((p) => [p.id, p]));
    plansBox.replaceChildren(h("table.data", null,
      h("tr", null, ...["plan", "remnant %", "remnant mL", "FLR (liver)", "min margin mm", "lesions removed", "risks"].map((t) => h("th", null, t))),
      ...cmp.plans.map((r) => h("tr", { title: byId.get(r.id).result.risks.join("\n") || "no risk notes" }, h("td", null, r.name, r.id === cmp.recommended ? " ★" : ""),
        h("td.num", null, num(r.remnant_pct)), h("td.num", null, num(r.remnant_ml, 0)),
        h("td", { title: byId.get(r.id).result.flr_source }, `${r.flr_status} (${byId.get(r.id).result.liver_state}, ≥ ${byId.get(r.id).result.flr_min_pct} %)`),
        h("td.num", null, num(r.min_margin_mm)),
        h("td", null, r.all_lesions_removed ? "yes" : "NO"), h("td.num", null, String(r.risks))))),
    h("ul", null, ...cmp.plans.flatMap((r) => byId.get(r.id).result.risks.map((t) => h("li.img-risk", null, `${r.name}: ${t}`)))),
    h("p.img-status", null, `${cmp.note}. Minimum FLR: healthy 20 % (Kishi 2009), after chemotherapy 30 % (Shindoh 2013), cirrhosis 40 % (Kubota 1997).`));
  }
  try {
    await loadStudies();
    await loadPlans();
  } catch (e) { fail(e); }
  return {
    unmount() {
      state.viewer?.dispose();
      for (const u of state.urls) URL.revokeObjectURL(u);
    },
  };
}

function createViewerSafe(el, onPick) {
  const holder = { v: null, queue: [] };
  import("./imaging3d.js")
    .then((m) => { holder.v = m.createViewer(el, { onPick }); })
    .catch((e) => el.append(h("p.banner", { role: "alert" }, `3D view unavailable: ${e.message}`)));
  const ready = async () => { for (let i = 0; i < 100 && !holder.v; i++) await new Promise((r) => setTimeout(r, 50)); return holder.v; };
  return {
    async load(buf) { const v = await ready(); return v?.load(buf); },
    showPlane(...a) { holder.v?.showPlane(...a); },
    dispose() { holder.v?.dispose(); },
  };
}
