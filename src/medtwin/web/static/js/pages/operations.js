// Hospital operations: load a journey log (server data folder or upload), see the three worst
// bottlenecks and the walking waste, and compare two what-if plans with confidence intervals.
// Long work runs as server jobs (/api/operations/jobs) with a progress bar; figures are the same
// SVGs as the HTML report (/api/operations/runs/{id}/figures/{name}).

import { ApiError, api } from "../api.js";
import { auth } from "../auth.js";
import { h } from "../format.js";
import { errorText, setTitle, toast } from "../ui.js";

const CHUNK = 768 * 1024; // below the server's request size limit
const fmtN = (n) => (n === null || n === undefined ? "–" : Number(n).toLocaleString());
const fmtCi = (d) => {
  if (!d || d.mean === null || d.mean === undefined) return "–";
  const [lo, hi] = d.ci95 || [];
  return lo === null || lo === undefined ? d.mean.toFixed(2) : `${d.mean.toFixed(2)} [${lo.toFixed(2)}, ${hi.toFixed(2)}]`;
};

async function fetchSvg(url, signal) {
  const res = await fetch(url, { headers: auth.headers(), signal, cache: "no-store" });
  if (!res.ok) throw new ApiError(res.status, null);
  const doc = new DOMParser().parseFromString(await res.text(), "image/svg+xml");
  const svg = doc.documentElement;
  if (svg.nodeName !== "svg") throw new Error("not an SVG figure");
  return document.importNode(svg, true);
}

