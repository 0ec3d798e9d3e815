"""THE access policy: one declarative table of routes, and what each role may do.

Every HTTP route and WebSocket of the app has exactly one :class:`Rule` here (a route without one
is refused: default deny, and ``tests/integration/test_authz_matrix.py`` checks that every route
of the app is listed). The enforcement code (:mod:`medtwin.security.authz`) and the tests read
this module; nothing else decides access.

A rule names either a fixed permission (``perm``) or a *verb* applied to a *target*: the target
locator finds the resource (a twin in a path parameter, an alarm, an observation, the subject
of a FHIR search, the body of an ingest...), the resource's class (patient, place, staff,
device) and the verb give the permission needed (``patient.read``, ``place.configure``...), and
the role's :data:`SCOPES` entry decides which patients and wards it covers. ``listing`` rules
answer 200 with only what the principal may see (the endpoint filters with ``authz.visible_*``).

Scopes: ``all`` (admin); ``care`` (the ward(s) the user works in, from the account and the staff
twin's ``works_in``, plus the patients ``cared_for_by`` that staff twin and those named on the
account); ``self`` (the patients named on a patient's or caregiver's account); ``device`` (the
twin each device key's device ``monitors``); ``none``.
"""

from __future__ import annotations

from dataclasses import dataclass

from medtwin.security.principal import Role

PUBLIC = "public"  # no credentials needed
SESSION = "session"  # any authenticated principal

READ, WRITE, CONFIGURE, INGEST = "read", "write", "configure", "ingest"
CLASSES = ("patient", "place", "staff", "device")


@dataclass(frozen=True)
class Target:
    """How to find the resource of a request: ``kind`` of locator and the parameter(s) it reads.

    kinds: ``twin`` (path parameter naming a twin), ``place`` (twin that must be a place),
    ``alarm`` (path parameter naming an alarm), ``observation`` (path parameter, native id),
    ``fhir_observation`` (FHIR id, also ``bp-...`` panels), ``query`` (query parameters naming
    twins: every one given must be allowed), ``ingest_body`` (native ingest JSON),
    ``fhir_observation_body``, ``fhir_bundle_body``, ``patient_body`` (``{"patient": id}``).
    """

    kind: str
    params: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rule:
    method: str
    path: str
    perm: str = ""  # fixed permission (PUBLIC, SESSION or a role permission), or ""
    # with ``target``: the permission "<class of the resource>.<verb>" and the role's scope must
    # cover the resource (with ``perm`` too: both are needed; ``perm`` and a target without a verb:
    # the target is only located, e.g. the place of an occupancy list)
    verb: str = ""
    target: Target | None = None
    listing: bool = False  # 200 with the visible subset
    websocket: bool = False

    @property
    def key(self) -> tuple[str, str]:
        return (self.method, self.path)


def _t(kind: str, *params: str) -> Target:
    return Target(kind, params)


