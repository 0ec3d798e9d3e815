// Evacuation plan view: one floor of the building drawn on a canvas (spaces, doors, exits, beds),
// the smoke in each space at time t (grey by extinction coefficient, red outline once untenable),
// the people at time t from the replay (walkers from frames, assisted patients along their moves),
// and the bottleneck heat map (person-seconds per m2). Colours by mobility class.

export const CLASS_COLOUR = {
  ambulant: "#4caf50", walking_aid: "#8bc34a", wheelchair: "#ffc107", bed_bound: "#ff9800",
  critical: "#f44336", staff: "#2196f3",
};
const KIND_FILL = { room: "#2a3340", corridor: "#222a33", stair: "#37474f", lift: "#37474f", refuge: "#1b3a2a" };

function ringPaths(geom) {
  if (!geom) return [];
  if (geom.type === "Polygon") return [geom.coordinates];
  if (geom.type === "MultiPolygon") return geom.coordinates;
  return [];
}

export function createPlan(canvas) {
  const ctx = canvas.getContext("2d");
  let doc = null;
  let floor = null;
  let replay = null;
  let report = null;
  let t = 0;
  let showHeat = false;
  let view = { s: 1, x0: 0, y0: 0, h: 0 };
  const byId = new Map();

  function features(kind) {
    return (doc?.features || []).filter((f) => (kind ? f.properties.kind === kind : true) && f.properties.floor === floor);
  }

  function fit() {
    const w = canvas.clientWidth || 800;
    const hgt = canvas.clientHeight || 420;
    const dpr = Math.min(2, window.devicePixelRatio || 1);
    canvas.width = w * dpr;
    canvas.height = hgt * dpr;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (const f of features()) {
      for (const poly of ringPaths(f.geometry)) for (const [x, y] of poly[0]) {
        x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x); y1 = Math.max(y1, y);
      }
    }
    if (!Number.isFinite(x0)) return;
    const s = Math.min((w - 20) / (x1 - x0), (hgt - 20) / (y1 - y0));
    view = { s, x0: x0 - 10 / s, y0: y0 - 10 / s, h: hgt };
  }

  const X = (x) => (x - view.x0) * view.s;
  const Y = (y) => view.h - (y - view.y0) * view.s; // plan y up, canvas y down

  function path(polygons) {
    ctx.beginPath();
    for (const rings of polygons) {
      for (const ring of rings) {
        ring.forEach(([x, y], i) => (i ? ctx.lineTo(X(x), Y(y)) : ctx.moveTo(X(x), Y(y))));
        ctx.closePath();
      }
    }
  }

  function smokeAt(space) {
    const hz = replay?.hazard;
    if (!hz) return { k: 0, bad: false };
    const z = hz.zones.indexOf(space);
    if (z < 0) return { k: 0, bad: false };
    let r = 0;
    while (r + 1 < hz.times.length && hz.times[r + 1] <= t) r += 1;
    const u = hz.untenable_s?.[space];
    return { k: hz.k_ext[r][z], bad: u !== null && u !== undefined && u <= t };
  }

  function drawHeat() {
    const hm = report?.heatmap?.[floor];
    if (!hm) return;
    const [ox, oy] = hm.origin;
    const c = hm.cell_m;
    const max = hm.max || 1;
    hm.person_s_per_m2.forEach((row, i) => row.forEach((v, j) => {
      if (v <= 0) return;
      const a = Math.min(0.85, 0.15 + 0.7 * (v / max));
      ctx.fillStyle = `rgba(255, ${Math.round(200 - 180 * (v / max))}, 0, ${a})`;
      ctx.fillRect(X(ox + j * c), Y(oy + (i + 1) * c), c * view.s + 0.5, c * view.s + 0.5);
    }));
  }

  function peopleAt() {
    const out = [];
    if (!replay) return out;
    for (const [key, frames] of Object.entries(replay.floors)) {
      if (key.split("#")[0] !== floor || !frames.length) continue;
      let lo = 0, hi = frames.length - 1;
      if (t < frames[0][0] || t > frames[hi][0] + 1.5) continue;
      while (lo < hi) { const mid = (lo + hi + 1) >> 1; if (frames[mid][0] <= t) lo = mid; else hi = mid - 1; }
      for (const [i, x, y] of frames[lo][1]) out.push({ i, x, y });
    }
    for (const m of replay.moves) {
      const p = byId.get(m.person);
      if (t < m.start_s) {
        if (p && p.floor === floor) out.push({ i: m.person, x: p.x, y: p.y, waiting: t >= m.arrive_s });
        continue;
      }
      if (t > m.end_s || !m.path.length) continue;
      const f = (t - m.start_s) / Math.max(1e-6, m.end_s - m.start_s);
      const k = Math.min(m.path.length - 1, Math.floor(f * (m.path.length - 1)));
      const [fl, x, y] = m.path[k];
      if (fl !== floor) continue;
      out.push({ i: m.person, x, y, moving: true });
      m.staff.forEach((s, j) => out.push({ i: s, x: x + 0.6 * (j + 1), y: y + 0.4 }));  // the team pushing
    }
    const moved = new Set(replay.moves.map((m) => m.person));
    for (const p of replay.people) {
      if (p.floor === floor && (p.mode === "stays" || p.mode === "stranded") && !moved.has(p.i)) out.push({ i: p.i, x: p.x, y: p.y, still: true });
    }
    return out;
  }

  function draw() {
    const w = canvas.clientWidth || 800;
    ctx.clearRect(0, 0, w, view.h || canvas.height);
    if (!doc || !floor) return;
    for (const f of features()) {
      const k = f.properties.kind;
      if (!(k in KIND_FILL) && k !== "exit") continue;
      path(ringPaths(f.geometry));
      ctx.fillStyle = k === "exit" ? "#1e5631" : KIND_FILL[k];
      ctx.fill();
      const sm = k === "exit" ? { k: 0, bad: false } : smokeAt(f.properties.id);
      if (sm.k > 0.02) {
        ctx.fillStyle = `rgba(160, 160, 170, ${Math.min(0.85, sm.k / 3)})`;
        ctx.fill();
      }
      ctx.lineWidth = sm.bad ? 3 : 1;
      ctx.strokeStyle = sm.bad ? "#ff5252" : "#5c6b7a";
      ctx.stroke();
    }
    if (showHeat) drawHeat();
    for (const f of features("door")) {
      const [[ax, ay], [bx, by]] = f.geometry.coordinates;
      ctx.beginPath();
      ctx.moveTo(X(ax), Y(ay));
      ctx.lineTo(X(bx), Y(by));
      ctx.lineWidth = f.properties.barrier ? 4 : 3;
      ctx.strokeStyle = f.properties.barrier ? "#ff8c00" : "#9ccc65";
      ctx.stroke();
    }
    for (const f of (doc.features || []).filter((g) => g.properties.kind === "bed")) {
      const room = byRoom.get(f.properties.room);
      if (room !== floor) continue;
      const [x, y] = f.geometry.coordinates;
      ctx.strokeStyle = "#78909c";
      ctx.lineWidth = 1;
      ctx.strokeRect(X(x - 0.45), Y(y + 1), 0.9 * view.s, 2 * view.s);
    }
    const r = Math.max(2.5, 0.25 * view.s);
    for (const q of peopleAt()) {
      const p = byId.get(q.i);
      ctx.beginPath();
      ctx.arc(X(q.x), Y(q.y), q.moving ? r * 1.4 : r, 0, 2 * Math.PI);
      ctx.fillStyle = CLASS_COLOUR[p?.class] || "#ccc";
      ctx.fill();
      if (q.moving || q.waiting) { ctx.lineWidth = 2; ctx.strokeStyle = "#fff"; ctx.stroke(); }
    }
  }

  const byRoom = new Map();
  const ro = new ResizeObserver(() => { fit(); draw(); });
  ro.observe(canvas);

  return {
    setBuilding(geojson, f) {
      doc = geojson;
      byRoom.clear();
      for (const g of doc.features) if (g.properties.floor) byRoom.set(g.properties.id, g.properties.floor);
      floor = f;
      fit();
      draw();
    },
    setFloor(f) { floor = f; fit(); draw(); },
    setRun(rep, rp) {
      report = rep;
      replay = rp;
      byId.clear();
      for (const p of rp?.people || []) byId.set(p.i, p);
      draw();
    },
    setTime(s) { t = s; draw(); },
    setHeat(on) { showHeat = on; draw(); },
    endTime() {
      let end = 0;
      for (const frames of Object.values(replay?.floors || {})) if (frames.length) end = Math.max(end, frames[frames.length - 1][0]);
      for (const m of replay?.moves || []) end = Math.max(end, m.end_s);
      return end;
    },
    dispose() { ro.disconnect(); },
  };
}
