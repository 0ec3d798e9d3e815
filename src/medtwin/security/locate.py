"""Locators: find the resources a request touches, for the ``target`` of a policy rule.

Each returns a list of :class:`~medtwin.security.scope.Resource`, or None when the resource
cannot be found (unknown alarm, malformed body): the request then goes on to the endpoint, which
answers 404/400/422 itself without touching data. Unknown twins are located as patients that only
the ``all`` scope may see, so a refusal does not reveal whether an id exists.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from medtwin.ingest.fhir_common import reference_id
from medtwin.security.principal import Principal, Role
from medtwin.security.scope import PLACES, Resource, ScopeCache, device_allowed

if TYPE_CHECKING:
    from medtwin.runtime import Runtime


class Refuse(Exception):
    """The request is refused whatever the scope (a device sending as another device...)."""


def _json(body: bytes | None) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


def locate(
    kind: str,
    params: tuple[str, ...],
    *,
    rt: Runtime,
    scope: ScopeCache,
    principal: Principal,
    path: Mapping[str, str],
    query: list[tuple[str, str]],
    body: bytes | None,
) -> list[Resource] | None:
    if kind == "twin":
        return [scope.resource(path[params[0]])]
    if kind == "place":
        t = scope.twin(path[params[0]])
        if t is None or t.kind not in PLACES:
            return None  # the endpoint answers 404 (or an empty list)
        return [scope.resource(t.id)]
    if kind == "alarm":
        return _alarm(rt, scope, path[params[0]])
    if kind == "observation":
        return _observation(rt, scope, path[params[0]])
    if kind == "fhir_observation":
        oid = path[params[0]]
        first = oid.split("-")[1] if oid.startswith("bp-") and oid.count("-") >= 2 else oid
        return _observation(rt, scope, first)
    if kind == "query":
        out = []
        for k, v in query:
            if k in params and v:
                out.append(scope.resource(reference_id(v, "Patient") or v.rsplit("/", 1)[-1]))
        return out
    if kind == "patient_body":
        data = _json(body)
        pid = data.get("patient") if isinstance(data, dict) else None
        t = scope.twin(pid) if isinstance(pid, str) else None
        return [scope.resource(t.id)] if t is not None else None
    if kind == "ingest_body":
        return _ingest(rt, scope, principal, _json(body))
    if kind == "fhir_observation_body":
        return _fhir_obs(scope, principal, _json(body))
    if kind == "fhir_bundle_body":
        return _bundle(scope, principal, _json(body))
    raise ValueError(f"unknown locator {kind!r}")


def _alarm(rt: Runtime, scope: ScopeCache, alarm_id: str) -> list[Resource] | None:
    svc = rt.services.get("alarms")
    if svc is None:
        return None
    try:
        a = svc.get(alarm_id, history=False)
    except Exception:
        return None
    twin = a.get("twin")
    return [scope.resource(twin)] if isinstance(twin, str) else None


def _observation(rt: Runtime, scope: ScopeCache, obs_id: str) -> list[Resource] | None:
    if not (obs_id.isascii() and obs_id.isdigit() and len(obs_id) < 19):
        return None
    try:
        o = rt.store.get_observation(int(obs_id))
    except Exception:
        return None
    return [scope.resource(o.twin_id)]


def _device_subject(scope: ScopeCache, p: Principal, device: str | None, subject: str | None) -> Resource:
    """The twin a device's reading is about, checked against the device's ``monitors`` link."""
    if p.role is Role.DEVICE:
        if not device or not device_allowed(p, device):
            raise Refuse("a device key may only send as its own device")
        linked = scope.monitors().get(device)
        if linked is None:
            if p.devices and scope.rt.settings.auto_register:
                return Resource("patient", "", ())  # a relay's new device: the ingestor registers it
            raise Refuse(f"device {device} monitors no twin: link it first")
        if subject is not None and subject != linked:
            raise Refuse(f"device {device} monitors another twin")
        return scope.resource(linked)
    target = subject or (scope.monitors().get(device) if device else None)
    if target is None:
        return Resource("patient", "", ())  # no subject: the ingestor refuses every item itself
    return scope.resource(target)


def _ingest(rt: Runtime, scope: ScopeCache, p: Principal, data: Any) -> list[Resource] | None:
    if not isinstance(data, dict):
        return None
    device = data.get("device") or data.get("source")
    patient = data.get("patient")
    if not isinstance(device, str) or (patient is not None and not isinstance(patient, str)):
        return None
    res = _device_subject(scope, p, device, patient)
    return [] if res.twin_id == "" else [res]


def _fhir_obs(scope: ScopeCache, p: Principal, data: Any) -> list[Resource] | None:
    if not isinstance(data, dict):
        return None
    subject = data.get("subject")
    ref = subject.get("reference") if isinstance(subject, dict) else None
    pid = reference_id(ref, "Patient") if isinstance(ref, str) else None
    if pid is None:
        return None
    if p.role is Role.DEVICE:
        dev = data.get("device")
        dref = dev.get("reference") if isinstance(dev, dict) else None
        did = reference_id(dref, "Device") if isinstance(dref, str) else None
        res = _device_subject(scope, p, did or p.device_id, pid)
        return [] if res.twin_id == "" else [res]
    return [scope.resource(pid)]


def _bundle(scope: ScopeCache, p: Principal, data: Any) -> list[Resource] | None:
    if not isinstance(data, dict) or not isinstance(data.get("entry"), list):
        return None
    out: list[Resource] = []
    for e in data["entry"]:
        res = e.get("resource") if isinstance(e, dict) else None
        if not isinstance(res, dict):
            continue
        rtype = res.get("resourceType")
        if rtype == "Patient":
            out.append(Resource("registry", "Patient"))  # registering patients: admin only
        elif rtype in ("Observation", "MedicationAdministration"):
            found = _fhir_obs(scope, p, res)
            if found:
                out.extend(found)
    return out
