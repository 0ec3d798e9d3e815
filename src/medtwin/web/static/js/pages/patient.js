// Patient detail: current values, trend charts (15 min to 7 days, downsampled by the server, live
// appended), alarms with acknowledge / pause / escalate, score history, charting form, medication
// timeline, fluid balance and the patient's relationships (bed, room, ward, care team, devices).

import { api, fetchAlarms, serverNow, twin } from "../api.js";
import { actionButtons, ageText, escalationText, stateText } from "../alarmsvc.js";
import { chartForm } from "../chartform.js";
import { TrendChart } from "../charts.js";
import {
  BAND_LABEL,
  NEWS2_REF,
  OPEN_STATES,
  VITALS,
  alarmSort,
  fmtAge,
  fmtDateTime,
  fmtTime,
  fmtValue,
  h,
  news2Band,
  parseScore,
  patientLabel,
  placeOf,
  prioChip,
} from "../format.js";
import { openFeed } from "../live.js";
import { medTimeline } from "../medline.js";
import { errorText, setTitle } from "../ui.js";

const RANGES = [
  ["15m", "15 min", 900],
  ["1h", "1 h", 3600],
  ["6h", "6 h", 6 * 3600],
  ["24h", "24 h", 86400],
  ["3d", "3 days", 3 * 86400],
  ["7d", "7 days", 7 * 86400],
];

const CHARTS = [
  { id: "hr", title: "Heart rate (/min)", lines: [{ key: "hr", label: "HR", color: VITALS.hr.color }], band: true, yRange: [50, 110] },
  { id: "spo2", title: "SpO₂ (%)", lines: [{ key: "spo2", label: "SpO₂", color: VITALS.spo2.color }], band: true, yRange: [88, 100] },
  { id: "rr", title: "Respiratory rate (/min)", lines: [{ key: "rr", label: "RR", color: VITALS.rr.color }], band: true, yRange: [8, 24] },
  {
    id: "bp",
    title: "Blood pressure (mmHg)",
    lines: [
      { key: "sbp", label: "Systolic", color: VITALS.sbp.color },
      { key: "map", label: "Mean", color: VITALS.map.color },
      { key: "dbp", label: "Diastolic", color: VITALS.dbp.color },
    ],
    yRange: [50, 150],
  },
  { id: "temp", title: "Temperature (°C)", lines: [{ key: "temp", label: "Temp", color: VITALS.temp.color }], band: true, yRange: [36, 38], digits: 1 },
  {
    id: "news2",
    title: "NEWS2 (worst per interval)",
    lines: [{ key: "news2", label: "NEWS2", color: "#f5f7fa", stat: "max" }],
    yRange: [0, 8],
    zones: [
      { from: 4.5, to: 6.5, color: "rgba(255, 140, 26, 0.16)" },
      { from: 6.5, to: 20, color: "rgba(200, 16, 46, 0.20)" },
    ],
  },
];
const STRIP = ["hr", "spo2", "rr", "bp", "temp", "news2", "acvpu"];

