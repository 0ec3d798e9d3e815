// Vital-sign table, NEWS2 bands, alarm priorities, time and number formatting.

import { serverNow } from "./api.js";

// Observation "key" (medtwin.core.codes) -> how the dashboard shows it.
// staleS: a value older than this is greyed with its age. Continuous monitor numerics (1 Hz) go stale
// quickly; NIBP cycles every 15 min, so blood pressure gets a longer allowance. `settings.staleS`
// (ward page) overrides the continuous ones.
export const VITALS = {
  hr: { label: "HR", long: "Heart rate", unit: "/min", digits: 0, staleS: 30, color: "#3ddc84" },
  spo2: { label: "SpO₂", long: "Oxygen saturation", unit: "%", digits: 0, staleS: 30, color: "#4fc3f7" },
  rr: { label: "RR", long: "Respiratory rate", unit: "/min", digits: 0, staleS: 30, color: "#c792ea" },
  sbp: { label: "SYS", long: "Systolic blood pressure", unit: "mmHg", digits: 0, staleS: 1200, color: "#ff7597" },
  dbp: { label: "DIA", long: "Diastolic blood pressure", unit: "mmHg", digits: 0, staleS: 1200, color: "#ffb3c6" },
  map: { label: "MAP", long: "Mean arterial pressure", unit: "mmHg", digits: 0, staleS: 1200, color: "#e0a0ff" },
  temp: { label: "Temp", long: "Body temperature", unit: "°C", digits: 1, staleS: 120, color: "#ffb74d" },
  news2: { label: "NEWS2", long: "NEWS2 total score", unit: "", digits: 0, staleS: 3600, color: "#e8edf2" },
  acvpu: { label: "ACVPU", long: "Consciousness (ACVPU)", unit: "", digits: 0, staleS: 4 * 3600 + 1800 },
  urine: { label: "Urine", long: "Urine output", unit: "mL", digits: 0 },
  fluid_in: { label: "Intake", long: "Fluid intake", unit: "mL", digits: 0 },
};

export const NEWS2_REF = "snomed|1104051000000101";

// NEWS2 clinical-risk bands (RCP 2017, Chart 2). "low-medium" = a score of 3 in one parameter, which
// only the scorer knows (meta.band); from the total alone we can tell low / medium / high.
export function news2Band(value, meta) {
  if (meta && typeof meta.band === "string") {
    const b = meta.band.toLowerCase().replace(/[\s_–]+/g, "-");
    if (b === "low" && Number(value) === 0) return "zero";
    if (["low", "low-medium", "medium", "high"].includes(b)) return b;
  }
  if (value === null || value === undefined || Number.isNaN(Number(value))) return null;
  const v = Number(value);
  if (v >= 7) return "high";
  if (v >= 5) return "medium";
  if (v >= 1) return "low";
  return "zero";
}

export const BAND_LABEL = { zero: "low", low: "low", "low-medium": "low–med", medium: "medium", high: "high" };

export const PRIORITY_RANK = { high: 0, medium: 1, low: 2 };
export const OPEN_STATES = new Set(["active", "acknowledged", "paused"]);

export function alarmSort(a, b) {
  const pa = PRIORITY_RANK[a.priority] ?? 9;
  const pb = PRIORITY_RANK[b.priority] ?? 9;
  if (pa !== pb) return pa - pb;
  const ra = a.state === "resolved" ? 1 : 0;
  const rb = b.state === "resolved" ? 1 : 0;
  if (ra !== rb) return ra - rb;
  return Date.parse(a.started) - Date.parse(b.started); // oldest first within a priority
}

/** The alarm that drives a bed's visual signal: highest priority, active before acknowledged. */
export function topAlarm(alarms) {
  let best = null;
  for (const a of alarms) {
    if (!OPEN_STATES.has(a.state)) continue;
    if (best === null) { best = a; continue; }
    const pa = PRIORITY_RANK[a.priority] ?? 9;
    const pb = PRIORITY_RANK[best.priority] ?? 9;
    if (pa < pb || (pa === pb && a.state === "active" && best.state !== "active")) best = a;
  }
  return best;
}

export function fmtValue(key, value, text) {
  if (value === null || value === undefined) return text ?? "—";
  const d = VITALS[key]?.digits ?? (Number.isInteger(value) ? 0 : 1);
  return Number(value).toFixed(d);
}

export function fmtAge(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

export function ageSeconds(isoOrMs) {
  const t = typeof isoOrMs === "number" ? isoOrMs : Date.parse(isoOrMs);
  return (serverNow() - t) / 1000;
}

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
const dateTimeFmt = new Intl.DateTimeFormat(undefined, {
  month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", hour12: false,
});
export const fmtTime = (iso) => (iso ? timeFmt.format(new Date(iso)) : "—");
export const fmtDateTime = (iso) => (iso ? dateTimeFmt.format(new Date(iso)) : "—");

/** Local "YYYY-MM-DDTHH:MM" for <input type=datetime-local>. */
export function localInputValue(d = new Date(serverNow())) {
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

export function naturalCompare(a, b) {
  return String(a).localeCompare(String(b), undefined, { numeric: true, sensitivity: "base" });
}

/** Build a DOM element: h("div.cls#id", {attr: v, onclick: fn}, ...children). */
export function h(tag, attrs, ...children) {
  const m = /^([a-z0-9-]+)?((?:[.#][\w-]+)*)$/i.exec(tag);
  const el = document.createElement(m[1] || "div");
  for (const part of m[2].match(/[.#][\w-]+/g) || []) {
    if (part[0] === ".") el.classList.add(part.slice(1));
    else el.id = part.slice(1);
  }
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
      else if (k === "dataset") Object.assign(el.dataset, v);
      else if (k === "text") el.textContent = v;
      else if (k === "style") el.style.cssText = String(v); // CSSOM: allowed by a CSP without unsafe-inline
      else el.setAttribute(k, v === true ? "" : String(v));
    }
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function prioChip(priority, state) {
  return h(
    "span.prio.prio-flash",
    { "data-priority": priority, "data-state": state },
    h("span", { text: priority }),
  );
}

export function patientLabel(p) {
  return p?.name || p?.id || "—";
}

/** Bed, room and ward out of a location chain [bed, room, ward, floor, building] (kinds, not positions). */
export function placeOf(location) {
  const out = {};
  for (const t of location || []) out[t.kind] ??= t;
  return out;
}

/**
 * A score event or score record -> {twin, name, value, band, t}. Accepts the shapes a scorer may
 * send: {twin, score: "news2", value, band}, {twin, name|kind, total}, {twin, news2: {value|total, band}},
 * or a NEWS2 observation (key "news2", meta.band).
 */
export function parseScore(d) {
  if (!d || typeof d !== "object") return null;
  const t = Date.parse(d.time || d.computed || d.effective || "") || serverNow();
  if (d.news2 && typeof d.news2 === "object") {
    const n = d.news2;
    return { twin: d.twin, name: "news2", value: n.value ?? n.total, band: n.band ?? n.meta?.band, t, parts: n.parts ?? n.components };
  }
  const raw = String(d.score ?? d.name ?? d.kind ?? d.key ?? d.code ?? "news2").toLowerCase();
  const name = raw.includes("news2") || raw === NEWS2_REF ? "news2" : raw;
  return {
    twin: d.twin,
    name,
    value: d.value ?? d.total,
    band: d.band ?? d.meta?.band ?? null,
    partial: Boolean(d.partial ?? d.meta?.partial),
    t,
    parts: d.parts ?? d.components ?? d.meta?.parts ?? null,
  };
}
