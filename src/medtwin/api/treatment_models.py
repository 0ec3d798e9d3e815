"""Request bodies of the treatment API (:mod:`medtwin.api.treatment`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SimulateIn(_In):
    drug: str
    model: str | None = None
    age: float
    weight: float
    height: float
    sex: str
    scr: float | None = Field(None, description="serum creatinine, mg/dL")
    regimen: list[dict[str, Any]]
    times_min: list[float] = Field(min_length=1, max_length=20_000)


class LevelIn(_In):
    value: float = Field(ge=0)
    time: datetime | None = None
    code: str | None = Field(None, description="LOINC of the level (default: the drug's first level code)")
    unit: str | None = None


class MeasurementsIn(_In):
    weight: float | None = Field(None, gt=0, description="kg")
    height: float | None = Field(None, gt=0, description="cm")
    scr: float | None = Field(None, gt=0, description="serum creatinine, mg/dL")
    time: datetime | None = None


class DoseIn(_In):
    dose_mg: float = Field(gt=0)
    time: datetime | None = None
    duration_min: float | None = Field(None, ge=0)
    route: str | None = None


class FitIn(_In):
    model: str | None = None
    covariates: dict[str, Any] | None = None


class CompareIn(_In):
    candidates: list[dict[str, Any]] = Field(min_length=1, max_length=12)
    horizon_h: float = 48.0
    mic: float = Field(1.0, gt=0)
    tox_limit: float = Field(0.10, ge=0, le=1)
    n: int = Field(1000, ge=10, le=20_000)
    seed: int = 0
    suggest: bool = True


class SelectIn(_In):
    label: str = Field(min_length=1, max_length=200)


class GlucoseFitIn(_In):
    hours: float = Field(24.0, ge=2, le=14 * 24)
    basal_u_per_h: float | None = Field(None, ge=0, le=20)


class GlucoseCompareIn(_In):
    candidates: list[dict[str, Any]] = Field(min_length=1, max_length=12)
    meals: list[dict[str, Any]] | None = None
    hours: float = Field(24.0, ge=1, le=72)
    n: int = Field(100, ge=5, le=2000)
    harm_limit: float = Field(0.05, ge=0, le=1)
    seed: int = 0


class GlucoseSimIn(_In):
    patient: str
    meals: list[dict[str, Any]] = Field(default_factory=list)
    regimen: dict[str, Any] = Field(default_factory=dict)
    hours: float = 24.0
    seed: int | None = None
