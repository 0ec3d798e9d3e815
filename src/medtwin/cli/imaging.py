"""``medtwin imaging ...``: measure a segmentation file, import studies into a twin, segment,
mesh, assess RECIST 1.1, record Doppler indices and plan resections (docs/imaging.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from medtwin.core.errors import MedtwinError

imaging_app = typer.Typer(
    help="Imaging: DICOM/NIfTI/Slicer import, measurements, RECIST 1.1, meshes, surgical plans.",
    no_args_is_help=True,
)
console = Console(stderr=True)
Db = Annotated[str | None, typer.Option(help="Database URL or SQLite path (env MEDTWIN_DB).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def _fail(exc: MedtwinError, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps({"error": exc.as_dict()}))
    else:
        console.print(f"[red]error:[/red] {exc}")
    raise typer.Exit(1)


def _runtime(db: str | None) -> Any:
    from medtwin.config import Settings
    from medtwin.runtime import Runtime

    return Runtime(Settings.load(db=db))


def _vec(text: str, name: str) -> list[float]:
    try:
        v = [float(x) for x in text.split(",")]
    except ValueError:
        raise typer.BadParameter("expected x,y,z in mm", param_hint=name) from None
    if len(v) != 3:
        raise typer.BadParameter("expected three numbers x,y,z", param_hint=name)
    return v


@imaging_app.command()
def measure(
    path: Annotated[Path, typer.Argument(help="Segmentation: .seg.nrrd, .nii/.nii.gz, .nrrd or DICOM SEG.")],
    as_json: JsonOpt = False,
) -> None:
    """Volume, voxel count and maximum 3D diameter of every segment in a segmentation file."""
    from medtwin.models.imaging.measure import max_diameter
    from medtwin.services.imaging.formats import read_labels

    try:
        labels = read_labels(path)
        voxel_ml = abs(float(__import__("numpy").linalg.det(labels.affine[:3, :3]))) / 1000.0
        rows: list[dict[str, Any]] = []
        for s in labels.segments:
            m = labels.mask(s)
            n = int(m.sum())
            rows.append(
                {
                    "name": s.name,
                    "volume_ml": round(n * voxel_ml, 3),
                    "voxels": n,
                    "max_diameter_mm": round(max_diameter(m, labels.affine), 2),
                }
            )
    except MedtwinError as exc:
        _fail(exc, as_json)
        return
    if as_json:
        typer.echo(json.dumps({"segments": rows}))
        return
    t = Table(title=path.name)
    for col in ("segment", "volume (mL)", "voxels", "max diameter (mm)"):
        t.add_column(col, justify="left" if col == "segment" else "right")
    for r in rows:
        t.add_row(r["name"], f"{r['volume_ml']:.2f}", str(r["voxels"]), f"{r['max_diameter_mm']:.1f}")
    Console().print(t)


@imaging_app.command("import")
def import_(
    twin: Annotated[str, typer.Argument(help="Patient twin id.")],
    paths: Annotated[list[Path], typer.Argument(help="DICOM files/folders, or one NIfTI/NRRD file.")],
    db: Db = None,
    by: Annotated[str, typer.Option(help="Who imports (provenance).")] = "cli",
    as_json: JsonOpt = False,
) -> None:
    """Import a study into a patient twin (every series found)."""
    from medtwin.services.imaging.service import ImagingService

    try:
        with _runtime(db) as rt:
            res = ImagingService(rt).import_path(twin, paths, by=f"user:{by}")
    except MedtwinError as exc:
        _fail(exc, as_json)
        return
    if as_json:
        typer.echo(json.dumps(res, default=str))
        return
    for s in res["series"]:
        g = s["geometry"]
        console.print(
            f"series [bold]{s['id']}[/bold] {s['modality']} {g['shape']} spacing {g['spacing_mm']} mm"
        )
    for w in res["warnings"]:
        console.print(f"[yellow]warning:[/yellow] {w}")


@imaging_app.command()
def segment(
    series: Annotated[str, typer.Argument(help="Series id.")],
    lower: Annotated[float | None, typer.Option(help="Lower threshold (HU).")] = None,
    upper: Annotated[float | None, typer.Option(help="Upper threshold (HU).")] = None,
    seed: Annotated[str | None, typer.Option(help="Region-growing seed x,y,z (LPS mm).")] = None,
    name: Annotated[str, typer.Option(help="Segment name.")] = "segment",
    role: Annotated[str | None, typer.Option(help="organ, lesion, node, vessel or graft.")] = None,
    split: Annotated[bool, typer.Option("--split-islands", help="One segment per island.")] = False,
    labels: Annotated[Path | None, typer.Option(help="Attach this label file instead.")] = None,
    db: Db = None,
    as_json: JsonOpt = False,
) -> None:
    """Threshold / region-grow a series, or attach a label file made elsewhere."""
    from medtwin.services.imaging.service import ImagingService

    spec: dict[str, Any] = {"lower": lower, "upper": upper, "name": name, "split_islands": split}
    if role:
        spec["role"] = role
    if seed:
        spec.update(method="region_grow", seed_lps=_vec(seed, "--seed"))
    try:
        with _runtime(db) as rt:
            svc = ImagingService(rt)
            row = (
                svc.import_labels(series, labels, by="cli") if labels else svc.segment(series, spec, by="cli")
            )
    except MedtwinError as exc:
        _fail(exc, as_json)
        return
    out = {"id": row["id"], "segments": [{"name": s["name"], "role": s["role"]} for s in row["segments"]]}
    typer.echo(
        json.dumps(out)
        if as_json
        else f"segmentation {row['id']}: {', '.join(s['name'] for s in row['segments'])}"
    )


@imaging_app.command()
def mesh(
    source: Annotated[str, typer.Argument(help="Segmentation id, or a segmentation file.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="GLB file to write.")],
    db: Db = None,
) -> None:
    """Export segments as smoothed, decimated surfaces in one GLB file."""
    from medtwin.models.imaging import mesh as meshes
    from medtwin.services.imaging.formats import read_labels

    try:
        if Path(source).exists():
            lm = read_labels(Path(source))
            parts = [
                meshes.Part(s.name, m, s.color)
                for s in lm.segments
                if (m := meshes.mask_to_mesh(lm.mask(s), lm.affine)) is not None
            ]
            data = meshes.to_glb(parts)
        else:
            from medtwin.services.imaging.service import ImagingService

            with _runtime(db) as rt:
                data = ImagingService(rt).glb(source)
    except MedtwinError as exc:
        _fail(exc, False)
        return
    out.write_bytes(data)
    console.print(f"wrote {out} ({len(data) / 1e6:.2f} MB)")


@imaging_app.command()
def recist(
    baseline: Annotated[str, typer.Option(help="Baseline segmentation id.")],
    followup: Annotated[list[str], typer.Option(help="Follow-up segmentation id (repeat, in time order).")],
    reference: Annotated[str | None, typer.Option(help="Organ segment used to align studies.")] = None,
    db: Db = None,
    as_json: JsonOpt = False,
) -> None:
    """RECIST 1.1 (Eisenhauer 2009) and volumetric response; results become observations."""
    from medtwin.services.imaging.followup import assess_recist
    from medtwin.services.imaging.service import ImagingService

    try:
        with _runtime(db) as rt:
            res = assess_recist(ImagingService(rt), baseline, followup, reference=reference, by="user:cli")
    except MedtwinError as exc:
        _fail(exc, as_json)
        return
    if as_json:
        typer.echo(json.dumps(res, default=str))
        return
    console.print(
        f"baseline SOD {res['baseline']['sod_mm']} mm, targets {[t['name'] for t in res['baseline']['targets']]}"
    )
    for p in res["followups"]:
        console.print(
            f"{p['time'][:10]}: SOD {p['sod_mm']} mm ({p['change_from_baseline_pct']:+.1f} % vs baseline, "
            f"{p['change_from_nadir_pct']:+.1f} % vs nadir), new {p['new_lesions'] or 'none'} -> [bold]{p['overall']}[/bold]"
        )


@imaging_app.command()
def doppler(
    twin: Annotated[str, typer.Argument(help="Patient twin id.")],
    organ: Annotated[str, typer.Option(help="liver or kidney (graft).")],
    psv: Annotated[float, typer.Option(help="Peak systolic velocity, cm/s.")],
    edv: Annotated[float, typer.Option(help="End-diastolic velocity, cm/s.")],
    time: Annotated[str | None, typer.Option(help="ISO 8601 time of the exam (default now).")] = None,
    db: Db = None,
    as_json: JsonOpt = False,
) -> None:
    """Record a Doppler resistive index with its published normal range."""
    from medtwin.core.validate import parse_time
    from medtwin.services.imaging.followup import record_doppler
    from medtwin.services.imaging.service import ImagingService

    try:
        with _runtime(db) as rt:
            when = parse_time(time) if time else rt.clock.now()
            res = record_doppler(
                ImagingService(rt), twin, organ=organ, psv=psv, edv=edv, when=when, by="user:cli"
            )
    except MedtwinError as exc:
        _fail(exc, as_json)
        return
    typer.echo(json.dumps(res) if as_json else f"RI {res['ri']:.2f} ({res['status']}): {res['note']}")


@imaging_app.command()
def plan(
    segmentation: Annotated[str, typer.Argument(help="Segmentation id.")],
    point: Annotated[str, typer.Option(help="A point of the plane, x,y,z (LPS mm).")],
    normal: Annotated[str, typer.Option(help="Normal towards the resected side, x,y,z.")],
    name: Annotated[str | None, typer.Option(help="Plan name.")] = None,
    organ: Annotated[str | None, typer.Option(help="Organ segment (default: first organ).")] = None,
    liver_state: Annotated[str, typer.Option(help="healthy, chemotherapy or cirrhosis.")] = "healthy",
    db: Db = None,
    as_json: JsonOpt = False,
) -> None:
    """Save a planar resection plan: remnant %, margins, vessel distances, risk notes."""
    from medtwin.services.imaging.planning import create_plan
    from medtwin.services.imaging.service import ImagingService

    body = {
        "plane": {"point": _vec(point, "--point"), "normal": _vec(normal, "--normal")},
        "liver_state": liver_state,
    }
    if name:
        body["name"] = name
    if organ:
        body["organ"] = organ
    try:
        with _runtime(db) as rt:
            row = create_plan(ImagingService(rt), segmentation, body, by="user:cli")
    except MedtwinError as exc:
        _fail(exc, as_json)
        return
    r = row["result"]
    if as_json:
        typer.echo(json.dumps({"id": row["id"], "name": row["name"], **r}))
        return
    console.print(
        f"plan {row['id']} {row['name']!r}: remnant {r['remnant_ml']:.0f} mL = {r['remnant_pct']:.1f} % ({r['flr_status']})"
    )
    for note in r["risks"]:
        console.print(f"  [yellow]risk:[/yellow] {note}")


@imaging_app.command()
def compare(
    plans: Annotated[list[str], typer.Argument(help="Plan ids.")],
    db: Db = None,
    as_json: JsonOpt = False,
) -> None:
    """Compare alternative plans side by side."""
    from medtwin.services.imaging.planning import compare_plans
    from medtwin.services.imaging.service import ImagingService

    try:
        with _runtime(db) as rt:
            res = compare_plans(ImagingService(rt), plans)
    except MedtwinError as exc:
        _fail(exc, as_json)
        return
    if as_json:
        typer.echo(json.dumps(res))
        return
    t = Table(title="Resection plans")
    for c in ("plan", "remnant %", "remnant mL", "FLR", "min margin mm", "lesions removed", "risks"):
        t.add_column(c)
    for r in res["plans"]:
        t.add_row(
            r["name"],
            f"{r['remnant_pct']:.1f}",
            f"{r['remnant_ml']:.0f}",
            r["flr_status"],
            str(r["min_margin_mm"]),
            "yes" if r["all_lesions_removed"] else "NO",
            str(r["risks"]),
        )
    Console().print(t)
