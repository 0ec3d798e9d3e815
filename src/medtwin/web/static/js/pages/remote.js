// Remote care page (issue 8): the remote-care nurse's worklist (most urgent tier first, then the
// longest waiting; acknowledge and record an outcome), every enrolled home patient with their tier and
// why, and the selected patient's trends over 14 days with the daily summary.
// Route: #/remote[/<patient id>]. API: /api/homecare/* and /api/twins/{id}/homecare/* (medtwin.api.homecare).

import { api, serverNow } from "../api.js";
import { TrendChart } from "../charts.js";
import { fmtAge, fmtDateTime, h } from "../format.js";
import { errorText, setTitle, toast } from "../ui.js";

const TIER_LABEL = { emergency: "Emergency: hospital now", primary: "Primary care / same day", self: "Self-care: medication suffices" };
const OUTCOMES = ["advised_self_care", "medication_changed", "gp_appointment", "home_visit", "sent_to_emergency",
  "caregiver_contacted", "no_action_needed", "false_alarm", "other"];
const CHARTS = [
  { id: "bp", title: "Blood pressure (mmHg)", lines: [{ key: "sbp", label: "SYS", color: "#ff7597" }, { key: "dbp", label: "DIA", color: "#ffb3c6" }], zones: [{ from: 180, to: 400, color: "rgba(255,80,80,.12)" }] },
  { id: "glu", title: "Glucose (mg/dL)", lines: [{ key: "glucose", label: "meter", color: "#ffd400" }, { key: "cgm", label: "CGM", color: "#3ddc84" }], zones: [{ from: 0, to: 70, color: "rgba(255,80,80,.14)" }, { from: 70, to: 180, color: "rgba(61,220,132,.08)" }] },
  { id: "wt", title: "Weight (kg)", lines: [{ key: "weight", label: "weight", color: "#5cb0ff" }], digits: 1 },
  { id: "ox", title: "SpO₂ (%) and pulse (/min)", lines: [{ key: "spo2", label: "SpO₂", color: "#4fc3f7" }, { key: "hr", label: "pulse", color: "#c792ea" }] },
  { id: "act", title: "Movement index", lines: [{ key: "activity", label: "activity", color: "#e8edf2", stat: "max" }] },
];

function css() {
  if (!document.querySelector("link[data-remote-css]")) {
    document.head.append(h("link", { rel: "stylesheet", href: "/static/css/remote.css", "data-remote-css": "" }));
  }
}

const tierChip = (t) => h("span.rc-tier", { "data-tier": t, title: TIER_LABEL[t] || t }, t);
const waited = (iso) => fmtAge((serverNow() - Date.parse(iso)) / 1000);
const reasonList = (reasons) =>
  h("ul.rc-reasons", null, reasons.map((r) => h("li", { title: r.source }, h("code", null, r.rule), " ", r.detail)));
// A decision with no rule above self-care says so, rather than showing a bare tier.
const decisionWhy = (d) => {
  const above = d.reasons.filter((r) => r.tier !== "self");
  return above.length ? reasonList(above) : h("span.rc-ok", null, "No rule above self-care.");
};

