"""Start-up chores of the security layer: the first administrator and token-free logs.

* ``MEDTWIN_BOOTSTRAP_ADMIN=user:password`` (setting ``bootstrap_admin``) creates that admin when
  the user table is empty (first start); it is ignored once any user exists. The other way is
  ``medtwin user add NAME --role admin`` on an empty user table (docs/security.md).
* WebSocket URLs carry the access token as ``?token=``; uvicorn logs request paths, so a filter
  replaces every ``token=...`` in its log records with ``token=***``.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from medtwin.runtime import Runtime

log = logging.getLogger("medtwin.security")
_TOKEN = re.compile(r"((?:access_|refresh_)?token=)[^&\s\"']+")


def bootstrap_admin(rt: Runtime) -> str | None:
    spec = rt.settings.bootstrap_admin
    if not spec:
        return None
    from medtwin.security.principal import Role
    from medtwin.security.service import security_for

    user, sep, password = spec.partition(":")
    if not sep or not user or not password:
        log.error("bootstrap_admin must be 'user:password'; no admin created")
        return None
    sec = security_for(rt)
    if sec.accounts.count_users() > 0:
        return None
    sec.accounts.add_user(user, Role.ADMIN, password, name="Administrator")
    log.warning("created the first administrator %r from MEDTWIN_BOOTSTRAP_ADMIN: remove the variable", user)
    return user


class RedactTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and "token=" in record.msg:
            record.msg = _TOKEN.sub(r"\1***", record.msg)
        if record.args:
            args: Any = record.args
            if isinstance(args, tuple):
                record.args = tuple(_TOKEN.sub(r"\1***", a) if isinstance(a, str) else a for a in args)
        return True


_FILTER = RedactTokens()


def redact_tokens_in_logs() -> None:
    for name in ("uvicorn.access", "uvicorn.error", "uvicorn", "medtwin"):
        lg = logging.getLogger(name)
        if _FILTER not in lg.filters:
            lg.addFilter(_FILTER)
