// Evacuation (issue 10): the building twin, tonight's (or today's) census on the plan, a fire, gas
// leak or outbreak, progressive horizontal or full evacuation; RSET against ASET per compartment,
// who is at risk (pseudonyms only), exits, door flows against SFPE, staff workload, the bottleneck
// heat map, an animated replay, the 3D model with live occupancy, and comparisons of variants.

import { api, ApiError } from "../api.js";
import { auth } from "../auth.js";
import { h } from "../format.js";
import { errorText, setTitle } from "../ui.js";
import { CLASS_COLOUR, createPlan } from "./evacuation_plan.js";

const fmt = (v, d = 0) => (v === null || v === undefined ? "—" : Number(v).toFixed(d));
const sel = (id, label, opts, value) =>
  h("label", { for: id }, label, h(`select#${id}`, null, opts.map(([v, t]) => h("option", { value: v, selected: v === value }, t))));
const num = (id, label, value, attrs = {}) => h("label", { for: id }, label, h(`input#${id}`, { type: "number", value, ...attrs }));

function table(head, rows) {
  return h("table.data", null, h("thead", null, h("tr", null, head.map((x) => h("th", null, x)))),
    h("tbody", null, rows.map((r) => h("tr", null, r.map((c) => (c instanceof Node ? h("td", null, c) : h("td", null, c)))))));
}

