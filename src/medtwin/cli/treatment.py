"""``medtwin pk ...`` and ``medtwin treat ...``: one simulation, fits and regimen comparisons.

* ``medtwin pk simulate --drug propofol --model schnider --age 40 --weight 70 --height 170 --sex male
  --regimen '[{"type": "bolus", "dose_mg": 140, "at_min": 0, "duration_s": 10}]' --times 1,2,5 --json``
  prints ``{"t_min": [...], "cp": [...], "ce": [...]}`` (mg/L; ``ce`` only for models with an effect
  site).
* ``medtwin treat drugs``: the library. ``medtwin treat fit --patient P --drug D``: personalise a
  stored twin now.
* ``medtwin treat compare --drug D (--patient P | --age .. --weight .. --height .. --sex .. [--scr ..])
  --candidates JSON [--history JSON --levels JSON] [--horizon-h 48 --draws 1000 --mic 1 --tox-limit 0.1]
  [--scheduler local:2] [--json]``: Monte Carlo comparison (``--scheduler``: the draws in chunks on
  Dask, same result; docs/sweeps.md). Offline, the time axis is minutes from now: past doses
  (``--history``, regimen JSON as for ``pk simulate``) and levels (``[{"at_min": -30, "value": 14}]``)
  have negative times. With ``--patient`` the twin's stored doses, levels and fit are used and the
  run is stored.
* ``medtwin treat glucose --virtual adult#001 --candidates JSON [--meals JSON] [--hours 24] [--json]``:
  insulin regimens on an open-cohort virtual patient.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from medtwin.cli.sweep_opts import Scheduler, scheduler_from
from medtwin.core.errors import MedtwinError, ValidationError

pk_app = typer.Typer(help="Pharmacokinetic simulation.", no_args_is_help=True)
treat_app = typer.Typer(
    help="Treatment simulation: personalised fits and regimen comparison.", no_args_is_help=True
)
console = Console(stderr=True)
out = Console()


def _json_arg(text: str | None, name: str) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"not valid JSON: {exc.msg}", field=name) from None


def _fail(exc: MedtwinError, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps({"error": exc.as_dict()}))
    else:
        console.print(f"[red]error:[/red] {exc}")
    raise typer.Exit(2)


def _cov(
    age: float | None,
    weight: float | None,
    height: float | None,
    sex: str | None,
    scr: float | None,
    dialysis: bool = False,
) -> Any:
    from medtwin.models.pharmacology.covariates import Covariates, parse_sex

    for name, v in (("age", age), ("weight", weight), ("height", height), ("sex", sex)):
        if v is None:
            raise ValidationError(f"--{name} is required without --patient", field=name)
    assert age is not None and weight is not None and height is not None and sex is not None
    return Covariates(age, weight, height, parse_sex(sex), scr=scr, dialysis=dialysis)


Age = Annotated[float | None, typer.Option(help="Age, years.")]
Weight = Annotated[float | None, typer.Option(help="Total body weight, kg.")]
Height = Annotated[float | None, typer.Option(help="Height, cm.")]
Sex = Annotated[str | None, typer.Option(help="male | female")]
Scr = Annotated[float | None, typer.Option(help="Serum creatinine, mg/dL (renally cleared drugs).")]


@pk_app.command("simulate")
def pk_simulate(
    drug: Annotated[str, typer.Option(help="propofol | remifentanil | vancomycin | gentamicin | lithium")],
    regimen: Annotated[str, typer.Option(help="JSON list of bolus/infusion/oral doses (minutes).")],
    times: Annotated[str, typer.Option(help="Output times in minutes, comma separated.")],
    model: Annotated[str | None, typer.Option(help="Population model (default: the drug's).")] = None,
    age: Age = None,
    weight: Weight = None,
    height: Height = None,
    sex: Sex = None,
    scr: Scr = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Plasma (and effect-site) concentrations of the typical patient under a regimen."""
    from medtwin.models.pharmacology.regimen import parse_cli_regimen
    from medtwin.services.treatment.pk import simulate_once

    try:
        try:
            t = [float(x) for x in times.split(",") if x.strip()]
        except ValueError:
            raise ValidationError("times must be numbers separated by commas", field="times") from None
        res = simulate_once(
            drug,
            model,
            _cov(age, weight, height, sex, scr),
            parse_cli_regimen(_json_arg(regimen, "regimen")),
            t,
        )
    except MedtwinError as exc:
        _fail(exc, as_json)
        return
    if as_json:
        typer.echo(json.dumps({k: res[k] for k in ("t_min", "cp", "ce") if k in res}))
        return
    tab = Table(title=f"{drug} ({res['unit']})")
    cols = ["t_min", "cp", *(k for k in ("ce", "effect") if k in res)]
    for c in cols:
        tab.add_column(c, justify="right")
    for i in range(len(res["t_min"])):
        tab.add_row(*(f"{res[c][i]:.4g}" for c in cols))
    out.print(tab)


