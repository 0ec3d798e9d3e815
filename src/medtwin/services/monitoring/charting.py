"""Nurse charting: manual vitals and observations, fluids, meals, sleep, medication given, notes;
corrections that amend and never overwrite; fluid balance; per-patient monitoring settings.

Everything charted goes through the one ingest path (:class:`medtwin.ingest.pipeline.Ingestor`
validation with ``Method.MANUAL``, source ``user:<by>``, then the BatchWriter), so charted
readings feed the same history, latest state, scores, alarms and live feed as device readings.
What a nurse charts, under which code (medtwin.core.codes): any vital sign (``hr``, ``rr``,
``spo2``, ``sbp``, ``dbp``, ``temp``, ``o2_device``, ``o2_flow``, ``fio2``), ``acvpu`` (A, C, V,
P, U), ``gcs``, ``urine`` (mL), ``fluid_in`` (mL), ``meal`` (% of the portion eaten), ``sleep``
(asleep/awake), ``weight``, ``note`` (free text); medication administrations (drug, dose, unit,
route, time, performer = who gave it, FHIR MedicationAdministration). Scores (news2, qsofa, mews)
are computed by medtwin and cannot be charted.

Corrections: :mod:`medtwin.store.corrections` (FHIR R4 Observation.status amended /
entered-in-error). After a correction the service publishes the replacement as
``ObservationsRecorded`` (amend) and ``Generic(type="observation_corrected")`` (both), so the
scores are recomputed and dashboards refresh.

Fluid balance over a window: intake = sum of ``fluid_in``, output = sum of ``urine`` (the code
table has no code for other losses yet, so ``fluid.output_ml`` is charted as urine output),
balance = intake - output; urine output per kg per hour = output / weight / window hours, with
the weight from the latest ``weight`` reading or the twin's ``attributes["weight_kg"]``.

NEWS2 SpO2 scale 2 is for patients with hypercapnic respiratory failure and a prescribed target
of 88-92 % (RCP 2017, Chart 1 notes); it is set per patient by a clinician, with a reason.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from medtwin.core.codes import BY_KEY, BY_REF, lookup
from medtwin.core.errors import ValidationError
from medtwin.core.events import Context, Generic, ObservationsRecorded
from medtwin.core.ids import new_id, valid_id
from medtwin.core.model import MedicationAdministration, Method, Observation, Twin, TwinKind
from medtwin.core.validate import check_value, parse_time
from medtwin.ingest.pipeline import ReadingBatch
from medtwin.services.monitoring.compute import SCORE_REFS, SCORES
from medtwin.services.monitoring.scoring import CORRECTION_EVENT
from medtwin.store import corrections
from medtwin.store.writer import Ack

MAX_REASON = 2000
MAX_HOURS = 24 * 31
_READING_KEYS = ("code", "system", "value", "unit", "time")
_MED_KEYS = ("drug", "dose", "unit", "dose_unit", "route", "time", "note")
_NOT_CHARTABLE = set(SCORE_REFS.values()) | set(SCORES)


@dataclass
class ChartResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    observations: list[Observation] = field(default_factory=list)
    medications: list[MedicationAdministration] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Item:
    field: str  # "readings", "note", "fluid.intake_ml", "fluid.output_ml", "medications"
    index: int | None  # position in the caller's list (None for single fields)


def _text(body: Mapping[str, Any], key: str, *, required: bool, max_len: int = MAX_REASON) -> str | None:
    v = body.get(key)
    if v is None or (isinstance(v, str) and not v.strip()):
        if required:
            raise ValidationError(f"{key} is required", field=key)
        return None
    if not isinstance(v, str):
        raise ValidationError(f"{key} must be text", field=key)
    v = v.strip()
    if len(v) > max_len:
        raise ValidationError(f"{key} is longer than {max_len} characters", field=key)
    return v


class ChartingService:
    """Stateless over the runtime: cheap to build per request."""

    def __init__(self, runtime: Any) -> None:
        self.rt = runtime

    # ------------------------------------------------------------------ who and about whom
    def _staff(self, body: Mapping[str, Any]) -> str:
        by = body.get("by")
        if not isinstance(by, str) or not valid_id(by):
            raise ValidationError(
                "by must be the staff id of who charts (1-64 letters, digits, '.', '_' or '-')", field="by"
            )
        t = self.rt.store.get_twin(by)
        if t is not None and t.kind is not TwinKind.STAFF:
            raise ValidationError(f"{by!r} is a {t.kind.value}, not a staff member", field="by")
        return by

    def _patient(self, twin_id: str) -> Twin:
        t: Twin = self.rt.registry.get(twin_id)
        if t.kind is not TwinKind.PATIENT:
            raise ValidationError(
                f"twin {twin_id!r} is a {t.kind.value}; charting is for patients", field="id"
            )
        return t

    # ------------------------------------------------------------------ charting
    def prepare(
        self, twin_id: str, body: Any
    ) -> tuple[list[Observation], list[MedicationAdministration], list[dict[str, Any]], str]:
        """Validate a chart body; returns (observations, medications, rejects, by). Raises
        ValidationError (naming the field) when the body as a whole is unusable."""
        if not isinstance(body, Mapping):
            raise ValidationError("body must be a JSON object", field="body")
        self._patient(twin_id)
        by = self._staff(body)
        now: datetime = self.rt.clock.now()
        when = now if body.get("time") is None else parse_time(body.get("time"), "time")
        if when > now + self.rt.ingestor.max_future:
            raise ValidationError(f"time {when.isoformat()} is in the future", field="time")
        stamp = when.isoformat()
        msg_id = body.get("id")
        if msg_id is None:
            msg_id = new_id()
        elif not isinstance(msg_id, str) or not valid_id(msg_id):
            raise ValidationError(
                "id (the client's idempotency key) must be 1-64 letters, digits, '.', '_', '-'", field="id"
            )
        readings = body.get("readings", [])
        meds = body.get("medications", [])
        if readings is None:
            readings = []
        if meds is None:
            meds = []
        if not isinstance(readings, list):
            raise ValidationError("readings must be a list", field="readings")
        if not isinstance(meds, list):
            raise ValidationError("medications must be a list", field="medications")

        raws: list[Mapping[str, Any]] = []
        items: list[_Item] = []
        early: list[dict[str, Any]] = []
        for i, r in enumerate(readings):
            if not isinstance(r, Mapping):
                early.append({"index": i, "field": f"readings[{i}]", "reason": "expected an object"})
                continue
            code = r.get("code")
            info = lookup(code) if isinstance(code, str) else None
            if isinstance(code, str) and (
                code in _NOT_CHARTABLE or (info is not None and info.ref in _NOT_CHARTABLE)
            ):
                early.append(
                    {
                        "index": i,
                        "field": f"readings[{i}].code",
                        "reason": "scores are computed by medtwin, not charted",
                    }
                )
                continue
            raw = {k: r[k] for k in _READING_KEYS if k in r}
            raw.setdefault("time", stamp)
            raws.append(raw)
            items.append(_Item("readings", i))
        note = body.get("note")
        if note is not None:
            if not isinstance(note, str) or not note.strip():
                early.append({"index": None, "field": "note", "reason": "note must be non-empty text"})
            else:
                raws.append({"code": "note", "value": note.strip(), "time": stamp})
                items.append(_Item("note", None))
        fluid = body.get("fluid")
        if fluid is not None:
            if not isinstance(fluid, Mapping) or not ({"intake_ml", "output_ml"} & set(fluid)):
                early.append(
                    {"index": None, "field": "fluid", "reason": 'expected {"intake_ml": n, "output_ml": n}'}
                )
            else:
                extra = sorted(set(fluid) - {"intake_ml", "output_ml"})
                if extra:
                    early.append({"index": None, "field": f"fluid.{extra[0]}", "reason": "unknown field"})
                for key, code in (("intake_ml", "fluid_in"), ("output_ml", "urine")):
                    if fluid.get(key) is not None:
                        raws.append({"code": code, "value": fluid[key], "unit": "mL", "time": stamp})
                        items.append(_Item(f"fluid.{key}", None))
        med_raws: list[dict[str, Any]] = []
        med_items: list[int] = []
        for j, m in enumerate(meds):
            if not isinstance(m, Mapping):
                early.append({"index": j, "field": f"medications[{j}]", "reason": "expected an object"})
                continue
            raw_m = {k: m[k] for k in _MED_KEYS if k in m}
            raw_m.setdefault("time", stamp)
            raw_m["performer"] = by
            med_raws.append(raw_m)
            med_items.append(j)
        if not raws and not med_raws and not early:
            raise ValidationError(
                "nothing to chart: give readings, medications, a note or fluid", field="readings"
            )

        batch = ReadingBatch(
            source=f"user:{by}",
            msg_id=msg_id,
            readings=raws,
            subject=twin_id,
            method=Method.MANUAL,
            medications=med_raws,
        )
        obs, med_objs, rejects = self.rt.ingestor.prepare(batch, now)
        mapped = list(early)
        for rj in rejects:
            idx = rj.get("index")
            sub = rj.get("field")
            if isinstance(idx, int) and idx < len(items):
                it = items[idx]
                if it.field == "readings":
                    where = f"readings[{it.index}]" + (f".{sub}" if sub and sub != "reading" else "")
                else:
                    where = it.field
                mapped.append({"index": it.index, "field": where, "reason": rj.get("reason")})
            elif isinstance(idx, int):
                j = med_items[idx - len(items)]
                where = f"medications[{j}]" + (f".{sub}" if sub and sub != "medication" else "")
                mapped.append({"index": j, "field": where, "reason": rj.get("reason")})
            else:
                mapped.append({"index": None, "field": sub, "reason": rj.get("reason")})
        return obs, med_objs, sorted(mapped, key=_reject_order), by

    def chart(self, twin_id: str, body: Any) -> Future[ChartResult]:
        """Validate and submit; the future resolves after the commit."""
        obs, meds, rejects, by = self.prepare(twin_id, body)

        def finish(ack: Ack) -> ChartResult:
            return ChartResult(
                accepted=len(ack.accepted) + len(ack.medications),
                duplicates=ack.duplicates + ack.medication_duplicates,
                rejected=rejects,
                observations=list(ack.accepted),
                medications=list(ack.medications),
            )

        fut: Future[ChartResult] = self.rt.writer.submit(
            obs, meds, context=Context(actor=f"user:{by}"), finish=finish
        )
        return fut

    # ------------------------------------------------------------------ corrections
    def amend(self, obs_id: int, body: Any) -> tuple[Observation, Observation, corrections.Correction]:
        if not isinstance(body, Mapping):
            raise ValidationError("body must be a JSON object", field="body")
        by = self._staff(body)
        reason = _text(body, "reason", required=True)
        assert reason is not None
        original = self.rt.store.get_observation(obs_id)
        info = BY_REF.get(original.code)
        if info is None:
            raise ValidationError(f"observation {obs_id} has a code medtwin cannot validate", field="obs_id")
        if "value" not in body:
            raise ValidationError("value (the corrected value) is required", field="value")
        value, value_text = check_value(info, body.get("value"), body.get("unit"))
        now = self.rt.clock.now()
        orig, new, corr = corrections.amend(
            self.rt.store,
            obs_id,
            value=value,
            value_text=value_text,
            unit=info.unit if value is not None else "",
            by=by,
            reason=reason,
            now=now,
        )
        ctx = Context(actor=f"user:{by}")
        self.rt.bus.publish(ObservationsRecorded(time=now, context=ctx, observations=(new,)))
        self._announce(orig, corr, ctx)
        return orig, new, corr

    def enter_in_error(self, obs_id: int, body: Any) -> tuple[Observation, corrections.Correction]:
        if not isinstance(body, Mapping):
            raise ValidationError("body must be a JSON object", field="body")
        by = self._staff(body)
        reason = _text(body, "reason", required=True)
        assert reason is not None
        now = self.rt.clock.now()
        orig, corr = corrections.enter_in_error(self.rt.store, obs_id, by=by, reason=reason, now=now)
        self._announce(orig, corr, Context(actor=f"user:{by}"))
        return orig, corr

    def _announce(self, orig: Observation, corr: corrections.Correction, ctx: Context) -> None:
        self.rt.bus.publish(
            Generic(
                time=corr.time,
                context=ctx,
                type=CORRECTION_EVENT,
                data={
                    "twin": orig.twin_id,
                    "obs_id": orig.id,
                    "code": orig.code,
                    "action": corr.action,
                    "new_obs_id": corr.new_obs_id,
                    "by": corr.by,
                },
            )
        )

    def observation(self, obs_id: int) -> tuple[Observation, corrections.Correction | None]:
        return self.rt.store.get_observation(obs_id), corrections.correction_of(self.rt.store, obs_id)

    # ------------------------------------------------------------------ views
    def _window(self, hours: float) -> tuple[datetime, datetime]:
        if isinstance(hours, bool) or not isinstance(hours, int | float) or not math.isfinite(hours):
            raise ValidationError("hours must be a number", field="hours")
        if not 0 < hours <= MAX_HOURS:
            raise ValidationError(f"hours must be above 0 and at most {MAX_HOURS}", field="hours")
        until: datetime = self.rt.clock.now()
        return until - timedelta(hours=hours), until

    def fluid_balance(self, twin_id: str, hours: float = 24.0) -> dict[str, Any]:
        twin = self._patient(twin_id)
        since, until = self._window(hours)
        store = self.rt.store

        def total(key: str) -> tuple[float, int]:
            rows = store.history(twin_id, BY_KEY[key].ref, since, until, limit=1_000_000)
            return sum(o.value or 0.0 for o in rows), len(rows)

        intake, n_in = total("fluid_in")
        output, n_out = total("urine")
        weight = self._weight(twin)
        per_kg_h = None if weight is None else round(output / weight / hours, 3)
        return {
            "twin": twin_id,
            "since": since.isoformat().replace("+00:00", "Z"),
            "until": until.isoformat().replace("+00:00", "Z"),
            "hours": hours,
            "intake_ml": intake,
            "output_ml": output,
            "balance_ml": intake - output,
            "urine_ml_per_kg_h": per_kg_h,
            "weight_kg": weight,
            "entries": {"intake": n_in, "output": n_out},
        }

    def _weight(self, twin: Twin) -> float | None:
        ref = BY_KEY["weight"].ref
        w = self.rt.store.latest(twin.id, [ref]).get(ref)
        if w is not None and w.value:
            return float(w.value)
        attr = twin.attributes.get("weight_kg")
        if not isinstance(attr, bool) and isinstance(attr, int | float) and math.isfinite(attr) and attr > 0:
            return float(attr)
        return None

    def scores(self, twin_id: str, hours: float = 24.0, score: str | None = None) -> list[Observation]:
        self.rt.registry.get(twin_id)
        since, until = self._window(hours)
        names: Sequence[str] = SCORES
        if score is not None:
            if score not in SCORES:
                raise ValidationError(f"score must be one of {', '.join(SCORES)}", field="score")
            names = (score,)
        rows = [
            o
            for s in names
            for o in self.rt.store.history(twin_id, SCORE_REFS[s], since, until, limit=100_000)
        ]
        return sorted(rows, key=lambda o: (o.effective, o.id or 0))

    # ------------------------------------------------------------------ settings
    def monitoring_settings(self, twin_id: str) -> dict[str, Any]:
        a = self._patient(twin_id).attributes
        return {
            "twin": twin_id,
            "news2_scale": a.get("news2_scale", 1),
            "by": a.get("news2_scale_by"),
            "reason": a.get("news2_scale_reason"),
            "time": a.get("news2_scale_time"),
        }

    def set_monitoring_settings(self, twin_id: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, Mapping):
            raise ValidationError("body must be a JSON object", field="body")
        twin = self._patient(twin_id)
        by = self._staff(body)
        scale = body.get("news2_scale")
        if isinstance(scale, bool) or scale not in (1, 2):
            raise ValidationError("news2_scale must be 1 or 2", field="news2_scale")
        reason = _text(body, "reason", required=scale == 2)  # scale 2 is a prescription: say why
        now = self.rt.clock.now()
        attrs = dict(twin.attributes)
        attrs.update(
            news2_scale=int(scale),
            news2_scale_by=by,
            news2_scale_reason=reason,
            news2_scale_time=now.isoformat().replace("+00:00", "Z"),
        )
        self.rt.registry.put(replace(twin, attributes=attrs), Context(actor=f"user:{by}"))
        return self.monitoring_settings(twin_id)


def _reject_order(r: Mapping[str, Any]) -> tuple[int, str, int]:
    f = str(r.get("field") or "")
    group = 0 if f.startswith("readings") else 2 if f.startswith("medications") else 1
    idx = r.get("index")
    return group, f if group == 1 else "", idx if isinstance(idx, int) else -1


__all__ = ["CORRECTION_EVENT", "ChartResult", "ChartingService"]
