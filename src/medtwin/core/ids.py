"""Identifiers: sortable, URL-safe ids for twins and events."""

from __future__ import annotations

import random
import re
import time

_rand = random.Random()  # ids must be unique, not secret (never use them as tokens)

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def new_id(prefix: str = "") -> str:
    """A 26-character ULID-like id: 48-bit millisecond time + 80 random bits."""
    n = (int(time.time() * 1000) << 80) | _rand.getrandbits(80)
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[n & 31])
        n >>= 5
    return prefix + "".join(reversed(chars))


def valid_id(value: str) -> bool:
    """Ids are 1-64 characters of letters, digits, '.', '_' and '-' (the FHIR id rule)."""
    return bool(ID_RE.match(value))
