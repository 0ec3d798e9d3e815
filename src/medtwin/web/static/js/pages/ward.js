// Ward overview: one tile per bed, live at 1 Hz. Built for a nurses' station: large numerals, the
// IEC 60601-1-8 visual alarm signal on the tile, NEWS2 band colours, and a stale-data marker (a value
// older than its allowance is greyed, struck through and shows its age).
//
// Performance: tiles are built once; a live update only writes the text nodes and classes that
// changed, and ages are refreshed by one 1 Hz timer. Alarm flashing is a CSS opacity animation on the
// compositor. See benchmarks/dashboard.py for the measured budget.

import { api, fetchAlarms, serverNow } from "../api.js";
import {
  BAND_LABEL,
  OPEN_STATES,
  PRIORITY_RANK,
  VITALS,
  fmtAge,
  fmtTime,
  fmtValue,
  h,
  naturalCompare,
  news2Band,
  parseScore,
  patientLabel,
  placeOf,
  topAlarm,
} from "../format.js";
import { openFeed } from "../live.js";
import { setTitle } from "../ui.js";

const TILE_VITALS = ["hr", "spo2", "rr", "bp", "temp"];
const MANUAL_STALE_S = 4.5 * 3600; // charted by hand: NEWS2's 4-6-hourly minimum observations
// Tiles updated per animation frame (see flush()): 8 (benchmarks/dashboard.py measures it), fewer,
// down to 3, on a machine whose frames overrun.
const SLICE_MIN = 3;
const SLICE_MAX = 8;
const perf = (window.__medtwinPerf = window.__medtwinPerf || { updates: [], ticks: [] });

/**
 * Replace an element's text by editing its text node in place: assigning textContent would remove
 * and insert a node (style recalc and a new layout object) for every value, every second.
 */
function setText(el, text) {
  const node = el.firstChild;
  if (node && node.nodeType === 3 && !node.nextSibling) {
    if (node.data !== text) node.data = text;
  } else {
    el.textContent = text;
  }
}

function pushPerf(list, ms) {
  list.push(ms);
  if (list.length > 1200) list.splice(0, list.length - 1200);
}

function staleAllowance(key, method, continuousS) {
  if (method === "manual") return MANUAL_STALE_S;
  const base = VITALS[key]?.staleS ?? 60;
  return base <= 60 ? continuousS : Math.max(base, continuousS);
}

class Tile {
  constructor(bed, patient, settings) {
    this.bed = bed;
    this.patient = patient;
    this.settings = settings;
    this.vals = {}; // key -> {value, text, t, method}
    this.alarms = new Map();
    this.cells = {};
    this.news = { value: null, band: null, t: 0 };
    this.build();
  }

  build() {
    const p = this.patient;
    const where = placeOf(p?.location);
    const bedLabel = this.bed?.name || where.bed?.name || "—";
    const room = where.room?.name || "";
    if (!p) {
      this.el = h(
        "div.tile.empty",
        { "data-bed": this.bed?.id || "" },
        h("div.tile-head", null, h("span.tile-bed", null, bedLabel), h("span.tile-room", null, room)),
        h("div.tile-name", null, "Empty bed"),
      );
      this.li = h("li", null, this.el);
      return;
    }
    this.newsEl = h("span.news2", { "data-band": "none", title: "NEWS2 total score and clinical-risk band" });
    this.newsValue = h("span.n2-value", null, "–");
    this.newsBandEl = h("span.n2-band", null, "");
    this.newsEl.append(h("span.n2-label", null, "NEWS2"), this.newsValue, this.newsBandEl);
    const vitals = h("dl.vitals");
    for (const key of TILE_VITALS) {
      const def = key === "bp" ? { label: "BP", long: "Blood pressure", unit: "mmHg" } : VITALS[key];
      const val = h("span.val", null, "—");
      const age = h("span.age", null, "");
      const cell = h(
        `div.vital.missing.v-${key}${key === "bp" ? ".bp" : ""}`,
        { "data-key": key },
        h("dt", null, h("abbr", { title: def.long }, def.label), h("span.unit", null, def.unit)),
        h("dd", null, val, age),
      );
      this.cells[key] = { cell, val, age, text: "—", stale: false, ageText: "", missing: true };
      vitals.append(cell);
    }
    this.alarmMsg = h("span.a-msg", null, "No alarm");
    this.alarmPrio = h("span.a-prio", null, "");
    this.alarmState = h("span.a-state", null, "");
    this.strip = h("div.alarm-strip", null, this.alarmPrio, this.alarmMsg, this.alarmState);
    this.el = h(
      "a.tile",
      {
        href: `#/patient/${encodeURIComponent(p.id)}`,
        "data-patient": p.id,
        "data-bed": this.bed?.id || where.bed?.id || "",
        "data-alarm": "none",
        "data-space": "",
      },
      h("div.tile-head", null, h("span.tile-bed", null, bedLabel), h("span.tile-room", null, room), this.newsEl),
      h("div.tile-name", { title: patientLabel(p) }, patientLabel(p)),
      vitals,
      this.strip,
    );
    this.li = h("li", null, this.el);
    for (const o of Object.values(p.latest || {})) this.setObs(o);
  }

