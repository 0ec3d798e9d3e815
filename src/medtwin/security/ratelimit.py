"""Rate limits (the ``limits`` library: moving window, in-process memory storage).

* sign-in: ``login_rate`` (default 5/minute) per account name and per client address, counting
  every attempt;
* API: ``rate_limit_user`` per signed-in user, ``rate_limit_device`` per device key,
  ``rate_limit_anonymous`` per client address for requests without credentials.

A limit of ``""`` or ``"0"`` switches it off. Several API processes each count on their own; for
one shared count use a ``limits`` storage such as Redis (docs/security.md).
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from medtwin.config import Settings


def _item(spec: str) -> RateLimitItem | None:
    spec = (spec or "").strip()
    if not spec or spec == "0":
        return None
    return parse(spec)


class RateLimits:
    def __init__(self, settings: Settings) -> None:
        self.storage = MemoryStorage()
        self.limiter = MovingWindowRateLimiter(self.storage)
        self.login = _item(settings.login_rate)
        self.per_kind = {
            "user": _item(settings.rate_limit_user),
            "device": _item(settings.rate_limit_device),
            "ip": _item(settings.rate_limit_anonymous),
        }

    def _hit(self, item: RateLimitItem | None, *ids: str) -> float:
        """0 when allowed, else the seconds to wait."""
        if item is None:
            return 0.0
        if self.limiter.hit(item, *ids):
            return 0.0
        stats = self.limiter.get_window_stats(item, *ids)
        return max(1.0, math.ceil(stats.reset_time - time.time()))

    def api(self, kind: str, who: str) -> float:
        return self._hit(self.per_kind.get(kind), "api", kind, who)

    def login_attempt(self, account: str, ip: str) -> float:
        """Count one sign-in attempt; the wait when the account or the address is over its limit."""
        a = self._hit(self.login, "login-account", account.lower()[:64])
        b = self._hit(self.login, "login-ip", ip)
        return max(a, b)

    def reset(self) -> None:
        self.storage.reset()
