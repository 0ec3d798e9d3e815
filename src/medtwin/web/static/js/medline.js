// Medication timeline: one row per drug, a marker per administration, over the last 24 h or 7 days.
// SVG for the picture, and the same data as a table for screen readers and exact times.

import { fmtDateTime, h, naturalCompare } from "./format.js";

// The SVG namespace, taken from the HTML parser (no URL literal in our sources).
const NS = (() => {
  const d = document.createElement("div");
  d.innerHTML = "<svg></svg>";
  return d.firstChild.namespaceURI;
})();

function s(tag, attrs, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

export function medTimeline(meds, startMs, endMs) {
  const wrap = h("div.medline");
  if (!meds.length) {
    wrap.append(h("p.empty-note", null, "No medication recorded in this period."));
    return wrap;
  }
  const drugs = [...new Set(meds.map((m) => m.drug))].sort(naturalCompare);
  const W = 800;
  const left = 150;
  const row = 26;
  const top = 8;
  const H = top + drugs.length * row + 24;
  const x = (t) => left + ((t - startMs) / (endMs - startMs)) * (W - left - 10);
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": `Medication timeline, ${meds.length} administrations of ${drugs.length} drugs` });
  const span = endMs - startMs;
  const step = span > 2 * 86400e3 ? 86400e3 : span > 12 * 3600e3 ? 4 * 3600e3 : 3600e3;
  for (let t = Math.ceil(startMs / step) * step; t <= endMs; t += step) {
    const d = new Date(t);
    const label = step >= 86400e3 ? d.toLocaleDateString([], { month: "short", day: "numeric" }) : d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hour12: false });
    svg.append(s("line", { class: "gridline", x1: x(t), x2: x(t), y1: top, y2: H - 20 }));
    svg.append(s("text", { class: "axis", x: x(t), y: H - 6, "text-anchor": "middle" }, label));
  }
  drugs.forEach((drug, i) => {
    const y = top + i * row + row / 2;
    svg.append(s("text", { class: "drug-label", x: 4, y: y + 4 }, drug.length > 22 ? `${drug.slice(0, 21)}…` : drug));
    svg.append(s("line", { class: "gridline", x1: left, x2: W - 10, y1: y, y2: y }));
    for (const m of meds.filter((mm) => mm.drug === drug)) {
      const t = Date.parse(m.time);
      if (t < startMs || t > endMs) continue;
      const c = s("circle", { class: "dose", cx: x(t), cy: y, r: 6 });
      c.append(s("title", {}, `${m.drug} ${m.dose} ${m.unit} ${m.route || ""} at ${fmtDateTime(m.time)}${m.performer ? ` by ${m.performer}` : ""}`));
      svg.append(c);
    }
  });
  wrap.append(svg);
  const rows = [...meds].sort((a, b) => Date.parse(b.time) - Date.parse(a.time));
  wrap.append(
    h(
      "details",
      null,
      h("summary", null, `List (${rows.length})`),
      h(
        "table.data",
        null,
        h("thead", null, h("tr", null, ["Time", "Drug", "Dose", "Route", "Given by"].map((c) => h("th", { scope: "col" }, c)))),
        h(
          "tbody",
          null,
          rows.map((m) =>
            h(
              "tr",
              null,
              h("td", null, fmtDateTime(m.time)),
              h("td", null, m.drug),
              h("td.num", null, `${m.dose} ${m.unit}`),
              h("td", null, m.route || "—"),
              h("td", null, m.performer || m.source || "—"),
            ),
          ),
        ),
      ),
    ),
  );
  return wrap;
}