export async function mount(root, params, ctx) {
  css();
  setTitle("Remote care");
  const selected = params[0] || "";
  root.append(h("div.page-head", null, h("h1", null, "Remote care"),
    h("p.rc-legend", null, ["emergency", "primary", "self"].map((t) => h("span", null, tierChip(t), " ", TIER_LABEL[t])))));
  const listBox = h("section.panel#rc-worklist", { "aria-labelledby": "rc-wl" }, h("h2#rc-wl", null, "Worklist"));
  const patBox = h("section.panel#rc-patients", { "aria-labelledby": "rc-pt" }, h("h2#rc-pt", null, "Home patients"));
  const detail = h("section.panel#rc-detail", { hidden: !selected });
  root.append(listBox, patBox, detail);
  const names = new Map();
  const charts = [];

  async function act(item, path, body) {
    try {
      await api(`/api/twins/${encodeURIComponent(item.twin)}/homecare/worklist/${item.id}/${path}`, { method: "POST", body });
      toast(path === "acknowledge" ? "Acknowledged" : "Outcome recorded", "info");
      await load();
    } catch (e) {
      toast(errorText(e), "error", 8000);
    }
  }

  function renderWorklist(items) {
    const rows = items.map((it) => {
      const sel = h("select", { "aria-label": "Outcome" }, OUTCOMES.map((o) => h("option", { value: o }, o.replaceAll("_", " "))));
      return h(`tr.rc-item`, { "data-tier": it.tier, "data-item": it.id, "data-status": it.status },
        h("td", null, tierChip(it.tier)),
        h("td", null, h("a", { href: `#/remote/${encodeURIComponent(it.twin)}` }, names.get(it.twin) || it.twin)),
        h("td", null, it.kind),
        h("td", null, reasonList(it.reasons)),
        h("td.num", { title: it.opened }, waited(it.opened)),
        h("td", null, it.status + (it.acknowledged_by ? ` (${it.acknowledged_by})` : "")),
        h("td.actions", null,
          it.status === "open" ? h("button.btn.btn-sm", { type: "button", onclick: () => act(it, "acknowledge", {}) }, "Acknowledge") : "",
          sel, h("button.btn.btn-sm", { type: "button", onclick: () => act(it, "outcome", { disposition: sel.value }) }, "Record outcome")));
    });
    const table = h("table.data#rc-table", null,
      h("caption.visually-hidden", null, "Worklist: most urgent tier first, then the longest waiting"),
      h("thead", null, h("tr", null, ["Tier", "Patient", "Kind", "Why (rule: detail; source on hover)", "Waiting", "Status", "Actions"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", null, rows.length ? rows : h("tr", null, h("td", { colspan: 7 }, h("span.empty-note", null, "Nothing waiting.")))));
    listBox.replaceChildren(listBox.firstChild, table);
  }

  function renderPatients(pts) {
    patBox.replaceChildren(patBox.firstChild, h("div.rc-cards", null, pts.map((p) =>
      h(`a.rc-card${p.twin === selected ? ".selected" : ""}`, { href: `#/remote/${encodeURIComponent(p.twin)}`, "data-tier": p.tier, "data-twin": p.twin },
        h("div.rc-card-head", null, tierChip(p.tier), h("strong", null, p.name || p.twin)),
        h("div.rc-conds", null, p.conditions.join(", ").replaceAll("_", " ")),
        p.reasons.length ? reasonList(p.reasons.slice(0, 3)) : h("p.rc-ok", null, "No rule above self-care."),
        p.since ? h("small", null, `since ${fmtDateTime(p.since)}`) : ""))));
  }

  async function loadDetail() {
    if (!selected) return;
    const end = serverNow() / 1000;
    const start = end - 14 * 86400;
    const [enr, summ, decs] = await Promise.all([
      api(`/api/twins/${encodeURIComponent(selected)}/homecare`),
      api(`/api/twins/${encodeURIComponent(selected)}/homecare/summary`).catch(() => null),
      api(`/api/twins/${encodeURIComponent(selected)}/homecare/decisions`, { query: { limit: 20 } }).catch(() => []),
    ]);
    const grid = h("div.rc-charts");
    detail.replaceChildren(h("h2", null, `${names.get(selected) || selected}: trends (14 days)`),
      h("p", null, tierChip(enr.tier), " ", enr.conditions.join(", ").replaceAll("_", " "),
        enr.medications.length ? ` · on ${enr.medications.join(", ")}` : ""), grid);
    const q = { start: new Date(start * 1000).toISOString(), end: new Date(end * 1000 + 1000).toISOString(), points: 400 };
    const keys = [...new Set(CHARTS.flatMap((c) => c.lines.map((l) => l.key)))];
    const res = Object.fromEntries(await Promise.all(keys.map((k) =>
      api(`/api/twins/${encodeURIComponent(selected)}/series`, { query: { ...q, code: k } }).then((r) => [k, r.buckets]).catch(() => [k, []]))));
    for (const spec of CHARTS) {
      if (!spec.lines.some((l) => (res[l.key] || []).length)) continue;
      const plot = h("div.rc-plot", { "data-chart": spec.id });
      grid.append(h("div.rc-chart", null, h("h3", null, spec.title), plot));
      const c = new TrendChart(plot, { ...spec, band: false }, { sync: "rc" });
      c.setSeries(res, [start, end]);
      charts.push(c);
    }
    if (summ) {
      detail.append(h("h3", null, `Today (${summ.date})`), h("table.data.rc-summary", null,
        h("thead", null, h("tr", null, ["Measure", "Readings", "Expected", "Missed", "Min", "Max", "Mean"].map((c) => h("th", null, c)))),
        h("tbody", null, Object.entries(summ.measures).map(([k, m]) => h("tr", null, h("td", null, k), h("td.num", null, m.count),
          h("td.num", null, m.expected ?? "—"), h("td.num", null, m.missed ?? "—"), h("td.num", null, m.min ?? "—"),
          h("td.num", null, m.max ?? "—"), h("td.num", null, m.mean ?? "—"))))));
    }
    detail.append(h("h3", null, "Decisions (stored, newest first)"), h("ol.rc-decisions", null, decs.map((d) =>
      h("li", null, tierChip(d.tier), ` ${fmtDateTime(d.time)} `, decisionWhy(d)))));
    detail.hidden = false;
  }

  async function load() {
    try {
      const [items, pts] = await Promise.all([api("/api/homecare/worklist"), api("/api/homecare/patients")]);
      for (const p of pts) names.set(p.twin, p.name || p.twin);
      renderWorklist(items);
      renderPatients(pts);
      root.dataset.ready = "1";
    } catch (e) {
      listBox.replaceChildren(h("p.banner", { role: "alert" }, `Remote care unavailable: ${errorText(e)}`));
    }
  }
  await load();
  await loadDetail().catch((e) => detail.replaceChildren(h("p.banner", { role: "alert" }, errorText(e))));
  const timer = setInterval(load, 15000);
  return {
    unmount() {
      clearInterval(timer);
      for (const c of charts) c.destroy();
    },
  };
}