async function download(url, name) {
  const res = await fetch(url, { headers: auth.headers(), cache: "no-store" });
  if (!res.ok) throw new ApiError(res.status, await res.json().catch(() => null));
  const a = h("a", { href: URL.createObjectURL(await res.blob()), download: name });
  document.body.append(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
}

export async function mount(root, _params, _ctx) {
  setTitle("Operations");
  if (!document.querySelector("link[data-operations-css]")) {
    document.head.append(h("link", { rel: "stylesheet", href: "/static/css/operations.css", "data-operations-css": "" }));
  }
  const abort = new AbortController();
  let timer = null;
  const logSel = h("select#ops-log", { "aria-label": "Journey log" });
  const runSel = h("select#ops-run", { "aria-label": "Earlier analyses" });
  const status = h("p.ops-status", { role: "status", "aria-live": "polite" });
  const bar = h("progress.ops-progress", { max: 1, value: 0, hidden: true, "aria-label": "Job progress" });
  const fileIn = h("input#ops-file", { type: "file", accept: ".csv,.parquet,.xes,.gz,.json,.jsonocel,.sqlite" });
  const results = h("div.ops-results");
  const whatif = h("div.ops-whatif");
  root.append(
    h("div.page-head", null, h("h1", null, "Hospital operations")),
    h("section.panel", null,
      h("h2", null, "Journey log"),
      h("div.ops-row", null,
        h("label", { for: "ops-log" }, "Log in the data folder", logSel),
        h("button.btn.btn-primary", { type: "button", onclick: () => analyse() }, "Analyse"),
        h("label", { for: "ops-run" }, "Earlier analyses", runSel),
        h("button.btn", { type: "button", onclick: () => runSel.value && openRun(runSel.value) }, "Open")),
      h("div.ops-row", null,
        h("label", { for: "ops-file" }, "Upload a log (CSV, Parquet, XES, OCEL 2.0)", fileIn),
        h("button.btn", { type: "button", onclick: () => upload() }, "Upload"),
        h("button.btn", { type: "button", onclick: () => generate() }, "Generate a synthetic 5-year log")),
      bar, status),
    results,
    whatif,
  );

  function say(text, kind = "") {
    status.textContent = text;
    status.dataset.kind = kind;
  }

  async function loadLists(select) {
    const [logs, runs] = await Promise.all([
      api("/api/operations/logs", { signal: abort.signal }),
      api("/api/operations/runs", { query: { kind: "analysis" }, signal: abort.signal }),
    ]);
    logSel.replaceChildren(...logs.map((l) => h("option", { value: l.name, selected: l.name === select },
      `${l.name} (${l.format}, ${(l.bytes / 1e6).toFixed(1)} MB${l.ground_truth ? ", synthetic" : ""})`)));
    if (!logs.length) logSel.append(h("option", { value: "" }, "no logs yet: upload or generate one"));
    runSel.replaceChildren(...runs.map((r) => h("option", { value: r.id },
      `${r.log} · ${r.created.slice(0, 16).replace("T", " ")} · ${fmtN(r.summary.cases)} journeys`)));
    return runs;
  }

  function wait(job, label) {
    bar.hidden = false;
    bar.value = 0;
    return new Promise((resolve, reject) => {
      const poll = async () => {
        try {
          const j = await api(`/api/operations/jobs/${job.id}`, { signal: abort.signal });
          bar.value = j.progress;
          say(`${label}: ${j.stage} (${Math.round(j.progress * 100)} %)`);
          if (j.state === "done") { bar.hidden = true; resolve(j); return; }
          if (j.state === "failed") {
            bar.hidden = true;
            const e = j.error || {};
            reject(new Error(`${e.field ? `${e.field}: ` : ""}${e.reason || "failed"}`));
            return;
          }
          timer = setTimeout(poll, 800);
        } catch (e) { bar.hidden = true; reject(e); }
      };
      poll();
    });
  }

  async function analyse() {
    if (!logSel.value) return say("Choose a log first.", "error");
    try {
      const job = await api("/api/operations/analyses", { method: "POST", body: { log: logSel.value } });
      const done = await wait(job, `Analysing ${logSel.value}`);
      await loadLists(logSel.value);
      await openRun(done.run_id);
    } catch (e) { say(errorText(e), "error"); }
  }

  async function generate() {
    try {
      const job = await api("/api/operations/generate", { method: "POST",
        body: { name: "outpatient-5y.parquet", years: 5, bottlenecks: ["Pharmacy:staff-2@11-14"] } });
      const done = await wait(job, "Generating 5 years of journeys");
      say(`Generated ${fmtN(done.output.events)} events (${fmtN(done.output.cases)} journeys) in ${done.output.seconds} s.`, "ok");
      await loadLists(done.output.path);
    } catch (e) { say(errorText(e), "error"); }
  }

  async function upload() {
    const f = fileIn.files[0];
    if (!f) return say("Choose a file to upload.", "error");
    try {
      bar.hidden = false;
      for (let off = 0; off < f.size || off === 0; off += CHUNK) {
        const end = Math.min(off + CHUNK, f.size);
        const url = `/api/operations/logs/${encodeURIComponent(f.name)}?offset=${off}&final=${end >= f.size}`;
        const res = await fetch(url, { method: "PUT", headers: { ...auth.headers(), "Content-Type": "application/octet-stream" },
          body: f.slice(off, end), signal: abort.signal });
        if (!res.ok) throw new ApiError(res.status, await res.json().catch(() => null));
        bar.value = f.size ? end / f.size : 1;
        say(`Uploading ${f.name}: ${Math.round((end / (f.size || 1)) * 100)} %`);
        if (end >= f.size) break;
      }
      bar.hidden = true;
      say(`Uploaded ${f.name}.`, "ok");
      await loadLists(f.name);
    } catch (e) { bar.hidden = true; say(errorText(e), "error"); }
  }

  function figure(runId, name, label) {
    const box = h("figure.ops-fig", { "aria-label": label }, h("p.empty-note", null, `Loading ${label}…`));
    fetchSvg(`/api/operations/runs/${runId}/figures/${name}`, abort.signal)
      .then((svg) => box.replaceChildren(svg))
      .catch(() => box.replaceChildren(h("p.empty-note", null, `${label}: not available.`)));
    return box;
  }

  async function openRun(runId) {
    const run = await api(`/api/operations/runs/${runId}`, { signal: abort.signal });
    const a = run.result;
    const s = a.summary;
    const w = a.walking;
    const kpi = (label, value) => h("div.ops-kpi", null, h("span", null, label), h("b", null, value));
    results.replaceChildren(
      h("section.panel", null,
        h("h2", null, `Analysis of ${run.log}`,
          h("span.tools", null, h("button.btn.btn-sm", { type: "button",
            onclick: () => download(`/api/operations/runs/${runId}/report`, `operations-${runId}.html`).catch((e) => toast(errorText(e), "error")) },
          "Download HTML report"))),
        h("p.empty-note", null, `${s.first.slice(0, 10)} to ${s.last.slice(0, 10)} (${s.timezone}); building: ${a.building_source}`),
        h("div.ops-kpis", null,
          kpi("Journeys", fmtN(s.cases)), kpi("Events", fmtN(s.events)),
          kpi("Mean journey", `${a.variants.journey_mean_min} min`), kpi("Variants", fmtN(a.variants.variants)),
          kpi("Rework", `${(a.rework.share * 100).toFixed(1)} %`),
          w ? kpi("Walking per journey", `${w.metres_per_journey_mean} m`) : null)),
      h("section.panel", null,
        h("h2", null, "The three worst bottlenecks"),
        h("p.empty-note", null, "Ranked by mean waiting × visits: the waiting each stage causes in total."),
        h("ol.ops-worst", null, a.bottlenecks.slice(0, 3).map((b) => h("li.ops-card", { "data-bottleneck": b.activity },
          h("h3", null, b.activity),
          h("b", null, `${fmtN(b.score_h)} h of waiting`),
          h("p", null, `${(b.share * 100).toFixed(1)} % of all waiting · mean ${b.wait_mean_min} min · 90th pct ${b.wait_p90_min} min · worst at ${b.peak_wait_hour}:00`))))),
      w ? h("section.panel", null,
        h("h2", null, "Walking waste"),
        h("div.ops-kpis", null,
          kpi("Per journey", `${w.metres_per_journey_mean} m (p90 ${w.metres_per_journey_p90} m)`),
          kpi("Per year", `${fmtN(w.km_per_year)} km`),
          kpi("Floor changes", `${w.floor_changes_per_journey} per journey`),
          kpi("Time walking", `${(w.walking_share_of_journey * 100).toFixed(1)} % of the journey`),
          kpi("Backtracking", `${(w.backtracking_share * 100).toFixed(1)} % of metres`)),
        h("table.data", null,
          h("thead", null, h("tr", null, ["Step", "Steps", "Metres each", "km per year", "Share"].map((x) => h("th", null, x)))),
          h("tbody", null, w.top_transitions.slice(0, 6).map((t) => h("tr", null,
            h("td", null, `${t.from} → ${t.to}`), h("td.num", null, fmtN(t.steps)), h("td.num", null, t.metres_mean),
            h("td.num", null, fmtN(t.km_per_year)), h("td.num", null, `${(t.share * 100).toFixed(1)} %`))))),
        w.unknown_locations.length ? h("p.empty-note", null, `Rooms not in the building model: ${w.unknown_locations.map((u) => u.location).join(", ")}`) : null)
        : h("section.panel", null, h("h2", null, "Walking waste"), h("p", null, "No building model matches this log's locations.")),
      h("section.panel", null, h("h2", null, "Process map"), figure(runId, "process_map", "process map")),
      h("section.panel", null, h("h2", null, "Waiting per stage and by hour"),
        figure(runId, "waiting", "waiting per stage"), figure(runId, "wait_heatmap", "waiting by hour"),
        figure(runId, "arrivals_heatmap", "arrivals by weekday and hour")),
    );
    renderWhatIf(run.log);
    say(`Showing the analysis of ${run.log}.`, "ok");
  }

  async function renderWhatIf(log) {
    const examples = await api("/api/operations/scenarios", { signal: abort.signal }).catch(() => []);
    const plans = [0, 1].map((i) => {
      const text = h(`textarea#ops-plan-${i}.ops-yaml`, { rows: 12, spellcheck: "false", "aria-label": `Plan ${i ? "B" : "A"} (YAML)` });
      const sel = h(`select#ops-ex-${i}`, { onchange: () => { text.value = examples[Number(sel.value)]?.yaml || ""; } },
        examples.map((ex, k) => h("option", { value: k, selected: k === i }, ex.name)));
      text.value = examples[i]?.yaml || "";
      return { text, box: h("fieldset.ops-plan", null, h("legend", null, `Plan ${i ? "B" : "A"}`),
        h("label", { for: `ops-ex-${i}` }, "Start from an example", sel), text) };
    });
    const reps = h("input#ops-reps", { type: "number", min: 2, max: 100, value: 10 });
    const days = h("input#ops-days", { type: "number", min: 1, max: 200, value: 10 });
    const out = h("div.ops-compare");
    whatif.replaceChildren(h("section.panel", null,
      h("h2", null, "What-if: compare two plans"),
      h("p.empty-note", null, "The simulation is calibrated on this log and validated against it; both plans run with the same random numbers as the baseline, so differences carry paired 95 % confidence intervals."),
      h("div.ops-plans", null, plans.map((p) => p.box)),
      h("div.ops-row", null,
        h("label", { for: "ops-reps" }, "Replications", reps), h("label", { for: "ops-days" }, "Days per replication", days),
        h("button.btn.btn-primary", { type: "button", onclick: () => compare() }, "Run and compare")),
      out));

    async function compare() {
      try {
        const job = await api("/api/operations/simulations", { method: "POST", body: {
          log, plans: plans.map((p) => ({ yaml: p.text.value })), replications: Number(reps.value), days: Number(days.value) } });
        const done = await wait(job, "Simulating");
        const run = await api(`/api/operations/runs/${done.run_id}`, { signal: abort.signal });
        showComparison(out, run);
        say("What-if comparison ready.", "ok");
      } catch (e) { say(errorText(e), "error"); }
    }
  }

  function showComparison(out, run) {
    const r = run.result;
    const v = r.validation;
    const rows = [["Journey time (min)", (m) => m.journey_min, (d) => d.journey_min],
      ["Walking per journey (m)", (m) => m.metres_per_journey, (d) => d.metres_per_journey]];
    const stages = Object.keys(r.baseline.stages).filter((a) => r.plans.some((p) => p.vs_baseline.stages[a]?.significant));
    for (const a of stages) rows.push([`Wait: ${a} (min)`, (m) => m.stages[a]?.wait_min, (d) => d.stages[a]]);
    out.replaceChildren(
      h("p", { "data-validation": `${v.passed}/${v.total}` },
        `Validation: ${v.passed} of ${v.total} stages within tolerance of the log (± max(${Math.round(v.rel_tol * 100)} %, ${v.abs_tol_min} min)); Little's law error ${v.little_max_error.toExponential(1)}.`),
      h("table.data.ops-cmp", null,
        h("thead", null, h("tr", null, h("th", null, "Measure"), h("th", null, "Baseline"),
          r.plans.flatMap((p) => [h("th", null, p.name), h("th", null, "Difference [95 % CI]")]))),
        h("tbody", null, rows.map(([label, m, d]) => h("tr", null, h("td", null, label), h("td.num", null, fmtCi(m(r.baseline))),
          r.plans.flatMap((p) => {
            const diff = d(p.vs_baseline);
            return [h("td.num", null, fmtCi(m(p.metrics))),
              h(`td.num${diff?.significant ? (diff.mean < 0 ? ".better" : ".worse") : ""}`, null, fmtCi(diff) + (diff?.significant ? " *" : ""))];
          }))))),
      h("p.empty-note", null, "* the paired 95 % interval excludes zero (green: shorter, red: longer)."),
      h("div.ops-plans", null, r.plans.map((p, i) => figure(run.id, `whatif_${i}`, `${p.name}: change in waiting`))),
      h("button.btn.btn-sm", { type: "button", onclick: () => download(`/api/operations/runs/${run.id}/report`, `whatif-${run.id}.html`).catch((e) => toast(errorText(e), "error")) }, "Download HTML report"),
    );
  }

  try {
    const runs = await loadLists();
    if (runs.length) await openRun(runs[0].id);
  } catch (e) {
    say(e.status === 403 ? "Operations analytics need the operations manager or admin role." : errorText(e), "error");
  }
  root.dataset.ready = "1";
  return { unmount() { abort.abort(); clearTimeout(timer); } };
}