  setObs(o) {
    const key = o.key;
    if (key === "news2") {
      this.setNews(o.value, o.meta, Date.parse(o.time));
      return;
    }
    if (!(key in VITALS)) return;
    const t = Date.parse(o.time);
    const prev = this.vals[key];
    if (prev && prev.t > t) return; // late, older reading
    this.vals[key] = { value: o.value, text: o.value_text, t, method: o.method };
    if (key === "sbp" || key === "dbp") this.render("bp");
    else if (key in this.cells) this.render(key);
  }

  setNews(value, meta, t) {
    if (this.news.t > t) return;
    const band = news2Band(value, meta);
    this.news = { value, band, t };
    // a partial score (some inputs missing or stale) is a lower bound of the full one (RCP 2017)
    const partial = Boolean(meta && meta.partial);
    const text = value === null || value === undefined ? "–" : `${partial ? "≥" : ""}${Math.round(value)}`;
    if (partial !== this.newsPartial) {
      this.newsPartial = partial;
      this.newsEl.title = partial
        ? "NEWS2 from incomplete or stale inputs: the full score is at least this"
        : "NEWS2 total score and clinical-risk band";
    }
    setText(this.newsValue, text);
    const bandKey = band || "none";
    if (this.newsEl.dataset.band !== bandKey) {
      this.newsEl.dataset.band = bandKey;
      setText(this.newsBandEl, BAND_LABEL[band] || "");
    }
  }

  render(key) {
    const c = this.cells[key];
    let text;
    if (key === "bp") {
      const s = this.vals.sbp;
      const d = this.vals.dbp;
      if (!s && !d) return;
      text = `${s ? fmtValue("sbp", s.value) : "–"}/${d ? fmtValue("dbp", d.value) : "–"}`;
    } else {
      const v = this.vals[key];
      text = fmtValue(key, v.value, v.text);
    }
    if (c.text !== text) {
      c.text = text;
      setText(c.val, text);
    }
    if (c.missing) {
      c.missing = false;
      c.cell.classList.remove("missing");
    }
    this.tickKey(key, serverNow());
  }

  /** Refresh the stale marker of one vital; returns nothing, touches the DOM only on change. */
  tickKey(key, now) {
    const c = this.cells[key];
    if (!c || c.missing) return;
    let t;
    let method;
    if (key === "bp") {
      const s = this.vals.sbp || this.vals.dbp;
      t = Math.min(this.vals.sbp?.t ?? Infinity, this.vals.dbp?.t ?? Infinity);
      method = s?.method;
    } else {
      t = this.vals[key].t;
      method = this.vals[key].method;
    }
    const age = (now - t) / 1000;
    const stale = age > staleAllowance(key === "bp" ? "sbp" : key, method, this.settings.staleS);
    if (stale !== c.stale) {
      c.stale = stale;
      c.cell.classList.toggle("stale", stale);
    }
    const ageText = stale ? fmtAge(age) : "";
    if (ageText !== c.ageText) {
      c.ageText = ageText;
      setText(c.age, ageText);
    }
  }