export async function mount(root) {
  setTitle("Evacuation");
  if (!document.querySelector("link[data-evac-css]")) {
    document.head.append(h("link", { rel: "stylesheet", href: "/static/css/evacuation.css", "data-evac-css": "" }));
  }
  const abort = new AbortController();
  const status = h("p.evac-status", { role: "status", "aria-live": "polite" });
  const say = (text, kind = "") => { status.textContent = text; status.dataset.kind = kind; };
  const canvas = h("canvas.evac-plan", { role: "img", "aria-label": "Floor plan with people and smoke" });
  const plan = createPlan(canvas);
  const floorTabs = h("div.evac-floors", { role: "tablist", "aria-label": "Floor" });
  const slider = h("input#evac-t", { type: "range", min: 0, max: 0, step: 1, value: 0, "aria-label": "Replay time (s)" });
  const clock = h("span.evac-clock", null, "t = 0 s");
  const playBtn = h("button.btn.btn-sm", { type: "button" }, "▶ Play");
  const heatBox = h("input#evac-heat", { type: "checkbox" });
  const kpis = h("div.evac-kpis");
  const details = h("div.evac-details");
  const cmpBox = h("div.evac-compare");
  const viewer3d = h("div.evac-3d", { hidden: true });
  const form = h("form.evac-form", { onsubmit: (e) => { e.preventDefault(); run(); } });
  const fileIn = h("input#evac-file", { type: "file", accept: ".geojson,.json,.las,.laz,.ifc" });
  let building = null;
  let presets = { scenarios: [], variants: [] };
  let timer = null;
  let viewer = null;

  root.append(
    h("div.page-head", null, h("h1", null, "Evacuation"),
      h("div.controls", null, h("label", { for: "evac-building" }, "Building", h("select#evac-building", { onchange: (e) => loadBuilding(e.target.value) })))),
    h("section.panel", null, h("h2", null, "Scenario"), form, status),
    h("section.panel", null, h("h2", null, "Plan and replay",
      h("span.tools", null, h("label", { for: "evac-heat" }, heatBox, " bottleneck heat map"),
        h("button.btn.btn-sm", { type: "button", onclick: () => show3d() }, "3D view"))),
      floorTabs, canvas, h("div.evac-replay", null, playBtn, slider, clock), legend(), viewer3d),
    kpis, details, cmpBox,
    h("section.panel", null, h("h2", null, "Import a plan"),
      h("p.muted", null, "GeoJSON (medtwin-building/1), LiDAR LAS/LAZ or IFC; the file replaces the building's geometry."),
      h("div.evac-row", null, fileIn, h("button.btn", { type: "button", onclick: () => upload() }, "Import"))),
  );

  function legend() {
    return h("p.evac-legend", null, Object.entries(CLASS_COLOUR).map(([k, c]) =>
      h("span", null, h("i", { style: `background:${c}` }), k.replace("_", " "))), h("span", null, "grey: smoke · red outline: untenable"));
  }

  heatBox.addEventListener("change", () => plan.setHeat(heatBox.checked));
  slider.addEventListener("input", () => { plan.setTime(Number(slider.value)); clock.textContent = `t = ${slider.value} s`; });
  playBtn.addEventListener("click", () => {
    if (timer) { clearInterval(timer); timer = null; playBtn.textContent = "▶ Play"; return; }
    playBtn.textContent = "❚❚ Pause";
    timer = setInterval(() => {
      const v = Number(slider.value) + Math.max(1, Math.round(Number(slider.max) / 300));
      slider.value = v > Number(slider.max) ? 0 : v;
      slider.dispatchEvent(new Event("input"));
    }, 50);
  });

  function buildForm() {
    const spaces = building.geojson.features.filter((f) => ["room", "corridor"].includes(f.properties.kind)).map((f) => f.properties.id).sort();
    form.replaceChildren(
      h("div.evac-row", null,
        sel("evac-preset", "Start from", presets.scenarios.map((s, i) => [String(i), s.name]), "0"),
        sel("evac-census", "Census", [["night", "tonight (night staff)"], ["day", "today (day staff, visitors)"]], "night"),
        sel("evac-strategy", "Strategy", [["horizontal", "progressive horizontal"], ["full", "full evacuation"]], "horizontal")),
      h("div.evac-row", null,
        sel("evac-hazard", "Hazard", [["fire", "fire"], ["gas", "gas leak (CO)"], ["outbreak", "outbreak: close the room"], ["none", "none (drill)"]], "fire"),
        sel("evac-room", "In", spaces.map((s) => [s, s]), spaces.includes("ICU-R03") ? "ICU-R03" : spaces[0]),
        sel("evac-growth", "Fire growth", [["slow", "slow"], ["medium", "medium"], ["fast", "fast"], ["ultrafast", "ultrafast"]], "fast"),
        num("evac-peak", "Peak kW", 1000, { min: 50, step: 50 })),
      h("div.evac-row", null, num("evac-alarm", "Alarm (s)", 60, { min: 0 }), num("evac-response", "Staff response (s)", 30, { min: 0 }),
        num("evac-premove", "Pre-movement (s)", 60, { min: 0 }), num("evac-extra", "Extra staff at", 0, { min: 0, max: 5 }),
        h("button.btn.btn-primary", { type: "submit" }, "Run"),
        h("button.btn", { type: "button", onclick: () => compare() }, "Compare variants")),
    );
    form.querySelector("#evac-preset").addEventListener("change", (e) => applyPreset(presets.scenarios[Number(e.target.value)]));
  }

  function applyPreset(p) {
    if (!p) return;
    const set = (id, v) => { const el = form.querySelector(id); if (el && v !== undefined) el.value = v; };
    set("#evac-census", p.census); set("#evac-strategy", p.strategy);
    set("#evac-alarm", p.alarm_s); set("#evac-response", p.staff_response_s); set("#evac-premove", p.pre_movement_s);
    const hz = p.fire ? "fire" : p.gas_leak ? "gas" : p.outbreak ? "outbreak" : "none";
    set("#evac-hazard", hz);
    set("#evac-room", p.fire?.space || p.gas_leak?.space || (p.outbreak || [])[0]);
  }

  function scenario() {
    const v = (id) => form.querySelector(id).value;
    const s = { name: `${v("#evac-census")} · ${v("#evac-hazard")} in ${v("#evac-room")}`, building: building.building.id,
      census: v("#evac-census"), strategy: v("#evac-strategy"), alarm_s: Number(v("#evac-alarm")),
      staff_response_s: Number(v("#evac-response")), pre_movement_s: Number(v("#evac-premove")) };
    const room = v("#evac-room");
    if (v("#evac-hazard") === "fire") s.fire = { space: room, growth: v("#evac-growth"), peak_kw: Number(v("#evac-peak")) };
    if (v("#evac-hazard") === "gas") s.gas_leak = { space: room, rate_m3_s: 0.002, gas: "CO" };
    if (v("#evac-hazard") === "outbreak") s.outbreak = [room];
    if (v("#evac-hazard") === "none") s.compartments = [building.geojson.features.find((f) => f.properties.id === room)?.properties.compartment].filter(Boolean);
    return s;
  }

  async function loadBuilding(id) {
    building = await api(`/api/evacuation/buildings/${encodeURIComponent(id)}`, { signal: abort.signal });
    const floors = building.building.floors;
    floorTabs.replaceChildren(...floors.map((f, i) => h("button.btn.btn-sm", { type: "button", role: "tab", "aria-selected": i === 0 ? "true" : "false",
      onclick: (e) => { for (const b of floorTabs.children) b.setAttribute("aria-selected", "false"); e.target.setAttribute("aria-selected", "true"); plan.setFloor(f); } }, f)));
    plan.setBuilding(building.geojson, floors[0]);
    buildForm();
    if (presets.scenarios[0]) applyPreset(presets.scenarios[0]);
    say(`${building.building.name || id}: ${building.building.spaces} spaces, ${building.building.doors} doors, ${building.building.exits} exits, ${building.building.beds} beds.`);
  }

  async function run() {
    say("Running: hazards, people, staff-assisted moves…");
    try {
      const s = scenario();
      const extra = Number(form.querySelector("#evac-extra").value);
      const rep = await api("/api/evacuation/runs", { method: "POST", body: s });
      const rp = await api(`/api/evacuation/runs/${rep.id}/replay`, { signal: abort.signal });
      plan.setRun(rep, rp);
      slider.max = Math.ceil(plan.endTime());
      slider.value = 0;
      slider.dispatchEvent(new Event("input"));
      showReport(rep);
      say(`Run ${rep.id}: ${rep.status}.`, rep.status === "ok" ? "ok" : "error");
      if (extra > 0) await compare([{ name: `${extra} more staff`, changes: { add_staff: stationsFor(extra) } }]);
    } catch (e) { say(errorText(e), "error"); }
  }

  function stationsFor(n) {
    return building.geojson.features.filter((f) => /STATION$/.test(f.properties.id)).map((f) => ({ space: f.properties.id, count: n }));
  }

  function showReport(r) {
    const k = (label, v, cls = "") => h(`div.evac-kpi${cls}`, null, h("span", null, label), h("b", null, v));
    const margin = r.margin_s;
    kpis.replaceChildren(h("section.panel", null, h("h2", null, "Result"), h("div.evac-kpi-row", null,
      k("RSET (required)", r.rset_s === null ? "not everyone out" : `${fmt(r.rset_s)} s`, r.rset_s === null ? ".bad" : ""),
      k("ASET (first untenable)", r.aset_s === null ? "never" : `${fmt(r.aset_s)} s`),
      k("Margin", margin === null ? "—" : `${fmt(margin)} s`, margin !== null && margin < 0 ? ".bad" : ""),
      k("People at risk", String(r.at_risk.length), r.at_risk.length ? ".bad" : ""),
      k("FED > 0.3", String(r.fed_over_0_3.length)), k("Not evacuated", String(r.stuck), r.stuck ? ".bad" : "")),
      r.assumptions.length ? h("ul.evac-notes", null, r.assumptions.map((a) => h("li", null, a))) : null));
    details.replaceChildren(
      h("section.panel", null, h("h2", null, "Compartments: cleared against untenable"),
        table(["Compartment", "Floor", "People", "Moving", "Cleared (s)", "ASET (s)", "Margin (s)", "First untenable"],
          r.compartments.map((c) => [c.id, c.floor, c.occupants, c.moving, fmt(c.clear_s), fmt(c.aset_s), fmt(c.margin_s), c.untenable || "—"]))),
      h("section.panel", null, h("h2", null, "Who is at risk"), r.at_risk.length
        ? table(["Person", "Class", "Space", "Mode", "Safe at (s)", "FED", "Why"],
          r.at_risk.map((a) => [a.id, a.class.replace("_", " "), a.space, a.mode, fmt(a.exit_time_s), fmt(a.fed, 2), a.at_risk.join("; ")]))
        : h("p", null, "Nobody: every dose stays below 0.3 and everyone is safe before their compartment turns untenable.")),
      h("section.panel", null, h("h2", null, "Exits and refuges"),
        table(["Target", "People", "First (s)", "Last (s)"], r.exits.map((e) => [e.id, e.people, fmt(e.first_s), fmt(e.last_s)]))),
      h("section.panel", null, h("h2", null, "Door flows (SFPE maximum 1.3 p/(s·m) of effective width)"),
        table(["Door", "Width (m)", "People walking", "Beds/chairs", "Peak flow (p/s)", "Per metre", "SFPE max (p/s)"],
          r.doors.map((d) => [d.id, fmt(d.width_m, 2), String(d.crossings), String(d.device_crossings ?? 0), fmt(d.peak_flow_p_s, 2), fmt(d.peak_specific_flow_p_ms, 2), fmt(d.sfpe_max_flow_p_s, 2)]))),
      h("section.panel", null, h("h2", null, "Staff workload"),
        r.staff.length ? table(["Staff", "Floor", "Moves", "Busy (s)", "Walked (m)", "Done at (s)", "FED"],
          r.staff.map((s) => [s.id, s.floor, s.moves, fmt(s.busy_s), fmt(s.walked_m), fmt(s.finish_s), fmt(s.fed, 2)]))
          : h("p", null, "No staff-assisted moves in this run.")),
    );
  }

  async function compare(extra) {
    say("Comparing variants (same seed: differences are the changes, not chance)…");
    try {
      const variants = extra || presets.variants;
      const res = await api("/api/evacuation/compare", { method: "POST", body: { base: scenario(), variants } });
      const best = res.summary.best;
      cmpBox.replaceChildren(h("section.panel", null, h("h2", null, "Comparison"),
        table(["Variant", "Status", "RSET (s)", "Δ RSET", "Margin (s)", "Patients at risk", "People at risk", "Not evacuated", "Busiest staff (s)"],
          res.rows.map((r) => [r.name === best ? h("b", null, `${r.name} ★`) : r.name, r.status, fmt(r.rset_s), fmt(r.delta_rset_s),
            fmt(r.margin_s), String(r.patients_at_risk ?? "—"), String(r.at_risk), String(r.stranded), fmt(r.staff_max_busy_s)]))));
      say(`Compared ${res.rows.length - 1} variants; best: ${best}.`, "ok");
    } catch (e) { say(errorText(e), "error"); }
  }

  async function show3d() {
    viewer3d.hidden = false;
    try {
      const census = form.querySelector("#evac-census")?.value || "night";
      const res = await fetch(`/api/evacuation/buildings/${encodeURIComponent(building.building.id)}/model.glb?census=${census}`,
        { headers: auth.headers(), cache: "no-store" });
      if (!res.ok) throw new ApiError(res.status, await res.json().catch(() => null));
      if (!viewer) {
        const { createViewer } = await import("./imaging3d.js");
        viewer = createViewer(viewer3d);
      }
      await viewer.load(await res.arrayBuffer());
    } catch (e) { say(errorText(e), "error"); }
  }

  async function upload() {
    const file = fileIn.files?.[0];
    if (!file || !building) return say("Choose a file first.", "error");
    const ext = file.name.split(".").pop().toLowerCase();
    const format = { json: "geojson", geojson: "geojson", las: "las", laz: "laz", ifc: "ifc" }[ext];
    try {
      const res = await fetch(`/api/evacuation/buildings/${encodeURIComponent(building.building.id)}/import?format=${format}`,
        { method: "POST", headers: auth.headers(), body: await file.arrayBuffer() });
      const body = await res.json().catch(() => null);
      if (!res.ok) throw new ApiError(res.status, body);
      await loadBuilding(body.id);
      say(`Imported ${file.name}: ${body.spaces} spaces, ${body.doors} doors, ${body.exits} exits.`, "ok");
    } catch (e) { say(errorText(e), "error"); }
  }

  try {
    const [list, pre] = await Promise.all([
      api("/api/evacuation/buildings", { signal: abort.signal }),
      api("/api/evacuation/presets", { signal: abort.signal }).catch(() => ({ scenarios: [], variants: [] })),
    ]);
    presets = pre;
    const ids = list.buildings.map((b) => b.id);
    if (list.demo_available && !ids.includes("B1")) ids.unshift("B1");
    const bsel = root.querySelector("#evac-building");
    bsel.replaceChildren(...ids.map((id) => h("option", { value: id }, id)));
    if (ids.length) await loadBuilding(ids[0]);
    else say("No building geometry yet: import a plan below.");
  } catch (e) { say(errorText(e), "error"); }

  return {
    unmount() {
      abort.abort();
      if (timer) clearInterval(timer);
      plan.dispose();
      viewer?.dispose();
    },
  };
}