TWIN = _t("twin", "twin_id")
R = Rule
POLICY: tuple[Rule, ...] = (
    # --- public: the dashboard's files, API description, health, sign-in, FHIR capability statement
    R("GET", "/", PUBLIC), R("GET", "/healthz", PUBLIC), R("GET", "/readyz", PUBLIC),
    R("GET", "/openapi.json", PUBLIC), R("GET", "/docs", PUBLIC), R("GET", "/docs/oauth2-redirect", PUBLIC),
    R("GET", "/redoc", PUBLIC), R("GET", "/fhir/metadata", PUBLIC),
    R("POST", "/api/auth/login", PUBLIC), R("POST", "/api/auth/refresh", PUBLIC),
    # --- session
    R("POST", "/api/auth/logout", SESSION), R("GET", "/api/auth/me", SESSION), R("GET", "/api/codes", SESSION),
    R("POST", "/api/auth/break-glass", "break_glass", target=_t("patient_body", "patient")),
    # --- twins and places
    R("GET", "/api/twins", SESSION, listing=True),
    R("GET", "/api/twins/{twin_id}", verb=READ, target=TWIN),
    R("PUT", "/api/twins/{twin_id}", "twin.admin"),
    R("DELETE", "/api/twins/{twin_id}", "twin.admin"),
    R("GET", "/api/twins/{twin_id}/relationships", verb=READ, target=TWIN, listing=True),
    R("GET", "/api/twins/{twin_id}/children", verb=READ, target=TWIN, listing=True),
    R("POST", "/api/relationships", "twin.admin"),
    R("DELETE", "/api/relationships", "twin.admin"),
    R("GET", "/api/places/{place_id}/patients", "occupancy.read", target=_t("place", "place_id"), listing=True),
    R("GET", "/api/rejects", "ops.admin"),
    # --- clinical data of a twin (a patient; rooms' environment readings are place data)
    R("GET", "/api/twins/{twin_id}/state", verb=READ, target=TWIN),
    R("GET", "/api/twins/{twin_id}/observations", verb=READ, target=TWIN),
    R("GET", "/api/twins/{twin_id}/series", verb=READ, target=TWIN),
    R("GET", "/api/twins/{twin_id}/medications", verb=READ, target=TWIN),
    R("GET", "/api/twins/{twin_id}/fluid-balance", verb=READ, target=TWIN),
    R("GET", "/api/twins/{twin_id}/scores", verb=READ, target=TWIN),
    R("GET", "/api/twins/{twin_id}/monitoring-settings", verb=READ, target=TWIN),
    R("PUT", "/api/twins/{twin_id}/monitoring-settings", verb=CONFIGURE, target=TWIN),
    R("POST", "/api/twins/{twin_id}/chart", verb=WRITE, target=TWIN),
    R("GET", "/api/observations/{obs_id}", verb=READ, target=_t("observation", "obs_id")),
    R("POST", "/api/observations/{obs_id}/amend", verb=WRITE, target=_t("observation", "obs_id")),
    R("POST", "/api/observations/{obs_id}/entered-in-error", verb=WRITE, target=_t("observation", "obs_id")),
    R("POST", "/api/ingest", verb=INGEST, target=_t("ingest_body")),
    # --- alarms
    R("GET", "/api/alarms", verb=READ, target=_t("query", "twin", "ward"), listing=True),
    R("GET", "/api/alarms/{alarm_id}", verb=READ, target=_t("alarm", "alarm_id")),
    R("POST", "/api/alarms/{alarm_id}/acknowledge", verb=WRITE, target=_t("alarm", "alarm_id")),
    R("POST", "/api/alarms/{alarm_id}/pause", verb=WRITE, target=_t("alarm", "alarm_id")),
    R("POST", "/api/alarms/{alarm_id}/escalate", verb=WRITE, target=_t("alarm", "alarm_id")),
    R("POST", "/api/alarms/{alarm_id}/resolve", verb=WRITE, target=_t("alarm", "alarm_id")),
    R("GET", "/api/twins/{twin_id}/alarm-limits", verb=READ, target=TWIN),
    R("PUT", "/api/twins/{twin_id}/alarm-limits", verb=CONFIGURE, target=TWIN),
    # --- FHIR R4
    R("PUT", "/fhir/Patient/{pid}", "twin.admin"),
    R("GET", "/fhir/Patient/{pid}", verb=READ, target=_t("twin", "pid")),
    R("POST", "/fhir/Observation", verb=INGEST, target=_t("fhir_observation_body")),
    R("GET", "/fhir/Observation/{oid}", verb=READ, target=_t("fhir_observation", "oid")),
    R("GET", "/fhir/Observation", verb=READ, target=_t("query", "subject", "patient", "subject:Patient")),
    R("GET", "/fhir/MedicationAdministration", verb=READ,
      target=_t("query", "subject", "patient", "subject:Patient")),
    R("POST", "/fhir", verb=INGEST, target=_t("fhir_bundle_body")),
    *(R(m, "/fhir", SESSION) for m in ("GET", "PUT", "DELETE", "PATCH")),  # 405 answers
    *(R(m, "/fhir/{rest:path}", SESSION) for m in ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD")),
    # --- imaging (issue 11): read = the patient in care scope; changes need imaging.write (radiologists,
    # physicians, surgeons) or surgery.plan (surgeons), always on a patient in the user's care scope
    R("GET", "/api/twins/{twin_id}/imaging/studies", verb=READ, target=TWIN),
    R("GET", "/api/twins/{twin_id}/imaging/series/{series_id}/slices/{index}", verb=READ, target=TWIN),
    R("GET", "/api/twins/{twin_id}/imaging/segmentations/{seg_id}/measurements", verb=READ, target=TWIN),
    R("GET", "/api/twins/{twin_id}/imaging/segmentations/{seg_id}/mesh.glb", verb=READ, target=TWIN),
    R("GET", "/api/twins/{twin_id}/imaging/assessments", verb=READ, target=TWIN),
    R("GET", "/api/twins/{twin_id}/imaging/plans", verb=READ, target=TWIN),
    R("GET", "/api/twins/{twin_id}/imaging/plans/compare", verb=READ, target=TWIN),
    *(R("POST", f"/api/twins/{{twin_id}}/imaging/{p}", "imaging.write", verb=READ, target=TWIN)
      for p in ("import", "upload", "series/{series_id}/labels", "series/{series_id}/segment",
                "recist", "doppler", "graft")),
    R("POST", "/api/twins/{twin_id}/imaging/plans", "surgery.plan", verb=READ, target=TWIN),
    # --- treatment simulation (issue 7): reading a patient's fits, runs and drug record = the patient in
    # care scope; fitting, comparing, recording levels/doses for a fit and picking a regimen need
    # treatment.simulate (physicians, pharmacists) on a patient in the user's care scope
    R("GET", "/api/treatment/drugs", SESSION), R("GET", "/api/glucose/patients", SESSION),
    R("POST", "/api/treatment/simulate", "treatment.simulate"), R("POST", "/api/glucose/simulate", "treatment.simulate"),
    *(R("GET", f"/api/twins/{{twin_id}}/{p}", verb=READ, target=TWIN)
      for p in ("treatment", "treatment/runs", "treatment/{drug}", "treatment/{drug}/fit", "glucose/fit")),
    *(R("POST", f"/api/twins/{{twin_id}}/{p}", "treatment.simulate", verb=READ, target=TWIN)
      for p in ("treatment/{drug}/levels", "treatment/{drug}/doses", "treatment/{drug}/fit", "treatment/{drug}/compare",
                "treatment/runs/{run_id}/select", "treatment/measurements", "glucose/fit", "glucose/compare")),
    # --- remote care (issue 8): home patients' triage, enrolment and the remote-care worklist. Reading = the
    # patient in scope (remote-care nurses and family doctors through cared_for_by, set at enrolment; patients
    # and caregivers: their own patient); enrolment with personal targets and thresholds = configure
    # (physicians); assessing, acknowledging, outcomes and importing device exports = write (nurses, physicians)
    R("POST", "/api/homecare/triage", SESSION), R("GET", "/api/homecare/rules", SESSION),
    R("GET", "/api/homecare/patients", SESSION, listing=True), R("GET", "/api/homecare/worklist", SESSION, listing=True),
    *(R("GET", f"/api/twins/{{twin_id}}/{p}", verb=READ, target=TWIN)
      for p in ("homecare", "homecare/decisions", "homecare/summary")),
    R("PUT", "/api/twins/{twin_id}/homecare", verb=CONFIGURE, target=TWIN),
    R("DELETE", "/api/twins/{twin_id}/homecare", verb=CONFIGURE, target=TWIN),
    *(R("POST", f"/api/twins/{{twin_id}}/{p}", verb=WRITE, target=TWIN)
      for p in ("homecare/assess", "homecare/worklist/{item_id}/acknowledge", "homecare/worklist/{item_id}/outcome",
                "homecare/import")),
    # --- operations
    R("GET", "/metrics", "ops.read"),
    # --- hospital operations twin (issue 9): journey logs, analyses, what-if simulations. Operations
    # managers and admins; flow logs and results hold no patient-identifying data (case ids are never
    # returned), so there is no patient scope
    *(R("GET", f"/api/operations/{p}", "flow.read")
      for p in ("logs", "jobs", "jobs/{job_id}", "runs", "runs/{run_id}", "runs/{run_id}/report",
                "runs/{run_id}/figures/{name}", "scenarios")),
    R("PUT", "/api/operations/logs/{name}", "flow.run"),
    *(R("POST", f"/api/operations/{p}", "flow.run") for p in ("generate", "analyses", "simulations", "station")),
    # --- evacuation (issue 10): building geometry, census on the plan (pseudonyms and mobility classes
    # only), runs and comparisons; safety officers, operations managers and admins
    *(R("GET", f"/api/evacuation/{p}", "evac.read")
      for p in ("buildings", "buildings/{building_id}", "buildings/{building_id}/model.glb",
                "buildings/{building_id}/occupants", "presets", "runs", "runs/{run_id}", "runs/{run_id}/replay")),
    R("PUT", "/api/evacuation/buildings/{building_id}", "evac.run"),
    *(R("POST", f"/api/evacuation/{p}", "evac.run") for p in ("buildings/{building_id}/import", "runs", "compare", "sweeps")),
    # --- training (issue 12): trainees play published, de-identified cases (their own sessions only);
    # educators build cases from real twins in their care scope (verb "teach": patient.teach, through the
    # de-identified export), edit them and see cohorts and replays; demo cases: admins
    *(R(m, f"/api/training/{p}", "training.play", listing=m == "GET" and p in ("cases", "sessions"))
      for m, p in (("GET", "catalogue"), ("GET", "cases"), ("GET", "cases/{case_id}"), ("POST", "sessions"),
                   ("GET", "sessions"), ("GET", "sessions/{session_id}"), ("GET", "sessions/{session_id}/report"),
                   ("GET", "sessions/{session_id}/replay"),
                   *(("POST", f"sessions/{{session_id}}/{x}") for x in ("reveal", "actions", "orders", "clock", "diagnosis")))),
    *(R(m, f"/api/training/{p}", "training.build", listing=p == "candidates")
      for m, p in (("POST", "cases"), ("POST", "cases/import"), ("PUT", "cases/{case_id}"),
                   ("GET", "cases/{case_id}/export"), ("GET", "candidates"))),
    R("POST", "/api/training/twins/{twin_id}/case", "training.build", verb="teach", target=TWIN),
    R("GET", "/api/training/cohort", "training.teach"), R("GET", "/api/training/cases/{case_id}/cohort", "training.teach"),
    R("POST", "/api/training/demo-cases", "twin.admin"),
    # --- audit log (tree heads, proofs, events: admins) and de-identified export (researchers)
    *(R("GET", f"/api/audit/{p}", "audit.read")
      for p in ("sth", "sths", "proof/inclusion", "proof/consistency", "events", "fhir")),
    R("GET", "/api/export/deid", "export.deid"), R("POST", "/api/export/deid", "export.deid"),
    # --- live feeds (WebSocket): events are filtered to the patients the principal may see
    R("WS", "/ws/ward/{ward_id}", verb=READ, target=_t("place", "ward_id"), listing=True, websocket=True),
    R("WS", "/ws/patient/{patient_id}", verb=READ, target=_t("twin", "patient_id"), websocket=True),
    R("WS", "/ws/all", "live.all", listing=True, websocket=True),
)  # fmt: skip

RULES: dict[tuple[str, str], Rule] = {r.key: r for r in POLICY}
_dups = [r.key for r in POLICY if sum(x.key == r.key for x in POLICY) > 1]
assert not _dups, f"duplicate rules in the policy table: {_dups}"

_CLINICAL_RW = frozenset(
    {"patient.read", "patient.write", "patient.ingest", "place.read", "place.write", "staff.read",
     "device.read", "occupancy.read", "live.all", "break_glass"}
)  # fmt: skip
_CONFIG = frozenset({"patient.configure", "place.configure"})
_READONLY_CLINICAL = frozenset(
    {"patient.read", "place.read", "staff.read", "device.read", "occupancy.read", "live.all", "break_glass"}
)
_HOSPITAL = frozenset({"place.read", "staff.read", "device.read", "occupancy.read", "ops.read", "live.all"})

PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.ADMIN: frozenset({"*"}),
    Role.PHYSICIAN: _CLINICAL_RW | _CONFIG | {"imaging.write", "treatment.simulate"},
    Role.SURGEON: _CLINICAL_RW | _CONFIG | {"imaging.write", "surgery.plan"},
    Role.NURSE: _CLINICAL_RW,
    Role.PHARMACIST: _READONLY_CLINICAL | {"treatment.simulate"},
    Role.RADIOLOGIST: _READONLY_CLINICAL | {"imaging.write"},
    Role.TRAINEE: frozenset({"place.read", "training.play"}),  # de-identified training cases only
    Role.EDUCATOR: frozenset(
        {"place.read", "staff.read", "training.play", "training.build", "training.teach", "patient.teach"}
    ),  # builds cases from twins in scope, never reads them directly
    Role.OPERATIONS: _HOSPITAL
    | {
        "flow.read",
        "flow.run",
        "evac.read",
        "evac.run",
    },  # hospital level: places and occupancy (pseudonymised), no clinical detail
    Role.SAFETY_OFFICER: _HOSPITAL | {"evac.read", "evac.run"},
    Role.RESEARCHER: frozenset({"export.deid"}),  # de-identified exports only (the export endpoints)
    Role.DEVICE: frozenset({"patient.ingest", "place.ingest"}),
    Role.PATIENT: frozenset({"patient.read"}),
    Role.CAREGIVER: frozenset({"patient.read"}),
    Role.ANONYMOUS: frozenset(),
}

