"""Parameters of the synthetic outpatient log (``medtwin flow generate``), with their defaults.

Every number here is a documented, *illustrative* default for a mid-sized outpatient department,
not a measurement of a real hospital; each can be changed in a YAML file (``--config``) whose
keys are the field names below. Patterns that follow published findings:

* arrivals peak in the morning clinic session with a smaller early-afternoon session, as in the
  outpatient appointment literature (Cayirli & Veral, POM 12(4):519-549, 2003);
* weekday volumes fall towards Friday and the department is closed at weekends and on public
  holidays; seasonality is a winter excess with a summer-holiday dip;
* consultation and other service times are lognormal with CVs of 0.4-0.7, within the 0.35-0.85
  range Cayirli & Veral report; follow-up consultations (after tests) are shorter;
* walking speed per patient ~ N(1.2, 0.2) m/s, clipped to 0.5-1.8 (Bohannon, Age Ageing 1997).

Bottlenecks with known ground truth are injected as ``bottlenecks`` entries:
``{station, staff_delta, hours: [from, to], weekdays, start, end}`` removes (or adds) staff in a
window; ``{station, delay_min}`` plants an extra exponential wait before the service (for
example, a prescription not yet released to the pharmacy). The CLI accepts the short forms
``"Pharmacy:staff-2@11-14"`` and ``"Imaging:delay=20"``.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields
from datetime import date
from typing import Any

from medtwin.core.errors import ValidationError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# Activity labels of the synthetic log (what a hospital information system typically records).
ARRIVAL = "Car park arrival"
EXIT = "Car park exit"


@dataclass
class StationSpec:
    """A service point with its own staff pool: one server per room, rostered by hour."""

    name: str  # activity label in the log
    staff_prefix: str  # resource ids are f"{prefix}-{i:02d}" (pseudonymous staff codes)
    rooms: list[str]
    roster: list[list[int]]  # [[from_hour, to_hour, staff], ...] on weekdays (Mon-Fri)
    service_min: float
    service_cv: float
    followup_service_min: float = 0.0  # second visit (after tests); 0 = same as first
    saturday: list[list[int]] = field(default_factory=list)


@dataclass
class DepartmentSpec:
    name: str
    share: float  # of patients
    lab: float  # probability of a blood draw after the consultation
    imaging: float  # probability of imaging
    followup: float  # probability of a second consultation when tests were done
    pharmacy: float  # probability of collecting medication
    station: StationSpec  # the department's consultation rooms and doctors


def _dept(
    code: str,
    name: str,
    share: float,
    lab: float,
    img: float,
    fu: float,
    ph: float,
    doctors: int,
    per_session: int,
    svc: float,
    cv: float,
    fu_svc: float,
) -> DepartmentSpec:
    rooms = [f"{code}-{i + 1:02d}" for i in range(doctors)]
    roster = [[8, 12, per_session], [12, 13, max(1, per_session // 3)], [13, 17, per_session]]
    return DepartmentSpec(
        name,
        share,
        lab,
        img,
        fu,
        ph,
        StationSpec(f"{name} consultation", f"DR-{code}", rooms, roster, svc, cv, fu_svc),
    )


def default_departments() -> list[DepartmentSpec]:
    return [
        _dept("CAR", "Cardiology", 0.24, 0.45, 0.25, 0.6, 0.6, 8, 7, 13.0, 0.5, 6.0),
        _dept("ORT", "Orthopaedics", 0.26, 0.10, 0.60, 0.7, 0.4, 8, 7, 11.0, 0.55, 5.0),
        _dept("INT", "Internal medicine", 0.24, 0.60, 0.20, 0.5, 0.7, 8, 8, 15.0, 0.5, 7.0),
        _dept("DER", "Dermatology", 0.13, 0.10, 0.02, 0.2, 0.6, 5, 3, 10.0, 0.45, 5.0),
        _dept("OPH", "Ophthalmology", 0.13, 0.05, 0.05, 0.3, 0.5, 5, 3, 11.0, 0.45, 5.0),
    ]


def default_stations() -> dict[str, StationSpec]:
    """Shared service points (keys are the roles used by the journey builder)."""

    def rid(p: str, n: int) -> list[str]:
        return [f"{p}-{i + 1:02d}" for i in range(n)]

    return {
        "registration": StationSpec(
            "Registration",
            "CLK",
            rid("REG", 8),
            [[7, 8, 3], [8, 11, 7], [11, 13, 5], [13, 15, 5], [15, 17, 3]],
            2.5,
            0.5,
        ),
        "lab": StationSpec("Blood draw", "PHL", rid("LAB", 5), [[7, 12, 4], [12, 16, 3]], 5.0, 0.4),
        "imaging": StationSpec("Imaging", "RAD", rid("IMG", 8), [[8, 17, 7]], 12.0, 0.5),
        "payment": StationSpec("Payment", "CSH", rid("PAY", 5), [[8, 18, 4]], 2.0, 0.5),
        "pharmacy": StationSpec("Pharmacy", "PHM", rid("PHA", 5), [[8, 18, 4]], 4.0, 0.6),
    }


@dataclass
class Bottleneck:
    station: str  # activity label or role ("Pharmacy", "pharmacy")
    staff_delta: int = 0
    delay_min: float = 0.0
    hours: list[int] = field(default_factory=lambda: [0, 24])
    weekdays: list[str] = field(default_factory=lambda: list(WEEKDAYS))
    start: str | None = None  # ISO date the bottleneck starts (inclusive)
    end: str | None = None  # ISO date it ends (exclusive)

    def active(self, day: date, hour: int | None = None) -> bool:
        if self.start and day < date.fromisoformat(self.start):
            return False
        if self.end and day >= date.fromisoformat(self.end):
            return False
        if WEEKDAYS[day.weekday()] not in self.weekdays:
            return False
        return hour is None or self.hours[0] <= hour < self.hours[1]


_SHORT = re.compile(
    r"^(?P<station>[^:]+):(?:staff(?P<delta>[+-]\d+)|delay=(?P<delay>\d+(?:\.\d+)?))"
    r"(?:@(?P<h0>\d{1,2})-(?P<h1>\d{1,2}))?$"
)


def parse_bottleneck(text: str) -> Bottleneck:
    """``"Pharmacy:staff-2@11-14"`` or ``"Imaging:delay=20"`` (minutes) -> :class:`Bottleneck`."""
    m = _SHORT.match(text.strip())
    if not m:
        raise ValidationError(
            f"{text!r} is not STATION:staff±N[@H1-H2] or STATION:delay=MINUTES[@H1-H2]", field="bottleneck"
        )
    hours = [int(m["h0"]), int(m["h1"])] if m["h0"] else [0, 24]
    if not 0 <= hours[0] < hours[1] <= 24:
        raise ValidationError(f"hours {hours} must satisfy 0 <= from < to <= 24", field="bottleneck")
    return Bottleneck(
        m["station"].strip(),
        int(m["delta"] or 0),
        float(m["delay"] or 0.0),
        hours,
    )


@dataclass
class GeneratorConfig:
    years: float = 5.0
    start: str = "2021-01-04"  # a Monday
    seed: int = 1
    patients_per_day: float = 700.0  # mean on a Wednesday outside holidays
    timezone: str = "UTC"  # clock the hours below refer to; timestamps are stored in UTC
    hour_profile: dict[int, float] = field(
        default_factory=lambda: {
            7: 0.07,
            8: 0.16,
            9: 0.16,
            10: 0.14,
            11: 0.11,
            12: 0.06,
            13: 0.10,
            14: 0.10,
            15: 0.07,
            16: 0.03,
        }
    )
    weekday_factor: dict[str, float] = field(
        default_factory=lambda: {
            "mon": 1.12,
            "tue": 1.04,
            "wed": 1.0,
            "thu": 0.98,
            "fri": 0.86,
            "sat": 0.0,
            "sun": 0.0,
        }
    )
    winter_excess: float = 0.06  # amplitude of the cosine peaking mid-January
    summer_dip: float = 0.15  # fewer patients in ISO weeks 29-34
    holidays: list[str] = field(default_factory=lambda: ["01-01", "12-25", "12-26"])  # MM-DD, closed
    walking_speed: float = 1.2  # m/s mean; sd 0.2
    car_park_seconds: float = 0.0  # the car park events are instants (arrival, exit)
    reregistration: float = 0.03  # consultation sends the patient back to registration
    lab_redraw: float = 0.02  # blood draw repeated (haemolysed sample)
    departments: list[DepartmentSpec] = field(default_factory=default_departments)
    stations: dict[str, StationSpec] = field(default_factory=default_stations)
    bottlenecks: list[Bottleneck] = field(default_factory=list)
    building: str = ""  # YAML path; "" = the bundled demo building

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _build(cls: type, d: Any, where: str) -> Any:
    if not isinstance(d, dict):
        raise ValidationError("must be a mapping", field=where)
    known = {f.name: f for f in fields(cls)}
    extra = set(d) - set(known)
    if extra:
        raise ValidationError(f"unknown key(s): {', '.join(sorted(extra))}", field=where)
    return d


def load_config(d: dict[str, Any] | None) -> GeneratorConfig:
    """Config from a parsed YAML mapping; unknown keys are refused naming the key."""
    cfg = GeneratorConfig()
    if not d:
        return cfg
    _build(GeneratorConfig, d, "config")
    for k, v in d.items():
        if k == "departments":
            depts = []
            for i, x in enumerate(v):
                _build(DepartmentSpec, x, f"departments[{i}]")
                st = StationSpec(**_build(StationSpec, x["station"], f"departments[{i}].station"))
                depts.append(DepartmentSpec(**{**x, "station": st}))
            cfg.departments = depts
        elif k == "stations":
            cfg.stations = {
                name: StationSpec(**_build(StationSpec, x, f"stations.{name}")) for name, x in v.items()
            }
        elif k == "bottlenecks":
            cfg.bottlenecks = [
                parse_bottleneck(x)
                if isinstance(x, str)
                else Bottleneck(**_build(Bottleneck, x, f"bottlenecks[{i}]"))
                for i, x in enumerate(v)
            ]
        elif k == "hour_profile":
            cfg.hour_profile = {int(h): float(w) for h, w in v.items()}
        else:
            setattr(cfg, k, v)
    return cfg