  tick(now) {
    if (!this.patient) return;
    for (const key of TILE_VITALS) this.tickKey(key, now);
    const newsStale = this.news.t > 0 && (now - this.news.t) / 1000 > VITALS.news2.staleS;
    this.newsEl.classList.toggle("stale", newsStale);
  }

  upsertAlarm(a) {
    if (OPEN_STATES.has(a.state)) this.alarms.set(a.id, a);
    else this.alarms.delete(a.id);
    this.renderAlarm();
  }

  renderAlarm() {
    const top = topAlarm(this.alarms.values());
    const prio = top ? top.priority : "none";
    const state = top ? top.state : "none";
    this.el.dataset.alarm = prio;
    this.el.dataset.alarmState = state;
    if (!top) {
      setText(this.alarmPrio, "");
      setText(this.alarmMsg, "No alarm");
      setText(this.alarmState, "");
      this.strip.removeAttribute("title");
      return;
    }
    const more = this.alarms.size > 1 ? ` (+${this.alarms.size - 1})` : "";
    setText(this.alarmPrio, top.priority.toUpperCase());
    setText(this.alarmMsg, (top.message || top.condition || "Alarm") + more);
    this.strip.title = [...this.alarms.values()].map((x) => `${x.priority}: ${x.message || x.condition} (${x.state})`).join("\n");
    let st = top.state === "active" ? "" : top.state === "paused" && top.paused_until ? `paused to ${fmtTime(top.paused_until)}` : top.state;
    if (top.escalation_level > 0) st = `${st ? `${st} · ` : ""}esc. L${top.escalation_level}`;
    setText(this.alarmState, st);
  }

  acuity() {
    const top = topAlarm(this.alarms.values());
    const alarmRank = top ? 3 - (PRIORITY_RANK[top.priority] ?? 3) : 0;
    return alarmRank * 100 + (this.news.value ?? -1);
  }
}

async function fetchSnapshot(wardId) {
  return Promise.all([
    api(`/api/places/${encodeURIComponent(wardId)}/patients`),
    api(`/api/twins/${encodeURIComponent(wardId)}/children`),
    fetchAlarms({ ward: wardId, state: "open" }).catch(() => null),
  ]);
}

