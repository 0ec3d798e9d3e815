// Hospital map: building -> floors -> wards -> rooms -> beds, with occupancy, NEWS2 and alarm state.
// A schematic (CSS grid), not a floor plan: the evacuation page brings geometry later.

import { api, fetchAlarms } from "../api.js";
import { BAND_LABEL, OPEN_STATES, h, naturalCompare, news2Band, patientLabel, placeOf, topAlarm } from "../format.js";
import { openFeed } from "../live.js";
import { setTitle } from "../ui.js";

const byName = (a, b) => naturalCompare(a.name || a.id, b.name || b.id);
const children = (id) => api(`/api/twins/${encodeURIComponent(id)}/children`);

export async function mount(root, _params, ctx) {
  const feats = ctx.features;
  setTitle("Hospital map");
  root.append(
    h("div.page-head", null, h("h1", null, "Hospital map")),
    h(
      "div.legend",
      { "aria-label": "Legend" },
      h("span", null, h("span.sw", { style: "background:var(--alarm-high)" }), "High-priority alarm (flashing)"),
      h("span", null, h("span.sw", { style: "background:var(--alarm-medium)" }), "Medium (flashing)"),
      h("span", null, h("span.sw", { style: "background:var(--alarm-low)" }), "Low"),
      h("span", null, h("span.sw", { style: "border:2px dashed var(--border)" }), "Empty bed"),
      h("span", null, "N2 = NEWS2"),
    ),
  );
  const alarmNote = h("p.banner", { role: "alert", hidden: true }, "The alarm service is not answering: alarm states are not shown.");
  const body = h("div.map-building");
  root.append(alarmNote, body);

  const cells = new Map(); // patient id -> {el, alarms: Map, news}
  let byBedPatient = new Map();

  async function load() {
    const [buildings, floors, wards, rooms, beds, alarms] = await Promise.all([
      api("/api/twins", { query: { kind: "building" } }),
      api("/api/twins", { query: { kind: "floor" } }),
      api("/api/twins", { query: { kind: "ward" } }),
      api("/api/twins", { query: { kind: "room" } }),
      api("/api/twins", { query: { kind: "bed" } }),
      fetchAlarms({ state: "open" }, feats).catch(() => null),
    ]);
    const ids = (list) => new Set(list.map((t) => t.id));
    const floorIds = ids(floors);
    const wardIds = ids(wards);
    const roomIds = ids(rooms);
    const bedIds = ids(beds);
    // parent links, from the nearest container's descendants
    const [bChildren, fChildren, wChildren, rChildren, patientLists] = await Promise.all([
      Promise.all(buildings.map((b) => children(b.id))),
      Promise.all(floors.map((f) => children(f.id))),
      Promise.all(wards.map((w) => children(w.id))),
      Promise.all(rooms.map((r) => children(r.id))),
      Promise.all(buildings.map((b) => api(`/api/places/${encodeURIComponent(b.id)}/patients`))),
    ]);
    const parent = new Map();
    const claim = (list, pid, kindIds) => {
      for (const c of list) if (kindIds.has(c.id)) parent.set(c.id, pid);
    };
    buildings.forEach((b, i) => claim(bChildren[i], b.id, floorIds));
    floors.forEach((f, i) => claim(fChildren[i], f.id, wardIds));
    wards.forEach((w, i) => claim(wChildren[i], w.id, roomIds));
    rooms.forEach((r, i) => claim(rChildren[i], r.id, bedIds));
    byBedPatient = new Map();
    for (const p of patientLists.flat()) {
      const bed = placeOf(p.location).bed;
      if (bed) byBedPatient.set(bed.id, p);
    }
    const alarmsBy = new Map();
    alarmNote.hidden = alarms !== null;
    for (const a of alarms || []) {
      if (!alarmsBy.has(a.twin)) alarmsBy.set(a.twin, new Map());
      alarmsBy.get(a.twin).set(a.id, a);
    }

    cells.clear();
    const kids = (list, pid) => list.filter((t) => parent.get(t.id) === pid).sort(byName);
    const out = [];
    for (const b of [...buildings].sort(byName)) {
      const fls = kids(floors, b.id).sort((x, y) => (y.attributes?.level ?? 0) - (x.attributes?.level ?? 0));
      out.push(h("h2", null, b.name || b.id));
      for (const f of fls) {
        const wardEls = kids(wards, f.id).map((w) => {
          const roomEls = kids(rooms, w.id).map((r) => {
            const bedList = kids(beds, r.id).sort((x, y) => (x.attributes?.number ?? 0) - (y.attributes?.number ?? 0) || byName(x, y));
            return h(
              "div.map-room",
              { "data-room": r.id },
              h("div.room-name", null, r.name || r.id),
              h(`div.map-beds${bedList.length <= 1 ? ".single" : ""}`, null, bedList.map((bed) => bedCell(bed, alarmsBy))),
            );
          });
          const wardBeds = kids(rooms, w.id).flatMap((r) => kids(beds, r.id));
          const occ = wardBeds.filter((bd) => byBedPatient.has(bd.id)).length;
          return h(
            "section.map-ward",
            { "data-ward": w.id, "aria-label": `${w.name || w.id}: ${occ} of ${wardBeds.length} beds occupied` },
            h("h3", null, h("a", { href: `#/ward/${encodeURIComponent(w.id)}` }, w.name || w.id), h("span.occ", null, `${occ}/${wardBeds.length} beds occupied`)),
            h("div.map-rooms", null, roomEls),
          );
        });
        out.push(
          h(
            "section.map-floor",
            { "data-floor": f.id, "aria-label": f.name || f.id },
            h("h2", null, f.name || f.id),
            h("div.map-wards", null, wardEls.length ? wardEls : h("p.empty-note", null, "No wards on this floor.")),
          ),
        );
      }
    }
    body.replaceChildren(...out);
  }

  function bedCell(bed, alarmsBy) {
    const p = byBedPatient.get(bed.id);
    if (!p) {
      return h("div.bed-cell.empty", { "data-bed": bed.id }, h("span.bed-label", null, bed.name || bed.id), h("span", null, "empty"));
    }
    const news = p.latest ? Object.values(p.latest).find((o) => o.key === "news2") : null;
    const newsEl = h("span.bed-news");
    const alarmEl = h("span.visually-hidden");
    const el = h(
      "a.bed-cell",
      { href: `#/patient/${encodeURIComponent(p.id)}`, "data-bed": bed.id, "data-patient": p.id, "data-alarm": "none", "data-space": "" },
      h("span.bed-label", null, bed.name || bed.id),
      h("span.bed-pt", null, patientLabel(p)),
      newsEl,
      alarmEl,
    );
    const cell = { el, newsEl, alarmEl, alarms: alarmsBy.get(p.id) || new Map() };
    cells.set(p.id, cell);
    setNews(cell, news?.value, news?.meta);
    renderAlarm(cell);
    return el;
  }

  function setNews(cell, value, meta) {
    if (value === undefined || value === null) {
      cell.newsEl.textContent = "";
      return;
    }
    const band = news2Band(value, meta);
    cell.newsEl.textContent = `N2 ${Math.round(value)} ${BAND_LABEL[band] || ""}`;
  }

  function renderAlarm(cell) {
    const top = topAlarm(cell.alarms.values());
    cell.el.dataset.alarm = top ? top.priority : "none";
    cell.el.dataset.alarmState = top ? top.state : "none";
    cell.alarmEl.textContent = top ? `, ${top.priority} priority alarm ${top.state}: ${top.message || top.condition}` : "";
  }

  await load();
  let reloadTimer = null;
  const feed = openFeed("/ws/all", {
    onMessage(msg) {
      if (msg.type === "alarm" && msg.data) {
        const c = cells.get(msg.data.twin);
        if (!c) return;
        if (OPEN_STATES.has(msg.data.state)) c.alarms.set(msg.data.id, msg.data);
        else c.alarms.delete(msg.data.id);
        renderAlarm(c);
      } else if (msg.type === "observations") {
        for (const o of msg.items) if (o.key === "news2" && cells.has(o.twin)) setNews(cells.get(o.twin), o.value, o.meta);
      } else if (msg.type === "topology" || msg.type === "dropped") {
        clearTimeout(reloadTimer);
        reloadTimer = setTimeout(load, 500);
      }
    },
    onReconnect: () => load(),
  });

  body.addEventListener("keydown", (ev) => {
    if (!["ArrowRight", "ArrowLeft", "ArrowDown", "ArrowUp"].includes(ev.key)) return;
    const links = [...body.querySelectorAll("a.bed-cell")];
    const i = links.indexOf(document.activeElement);
    if (i < 0) return;
    ev.preventDefault();
    const j = ev.key === "ArrowRight" || ev.key === "ArrowDown" ? i + 1 : i - 1;
    links[Math.max(0, Math.min(links.length - 1, j))].focus();
  });
  root.dataset.ready = "1";
  return {
    unmount() {
      feed.close();
      clearTimeout(reloadTimer);
    },
  };
}
