"""Exposure metrics and probability of target attainment from simulated patients. Pure.

Definitions (times in minutes; the evaluation window is ``[start, end]``):

* ``auc24``: exact AUC of the plasma concentration over ``[end - 24 h, end]`` (mg.h/L), divided
  by the MIC when the criterion is per MIC (vancomycin AUC24/MIC, Rybak 2020);
* ``peak`` / ``trough``: highest concentration in, and the concentration at the end of, the last
  complete dosing interval in the window (dosing interval = from one dose start to the next;
  the last dose's interval ends at ``end``);
* ``post_dose``: the concentration ``offset_h`` after the last dose in the window;
* ``effect_window``: the PD effect over the window; its probability is the mean fraction of time
  in range (a probability over patients and time, without a made-up duration threshold).

Time in the therapeutic window: fraction of time in range for ``effect_window``; otherwise the
fraction of evaluation units meeting the target (24-h periods for ``auc24``, dosing intervals for
``peak``/``trough``/``post_dose``).

Probability of target attainment is the fraction of virtual patients meeting the target
(closed-form check: vancomycin 2000 mg/day, CL ~ LN(4 L/h, 0.3^2): P(400 <= AUC <= 600) =
Phi(ln(5/4)/0.3) - Phi(ln(10/3/4)/0.3) = 0.4998 and P(AUC > 600) = 0.2717).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from medtwin.core.errors import ValidationError
from medtwin.models.pharmacology.library.base import Criterion
from medtwin.models.pharmacology.linear import FloatArray
from medtwin.models.pharmacology.predict import Prediction
from medtwin.models.pharmacology.regimen import Dose

DAY = 1440.0
EPS = 1e-3  # min: "just before" a dose


def evaluation_grid(
    doses: Sequence[Dose], start: float, end: float, step: float, offsets_h: Sequence[float] = ()
) -> FloatArray:
    """Output times covering the window: a regular grid plus every point the metrics read."""
    if not end > start:
        raise ValidationError("the evaluation window is empty", field="horizon")
    pts = [np.arange(start, end, step), np.array([start, end, max(start, end - DAY)])]
    extra: list[float] = []
    for d in doses:
        extra += [d.time - EPS, d.time, d.end]
        extra += [d.time + h * 60.0 for h in offsets_h]
    pts.append(np.asarray([x for x in extra if start <= x <= end], dtype=np.float64))
    return np.unique(np.concatenate(pts))


def _idx(t: FloatArray, x: float) -> int:
    i = int(np.searchsorted(t, x - 1e-9))
    if i >= t.shape[0] or abs(t[i] - x) > 1e-6:
        raise ValidationError(f"time {x:g} min is not on the evaluation grid", field="times")
    return i


def dose_intervals(doses: Sequence[Dose], start: float, end: float) -> list[tuple[float, float]]:
    times = sorted({d.time for d in doses if start <= d.time < end})
    return [(a, times[i + 1] if i + 1 < len(times) else end) for i, a in enumerate(times)]


@dataclass(frozen=True)
class Exposure:
    """Per-patient values (P,) of the target metric, the toxicity metric, and the outcome flags."""

    target_value: FloatArray | None
    tox_value: FloatArray | None
    in_target: FloatArray  # fraction in [0, 1] per patient (1/0 except effect windows)
    toxic: FloatArray
    time_in_window: FloatArray


def metric_values(
    crit: Criterion,
    pred: Prediction,
    doses: Sequence[Dose],
    start: float,
    end: float,
    mic: float = 1.0,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(value per patient, outcome per patient, per-unit outcomes (P, U)) for ``crit``."""
    t, cp = pred.sim.t, pred.sim.cp
    if crit.metric == "effect_window":
        if pred.effect is None:
            raise ValidationError("this model has no effect (PD) model", field="model")
        sel = (t >= start) & (t <= end)
        eff = pred.effect[:, sel]
        flags = crit.inside(eff) if crit.low is not None and crit.high is not None else crit.outside(eff)
        frac = _time_weighted(t[sel], flags)
        return _time_weighted(t[sel], eff), frac, frac[:, None]
    if crit.metric == "auc24":
        units = []
        e = end
        while e - DAY >= start - 1e-9:
            units.append((e - DAY, e))
            e -= DAY
        if not units:
            raise ValidationError("the evaluation window is shorter than 24 h", field="horizon")
        vals = np.stack(
            [(pred.sim.auc[:, _idx(t, b)] - pred.sim.auc[:, _idx(t, a)]) / 60.0 for a, b in units], axis=1
        )
        if crit.per_mic:
            vals = vals / mic
        return vals[:, 0], vals[:, 0], vals
    intervals = dose_intervals(doses, start, end)
    if not intervals:
        raise ValidationError("no dose in the evaluation window", field="regimen")
    cols = []
    for a, b in intervals:
        if crit.metric == "peak":
            sel = (t >= a) & (t <= b)
            cols.append(cp[:, sel].max(axis=1))
        elif crit.metric == "trough":
            cols.append(cp[:, _idx(t, b - EPS if b < end else b)])
        else:  # post_dose
            x = a + crit.offset_h * 60.0
            cols.append(cp[:, _idx(t, x)] if x <= end else np.full(cp.shape[0], np.nan))
    vals = np.stack(cols, axis=1)
    last = vals[:, -1]
    if np.all(np.isnan(last)) and vals.shape[1] > 1:
        last = vals[:, -2]
    return last, last, vals


def _time_weighted(t: FloatArray, v: FloatArray) -> FloatArray:
    if t.shape[0] < 2:
        return np.asarray(v[:, 0], dtype=np.float64)
    w = np.diff(t)
    mid = (v[:, 1:] + v[:, :-1]) / 2.0
    return np.asarray((mid * w).sum(axis=1) / w.sum(), dtype=np.float64)


def exposure(
    target: Criterion | None,
    toxicity: Criterion | None,
    pred: Prediction,
    doses: Sequence[Dose],
    start: float,
    end: float,
    mic: float = 1.0,
) -> Exposure:
    p = pred.sim.cp.shape[0]
    tv = xv = None
    in_target = np.zeros(p)
    toxic = np.zeros(p)
    tiw = np.zeros(p)
    if target is not None:
        tv, _, units = metric_values(target, pred, doses, start, end, mic)
        if target.metric == "effect_window":
            in_target = units[:, 0]
            tiw = in_target
        else:
            in_target = target.inside(np.nan_to_num(tv, nan=-np.inf))
            ok = target.inside(np.nan_to_num(units, nan=-np.inf))
            tiw = ok.mean(axis=1)
    if toxicity is not None:
        xv, _, units = metric_values(toxicity, pred, doses, start, end, mic)
        if toxicity.metric == "effect_window":
            toxic = units[:, 0]
        else:
            toxic = toxicity.outside(np.nan_to_num(xv, nan=0.0))
    return Exposure(tv, xv, in_target, toxic, tiw)
