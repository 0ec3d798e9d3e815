"""One exception tree for medtwin.

Every error a user can cause carries the *field* that was wrong and the *reason*, so that the
API (RFC 9457 problem+json, FHIR OperationOutcome), the CLI and the ingest adapters can all
report it the same way.
"""

from __future__ import annotations


class MedtwinError(Exception):
    """Root of every error raised on purpose by medtwin."""

    status = 500
    title = "Internal error"

    def __init__(self, reason: str, *, field: str | None = None, index: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field
        self.index = index

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"reason": self.reason}
        if self.field is not None:
            out["field"] = self.field
        if self.index is not None:
            out["index"] = self.index
        return out

    def __str__(self) -> str:
        where = ""
        if self.index is not None:
            where += f"item {self.index}: "
        if self.field is not None:
            where += f"{self.field}: "
        return where + self.reason


class ValidationError(MedtwinError):
    """Input that cannot be accepted as given (bad type, unknown code, impossible unit...)."""

    status = 422
    title = "Invalid input"


class ParseError(ValidationError):
    """Bytes that do not parse in the claimed format (malformed JSON, truncated HL7...)."""

    status = 400
    title = "Malformed input"


class NotFoundError(MedtwinError):
    status = 404
    title = "Not found"


class UnknownSubjectError(ValidationError):
    """A reading about a twin the platform does not know (and auto-registration is off)."""

    title = "Unknown subject"


class ConflictError(MedtwinError):
    status = 409
    title = "Conflict"


class PermissionDeniedError(MedtwinError):
    status = 403
    title = "Forbidden"


class AuthenticationError(MedtwinError):
    status = 401
    title = "Unauthorized"


class StoreError(MedtwinError):
    """The store could not do what was asked (connection lost, disk full...)."""

    status = 503
    title = "Store unavailable"


class PayloadTooLargeError(MedtwinError):
    status = 413
    title = "Payload too large"
