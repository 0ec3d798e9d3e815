"""``medtwin score ...``: compute an early-warning score from readings typed on the command line.

The lead registers :data:`score_app` as ``medtwin score``; tests invoke it directly with
``typer.testing.CliRunner``. Scoring lives in :mod:`medtwin.models.scores`; this module only
parses options, maps a model ValidationError to a usage error naming the option (exit code 2),
and prints either one JSON object (``--json``) or a rich table.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from medtwin.core.errors import ValidationError
from medtwin.models.scores import score_mews, score_news2, score_qsofa

score_app = typer.Typer(
    help="Early-warning scores from one set of readings: NEWS2 (RCP 2017), qSOFA (Sepsis-3), MEWS (Subbe 2001).",
    no_args_is_help=True,
)

# Model field -> the CLI option that supplied it, so an error names what the user typed.
_OPTION_FOR_FIELD = {
    "rr": "--rr",
    "spo2": "--spo2",
    "air_or_oxygen": "--o2",
    "sbp": "--sbp",
    "hr": "--hr",
    "consciousness": "--acvpu",
    "avpu": "--avpu",
    "temp": "--temp",
    "gcs": "--gcs",
    "scale": "--scale",
}


class AirOrOxygen(StrEnum):
    air = "air"
    oxygen = "oxygen"


JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")]
RrOpt = Annotated[float | None, typer.Option("--rr", help="Respiration rate, breaths/min.")]
SbpOpt = Annotated[float | None, typer.Option("--sbp", help="Systolic blood pressure, mmHg.")]
HrOpt = Annotated[float | None, typer.Option("--hr", help="Pulse / heart rate, beats/min.")]
TempOpt = Annotated[float | None, typer.Option("--temp", help="Temperature, degC (rounded to 0.1).")]


def _bad_option(exc: ValidationError) -> typer.BadParameter:
    option = _OPTION_FOR_FIELD.get(exc.field or "", exc.field)
    return typer.BadParameter(exc.reason, param_hint=f"'{option}'" if option else None)


def _emit(payload: Mapping[str, Any], as_json: bool, table: Table, notes: list[str]) -> None:
    if as_json:
        typer.echo(json.dumps(payload))
        return
    console = Console()
    console.print(table)
    for note in notes:
        console.print(note)


def _points(value: int | None) -> str:
    return "[yellow]missing[/]" if value is None else str(value)


def _shown(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


@score_app.command("news2")
def news2_cmd(
    rr: RrOpt = None,
    spo2: Annotated[float | None, typer.Option("--spo2", help="SpO2, %.")] = None,
    o2: Annotated[
        AirOrOxygen | None, typer.Option("--o2", help="Breathing air or supplemental oxygen.")
    ] = None,
    temp: TempOpt = None,
    sbp: SbpOpt = None,
    hr: HrOpt = None,
    acvpu: Annotated[
        str | None, typer.Option("--acvpu", help="Consciousness (ACVPU): A, C (new confusion), V, P or U.")
    ] = None,
    scale: Annotated[
        int,
        typer.Option(
            "--scale", help="SpO2 scale; 2 only when prescribed for hypercapnic respiratory failure."
        ),
    ] = 1,
    as_json: JsonOpt = False,
) -> None:
    """NEWS2 (Royal College of Physicians 2017, chart 1), with band and clinical response (charts 2, 4)."""
    try:
        result = score_news2(
            rr=rr,
            spo2=spo2,
            on_oxygen=None if o2 is None else o2 is AirOrOxygen.oxygen,
            sbp=sbp,
            hr=hr,
            consciousness=acvpu,
            temp=temp,
            scale=scale,
        )
    except ValidationError as exc:
        raise _bad_option(exc) from None
    shown = {
        "rr": rr,
        "spo2": spo2,
        "air_or_oxygen": None if o2 is None else o2.value,
        "sbp": sbp,
        "hr": hr,
        "consciousness": acvpu,
        "temp": temp,
    }
    table = Table(title=f"NEWS2 (SpO2 scale {result.scale})")
    for col in ("parameter", "value", "points"):
        table.add_column(col)
    for key, points in result.subscores.items():
        table.add_row(key, _shown(shown[key]), _points(points))
    table.add_row("[bold]total[/]", "", f"[bold]{result.score}[/]")
    notes = [
        f"band: [bold]{result.band.value}[/]"
        + (" (3 in a single parameter)" if result.single_parameter_3 else ""),
        f"monitoring: {result.monitoring_frequency}",
        f"response: {result.response}",
    ]
    if result.partial:
        notes.append(
            f"[yellow]partial: not scored: {', '.join(result.missing)}; the total is a lower bound[/]"
        )
    _emit(result.as_dict(), as_json, table, notes)


@score_app.command("qsofa")
def qsofa_cmd(
    rr: RrOpt = None,
    sbp: SbpOpt = None,
    gcs: Annotated[int | None, typer.Option("--gcs", help="Glasgow Coma Scale total, 3-15.")] = None,
    acvpu: Annotated[
        str | None,
        typer.Option("--acvpu", help="ACVPU instead of or with --gcs: any level but A is altered."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """qSOFA (Seymour et al., JAMA 2016): RR >= 22, SBP <= 100, altered mentation; positive at >= 2."""
    try:
        result = score_qsofa(rr=rr, sbp=sbp, gcs=gcs, consciousness=acvpu)
    except ValidationError as exc:
        raise _bad_option(exc) from None
    mentation = " / ".join(x for x in (_shown(gcs) if gcs is not None else "", acvpu or "") if x)
    shown = {"rr": _shown(rr), "sbp": _shown(sbp), "mentation": mentation or "-"}
    table = Table(title="qSOFA")
    for col in ("criterion", "value", "met"):
        table.add_column(col)
    for key, met in result.criteria.items():
        table.add_row(key, shown[key], "[yellow]missing[/]" if met is None else ("yes" if met else "no"))
    table.add_row("[bold]total[/]", "", f"[bold]{result.score}[/]")
    notes = [f"qSOFA {'[bold red]positive[/]' if result.positive else 'negative'}"]
    if result.partial:
        notes.append(f"[yellow]partial: not assessed: {', '.join(result.missing)}[/]")
    _emit(result.as_dict(), as_json, table, notes)


@score_app.command("mews")
def mews_cmd(
    sbp: SbpOpt = None,
    hr: HrOpt = None,
    rr: RrOpt = None,
    temp: TempOpt = None,
    avpu: Annotated[str | None, typer.Option("--avpu", help="Consciousness (AVPU): A, V, P or U.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """MEWS (Subbe et al., QJM 2001, table 1); a total >= 5 is flagged as higher risk."""
    try:
        result = score_mews(sbp=sbp, hr=hr, rr=rr, temp=temp, avpu=avpu)
    except ValidationError as exc:
        raise _bad_option(exc) from None
    shown: dict[str, object] = {
        "sbp": sbp,
        "hr": hr,
        "rr": rr,
        "temp": temp,
        "avpu": avpu,
    }
    table = Table(title="MEWS")
    for col in ("parameter", "value", "points"):
        table.add_column(col)
    for key, points in result.subscores.items():
        table.add_row(key, _shown(shown[key]), _points(points))
    table.add_row("[bold]total[/]", "", f"[bold]{result.score}[/]")
    notes = ["[bold red]score >= 5: higher risk (Subbe 2001)[/]"] if result.higher_risk else []
    if result.partial:
        notes.append(
            f"[yellow]partial: not scored: {', '.join(result.missing)}; the total is a lower bound[/]"
        )
    _emit(result.as_dict(), as_json, table, notes)
