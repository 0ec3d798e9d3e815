// Trend charts on uPlot: one chart per vital sign, fed by /api/twins/{id}/series (downsampled buckets:
// time, count, min, max, mean) and appended to live. Charts share a cursor; dragging selects a time
// range to zoom into (the page then re-queries that range at full resolution).

import uPlot from "uplot";

const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

function hexA(hex, a) {
  const m = /^#?([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex);
  if (!m) return hex;
  return `rgba(${parseInt(m[1], 16)}, ${parseInt(m[2], 16)}, ${parseInt(m[3], 16)}, ${a})`;
}

/**
 * @param {HTMLElement} el container
 * @param {object} spec {id, lines: [{key, label, color, stat: "mean"|"max"}], band: bool, yRange?: [min, max],
 *   zones?: [{from, to, color}], digits}
 * @param {object} opts {sync: string, onZoom(startS, endS)}
 */
export class TrendChart {
  constructor(el, spec, opts) {
    this.el = el;
    this.spec = spec;
    this.opts = opts;
    this.range = [0, 1];
    this.data = null;
    this.u = null;
    el.__trend = this; // for tests and the browser console
    this.ro = new ResizeObserver(() => this.resize());
    this.ro.observe(el);
  }

  width() {
    return Math.max(200, Math.floor(this.el.clientWidth));
  }

  build() {
    const spec = this.spec;
    const axis = css("--chart-axis") || "#999";
    const grid = css("--chart-grid") || "#333";
    const series = [{}];
    const bands = [];
    for (const line of spec.lines) {
      series.push({
        label: line.label,
        stroke: line.color,
        width: 2,
        spanGaps: true,
        points: { size: 5, fill: line.color },
        value: (u, v) => (v == null ? "–" : v.toFixed(spec.digits ?? 0)),
      });
    }
    if (spec.band) {
      const c = spec.lines[0].color;
      const maxIdx = series.length;
      series.push({ label: "max", stroke: "transparent", width: 0, points: { show: false }, spanGaps: true });
      series.push({ label: "min", stroke: "transparent", width: 0, points: { show: false }, spanGaps: true });
      bands.push({ series: [maxIdx, maxIdx + 1], fill: hexA(c, 0.18) });
    }
    const zones = spec.zones || [];
    const self = this;
    const opts = {
      width: this.width(),
      height: 150,
      padding: [8, 8, 0, 0],
      legend: { show: false },
      cursor: {
        sync: { key: this.opts.sync, setSeries: false },
        drag: { x: true, y: false, setScale: false },
        points: { size: 6 },
      },
      select: { show: true },
      scales: {
        x: { time: true, range: () => [self.range[0], self.range[1]] },
        y: {
          range: (u, min, max) => {
            let lo = min;
            let hi = max;
            if (lo == null || hi == null || !Number.isFinite(lo)) return spec.yRange || [0, 1];
            if (spec.yRange) {
              lo = Math.min(lo, spec.yRange[0]);
              hi = Math.max(hi, spec.yRange[1]);
            }
            const pad = Math.max(1, (hi - lo) * 0.08);
            return [Math.floor(lo - (spec.yRange ? 0 : pad)), Math.ceil(hi + (spec.yRange ? 0 : pad))];
          },
        },
      },
      axes: [
        { stroke: axis, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid }, font: "11px system-ui", space: 70 },
        { stroke: axis, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid }, font: "11px system-ui", size: 42 },
      ],
      series,
      bands,
      hooks: {
        drawClear: [
          (u) => {
            if (!zones.length) return;
            const ctx = u.ctx;
            ctx.save();
            for (const z of zones) {
              const y0 = u.valToPos(Math.min(z.to, u.scales.y.max), "y", true);
              const y1 = u.valToPos(Math.max(z.from, u.scales.y.min), "y", true);
              if (y1 <= y0) continue;
              ctx.fillStyle = z.color;
              ctx.fillRect(u.bbox.left, y0, u.bbox.width, y1 - y0);
            }
            ctx.restore();
          },
        ],
        setSelect: [
          (u) => {
            if (u.select.width < 8) return;
            const a = u.posToVal(u.select.left, "x");
            const b = u.posToVal(u.select.left + u.select.width, "x");
            u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
            this.opts.onZoom?.(a, b);
          },
        ],
      },
    };
    this.el.replaceChildren();
    this.u = new uPlot(opts, this.data || this.emptyData(), this.el);
  }

  emptyData() {
    const n = this.spec.lines.length + (this.spec.band ? 2 : 0);
    return [[], ...Array.from({ length: n }, () => [])];
  }

  /** buckets: {key: [{time, min, max, mean}]}; range in seconds [start, end]. */
  setSeries(bucketsByKey, range) {
    this.range = range;
    const spec = this.spec;
    const times = new Set();
    for (const line of spec.lines) for (const b of bucketsByKey[line.key] || []) times.add(Date.parse(b.time) / 1000);
    const xs = [...times].sort((a, b) => a - b);
    const index = new Map(xs.map((x, i) => [x, i]));
    const cols = spec.lines.map(() => new Array(xs.length).fill(null));
    const mx = spec.band ? new Array(xs.length).fill(null) : null;
    const mn = spec.band ? new Array(xs.length).fill(null) : null;
    spec.lines.forEach((line, li) => {
      for (const b of bucketsByKey[line.key] || []) {
        const i = index.get(Date.parse(b.time) / 1000);
        cols[li][i] = line.stat === "max" ? b.max : b.mean;
        if (li === 0 && spec.band) {
          mx[i] = b.max;
          mn[i] = b.min;
        }
      }
    });
    this.data = spec.band ? [xs, ...cols, mx, mn] : [xs, ...cols];
    this.count = xs.length;
    if (!this.u) this.build();
    else this.u.setData(this.data, true);
  }

  /** A live value at time t (seconds). Moves a live window forward; older points fall off. */
  append(key, t, value, windowS) {
    if (!this.data) return;
    const li = this.spec.lines.findIndex((l) => l.key === key);
    if (li < 0 || value === null || value === undefined) return;
    const d = this.data;
    const xs = d[0];
    const last = xs.length ? xs[xs.length - 1] : -Infinity;
    if (t < last - 0.5) return; // out of order: the next query will place it
    if (Math.abs(t - last) < 0.5 && xs.length) {
      d[1 + li][xs.length - 1] = value;
    } else {
      xs.push(t);
      for (let i = 1; i < d.length; i++) d[i].push(null);
      d[1 + li][xs.length - 1] = value;
      if (this.spec.band && li === 0) {
        d[d.length - 2][xs.length - 1] = value;
        d[d.length - 1][xs.length - 1] = value;
      }
    }
    if (windowS) {
      this.range = [t - windowS, Math.max(t, this.range[1])];
      let cut = 0;
      while (cut < xs.length && xs[cut] < this.range[0]) cut++;
      if (cut) for (let i = 0; i < d.length; i++) d[i].splice(0, cut);
    }
    this.count = xs.length;
    this.dirty = true;
  }

  /** Redraw after appends (called at most once a second by the page). */
  flush() {
    if (this.dirty && this.u) {
      this.dirty = false;
      this.u.setData(this.data, true);
    }
  }

  resize() {
    if (this.u) this.u.setSize({ width: this.width(), height: 150 });
  }

  destroy() {
    this.ro.disconnect();
    this.u?.destroy();
    this.u = null;
  }
}
