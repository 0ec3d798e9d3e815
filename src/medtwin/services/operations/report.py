"""The HTML report (one self-contained file: inline SVG and CSS, no CDN, printable to PDF from
any browser) and the figures the dashboard shows, from the same code."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment, select_autoescape

from medtwin import __version__
from medtwin.services.operations import svg
from medtwin.services.operations.analytics import BINS_MIN

FIGURES = (
    "process_map",
    "waiting",
    "wait_heatmap",
    "arrivals_heatmap",
    "utilisation",
    "walking",
    "validation",
    "whatif",
)


def figures(analysis: dict[str, Any], simulation: dict[str, Any] | None = None) -> dict[str, str]:
    st = [s for s in analysis["stages"] if s["waits"]]
    st.sort(key=lambda s: -(s["wait_mean_min"] or 0))
    waits = {s["activity"]: s["wait_mean_min"] for s in analysis["stages"]}
    load = analysis["load"]
    acts = sorted(load["wait_mean_min_by_activity_hour"], key=lambda a: -(waits.get(a) or 0))
    hours = [f"{h:02d}" for h in range(24)]
    figs = {
        "process_map": svg.process_map(analysis["dfg"], waits),
        "waiting": svg.bars(
            [(s["activity"], s["wait_mean_min"], s["wait_median_min"], s["wait_p90_min"]) for s in st],
            "Waiting before each activity: mean (bar), median to 90th percentile (line)",
            "minutes",
        ),
        "wait_heatmap": svg.heatmap(
            acts,
            hours,
            [load["wait_mean_min_by_activity_hour"][a] for a in acts],
            "Mean waiting by hour of day",
            "min",
        ),
        "arrivals_heatmap": svg.heatmap(
            load["weekdays"],
            hours,
            load["arrivals_per_day_by_weekday_hour"],
            "Arrivals per day by weekday and hour",
            "patients",
        ),
        "utilisation": svg.bars(
            [
                (r["resource"] + " · " + r["activities"], (r["utilisation"] or 0) * 100, None, None)
                for r in sorted(analysis["resources"], key=lambda r: -(r["utilisation"] or 0))[:25]
            ],
            "Resource utilisation while present (top 25)",
            "% of presence",
        ),
    }
    walk = analysis.get("walking")
    if walk:
        figs["walking"] = svg.bars(
            [
                (f"{t['from']} → {t['to']}", t["km_per_year"] or 0, None, None)
                for t in walk["top_transitions"]
            ],
            f"Walking by step: km per year (mean {walk['metres_per_journey_mean']} m per journey)",
            "km per year",
        )
    if simulation:
        v = simulation["validation"]["stages"]
        figs["validation"] = svg.bars(
            [
                (
                    f"{r['activity']} (log {r['log_wait_min']})",
                    r["sim_wait_min"],
                    *(r["ci95"] or (None, None)),
                )
                for r in v
            ],
            "Validation: simulated mean waiting with 95 % CI (label: the log's mean)",
            "minutes",
        )
        for i, p in enumerate(simulation["plans"]):
            rows = [("Journey time", *_trip(p["vs_baseline"]["journey_min"]))]
            rows += [(a, *_trip(d)) for a, d in sorted(p["vs_baseline"]["stages"].items())]
            figs[f"whatif_{i}"] = svg.forest(rows, f"{p['name']}: change in waiting vs baseline", "minutes")
    return figs


def _trip(d: dict[str, Any]) -> tuple[float | None, float | None, float | None]:
    lo, hi = d["ci95"]
    return d["mean"], lo, hi


def _ci(d: dict[str, Any] | None) -> str:
    if not d:
        return "–"
    lo, hi = d["ci95"]
    m = d["mean"]
    if m is None:
        return "–"
    return f"{m:.2f}" + (f" [{lo:.2f}, {hi:.2f}]" if lo is not None and hi is not None else "")


TEMPLATE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>medtwin operations report · {{ a.summary.source }}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#111;line-height:1.4;padding:0 1rem}
h1{font-size:1.6rem}h2{margin-top:2rem;border-bottom:1px solid #ccc;padding-bottom:.2rem}
table{border-collapse:collapse;width:100%;font-size:.9rem;margin:.5rem 0}
th,td{border-bottom:1px solid #ddd;padding:.3rem .4rem;text-align:left}th{background:#f4f4f4}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.kpis{display:grid;grid-template-columns:repeat(auto-fill,minmax(11rem,1fr));gap:.6rem}
.kpi{border:1px solid #ccc;border-radius:8px;padding:.5rem .7rem}.kpi b{display:block;font-size:1.3rem}
.worst{border-left:5px solid #e15759}.note{color:#555;font-size:.9rem}.fail{color:#b00020;font-weight:700}
svg{max-width:100%;height:auto;margin:.5rem 0}
@media print{h2{break-before:auto}svg{break-inside:avoid}}
</style></head><body>
<h1>Hospital operations report</h1>
<p class="note">Log <b>{{ a.summary.source }}</b> ({{ a.summary.format }}), {{ a.summary.first[:10] }} to {{ a.summary.last[:10] }},
time zone {{ a.summary.timezone }}. Generated {{ now }} by medtwin {{ version }}. Waiting = start of an activity − end of the
previous one (walking + queueing); service = end − start.</p>
<div class="kpis">
<div class="kpi">Journeys<b>{{ "{:,}".format(a.summary.cases) }}</b></div>
<div class="kpi">Events<b>{{ "{:,}".format(a.summary.events) }}</b></div>
<div class="kpi">Mean journey<b>{{ a.variants.journey_mean_min }} min</b></div>
<div class="kpi">Variants<b>{{ "{:,}".format(a.variants.variants) }}</b></div>
{% if a.walking %}<div class="kpi">Walking per journey<b>{{ a.walking.metres_per_journey_mean }} m</b></div>{% endif %}
<div class="kpi">Journeys with rework<b>{{ (a.rework.share * 100)|round(1) }} %</b></div>
</div>
<h2>The three worst bottlenecks</h2>
<p class="note">Score = mean waiting × visits = total waiting caused, in hours over the whole log.</p>
<div class="kpis">{% for b in a.bottlenecks[:3] %}<div class="kpi worst">#{{ b.rank }} {{ b.activity }}
<b>{{ "{:,}".format(b.score_h) }} h</b>{{ (b.share * 100)|round(1) }} % of all waiting; mean {{ b.wait_mean_min }} min,
90th pct {{ b.wait_p90_min }} min; worst at {{ b.peak_wait_hour }}:00</div>{% endfor %}</div>
<table><tr><th>#</th><th>Activity</th><th>Score (h)</th><th>Share</th><th>Mean wait</th><th>90th pct</th><th>Visits</th><th>Peak hour</th></tr>
{% for b in a.bottlenecks %}<tr><td>{{ b.rank }}</td><td>{{ b.activity }}</td><td class="n">{{ "{:,}".format(b.score_h) }}</td>
<td class="n">{{ (b.share*100)|round(1) }} %</td><td class="n">{{ b.wait_mean_min }}</td><td class="n">{{ b.wait_p90_min }}</td>
<td class="n">{{ "{:,}".format(b.visits) }}</td><td class="n">{{ b.peak_wait_hour }}</td></tr>{% endfor %}</table>
<h2>Process map</h2>{{ f.process_map|safe }}
<table><tr><th>From</th><th>To</th><th>Journeys</th><th>Mean wait (min)</th><th>Median</th><th>90th pct</th></tr>
{% for e in a.dfg.edges[:25] %}<tr><td>{{ e.from }}</td><td>{{ e.to }}</td><td class="n">{{ "{:,}".format(e.count) }}</td>
<td class="n">{{ e.wait_mean_min if e.wait_mean_min is not none else "" }}</td><td class="n">{{ e.wait_median_min if e.wait_median_min is not none else "" }}</td>
<td class="n">{{ e.wait_p90_min if e.wait_p90_min is not none else "" }}</td></tr>{% endfor %}</table>
<h2>Waiting per stage</h2>{{ f.waiting|safe }}{{ f.wait_heatmap|safe }}
<h2>Load</h2>{{ f.arrivals_heatmap|safe }}
<h2>Service times</h2><table><tr><th>Activity</th><th>Visits</th><th>Mean (min)</th><th>Median</th><th>90th pct</th><th>CV</th><th>Best fit (AIC)</th></tr>
{% for s in a.stages %}<tr><td>{{ s.activity }}</td><td class="n">{{ "{:,}".format(s.visits) }}</td><td class="n">{{ s.service_mean_min }}</td>
<td class="n">{{ s.service_median_min }}</td><td class="n">{{ s.service_p90_min }}</td><td class="n">{{ s.service_cv }}</td><td>{{ s.service_fit.family }}</td></tr>{% endfor %}</table>
<h2>Variants</h2><table><tr><th>Journey</th><th>Cases</th><th>Share</th><th>Mean duration (min)</th></tr>
{% for v in a.variants.top[:12] %}<tr><td>{{ v.activities|join(" → ") }}</td><td class="n">{{ "{:,}".format(v.cases) }}</td>
<td class="n">{{ (v.share*100)|round(1) }} %</td><td class="n">{{ v.duration_mean_min }}</td></tr>{% endfor %}</table>
<h2>Rework</h2><table><tr><th>Activity</th><th>Journeys repeating it</th><th>Repeats</th><th>Directly repeated</th></tr>
{% for r in a.rework.by_activity %}<tr><td>{{ r.activity }}</td><td class="n">{{ "{:,}".format(r.cases) }}</td><td class="n">{{ "{:,}".format(r.repeats) }}</td>
<td class="n">{{ "{:,}".format(r.immediate_repeats) }}</td></tr>{% endfor %}</table>
<h2>Resources</h2>{{ f.utilisation|safe }}
{% if a.walking %}<h2>Wasted movement</h2>
<p>Mean {{ a.walking.metres_per_journey_mean }} m per journey (90th pct {{ a.walking.metres_per_journey_p90 }} m),
{{ "{:,}".format(a.walking.km_per_year) }} km per year, {{ a.walking.floor_changes_per_journey }} floor changes per journey,
{{ (a.walking.walking_share_of_journey*100)|round(1) }} % of journey time spent walking; backtracking (A→B→A)
{{ (a.walking.backtracking_share*100)|round(1) }} % of all metres. Building: {{ a.building_source }}.</p>{{ f.walking|safe }}
{% if a.walking.unknown_locations %}<p class="note">Locations not in the building model (steps left out):
{% for u in a.walking.unknown_locations %}{{ u.location }} ({{ u.events }}){% if not loop.last %}, {% endif %}{% endfor %}</p>{% endif %}{% endif %}
{% if s %}<h2>Simulation: validation against the log</h2>
<p class="note">{{ s.settings.replications }} replications × {{ s.settings.days_per_replication }} days sampled from the log's
{{ s.model.open_days }} open days. Pass: the log's mean lies within the 95 % CI widened by max({{ (s.validation.rel_tol*100)|round }} %,
{{ s.validation.abs_tol_min }} min). Little's law max relative error {{ "%.1e"|format(s.validation.little_max_error) }}.
{% if s.model.calibrated_delays %}Extra delays calibrated: {% for d in s.model.calibrated_delays %}{{ d.activity }} {{ d.delay_min }} min{% if not loop.last %}, {% endif %}{% endfor %}.{% endif %}</p>
{{ f.validation|safe }}
<table><tr><th>Activity</th><th>Log mean wait</th><th>Simulated [95 % CI]</th><th>Tolerance</th><th>Result</th></tr>
{% for r in s.validation.stages %}<tr><td>{{ r.activity }}</td><td class="n">{{ r.log_wait_min }}</td><td class="n">{{ r.sim_wait_min }}
{% if r.ci95 %}[{{ r.ci95[0] }}, {{ r.ci95[1] }}]{% endif %}</td><td class="n">± {{ r.tolerance_min }}</td>
<td>{% if r.pass %}pass{% else %}<span class="fail">fail</span>{% endif %}</td></tr>{% endfor %}</table>
{% for p in s.plans %}<h2>What-if: {{ p.name }}</h2><p>{{ p.description }}</p>{{ f["whatif_%d"|format(loop.index0)]|safe }}
<table><tr><th>Measure</th><th>Baseline [95 % CI]</th><th>Plan [95 % CI]</th><th>Difference [95 % CI]</th></tr>
<tr><td>Journey time (min)</td><td class="n">{{ ci(s.baseline.journey_min) }}</td><td class="n">{{ ci(p.metrics.journey_min) }}</td><td class="n">{{ ci(p.vs_baseline.journey_min) }}</td></tr>
<tr><td>Walking per journey (m)</td><td class="n">{{ ci(s.baseline.metres_per_journey) }}</td><td class="n">{{ ci(p.metrics.metres_per_journey) }}</td><td class="n">{{ ci(p.vs_baseline.metres_per_journey) }}</td></tr>
{% for act, d in p.vs_baseline.stages|dictsort %}<tr><td>Wait: {{ act }}</td><td class="n">{{ ci(s.baseline.stages[act].wait_min) }}</td>
<td class="n">{{ ci(p.metrics.stages[act].wait_min) }}</td><td class="n">{{ ci(d) }}{% if d.significant %} *{% endif %}</td></tr>{% endfor %}
</table>{% endfor %}<p class="note">* the 95 % interval of the paired difference excludes zero.</p>{% endif %}
</body></html>"""


def render(analysis: dict[str, Any], simulation: dict[str, Any] | None = None) -> str:
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    return env.from_string(TEMPLATE).render(
        a=analysis,
        s=simulation,
        f=figures(analysis, simulation),
        ci=_ci,
        now=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        version=__version__,
        bins=BINS_MIN,
    )