export async function mount(root, params, ctx) {
  // first load: the ward list, the feature list and (when the ward is known from the address) the
  // ward's own data are fetched at the same time
  let stored = null;
  try {
    stored = localStorage.getItem("medtwin.ward");
  } catch {
    /* ignore */
  }
  const guess = params[0] || stored;
  const early = guess ? fetchSnapshot(guess) : null;
  early?.catch(() => {});
  const [feats, wards] = await Promise.all([
    ctx.features ? Promise.resolve(ctx.features) : ctx.featuresPromise,
    api("/api/twins", { query: { kind: "ward" } }),
  ]);
  wards.sort((a, b) => naturalCompare(a.name || a.id, b.name || b.id));
  const wardId = params[0] || (wards.some((w) => w.id === stored) ? stored : wards[0]?.id);
  if (!wardId) {
    root.append(h("h1", null, "Ward"), h("p.empty-note", null, "No wards are registered yet."));
    return { unmount() {} };
  }
  if (!params[0]) history.replaceState(null, "", `#/ward/${encodeURIComponent(wardId)}`);
  try {
    localStorage.setItem("medtwin.ward", wardId);
  } catch {
    /* ignore */
  }
  const ward = wards.find((w) => w.id === wardId) || { id: wardId, name: wardId };
  setTitle(ward.name || ward.id);

  const settings = { staleS: Number(localStorage.getItem("medtwin.staleS")) || 30, sort: localStorage.getItem("medtwin.sort") || "bed" };
  const tiles = new Map(); // patient id -> Tile
  let order = [];
  const grid = h("ul.tiles", { "aria-label": `Beds in ${ward.name || ward.id}`, role: "list" });
  const announcer = h("div.visually-hidden", { "aria-live": "assertive", role: "status" });
  const chips = h("div.summary-chips.ward-summary", { "aria-live": "off" });
  const banner = h("div");

  const wardSelect = h(
    "select#ward-select",
    { onchange: (ev) => ctx.navigate(`#/ward/${encodeURIComponent(ev.target.value)}`) },
    wards.map((w) => h("option", { value: w.id, selected: w.id === wardId }, w.name || w.id)),
  );
  const sortButtons = ["bed", "acuity"].map((s) =>
    h(
      "button",
      {
        type: "button",
        "aria-pressed": String(settings.sort === s),
        onclick: () => {
          settings.sort = s;
          localStorage.setItem("medtwin.sort", s);
          sortButtons.forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.sort === s)));
          arrange();
        },
        "data-sort": s,
      },
      s === "bed" ? "Bed order" : "Sickest first",
    ),
  );
  const staleSelect = h(
    "select#stale-select",
    {
      onchange: (ev) => {
        settings.staleS = Number(ev.target.value);
        localStorage.setItem("medtwin.staleS", String(settings.staleS));
        tickAll();
      },
    },
    [15, 30, 60, 120, 300].map((s) => h("option", { value: s, selected: s === settings.staleS }, `${s} s`)),
  );

  root.append(
    h(
      "div.page-head",
      null,
      h("h1", null, ward.name || ward.id),
      h(
        "div.controls",
        null,
        h("label", { for: "ward-select" }, "Ward", wardSelect),
        h("div.seg", { role: "group", "aria-label": "Tile order" }, sortButtons),
        h("label", { for: "stale-select", title: "Monitor numerics older than this are shown as stale" }, "Stale after", staleSelect),
      ),
    ),
    chips,
    banner,
    grid,
    announcer,
  );

  function summarise() {
    let occupied = 0;
    const alarmCount = { high: 0, medium: 0, low: 0 };
    let high = 0;
    for (const t of tiles.values()) {
      occupied += 1;
      for (const a of t.alarms.values()) if (a.state === "active") alarmCount[a.priority] = (alarmCount[a.priority] || 0) + 1;
      if (t.news.band === "high") high += 1;
    }
    const parts = [`${order.length} beds`, `${occupied} patients`];
    if (alarmCount.high) parts.push(`${alarmCount.high} high-priority alarm${alarmCount.high > 1 ? "s" : ""}`);
    if (alarmCount.medium) parts.push(`${alarmCount.medium} medium`);
    if (alarmCount.low) parts.push(`${alarmCount.low} low`);
    if (high) parts.push(`${high} NEWS2 ≥ 7`);
    const text = parts.join(" · ");
    if (chips.dataset.text !== text) {
      chips.dataset.text = text;
      chips.replaceChildren(...parts.map((p) => h("span.chip", null, p)));
    }
  }

  function arrange() {
    let items = order;
    if (settings.sort === "acuity") {
      items = [...order].sort((a, b) => (b.patient ? b.acuity() : -1e9) - (a.patient ? a.acuity() : -1e9));
    }
    const current = [...grid.children];
    if (current.length === items.length && items.every((t, i) => current[i] === t.li)) return;
    const focused = document.activeElement;
    grid.replaceChildren(...items.map((t) => t.li));
    if (focused && grid.contains(focused)) focused.focus({ preventScroll: true });
  }

  let firstSnapshot = guess === wardId ? early : null;
  async function load() {
    const snap = firstSnapshot || fetchSnapshot(wardId);
    firstSnapshot = null;
    const [patients, children, alarms] = await snap;
    const beds = children.filter((t) => t.kind === "bed");
    beds.sort((a, b) => (a.attributes?.number ?? 1e9) - (b.attributes?.number ?? 1e9) || naturalCompare(a.name, b.name));
    const byBed = new Map();
    const loose = [];
    for (const p of patients) {
      const bed = placeOf(p.location).bed;
      if (bed && !byBed.has(bed.id)) byBed.set(bed.id, p);
      else loose.push(p);
    }
    tiles.clear();
    order = [];
    for (const bed of beds) {
      const p = byBed.get(bed.id) || null;
      const t = new Tile(bed, p, settings);
      order.push(t);
      if (p) tiles.set(p.id, t);
    }
    for (const p of loose) {
      const t = new Tile(null, p, settings);
      order.push(t);
      tiles.set(p.id, t);
    }
    for (const a of alarms || []) tiles.get(a.twin)?.upsertAlarm(a);
    grid.replaceChildren();
    arrange();
    tickAll();
    summarise();
    if (!order.length) grid.replaceChildren(h("li.empty-note", null, "No beds in this ward."));
    banner.replaceChildren(
      alarms
        ? ""
        : h(
            "p.banner",
            { role: "alert" },
            feats.alarms
              ? "The alarm service is not answering: alarm states are NOT shown on these tiles."
              : "The alarm service is not installed on this server: tiles show vital signs and NEWS2 only.",
          ),
    );
  }

  function tickAll() {
    const t0 = performance.now();
    const now = serverNow();
    for (const t of order) t.tick(now);
    pushPerf(perf.ticks, performance.now() - t0);
  }

  function onAlarm(a) {
    const t = tiles.get(a.twin);
    if (!t) return;
    const before = t.alarms.get(a.id);
    t.upsertAlarm(a);
    if (a.state === "active" && (!before || before.state !== "active") && a.priority === "high") {
      announcer.textContent = `High priority alarm, ${t.bed?.name || ""} ${patientLabel(t.patient)}: ${a.message || a.condition}`;
    }
    window.dispatchEvent(new Event("medtwin:alarm"));
  }

  let reloadTimer = null;
  function scheduleReload() {
    clearTimeout(reloadTimer);
    reloadTimer = setTimeout(() => load().catch(() => {}), 400);
  }

  // Live messages are coalesced (newest value per patient and code, newest state per alarm, newest
  // score per patient) and written to the DOM in one animation frame: a burst of messages costs one
  // style/layout/paint, and a hidden tab keeps at most one pending value per series. Values and
  // alarms are drawn in the next frame; scores (which the scorer emits one patient at a time) wait
  // for the next 1 Hz values, so a ward of scores does not cost a frame each.
  const pending = { obs: new Map(), alarms: new Map(), scores: new Map() };
  let flushQueued = false;
  let lazyTimer = null;
  function schedule() {
    if (flushQueued) return;
    flushQueued = true;
    if (document.hidden) setTimeout(() => flush(), 1000);
    else requestAnimationFrame(flush);
  }
  function scheduleLazy() {
    if (lazyTimer === null && !flushQueued) lazyTimer = setTimeout(() => schedule(), 1100);
  }
  let slice = SLICE_MAX;
  let lastContinuation = 0; // when the previous slice of the same burst started
  function flush(frameTime) {
    flushQueued = false;
    clearTimeout(lazyTimer);
    lazyTimer = null;
    const t0 = performance.now();
    if (lastContinuation && typeof frameTime === "number") {
      // consecutive frames of one burst: a gap of two vsyncs or more means the last one overran
      const gap = frameTime - lastContinuation;
      if (gap > 25) slice = Math.max(SLICE_MIN, slice - 2);
      else if (gap < 20) slice = Math.min(SLICE_MAX, slice + 1);
    }
    lastContinuation = 0;
    // alarm states first and all at once: they are what a nurse must not miss
    const alarms = pending.alarms;
    pending.alarms = new Map();
    for (const a of alarms.values()) onAlarm(a);
    // values and scores: at most `slice` tiles per frame, so a whole ward changing at once
    // is drawn over a few consecutive frames (about 16 ms apart) and no frame overruns its budget
    const done = new Set();
    for (const [k, o] of pending.obs) {
      if (!done.has(o.twin)) {
        if (done.size >= slice) continue;
        done.add(o.twin);
      }
      pending.obs.delete(k);
      tiles.get(o.twin)?.setObs(o);
    }
    for (const [twin, sc] of pending.scores) {
      if (!done.has(twin)) {
        if (done.size >= slice) continue;
        done.add(twin);
      }
      pending.scores.delete(twin);
      tiles.get(twin)?.setNews(sc.value, { band: sc.band, partial: sc.partial }, sc.t);
    }
    summarise();
    if (pending.obs.size || pending.scores.size) {
      lastContinuation = typeof frameTime === "number" ? frameTime : 0;
      schedule();
    }
    perf.slice = slice;
    pushPerf(perf.updates, performance.now() - t0);
  }

  await load();
  const feed = openFeed(`/ws/ward/${encodeURIComponent(wardId)}`, {
    onMessage(msg) {
      if (msg.type === "observations") {
        for (const o of msg.items) {
          const k = `${o.twin}|${o.key}`;
          const prev = pending.obs.get(k);
          if (!prev || prev.time <= o.time) pending.obs.set(k, o);
        }
        schedule();
      } else if (msg.type === "alarm" && msg.data) {
        pending.alarms.set(msg.data.id, msg.data);
        schedule();
      } else if (msg.type === "score" && msg.data) {
        const s = parseScore(msg.data);
        if (s && s.name === "news2" && tiles.has(s.twin)) {
          pending.scores.set(s.twin, s);
          scheduleLazy(); // shown with the next 1 Hz values; alarms, not scores, are urgent
        }
      } else if (msg.type === "topology" || msg.type === "dropped") {
        scheduleReload();
      } else if (msg.type === "closed") {
        banner.replaceChildren(h("p.banner", { role: "alert" }, `The live feed refused this ward (${msg.reason || msg.code}).`));
      }
    },
    onReconnect: scheduleReload,
  });

  // Ages and stale markers, once a second; re-sort "sickest first" every 10 s (not on every value,
  // so tiles do not jump under a nurse's pointer).
  const ticker = setInterval(tickAll, 1000);
  const sorter = setInterval(() => settings.sort === "acuity" && arrange(), 10000);

  grid.addEventListener("keydown", (ev) => {
    const links = [...grid.querySelectorAll("a.tile")];
    const i = links.indexOf(document.activeElement);
    if (i < 0) return;
    let j = null;
    const cols = Math.max(1, links.filter((a) => a.offsetTop === links[0].offsetTop).length);
    if (ev.key === "ArrowRight") j = i + 1;
    else if (ev.key === "ArrowLeft") j = i - 1;
    else if (ev.key === "ArrowDown") j = i + cols;
    else if (ev.key === "ArrowUp") j = i - cols;
    else if (ev.key === "Home") j = 0;
    else if (ev.key === "End") j = links.length - 1;
    if (j === null) return;
    ev.preventDefault();
    links[Math.max(0, Math.min(links.length - 1, j))].focus();
  });
  grid.addEventListener("click", (ev) => {
    const a = ev.target.closest("a.tile");
    if (a) sessionStorage.setItem("medtwin.last-patient", a.dataset.patient);
  });

  // Coming back from a patient: focus that patient's tile, so keyboard users keep their place.
  const last = sessionStorage.getItem("medtwin.last-patient");
  const lastTile = last && tiles.get(last);
  if (lastTile) lastTile.el.focus();
  root.dataset.ready = "1";
  performance.mark("medtwin:ward-ready");

  return {
    keepFocus: Boolean(lastTile),
    unmount() {
      feed.close();
      clearInterval(ticker);
      clearInterval(sorter);
      clearTimeout(reloadTimer);
      clearTimeout(lazyTimer);
    },
  };
}
