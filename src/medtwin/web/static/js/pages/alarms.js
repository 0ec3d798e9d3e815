// Alarm list for one ward or the whole hospital, sorted by priority then age (oldest first), live.

import { api, fetchAlarms } from "../api.js";
import { actionButtons, ageText, escalationText, stateText } from "../alarmsvc.js";
import { OPEN_STATES, alarmSort, fmtTime, h, naturalCompare, prioChip } from "../format.js";
import { openFeed } from "../live.js";
import { errorText, setTitle } from "../ui.js";

const STATES = [
  ["open", "Open (active, acknowledged, paused)"],
  ["active", "Active"],
  ["acknowledged", "Acknowledged"],
  ["paused", "Paused"],
  ["resolved", "Resolved"],
];

export async function mount(root, params, ctx) {
  const feats = ctx.features;
  const wardId = params[0] || "";
  const stateFilter = ctx.query.get("state") || "open";
  setTitle("Alarms");
  const wards = await api("/api/twins", { query: { kind: "ward" } });
  wards.sort((a, b) => naturalCompare(a.name || a.id, b.name || b.id));
  const wardName = (id) => wards.find((w) => w.id === id)?.name || id || "—";

  const go = (w, st) => ctx.navigate(`#/alarms${w ? `/${encodeURIComponent(w)}` : ""}${st && st !== "open" ? `?state=${st}` : ""}`);
  const wardSelect = h(
    "select#alarm-ward",
    { onchange: (ev) => go(ev.target.value, stateFilter) },
    h("option", { value: "" }, "Whole hospital"),
    wards.map((w) => h("option", { value: w.id, selected: w.id === wardId }, w.name || w.id)),
  );
  const stateSelect = h(
    "select#alarm-state",
    { onchange: (ev) => go(wardId, ev.target.value) },
    STATES.map(([v, l]) => h("option", { value: v, selected: v === stateFilter }, l)),
  );
  const count = h("span.chip", { "aria-live": "polite" });
  root.append(
    h(
      "div.page-head",
      null,
      h("h1", null, wardId ? `Alarms: ${wardName(wardId)}` : "Alarms: whole hospital"),
      count,
      h(
        "div.controls",
        null,
        h("label", { for: "alarm-ward" }, "Ward", wardSelect),
        h("label", { for: "alarm-state" }, "Show", stateSelect),
      ),
    ),
  );
  const body = h("div");
  root.append(body);
  if (!feats.alarms) {
    body.append(
      h("p.banner", null, "The alarm service is not installed on this server yet. Once it is, alarms appear here live, sorted by priority and age."),
    );
    return { unmount() {} };
  }

  const names = new Map();
  api("/api/twins", { query: { kind: "patient" } })
    .then((ps) => {
      for (const p of ps) names.set(p.id, p.name || p.id);
      render();
    })
    .catch(() => {});
  const beds = new Map(); // bed id -> name
  api("/api/twins", { query: { kind: "bed" } })
    .then((bs) => {
      for (const b of bs) beds.set(b.id, b.name || b.id);
      render();
    })
    .catch(() => {});

  const alarms = new Map();
  const matches = (a) =>
    (!wardId || a.ward === wardId) &&
    (stateFilter === "open" ? OPEN_STATES.has(a.state) : a.state === stateFilter);

  const tbody = h("tbody");
  const table = h(
    "table.data#alarm-table",
    null,
    h("caption.visually-hidden", null, "Alarms sorted by priority, then by how long they have been waiting"),
    h(
      "thead",
      null,
      h("tr", null, ["Priority", "Patient", "Bed", "Ward", "Condition", "State", "Started", "Escalation", "Actions"].map((c) => h("th", { scope: "col" }, c))),
    ),
    tbody,
  );
  body.append(table);

  function render() {
    const list = [...alarms.values()].filter(matches).sort(alarmSort);
    count.textContent = `${list.length} alarm${list.length === 1 ? "" : "s"}`;
    if (!list.length) {
      tbody.replaceChildren(h("tr", null, h("td", { colspan: 9 }, h("span.empty-note", null, "No alarms to show."))));
      return;
    }
    tbody.replaceChildren(
      ...list.map((a) => {
        const who = names.get(a.twin) || a.twin;
        return h(
          `tr${a.state === "resolved" ? ".resolved" : ""}`,
          { "data-alarm-id": a.id, "data-state": a.state, "data-priority": a.priority },
          h("td", null, prioChip(a.priority, a.state)),
          h("td", null, h("a", { href: `#/patient/${encodeURIComponent(a.twin)}` }, who)),
          h("td", null, beds.get(a.bed) || a.bed || "—"),
          h("td", null, wardName(a.ward)),
          h("td", null, a.message || a.condition, a.kind === "technical" ? h("span.chip", { style: "margin-left:.4rem" }, "technical") : null),
          h("td", null, h("span.state", { "data-state": a.state }, stateText(a))),
          h("td.num", { title: a.started }, `${fmtTime(a.started)} (${ageText(a)})`),
          h("td", null, escalationText(a)),
          h(
            "td.actions",
            null,
            OPEN_STATES.has(a.state)
              ? actionButtons(a, `${who}, ${beds.get(a.bed) || a.bed || ""}`, (u) => {
                  alarms.set(u.id, u);
                  render();
                })
              : "",
          ),
        );
      }),
    );
  }

  async function load() {
    try {
      const list = await fetchAlarms({ ward: wardId || undefined, state: stateFilter }, feats);
      if (list === null) {
        body.replaceChildren(h("p.banner", { role: "alert" }, "The alarm service is not answering: alarms cannot be shown."));
        return;
      }
      if (!table.isConnected) body.replaceChildren(table);
      alarms.clear();
      for (const a of list) alarms.set(a.id, a);
      render();
    } catch (e) {
      body.replaceChildren(h("p.banner", { role: "alert" }, `Alarms unavailable: ${errorText(e)}`));
    }
  }
  await load();

  const feed = openFeed(wardId ? `/ws/ward/${encodeURIComponent(wardId)}` : "/ws/all", {
    onMessage(msg) {
      if (msg.type === "alarm" && msg.data) {
        alarms.set(msg.data.id, msg.data);
        render();
      } else if (msg.type === "dropped") {
        load();
      }
    },
    onReconnect: load,
  });
  // ages in the "Started" column
  const ticker = setInterval(() => {
    for (const tr of tbody.querySelectorAll("tr[data-alarm-id]")) {
      const a = alarms.get(tr.dataset.alarmId);
      if (a) tr.children[6].textContent = `${fmtTime(a.started)} (${ageText(a)})`;
    }
  }, 5000);
  root.dataset.ready = "1";

  return {
    unmount() {
      feed.close();
      clearInterval(ticker);
    },
  };
}
