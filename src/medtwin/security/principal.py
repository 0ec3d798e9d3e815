"""Who is acting: the authenticated principal every request, WebSocket and CLI action carries.

The authentication layer (``security.auth``) builds it from a verified token or device key and
puts it on ``request.state.principal``; the policy layer decides with it; the audit log records it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    PHYSICIAN = "physician"
    NURSE = "nurse"
    PHARMACIST = "pharmacist"
    SURGEON = "surgeon"
    RADIOLOGIST = "radiologist"
    TRAINEE = "trainee"
    EDUCATOR = "educator"
    OPERATIONS = "operations"
    SAFETY_OFFICER = "safety_officer"
    RESEARCHER = "researcher"
    DEVICE = "device"
    PATIENT = "patient"
    CAREGIVER = "caregiver"
    ANONYMOUS = "anonymous"


@dataclass(frozen=True, slots=True)
class BreakGlass:
    """Emergency access outside the care relationship: typed justification, time limit."""

    justification: str
    patient_id: str
    until: datetime


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str  # user id, device id, or "anonymous"
    role: Role
    wards: frozenset[str] = field(default_factory=frozenset)  # ward scope (nurses, charge nurses)
    patients: frozenset[str] = field(default_factory=frozenset)  # patient, caregiver, care-team scope
    device_id: str | None = None
    token_id: str | None = None  # jti of the access token (revocation, audit)
    break_glass: tuple[BreakGlass, ...] = ()
    ip: str | None = None
    # added by the authentication layer (security.authn); defaults keep older callers working
    name: str = ""  # display name (staff), never a patient's
    session_id: str | None = None  # sign-in session (refresh-token family) of a user token
    devices: frozenset[str] = field(default_factory=frozenset)  # device ids a device key may send for
    expires: float | None = None  # access-token expiry (epoch seconds): live feeds close then

    def glass_for(self, patient_id: str, now: datetime) -> BreakGlass | None:
        """The active break-the-glass grant covering ``patient_id``, if any."""
        for g in self.break_glass:
            if g.patient_id == patient_id and g.until > now:
                return g
        return None

    @property
    def actor(self) -> str:
        """The Context actor string used on the bus and in provenance."""
        return f"{'device' if self.role is Role.DEVICE else 'user'}:{self.subject}"


ANONYMOUS = Principal(subject="anonymous", role=Role.ANONYMOUS)
