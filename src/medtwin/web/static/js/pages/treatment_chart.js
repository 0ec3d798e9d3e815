// Shared helpers of the treatment pages: a uPlot chart of median curves with 90 % bands (and measured
// points), the page's stylesheet, form fields and percentages.

import uPlot from "uplot";
import { h } from "../format.js";

const cssVar = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

export function css() {
  if (!document.querySelector("link[data-treatment-css]")) {
    document.head.append(h("link", { rel: "stylesheet", href: "/static/css/treatment.css", "data-treatment-css": "" }));
  }
}

export const field = (label, input) => h("label.field", null, h("span", null, label), input);
export const pct = (x) => (x === null || x === undefined || Number.isNaN(x) ? "—" : `${Math.round(x * 100)} %`);

function rgba(hex, a) {
  const m = /^#?([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex);
  return m ? `rgba(${parseInt(m[1], 16)}, ${parseInt(m[2], 16)}, ${parseInt(m[3], 16)}, ${a})` : hex;
}

/**
 * @param {HTMLElement} el container
 * @param {number[]} xs x values (hours)
 * @param {{label, color, p50, p5?, p95?, dash?}[]} lines
 * @param {{points?: [number, number][], yLabel?: string, xLabel?: string, zones?: {from, to, color}[]}} opts
 */
export function bandChart(el, xs, lines, opts = {}) {
  const axis = cssVar("--chart-axis") || "#999";
  const grid = cssVar("--chart-grid") || "#333";
  const series = [{}];
  const data = [xs];
  const bands = [];
  for (const l of lines) {
    series.push({ label: l.label, stroke: l.color, width: 2, dash: l.dash ? [6, 4] : undefined, points: { show: false } });
    data.push(l.p50);
    if (l.p5 && l.p95) {
      const hi = series.length;
      series.push({ label: `${l.label} 95th`, stroke: "transparent", points: { show: false } });
      series.push({ label: `${l.label} 5th`, stroke: "transparent", points: { show: false } });
      data.push(l.p95, l.p5);
      bands.push({ series: [hi, hi + 1], fill: rgba(l.color, 0.16) });
    }
  }
  if (opts.points?.length) {
    // measured values: their own x positions merged into the grid (other series null there)
    const px = opts.points.map((p) => p[0]);
    const all = [...new Set([...xs, ...px])].sort((a, b) => a - b);
    const idx = new Map(all.map((x, i) => [x, i]));
    const remap = (col) => { const out = new Array(all.length).fill(null); xs.forEach((x, i) => { out[idx.get(x)] = col[i]; }); return out; };
    for (let i = 1; i < data.length; i++) data[i] = remap(data[i]);
    data[0] = all;
    const pts = new Array(all.length).fill(null);
    opts.points.forEach(([x, y]) => { pts[idx.get(x)] = y; });
    data.push(pts);
    series.push({ label: "measured", stroke: "#ffffff", width: 0, points: { show: true, size: 8, fill: "#ffd400" } });
    for (const s of series.slice(1, -1)) s.spanGaps = true;
  }
  const zones = opts.zones || [];
  const u = new uPlot({
    width: Math.max(300, el.clientWidth || 600),
    height: 260,
    legend: { show: false },
    scales: { x: { time: false } },
    axes: [
      { stroke: axis, grid: { stroke: grid }, label: opts.xLabel || "", font: "11px system-ui" },
      { stroke: axis, grid: { stroke: grid }, label: opts.yLabel || "", font: "11px system-ui", size: 50 },
    ],
    series,
    bands,
    hooks: {
      drawClear: [(uu) => {
        if (!zones.length) return;
        const ctx = uu.ctx;
        ctx.save();
        for (const z of zones) {
          const y0 = uu.valToPos(Math.min(z.to, uu.scales.y.max), "y", true);
          const y1 = uu.valToPos(Math.max(z.from, uu.scales.y.min), "y", true);
          if (y1 > y0) { ctx.fillStyle = z.color; ctx.fillRect(uu.bbox.left, y0, uu.bbox.width, y1 - y0); }
        }
        ctx.restore();
      }],
    },
  }, data, el.replaceChildren() || el);
  el.append(h("div.tx-legend", null, ...lines.map((l) => h("span", null, h("i", { style: `background:${l.color}` }), l.label + (l.p5 ? " (median, 90 % band)" : ""))),
    opts.points?.length ? h("span", null, h("i.tx-dot"), "measured") : null));
  const ro = new ResizeObserver(() => u.setSize({ width: Math.max(300, el.clientWidth), height: 260 }));
  ro.observe(el);
  el.__chart = u;
  return { destroy() { ro.disconnect(); u.destroy(); } };
}