@treat_app.command("drugs")
def drugs(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The drug library: models, targets, toxicity criteria and sources."""
    from medtwin.api.treatment import drugs as lib

    data = lib()
    if as_json:
        typer.echo(json.dumps(data))
        return
    for d in data["drugs"]:
        out.print(
            f"[bold]{d['display']}[/bold] ({d['name']}): models {', '.join(m['key'] for m in d['models'])}"
        )
        if d["target"]:
            out.print(f"  target {d['target']['text']} [{d['target']['source']}]")
        if d["toxicity"]:
            out.print(f"  toxicity {d['toxicity']['text']} [{d['toxicity']['source']}]")


@treat_app.command("fit")
def fit(
    patient: Annotated[str, typer.Option(help="Patient twin id.")],
    drug: Annotated[str, typer.Option(help="Library drug.")],
    model: Annotated[str | None, typer.Option()] = None,
    db: Annotated[str | None, typer.Option(help="Database URL or SQLite path (env MEDTWIN_DB).")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Personalise a stored patient's twin from its doses and levels; store the fit."""
    from medtwin.config import Settings
    from medtwin.runtime import Runtime
    from medtwin.services.treatment.pk import fit_twin
    from medtwin.services.treatment.repository import TreatmentRepository

    try:
        with Runtime(Settings.load(db=db, mqtt_enabled=False)) as rt:
            row = fit_twin(
                rt.store,
                TreatmentRepository(rt.store),
                patient,
                drug,
                now=rt.clock.now(),
                model_key=model,
                actor="cli",
            )
    except MedtwinError as exc:
        _fail(exc, as_json)
        return
    if as_json:
        typer.echo(json.dumps(row))
        return
    f = row["fit"]
    out.print(f"fit {row['id']}: {row['model']} ({row['confidence']}), {f['n_levels']} level(s)")
    for k, v in f["individual"].items():
        out.print(f"  {k} {v:.4g} (population {f['typical'][k]:.4g})")


def _print_comparison(cmp: dict[str, Any]) -> None:
    tab = Table(title=f"{cmp['drug']} ({cmp['model']}): target {cmp['settings']['target']}")
    for c in (
        "rank",
        "regimen",
        "P(target)",
        "P(toxicity)",
        "time in window",
        "target metric median [5-95 %]",
        "confidence",
    ):
        tab.add_column(c)
    for r in sorted(cmp["results"], key=lambda r: r["rank"]):
        q = r["target_quantiles"]
        conf = (r.get("confidence") or {}).get("level", "-")
        tab.add_row(
            str(r["rank"]), r["label"], f"{r['p_target']:.0%}", f"{r['p_toxicity']:.0%}", f"{r['time_in_window']:.0%}",
            "-" if q is None else f"{q[1]:.3g} [{q[0]:.3g}-{q[2]:.3g}]", conf,
        )  # fmt: skip
    out.print(tab)
    for r in sorted(cmp["results"], key=lambda r: r["rank"]):
        out.print(f"[bold]{r['label']}[/bold]: {r['explanation']}")
    s = cmp.get("suggestion")
    if s:
        out.print(f"[green]suggestion:[/green] {s['explanation']}")


@treat_app.command("compare")
def compare(
    drug: Annotated[str, typer.Option(help="Library drug.")],
    candidates: Annotated[
        str,
        typer.Option(
            help='JSON list: [{"dose_mg", "interval_h", "n_doses", "label"?, "duration_min"?, "route"?}]'
        ),
    ],
    patient: Annotated[
        str | None, typer.Option(help="Use a stored patient twin (doses, levels, fit).")
    ] = None,
    db: Annotated[str | None, typer.Option(help="Database with --patient.")] = None,
    model: Annotated[str | None, typer.Option()] = None,
    age: Age = None,
    weight: Weight = None,
    height: Height = None,
    sex: Sex = None,
    scr: Scr = None,
    dialysis: Annotated[bool, typer.Option(help="Intermittent haemodialysis (vancomycin).")] = False,
    history: Annotated[
        str | None, typer.Option(help="Doses already given (regimen JSON, negative minutes).")
    ] = None,
    levels: Annotated[
        str | None, typer.Option(help='Measured levels: [{"at_min": -30, "value": 14.2}]')
    ] = None,
    horizon_h: Annotated[float, typer.Option(help="Hours to evaluate from now.")] = 48.0,
    n: Annotated[
        int,
        typer.Option(
            "--draws",
            "--n",
            help="Monte Carlo draws: 10-20,000 in this process, up to 200,000 with --scheduler.",
        ),
    ] = 1000,
    seed: Annotated[int, typer.Option()] = 0,
    mic: Annotated[float, typer.Option(help="MIC, mg/L (AUC/MIC targets).")] = 1.0,
    tox_limit: Annotated[float, typer.Option(help="Highest acceptable P(toxicity).")] = 0.10,
    suggest: Annotated[
        bool, typer.Option("--suggest/--no-suggest", help="Search a dose for the first candidate.")
    ] = True,
    scheduler: Scheduler = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Compare candidate regimens on the patient's (posterior or population) virtual replicas.

    With --scheduler the draws are simulated in chunks on Dask (docs/sweeps.md); the result is
    the same as in this process for the same --seed."""
    from medtwin.compute.progress import rich_progress

    try:
        specs = _json_arg(candidates, "candidates")
        if not isinstance(specs, list) or not specs:
            raise ValidationError("candidates must be a non-empty JSON list", field="candidates")
        sched = scheduler_from(scheduler)
        with rich_progress("Monte Carlo (chunks)", quiet=as_json or not sched) as cb:
            if patient is not None:
                result = _compare_stored(
                    patient, drug, specs, db, horizon_h, n, seed, mic, tox_limit, suggest, sched, cb
                )
            else:
                result = _compare_offline(
                    drug, model, _cov(age, weight, height, sex, scr, dialysis), specs, history, levels,
                    horizon_h, n, seed, mic, tox_limit, suggest, sched, cb,
                )  # fmt: skip
    except MedtwinError as exc:
        _fail(exc, as_json)
        return
    if as_json:
        typer.echo(json.dumps(result))
    else:
        _print_comparison(result["comparison"])


def _compare_stored(
    patient: str,
    drug: str,
    specs: list[Any],
    db: str | None,
    horizon_h: float,
    n: int,
    seed: int,
    mic: float,
    tox: float,
    suggest: bool,
    scheduler: str = "",
    progress: Any = None,
) -> dict[str, Any]:
    from medtwin.config import Settings
    from medtwin.runtime import Runtime
    from medtwin.services.treatment.pk import compare_for_twin
    from medtwin.services.treatment.repository import TreatmentRepository

    with Runtime(Settings.load(db=db, mqtt_enabled=False)) as rt:
        run = compare_for_twin(
            rt.store, TreatmentRepository(rt.store), patient, drug, specs, now=rt.clock.now(), horizon_h=horizon_h,
            mic=mic, tox_limit=tox, n=n, seed=seed, suggest=suggest, actor="cli", scheduler=scheduler,
            progress=progress,
        )  # fmt: skip
    return {"run_id": run["id"], "fit_id": run["fit_id"], "comparison": run["output"]}


def _compare_offline(
    drug_name: str,
    model_key: str | None,
    cov: Any,
    specs: list[Any],
    history: str | None,
    levels: str | None,
    horizon_h: float,
    n: int,
    seed: int,
    mic: float,
    tox: float,
    suggest: bool,
    scheduler: str = "",
    progress: Any = None,
) -> dict[str, Any]:
    from medtwin.models.pharmacology.bayes import Level, fit_map, posterior_samples
    from medtwin.models.pharmacology.compare import compare_regimens
    from medtwin.models.pharmacology.library import get_drug
    from medtwin.models.pharmacology.regimen import parse_cli_regimen
    from medtwin.models.pharmacology.variability import sample_etas
    from medtwin.services.treatment.fanout import MAX_DRAWS, compare_distributed
    from medtwin.services.treatment.pk import build_candidates, grid_step

    drug = get_drug(drug_name)
    model = drug.model(model_key)
    hist = parse_cli_regimen(_json_arg(history, "history")) if history else []
    raw_levels = _json_arg(levels, "levels") or []
    try:
        lv = [Level(float(x["at_min"]), float(x["value"])) for x in raw_levels]
    except (KeyError, TypeError, ValueError):
        raise ValidationError('levels must be [{"at_min": ..., "value": ...}]', field="levels") from None
    top = MAX_DRAWS if scheduler else 20000
    if not 10 <= n <= top:
        more = "" if scheduler else " in this process (up to 200,000 with --scheduler)"
        raise ValidationError(f"draws (--draws) must be 10-{top:,}{more}", field="n")
    f = fit_map(model, cov, hist, lv) if model.has_iiv else None
    rng = np.random.default_rng(seed)
    post = posterior_samples(f, n, rng) if f is not None else np.zeros((n, len(model.eta_names)))
    prior = sample_etas(model.omega_matrix, n, rng)
    kw: dict[str, Any] = {
        "history": hist, "prior_etas": prior, "n_levels": len(lv), "wres": [r["wres"] for r in (f.residuals if f else [])],
        "start": 0.0, "end": horizon_h * 60.0, "mic": mic, "tox_limit": tox, "step": grid_step(horizon_h * 60.0),
        "rng": rng, "suggest_from": 0 if suggest else None,
    }  # fmt: skip
    cands = build_candidates(drug, specs)
    if scheduler:
        cmp = compare_distributed(scheduler, drug.name, model.key, cov, cands, post, progress=progress, **kw)
    else:
        cmp = compare_regimens(drug, model, cov, cands, post, **kw)
    return {"fit": None if f is None else f.as_dict(), "comparison": cmp.as_dict()}


@treat_app.command("glucose")
def glucose(
    virtual: Annotated[str, typer.Option(help="Open-cohort virtual patient, e.g. adult#001.")],
    candidates: Annotated[
        str, typer.Option(help='JSON list: [{"label", "basal_u_per_h", "carb_ratio", "bolus_scale"?}]')
    ],
    meals: Annotated[
        str, typer.Option(help='JSON list: [{"time_h": 7.75, "grams": 45}]')
    ] = '[{"time_h": 7.75, "grams": 45}, {"time_h": 12, "grams": 70}, {"time_h": 19, "grams": 80}]',
    hours: Annotated[float, typer.Option()] = 24.0,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Insulin regimens on a virtual patient of the open UVA/Padova cohort: TIR, TBR, TAR, CV, LBGI/HBGI."""
    from medtwin.services.treatment.glucose import simulate_virtual

    try:
        specs = _json_arg(candidates, "candidates")
        plan = _json_arg(meals, "meals")
        if not isinstance(specs, list) or not specs:
            raise ValidationError("candidates must be a non-empty JSON list", field="candidates")
        res = [
            simulate_virtual(virtual, plan, s, hours=hours) | {"label": s.get("label", f"regimen {i + 1}")}
            for i, s in enumerate(specs)
        ]
    except MedtwinError as exc:
        _fail(exc, as_json)
        return
    if as_json:
        typer.echo(json.dumps([{k: r[k] for k in ("label", "regimen", "metrics")} for r in res]))
        return
    tab = Table(title=f"{virtual}, {hours:g} h")
    for c in ("regimen", "TIR 70-180", "<70", "<54", ">180", ">250", "CV", "LBGI", "HBGI", "mean"):
        tab.add_column(c)
    for r in res:
        m = r["metrics"]
        tab.add_row(
            r["label"], f"{m['tir']:.0%}", f"{m['tbr70']:.1%}", f"{m['tbr54']:.1%}", f"{m['tar180']:.0%}",
            f"{m['tar250']:.0%}", f"{m['cv']:.0%}", f"{m['lbgi']:.2f}", f"{m['hbgi']:.2f}", f"{m['mean']:.0f}",
        )  # fmt: skip
    out.print(tab)
