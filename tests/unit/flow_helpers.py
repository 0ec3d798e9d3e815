"""Shared synthetic logs for the operations tests (generated once per test session)."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

from medtwin.services.operations.genconfig import GeneratorConfig, parse_bottleneck
from medtwin.services.operations.generator import generate

_DIR = Path(tempfile.mkdtemp(prefix="medtwin-flow-tests-"))


@functools.cache
def clinic_log() -> Path:
    """Four weeks of the default outpatient department (~80k events), seed 5."""
    out = _DIR / "clinic.parquet"
    generate(GeneratorConfig(years=28 / 365.25, seed=5), out, workers=1)
    return out


@functools.cache
def planted_log() -> Path:
    """Six weeks at 300 patients/day with planted extra waits: Pharmacy 10 min, Imaging 20 min."""
    cfg = GeneratorConfig(years=42 / 365.25, seed=11, patients_per_day=300)
    cfg.bottlenecks = [parse_bottleneck("Pharmacy:delay=10"), parse_bottleneck("Imaging:delay=20")]
    out = _DIR / "planted.parquet"
    generate(cfg, out, workers=1)
    return out


@functools.cache
def understaffed_log() -> Path:
    """Two weeks with the pharmacy two people short from 10:00 to 15:00."""
    cfg = GeneratorConfig(years=14 / 365.25, seed=3)
    cfg.bottlenecks = [parse_bottleneck("Pharmacy:staff-2@10-15")]
    out = _DIR / "understaffed.parquet"
    generate(cfg, out, workers=1)
    return out
