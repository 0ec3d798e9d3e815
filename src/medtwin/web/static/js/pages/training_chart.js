// A small uPlot line chart for the training pages: several series over simulated minutes, with a legend.
// Returns {update(xs, series), destroy()}; update keeps the chart (no flicker while the monitor polls).

import uPlot from "uplot";
import { h } from "../format.js";

const cssVar = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

export function lineChart(el, xs, series, opts = {}) {
  const axis = cssVar("--chart-axis") || "#999";
  const grid = cssVar("--chart-grid") || "#333";
  let data = [xs, ...series.map((s) => s.ys)];
  const make = () => new uPlot({
    width: Math.max(300, el.clientWidth || 600),
    height: opts.height || 240,
    legend: { show: false },
    scales: { x: { time: false } },
    axes: [
      { stroke: axis, grid: { stroke: grid }, label: opts.xLabel || "", font: "11px system-ui" },
      { stroke: axis, grid: { stroke: grid }, label: opts.yLabel || "", font: "11px system-ui", size: 50 },
    ],
    series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.color, width: 2, dash: s.dash ? [6, 4] : undefined, spanGaps: true, points: { show: false } }))],
  }, data, el);
  el.replaceChildren();
  let u = make();
  const legend = h("div.tr-legend", null, ...series.map((s) => h("span", null, h("i", { style: `background:${s.color}` }), s.label)));
  el.append(legend);
  const ro = new ResizeObserver(() => u.setSize({ width: Math.max(300, el.clientWidth), height: opts.height || 240 }));
  ro.observe(el);
  return {
    update(nx, ns) {
      data = [nx, ...ns.map((s) => s.ys)];
      u.setData(data);
    },
    destroy() { ro.disconnect(); u.destroy(); },
  };
}