SCOPES: dict[Role, str] = {
    Role.ADMIN: "all",
    Role.PHYSICIAN: "care", Role.SURGEON: "care", Role.NURSE: "care",
    Role.PHARMACIST: "care", Role.RADIOLOGIST: "care", Role.EDUCATOR: "care",
    Role.PATIENT: "self", Role.CAREGIVER: "self",
    Role.DEVICE: "device",
}  # fmt: skip

# Roles that may not see patients' names or identifiers: twin JSON carries a pseudonym instead.
PSEUDONYMISED: frozenset[Role] = frozenset(
    {Role.TRAINEE, Role.RESEARCHER, Role.OPERATIONS, Role.SAFETY_OFFICER}
)
# Place-level permissions need no patient scope to read; writes and configuration of a place
# (a ward's alarm limits, a room alarm) need the place's ward in scope.
UNSCOPED = frozenset({"place.read", "staff.read", "device.read"})


def has_perm(role: Role, perm: str) -> bool:
    if perm == PUBLIC:
        return True
    if role is Role.ANONYMOUS:
        return False
    if perm == SESSION:
        return True
    granted = PERMISSIONS.get(role, frozenset())
    return "*" in granted or perm in granted


def scope_of(role: Role) -> str:
    return SCOPES.get(role, "none")


def rule_for(method: str, path: str) -> Rule | None:
    rule = RULES.get((method, path))
    if rule is None and method == "HEAD":
        rule = RULES.get(("GET", path))
    return rule