export async function mount(root, params, ctx) {
  const pid = params[0];
  if (!pid) {
    ctx.navigate("#/ward");
    return { unmount() {} };
  }
  const feats = ctx.features;
  const [p, state] = await Promise.all([
    api(`/api/twins/${encodeURIComponent(pid)}`),
    api(`/api/twins/${encodeURIComponent(pid)}/state`),
  ]);
  setTitle(patientLabel(p));
  const where = placeOf(p.location);
  const ward = where.ward;
  const latest = {}; // key -> obs
  for (const o of Object.values(state.latest || {})) if (o.key) latest[o.key] = o;

  // ------------------------------------------------------------------ header and current values
  const attrs = p.attributes || {};
  const facts = [p.id, attrs.age ? `${attrs.age} y` : null, attrs.sex, attrs.condition].filter(Boolean).join(" · ");
  const placeText = [where.bed?.name, where.room?.name, ward?.name, where.floor?.name].filter(Boolean).join(" · ");
  const backHref = ward ? `#/ward/${encodeURIComponent(ward.id)}` : "#/ward";
  root.append(
    h(
      "div.patient-head",
      null,
      h("div.who", null, h("h1", { "data-patient-name": "" }, patientLabel(p)), h("p.where", null, placeText || "No bed assigned"), h("p.where", null, facts)),
      h("div.controls", { style: "margin-left:auto" }, h("a.btn", { href: backHref }, "← Back to ward")),
    ),
  );
  const strip = h("dl.now-strip", { "aria-label": "Latest values" });
  const stripCells = {};
  for (const key of STRIP) {
    const def = key === "bp" ? { label: "BP", long: "Blood pressure", unit: "mmHg" } : VITALS[key];
    const val = h("span.val", null, "—");
    const age = h("span.age");
    const cell = h(
      `div.vital.v-${key}`,
      { "data-key": key },
      h("dt", null, h("abbr", { title: def.long }, def.label), h("span.unit", null, def.unit || "")),
      h("dd", null, val, age),
    );
    stripCells[key] = { cell, val, age };
    strip.append(cell);
  }
  root.append(strip);

  function renderStrip() {
    const now = serverNow();
    for (const key of STRIP) {
      const c = stripCells[key];
      let text = "—";
      let t = null;
      if (key === "bp") {
        const s = latest.sbp;
        const d = latest.dbp;
        if (s || d) {
          text = `${s ? fmtValue("sbp", s.value) : "–"}/${d ? fmtValue("dbp", d.value) : "–"}`;
          t = Math.min(s ? Date.parse(s.time) : Infinity, d ? Date.parse(d.time) : Infinity);
        }
      } else if (latest[key]) {
        const o = latest[key];
        text = fmtValue(key, o.value, o.value_text);
        t = Date.parse(o.time);
        if (key === "news2") {
          const band = news2Band(o.value, o.meta);
          c.cell.dataset.band = band || "";
          text = `${text} ${BAND_LABEL[band] || ""}`.trim();
        }
      }
      if (c.val.textContent !== text) c.val.textContent = text;
      const allowance = key === "bp" ? VITALS.sbp.staleS : VITALS[key]?.staleS ?? 60;
      const age = t === null ? null : (now - t) / 1000;
      const stale = age !== null && age > (latest[key === "bp" ? "sbp" : key]?.method === "manual" ? 4.5 * 3600 : allowance);
      c.cell.classList.toggle("stale", stale);
      c.cell.classList.toggle("missing", t === null);
      const ageText = age === null ? "" : stale ? fmtAge(age) : `${fmtTime(new Date(t).toISOString())}`;
      if (c.age.textContent !== ageText) c.age.textContent = ageText;
    }
    for (const spec of CHARTS) {
      const el = latestLabels[spec.id];
      if (!el) continue;
      const parts = spec.lines.map((l) => latest[l.key]).filter(Boolean);
      const text = parts.length
        ? `${parts.map((o) => fmtValue(o.key, o.value, o.value_text)).join("/")} at ${fmtTime(parts[0].time)}`
        : "";
      if (el.textContent !== text) el.textContent = text;
    }
  }

  // ------------------------------------------------------------------ layout
  const left = h("div.col");
  const right = h("div.col");
  root.append(h("div.panels", null, left, right));

  // ------------------------------------------------------------------ trends
  let rangeS = Number(sessionStorage.getItem("medtwin.range")) || 3600;
  let zoom = null; // [startS, endS] when the user zoomed into a past range
  const rangeButtons = RANGES.map(([id, label, secs]) =>
    h(
      "button",
      {
        type: "button",
        "data-range": id,
        "aria-pressed": String(secs === rangeS),
        onclick: () => {
          rangeS = secs;
          zoom = null;
          sessionStorage.setItem("medtwin.range", String(secs));
          rangeButtons.forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.range === id)));
          loadTrends();
        },
      },
      label,
    ),
  );
  const zoomNote = h("span.hint", { "aria-live": "polite" });
  const resetZoom = h(
    "button.btn.btn-sm",
    {
      type: "button",
      hidden: true,
      onclick: () => {
        zoom = null;
        loadTrends();
      },
    },
    "Back to live",
  );
  const chartGrid = h("div.charts");
  const charts = {};
  const latestLabels = {};
  for (const spec of CHARTS) {
    const plot = h("div.plot", { role: "img", "aria-label": `${spec.title} trend` });
    const latestEl = h("span.latest");
    latestLabels[spec.id] = latestEl;
    chartGrid.append(h("figure.chart-box", { "data-chart": spec.id, style: "margin:0" }, h("h3", null, spec.title, latestEl), plot));
    charts[spec.id] = new TrendChart(plot, spec, {
      sync: `p-${pid}`,
      onZoom: (a, b) => {
        zoom = [a, b];
        loadTrends();
      },
    });
  }
  left.append(
    h(
      "section.panel#trends",
      { "aria-labelledby": "trends-title" },
      h(
        "h2#trends-title",
        null,
        "Trends",
        h("span.tools", null, h("div.seg", { role: "group", "aria-label": "Time range" }, rangeButtons), resetZoom),
      ),
      h("p.hint", { style: "margin:.1rem 0 .5rem" }, "Drag across a chart to zoom into that period; values are averaged per interval with the min–max range shaded. ", zoomNote),
      chartGrid,
    ),
  );

  let trendSeq = 0;
  async function loadTrends() {
    const seq = ++trendSeq;
    const end = zoom ? zoom[1] : serverNow() / 1000;
    const start = zoom ? zoom[0] : end - rangeS;
    resetZoom.hidden = !zoom;
    zoomNote.textContent = zoom ? `Showing ${fmtDateTime(new Date(start * 1000).toISOString())} – ${fmtDateTime(new Date(end * 1000).toISOString())}.` : "";
    const points = Math.max(60, Math.min(1000, Math.floor((chartGrid.clientWidth || 800) / 2)));
    const keys = [...new Set(CHARTS.flatMap((c) => c.lines.map((l) => l.key)))];
    const q = { start: new Date(start * 1000).toISOString(), end: new Date(end * 1000 + 1000).toISOString(), points };
    const results = await Promise.all(
      keys.map((k) =>
        api(`/api/twins/${encodeURIComponent(pid)}/series`, { query: { ...q, code: k === "news2" ? NEWS2_REF : k } })
          .then((r) => [k, r.buckets])
          .catch(() => [k, []]),
      ),
    );
    if (seq !== trendSeq) return;
    const byKey = Object.fromEntries(results);
    for (const spec of CHARTS) charts[spec.id].setSeries(byKey, [start, end]);
    root.querySelector("#trends").dataset.loaded = String(seq);
  }

  renderStrip();

  // ------------------------------------------------------------------ charting form
  const formPanel = h(
    "section.panel#charting",
    { "aria-labelledby": "charting-title" },
    h("h2#charting-title", null, "Chart observations"),
    chartForm(pid, feats, () => {
      loadTrends();
      loadMeds();
      loadFluid();
      if (!feats.scores) loadScores();
    }),
  );
  left.append(formPanel);

  // ------------------------------------------------------------------ medication timeline
  let medSpan = 86400;
  const medBody = h("div");
  const medButtons = [
    [86400, "24 h"],
    [7 * 86400, "7 days"],
  ].map(([secs, label]) =>
    h(
      "button",
      {
        type: "button",
        "aria-pressed": String(secs === medSpan),
        onclick: (ev) => {
          medSpan = secs;
          medButtons.forEach((b) => b.setAttribute("aria-pressed", String(b === ev.currentTarget)));
          loadMeds();
        },
      },
      label,
    ),
  );
  left.append(
    h(
      "section.panel#medications",
      { "aria-labelledby": "meds-title" },
      h("h2#meds-title", null, "Medication timeline", h("span.tools", null, h("div.seg", { role: "group", "aria-label": "Medication period" }, medButtons))),
      medBody,
    ),
  );
  async function loadMeds() {
    const end = serverNow();
    const start = end - medSpan * 1000;
    try {
      const meds = await api(`/api/twins/${encodeURIComponent(pid)}/medications`, {
        query: { start: new Date(start).toISOString(), end: new Date(end + 60000).toISOString() },
      });
      medBody.replaceChildren(medTimeline(meds, start, end + 60000));
    } catch (e) {
      medBody.replaceChildren(h("p.banner", null, `Medications unavailable: ${errorText(e)}`));
    }
  }

  // ------------------------------------------------------------------ alarms
  const alarms = new Map();
  const alarmList = h("div.alarm-list", { "aria-live": "polite" });
  right.append(h("section.panel#alarms", { "aria-labelledby": "alarms-title" }, h("h2#alarms-title", null, "Alarms"), alarmList));
  let alarmsDown = !feats.alarms;
  function renderAlarms() {
    if (alarmsDown) {
      alarmList.replaceChildren(
        h("p.banner", null, feats.alarms ? "The alarm service is not answering: alarms are not shown." : "The alarm service is not installed on this server."),
      );
      return;
    }
    const list = [...alarms.values()].sort(alarmSort);
    const open = list.filter((a) => OPEN_STATES.has(a.state));
    const closed = list.filter((a) => !OPEN_STATES.has(a.state)).slice(0, 8);
    if (!list.length) {
      alarmList.replaceChildren(h("p.empty-note", null, "No alarms for this patient."));
      return;
    }
    const item = (a) =>
      h(
        "div.alarm-item",
        { "data-alarm-id": a.id, "data-state": a.state, "data-priority": a.priority },
        prioChip(a.priority, a.state),
        h(
          "div.a-body",
          null,
          h("div", null, h("strong", null, a.message || a.condition)),
          h(
            "div.a-meta",
            null,
            h("span.state", { "data-state": a.state }, stateText(a)),
            ` · started ${fmtTime(a.started)} (${ageText(a)} ago) · ${a.kind || "physiological"} · escalation: ${escalationText(a)}`,
          ),
        ),
        OPEN_STATES.has(a.state)
          ? h(
              "div.a-actions",
              null,
              actionButtons(a, where.bed?.name, (u) => {
                alarms.set(u.id, u);
                renderAlarms();
              }),
            )
          : null,
      );
    alarmList.replaceChildren(
      ...open.map(item),
      closed.length ? h("details", null, h("summary", null, `Resolved (${closed.length})`), ...closed.map(item)) : "",
    );
  }
  async function loadAlarms() {
    try {
      const [open, resolved] = await Promise.all([
        fetchAlarms({ twin: pid, state: "open" }, feats),
        fetchAlarms({ twin: pid, state: "resolved" }, feats),
      ]);
      alarmsDown = open === null;
      alarms.clear();
      for (const a of [...(open || []), ...(resolved || [])]) alarms.set(a.id, a);
      renderAlarms();
    } catch (e) {
      alarmList.replaceChildren(h("p.banner", null, `Alarms unavailable: ${errorText(e)}`));
    }
  }

  // ------------------------------------------------------------------ score history
  const scoreBody = h("div");
  right.append(h("section.panel#scores", { "aria-labelledby": "scores-title" }, h("h2#scores-title", null, "Score history (24 h)"), scoreBody));
  let scores = [];
  function renderScores() {
    const since = serverNow() - 86400e3;
    if (scores.length > 600 || (scores.length && scores[0].t < since)) {
      scores = scores.filter((x) => x.t >= since).slice(-600); // a long-open page stays small
    }
    if (!scores.length) {
      scoreBody.replaceChildren(h("p.empty-note", null, "No early-warning scores in the last 24 hours."));
      return;
    }
    const rows = [...scores].sort((a, b) => b.t - a.t).slice(0, 24);
    scoreBody.replaceChildren(
      h(
        "table.data.score-table",
        null,
        h("thead", null, h("tr", null, ["Time", "Score", "Value", "Band"].map((c) => h("th", { scope: "col" }, c)))),
        h(
          "tbody",
          null,
          rows.map((s) => {
            const band = s.name === "news2" ? news2Band(s.value, { band: s.band }) : s.band;
            return h(
              "tr",
              null,
              h("td", null, fmtDateTime(new Date(s.t).toISOString())),
              h("td", null, s.name.toUpperCase()),
              h("td.num", null, s.value ?? "—"),
              h("td", null, s.name === "news2" && band ? h("span.news2", { "data-band": band }, BAND_LABEL[band]) : s.band || ""),
            );
          }),
        ),
      ),
    );
  }
  async function loadScores() {
    const end = serverNow();
    try {
      if (feats.scores) {
        const r = await api(`/api/twins/${encodeURIComponent(pid)}/scores`, { query: { hours: 24 } });
        const items = Array.isArray(r) ? r : Array.isArray(r?.items) ? r.items : Array.isArray(r?.scores) ? r.scores : Object.values(r || {}).flat();
        scores = items.map((x) => parseScore({ twin: pid, ...x })).filter((x) => x && x.value !== undefined);
      } else {
        const obs = await api(`/api/twins/${encodeURIComponent(pid)}/observations`, {
          query: { code: NEWS2_REF, start: new Date(end - 86400e3).toISOString(), end: new Date(end + 60000).toISOString(), limit: 500 },
        });
        scores = obs.map((o) => ({ twin: pid, name: "news2", value: o.value, band: o.meta?.band, t: Date.parse(o.time) }));
      }
      renderScores();
    } catch (e) {
      scoreBody.replaceChildren(h("p.banner", null, `Scores unavailable: ${errorText(e)}`));
    }
  }

  // ------------------------------------------------------------------ fluid balance
  const fluidBody = h("div");
  right.append(h("section.panel#fluid", { "aria-labelledby": "fluid-title" }, h("h2#fluid-title", null, "Fluid balance (24 h)"), fluidBody));
  async function loadFluid() {
    const end = serverNow();
    try {
      let intake;
      let output;
      if (feats.fluid) {
        const r = await api(`/api/twins/${encodeURIComponent(pid)}/fluid-balance`, { query: { hours: 24 } });
        intake = r.intake_ml ?? r.intake ?? 0;
        output = r.output_ml ?? r.output ?? 0;
      } else {
        const q = { start: new Date(end - 86400e3).toISOString(), end: new Date(end + 60000).toISOString(), limit: 5000 };
        const [ins, outs] = await Promise.all([
          api(`/api/twins/${encodeURIComponent(pid)}/observations`, { query: { ...q, code: "fluid_in" } }),
          api(`/api/twins/${encodeURIComponent(pid)}/observations`, { query: { ...q, code: "urine" } }),
        ]);
        intake = ins.reduce((s, o) => s + (o.value || 0), 0);
        output = outs.reduce((s, o) => s + (o.value || 0), 0);
      }
      const net = intake - output;
      fluidBody.replaceChildren(
        h(
          "dl.kv",
          null,
          h("dt", null, "Intake"),
          h("dd.num", null, `${Math.round(intake)} mL`),
          h("dt", null, "Output"),
          h("dd.num", null, `${Math.round(output)} mL`),
          h("dt", null, "Balance"),
          h("dd.num", { "data-fluid-net": "" }, `${net >= 0 ? "+" : ""}${Math.round(net)} mL`),
        ),
      );
    } catch (e) {
      fluidBody.replaceChildren(h("p.banner", null, `Fluid balance unavailable: ${errorText(e)}`));
    }
  }

  // ------------------------------------------------------------------ relationships
  const relBody = h("div");
  right.append(h("section.panel#relationships", { "aria-labelledby": "rel-title" }, h("h2#rel-title", null, "Care context"), relBody));
  async function loadRelationships() {
    const rels = p.relationships || [];
    const team = rels.filter((r) => r.type === "cared_for_by" && r.src === pid).map((r) => r.dst);
    const devices = rels.filter((r) => r.type === "monitors" && r.dst === pid).map((r) => r.src);
    const [teamTwins, deviceTwins] = await Promise.all([Promise.all(team.map(twin)), Promise.all(devices.map(twin))]);
    const link = (t) => (t ? h("span", null, t.name || t.id) : "—");
    const rows = [
      ["Bed", link(where.bed)],
      ["Room", link(where.room)],
      ["Ward", ward ? h("a", { href: `#/ward/${encodeURIComponent(ward.id)}` }, ward.name || ward.id) : "—"],
      ["Floor", link(where.floor)],
      ["Building", link(where.building)],
      [
        "Care team",
        teamTwins.length
          ? h("ul", { style: "margin:0;padding-left:1rem" }, teamTwins.map((t, i) => h("li", null, t ? `${t.name || t.id}${t.attributes?.role ? ` (${t.attributes.role.replace(/_/g, " ")})` : ""}` : team[i])))
          : "—",
      ],
      ["Devices", deviceTwins.length ? deviceTwins.map((t, i) => (t ? t.name || t.id : devices[i])).join(", ") : "—"],
    ];
    relBody.replaceChildren(h("dl.kv", null, rows.flatMap(([k, v]) => [h("dt", null, k), h("dd", null, v)])));
  }

  // ------------------------------------------------------------------ live
  const pendingCharts = new Set();
  const feed = openFeed(`/ws/patient/${encodeURIComponent(pid)}`, {
    onMessage(msg) {
      if (msg.type === "observations") {
        for (const o of msg.items) {
          if (o.twin !== pid || !o.key) continue;
          const prev = latest[o.key];
          if (!prev || Date.parse(prev.time) <= Date.parse(o.time)) latest[o.key] = o;
          if (!zoom) {
            const t = Date.parse(o.time) / 1000;
            for (const spec of CHARTS) {
              if (spec.lines.some((l) => l.key === o.key) && o.value !== null) {
                charts[spec.id].append(o.key, t, o.value, rangeS);
                pendingCharts.add(spec.id);
              }
            }
          }
          if (o.key === "news2") {
            scores.push({ twin: pid, name: "news2", value: o.value, band: o.meta?.band, t: Date.parse(o.time) });
            renderScores();
          }
        }
        for (const id of pendingCharts) charts[id].flush();
        pendingCharts.clear();
        renderStrip();
      } else if (msg.type === "alarm" && msg.data && msg.data.twin === pid) {
        alarms.set(msg.data.id, msg.data);
        renderAlarms();
      } else if (msg.type === "score" && msg.data) {
        const s = parseScore(msg.data);
        if (s && s.twin === pid) {
          scores.push(s);
          renderScores();
          if (s.name === "news2") {
            latest.news2 = { key: "news2", value: s.value, meta: { band: s.band }, time: new Date(s.t).toISOString(), method: "device" };
            renderStrip();
          }
        }
      } else if (msg.type === "topology") {
        loadRelationships();
      }
    },
    onReconnect: () => {
      loadTrends();
      loadAlarms();
    },
  });
  const ticker = setInterval(renderStrip, 1000);
  const refresher = setInterval(() => {
    if (!zoom && rangeS > 3600) loadTrends(); // long ranges: re-bucket every minute
    loadMeds();
  }, 60000);
  const onTheme = () => {
    for (const c of Object.values(charts)) c.build();
  };
  window.addEventListener("medtwin:theme", onTheme);

  await Promise.all([loadTrends(), loadAlarms(), loadScores(), loadMeds(), loadFluid(), loadRelationships()]);
  root.dataset.ready = "1";
  sessionStorage.setItem("medtwin.last-patient", pid);

  return {
    title: patientLabel(p),
    onKey(ev) {
      if (ev.key === "Escape") {
        ctx.navigate(backHref);
        return true;
      }
      return false;
    },
    unmount() {
      feed.close();
      clearInterval(ticker);
      clearInterval(refresher);
      window.removeEventListener("medtwin:theme", onTheme);
      for (const c of Object.values(charts)) c.destroy();
    },
  };
}
