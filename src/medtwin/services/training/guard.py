"""The identifier guard of training cases: no identifier of the source patient may appear in a case.

The case builder takes its data from the de-identified export (:mod:`medtwin.security.deid`), which
drops identifiers by construction. The guard is the second, independent line: it collects every
identifier of the source twin (name parts, identity values: MRN, birth date in several layouts,
address, phone, e-mail, identifier values; the twin id; bed, room and device ids linked to it;
reading source ids; medication performers) and checks the whole case, every string in it, for
them. A case that would carry one is refused, and so is an educator's later edit that types one in.

Only keyed HMACs of the normalised identifier tokens are kept with the case (under the
``training-guard`` pseudonym key, :func:`medtwin.security.crypto.pseudonym`), never the values,
and they are never sent by the API. Text is checked as words and as runs of 2-4 consecutive words
with separators removed (so ``+1-555-0100`` and ``700 Evergreen Terrace`` are found); tokens
shorter than 3 characters and numbers shorter than 5 digits are not identifiers on their own
(vital-sign values, house numbers).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import date
from typing import Any

from medtwin.core.errors import ValidationError
from medtwin.security.crypto import pseudonym

PURPOSE = "training-guard"
_WORD = re.compile(r"[0-9A-Za-z\u00c0-\u024f]+")


def _norm(s: str) -> str:
    return "".join(m.group(0) for m in _WORD.finditer(s.lower()))


def _ok(tok: str) -> bool:
    if len(tok) < 3:
        return False
    return not (tok.isdigit() and len(tok) < 5)


# structure and non-identifying fields of identity records (FHIR shapes included)
_SKIP = frozenset(
    {"system", "use", "type", "coding", "code", "display", "gender", "sex", "state", "country", "period",
     "rank", "active", "resourceType", "deceased", "language", "marital_status"}
)  # fmt: skip


def _strings(value: Any) -> Iterator[str]:
    """Leaf values of an identity record (never its keys, never non-identifying fields)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            if k not in _SKIP:
                yield from _strings(v)
    elif isinstance(value, list | tuple | set):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        yield str(value)


def _date_variants(value: str) -> list[str]:
    try:
        d = date.fromisoformat(value[:10])
    except ValueError:
        return []
    return [
        f"{d.day:02d}{d.month:02d}{d.year}",
        f"{d.month:02d}{d.day:02d}{d.year}",
        f"{d.year}{d.month:02d}{d.day:02d}",
    ]


def identifier_tokens(identity: dict[str, Any], name: str, extra: Iterable[str] = ()) -> set[str]:
    """Normalised identifier tokens of a patient: each word of the name, each identity value
    (whole, and its words when it is a name, city or other short text), dates in several layouts,
    and ``extra`` ids (twin, bed, room, device, source ids) whole."""
    toks: set[str] = set()
    for w in _WORD.findall(name.lower()):
        toks.add(w)
    for key, value in identity.items():
        if key in _SKIP:
            continue
        for s in _strings(value):
            whole = _norm(s)
            toks.add(whole)
            toks.update(_date_variants(s))
            if key in ("name", "names", "given", "family", "city", "county", "district", "maiden_name"):
                toks.update(w.lower() for w in _WORD.findall(s))
    for s in extra:
        toks.add(_norm(s))
    return {t for t in toks if _ok(t)}


def seal_tokens(tokens: Iterable[str]) -> list[str]:
    return sorted({pseudonym(PURPOSE, t) for t in tokens})


def text_tokens(text: str) -> set[str]:
    words = [w.lower() for w in _WORD.findall(text)]
    out = {w for w in words if _ok(w)}
    for n in (2, 3, 4):
        for i in range(len(words) - n + 1):
            t = "".join(words[i : i + n])
            if _ok(t):
                out.add(t)
    return out


def find(value: Any, sealed: set[str]) -> list[str]:
    """Paths of the strings in ``value`` that contain a sealed identifier token (empty: clean)."""
    hits: list[str] = []

    def walk(v: Any, path: str) -> None:
        if isinstance(v, dict):
            for k, x in v.items():
                if k == "guard":
                    continue
                walk(x, f"{path}.{k}" if path else str(k))
        elif isinstance(v, list | tuple):
            for i, x in enumerate(v):
                walk(x, f"{path}[{i}]")
        elif isinstance(v, str) and any(pseudonym(PURPOSE, t) in sealed for t in text_tokens(v)):
            hits.append(path)

    walk(value, "")
    return hits


def check(value: Any, sealed: Iterable[str], *, field: str = "case") -> None:
    """Raise a ValidationError naming the first field holding an identifier of the source patient."""
    hits = find(value, set(sealed))
    if hits:
        raise ValidationError(
            "contains an identifier of the source patient (name, record number, date, address, "
            "contact, device or location id); remove it",
            field=f"{field}.{hits[0]}" if field else hits[0],
        )
