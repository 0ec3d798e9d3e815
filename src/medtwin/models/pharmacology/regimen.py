"""Dosing regimens as data: doses (IV bolus, zero-order infusion, oral) on a minute time axis. Pure.

A :class:`Dose` is ``amount`` mg given at ``time`` minutes over ``duration`` minutes (0 = bolus).
A continuous infusion of R mg/h from T0 to T1 is the dose ``R (T1 - T0) / 60`` mg over
``T1 - T0`` minutes. Oral doses go to a depot compartment (first-order absorption, bioavailability
and lag of the drug model). :func:`parse_cli_regimen` reads the JSON list of the
``medtwin pk simulate --regimen`` option::

    [{"type": "bolus", "dose_mg": 100, "at_min": 0, "duration_s": 10},
     {"type": "infusion", "rate_mg_per_h": 600, "start_min": 1, "end_min": 60},
     {"type": "oral", "dose_mg": 400, "at_min": 0}]
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from medtwin.core.errors import ValidationError

Route = Literal["iv", "oral"]


@dataclass(frozen=True, slots=True)
class Dose:
    time: float  # min
    amount: float  # mg
    duration: float = 0.0  # min; 0 = instantaneous bolus
    route: Route = "iv"

    def __post_init__(self) -> None:
        if not (math.isfinite(self.time) and math.isfinite(self.amount) and math.isfinite(self.duration)):
            raise ValidationError("dose time, amount and duration must be finite numbers", field="regimen")
        if self.amount < 0:
            raise ValidationError("dose amount must not be negative", field="dose_mg")
        if self.duration < 0:
            raise ValidationError("duration must not be negative", field="duration")
        if self.route not in ("iv", "oral"):
            raise ValidationError("route must be 'iv' or 'oral'", field="route")
        if self.route == "oral" and self.duration > 0:
            raise ValidationError("oral doses are given at once (duration 0)", field="duration")

    @property
    def end(self) -> float:
        return self.time + self.duration

    @property
    def rate(self) -> float:
        """mg/min during an infusion (0 for a bolus)."""
        return self.amount / self.duration if self.duration > 0 else 0.0

    def scaled(self, factor: float) -> Dose:
        return Dose(self.time, self.amount * factor, self.duration, self.route)


def repeated(
    amount: float,
    interval_min: float,
    n: int,
    *,
    start: float = 0.0,
    duration: float = 0.0,
    route: Route = "iv",
) -> tuple[Dose, ...]:
    """``n`` equal doses every ``interval_min`` minutes from ``start``."""
    if n < 1 or n > 1000:
        raise ValidationError("number of doses must be 1-1000", field="n_doses")
    if not interval_min > 0:
        raise ValidationError("interval must be positive", field="interval_h")
    if duration > interval_min:
        raise ValidationError("infusion longer than the dosing interval", field="duration_min")
    return tuple(Dose(start + i * interval_min, amount, duration, route) for i in range(n))


def _num(item: Mapping[str, Any], key: str, i: int, default: float | None = None) -> float:
    v = item.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(float(v)):
        raise ValidationError(f"item {i}: {key} must be a number", field=key, index=i)
    return float(v)


def parse_cli_regimen(items: Any) -> list[Dose]:
    """The ``--regimen`` JSON list (bolus / infusion / oral objects, minutes) as doses."""
    if not isinstance(items, list) or not items:
        raise ValidationError("regimen must be a non-empty JSON list", field="regimen")
    out: list[Dose] = []
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise ValidationError(f"item {i}: expected an object", field="regimen", index=i)
        kind = item.get("type")
        if kind == "bolus":
            dur_s = _num(item, "duration_s", i, 0.0)
            out.append(Dose(_num(item, "at_min", i), _num(item, "dose_mg", i), dur_s / 60.0, "iv"))
        elif kind == "infusion":
            t0, t1 = _num(item, "start_min", i), _num(item, "end_min", i)
            rate = _num(item, "rate_mg_per_h", i)
            if not t1 > t0:
                raise ValidationError(f"item {i}: end_min must be after start_min", field="end_min", index=i)
            if rate < 0:
                raise ValidationError(f"item {i}: rate must not be negative", field="rate_mg_per_h", index=i)
            out.append(Dose(t0, rate * (t1 - t0) / 60.0, t1 - t0, "iv"))
        elif kind == "oral":
            out.append(Dose(_num(item, "at_min", i), _num(item, "dose_mg", i), 0.0, "oral"))
        else:
            raise ValidationError(
                f"item {i}: type must be 'bolus', 'infusion' or 'oral'", field="type", index=i
            )
    return sorted(out, key=lambda d: d.time)


def to_cli_regimen(doses: Iterable[Dose]) -> list[dict[str, float | str]]:
    out: list[dict[str, float | str]] = []
    for d in doses:
        if d.route == "oral":
            out.append({"type": "oral", "dose_mg": d.amount, "at_min": d.time})
        elif d.duration > 0 and d.duration >= 60:
            out.append(
                {
                    "type": "infusion",
                    "rate_mg_per_h": d.rate * 60.0,
                    "start_min": d.time,
                    "end_min": d.end,
                }
            )
        else:
            out.append(
                {"type": "bolus", "dose_mg": d.amount, "at_min": d.time, "duration_s": d.duration * 60}
            )
    return out


def daily_dose(doses: Sequence[Dose], start: float, end: float) -> float:
    """Mean mg per 24 h delivered in [start, end) (infusions pro rata)."""
    if not end > start:
        return 0.0
    total = 0.0
    for d in doses:
        if d.duration <= 0:
            total += d.amount if start <= d.time < end else 0.0
        else:
            overlap = max(0.0, min(end, d.end) - max(start, d.time))
            total += d.rate * overlap
    return total * 1440.0 / (end - start)


def last_dose_before(doses: Sequence[Dose], t: float) -> Dose | None:
    before = [d for d in doses if d.time <= t]
    return max(before, key=lambda d: d.time) if before else None


def shift(doses: Iterable[Dose], dt: float) -> list[Dose]:
    return [Dose(d.time + dt, d.amount, d.duration, d.route) for d in doses]
