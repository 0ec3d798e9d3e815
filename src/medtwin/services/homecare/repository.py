"""Persistence of home care (store migration 10), SQLite and PostgreSQL.

* ``homecare_enrolments``: one row per patient; ``record`` JSON (conditions, medications,
  targets, rule overrides, schedule, care team, home, time zone); ``caregivers`` JSON sealed at
  rest (names, phone numbers, e-mail: personal data of third parties); the current tier.
* ``homecare_decisions``: every triage decision that differs from the previous one (tier or the
  rules that raised it), with its reasons, the inputs it saw and the rule-set version.
* ``homecare_worklist``: items for the remote-care nurse, one open item per patient and kind
  (``triage``, ``activity``, ``adherence``); the tier only rises while open; acknowledge, then an
  outcome closes it.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import text

from medtwin.core.clock import from_us, to_us
from medtwin.core.errors import NotFoundError, ValidationError
from medtwin.models.triage import Decision, Tier
from medtwin.security.codec import unseal_opt
from medtwin.store.sql import SqlStore

_TIER_ORDER = "CASE tier WHEN 'emergency' THEN 0 WHEN 'primary' THEN 1 ELSE 2 END"
_ITEM_COLS = (
    "id, twin_id, kind, tier, status, opened_us, updated_us, reasons, decision_id, ack_by, ack_us, "
    "outcome, closed_by, closed_us"
)
OUTCOMES = ("advised_self_care", "medication_changed", "gp_appointment", "home_visit", "sent_to_emergency",
            "caregiver_contacted", "no_action_needed", "false_alarm", "other")  # fmt: skip


def _iso(us: Any) -> str | None:
    return None if us is None else from_us(int(us)).isoformat()


def _item(r: Any) -> dict[str, Any]:
    return {
        "id": int(r[0]), "twin": r[1], "kind": r[2], "tier": r[3], "status": r[4], "opened": _iso(r[5]),
        "updated": _iso(r[6]), "reasons": json.loads(r[7]), "decision_id": r[8], "acknowledged_by": r[9],
        "acknowledged": _iso(r[10]), "outcome": json.loads(r[11]) if r[11] else None, "closed_by": r[12],
        "closed": _iso(r[13]),
    }  # fmt: skip


class HomecareRepository:
    def __init__(self, store: SqlStore) -> None:
        self.store = store

    # ------------------------------------------------------------------ enrolments
    def put_enrolment(self, twin_id: str, record: dict[str, Any], caregivers: list[dict[str, Any]], *,
                      by: str, when: datetime) -> dict[str, Any]:  # fmt: skip
        self.store.codec.reserve(1)
        sealed = self.store.codec.seal(json.dumps(caregivers), "homecare_enrolments", "caregivers", twin_id)
        u = to_us(when)
        with self.store.transaction() as c:
            n = c.execute(
                text("UPDATE homecare_enrolments SET record = :r, caregivers = :g, active = 1, updated_us = :u "
                     "WHERE twin_id = :t"),
                {"r": json.dumps(record), "g": sealed, "u": u, "t": twin_id},
            ).rowcount  # fmt: skip
            if not n:
                c.execute(
                    text("INSERT INTO homecare_enrolments (twin_id, active, record, caregivers, tier, enrolled_by, "
                         "created_us, updated_us) VALUES (:t, 1, :r, :g, 'self', :b, :u, :u)"),
                    {"t": twin_id, "r": json.dumps(record), "g": sealed, "b": by, "u": u},
                )  # fmt: skip
        got = self.get_enrolment(twin_id)
        assert got is not None
        return got

    def _enrolment(self, r: Any) -> dict[str, Any]:
        cg = unseal_opt(r[3], "homecare_enrolments", "caregivers", r[0]) if r[3] else "[]"
        return {"twin": r[0], "active": bool(r[1]), **json.loads(r[2]), "caregivers": json.loads(cg or "[]"),
                "tier": r[4], "decision_id": r[5], "enrolled_by": r[6], "enrolled": _iso(r[7]),
                "updated": _iso(r[8])}  # fmt: skip

    _ENR = "twin_id, active, record, caregivers, tier, decision_id, enrolled_by, created_us, updated_us"

    def get_enrolment(self, twin_id: str) -> dict[str, Any] | None:
        with self.store.engine.connect() as c:
            r = c.execute(text(f"SELECT {self._ENR} FROM homecare_enrolments WHERE twin_id = :t"),
                          {"t": twin_id}).first()  # fmt: skip
        return None if r is None else self._enrolment(r)

    def require(self, twin_id: str) -> dict[str, Any]:
        e = self.get_enrolment(twin_id)
        if e is None or not e["active"]:
            raise NotFoundError(f"{twin_id!r} is not enrolled in remote care", field="twin_id")
        return e

    def enrolments(self, active: bool = True) -> list[dict[str, Any]]:
        q = f"SELECT {self._ENR} FROM homecare_enrolments" + (" WHERE active = 1" if active else "")
        with self.store.engine.connect() as c:
            return [self._enrolment(r) for r in c.execute(text(q + " ORDER BY twin_id"))]

    def end_enrolment(self, twin_id: str, when: datetime) -> None:
        with self.store.transaction() as c:
            c.execute(text("UPDATE homecare_enrolments SET active = 0, updated_us = :u WHERE twin_id = :t"),
                      {"u": to_us(when), "t": twin_id})  # fmt: skip

    # ------------------------------------------------------------------ decisions
    def add_decision(
        self, twin_id: str, when: datetime, d: Decision, inputs: dict[str, Any], version: str
    ) -> int:
        with self.store.transaction() as c:
            row = c.execute(
                text("INSERT INTO homecare_decisions (twin_id, t_us, tier, reasons, inputs, rules_version) "
                     "VALUES (:t, :u, :tier, :r, :i, :v) RETURNING id"),
                {"t": twin_id, "u": to_us(when), "tier": d.tier.value, "r": json.dumps([x.as_dict() for x in d.reasons]),
                 "i": json.dumps(inputs, default=str), "v": version},
            ).first()  # fmt: skip
            assert row is not None
            did = int(row[0])
            c.execute(text("UPDATE homecare_enrolments SET tier = :tier, decision_id = :d WHERE twin_id = :t"),
                      {"tier": d.tier.value, "d": did, "t": twin_id})  # fmt: skip
        return did

    def decisions(self, twin_id: str, limit: int = 50, since: datetime | None = None) -> list[dict[str, Any]]:
        where, p = "twin_id = :t", {"t": twin_id, "n": limit}
        if since is not None:
            where += " AND t_us >= :s"
            p["s"] = to_us(since)
        with self.store.engine.connect() as c:
            rows = c.execute(text(f"SELECT id, twin_id, t_us, tier, reasons, inputs, rules_version FROM "
                                  f"homecare_decisions WHERE {where} ORDER BY t_us DESC, id DESC LIMIT :n"), p).all()  # fmt: skip
        return [{"id": int(r[0]), "twin": r[1], "time": _iso(r[2]), "tier": r[3], "reasons": json.loads(r[4]),
                 "inputs": json.loads(r[5]), "rules_version": r[6]} for r in rows]  # fmt: skip

    # ------------------------------------------------------------------ worklist
    def open_item(self, twin_id: str, kind: str) -> dict[str, Any] | None:
        with self.store.engine.connect() as c:
            r = c.execute(text(f"SELECT {_ITEM_COLS} FROM homecare_worklist WHERE twin_id = :t AND kind = :k "
                               "AND status <> 'closed' ORDER BY id DESC LIMIT 1"), {"t": twin_id, "k": kind}).first()  # fmt: skip
        return None if r is None else _item(r)

    def raise_item(self, twin_id: str, kind: str, tier: Tier, reasons: list[dict[str, Any]], decision_id: int | None,
                   when: datetime) -> tuple[dict[str, Any], str | None]:  # fmt: skip
        """Open an item, or update the open one (its tier only rises). Returns (item, event) with
        event "opened", "escalated", "updated" or None (nothing new)."""
        cur = self.open_item(twin_id, kind)
        u = to_us(when)
        if cur is None:
            with self.store.transaction() as c:
                row = c.execute(
                    text(
                        "INSERT INTO homecare_worklist (twin_id, kind, tier, status, opened_us, updated_us, reasons, "
                        "decision_id) VALUES (:t, :k, :tier, 'open', :u, :u, :r, :d) RETURNING id"
                    ),
                    {
                        "t": twin_id,
                        "k": kind,
                        "tier": tier.value,
                        "u": u,
                        "r": json.dumps(reasons),
                        "d": decision_id,
                    },
                ).first()
                assert row is not None
                new_id = int(row[0])
            return self.get_item(new_id), "opened"
        old = Tier(cur["tier"])
        if tier.rank < old.rank:
            event, new_tier = "escalated", tier
        elif {r["rule"] for r in reasons} != {r["rule"] for r in cur["reasons"]}:
            event, new_tier = "updated", old
        else:
            return cur, None
        status = (
            "open" if event == "escalated" else cur["status"]
        )  # an escalation needs a new acknowledgement
        with self.store.transaction() as c:
            c.execute(
                text(
                    "UPDATE homecare_worklist SET tier = :tier, status = :s, reasons = :r, decision_id = :d, "
                    "updated_us = :u WHERE id = :i"
                ),
                {
                    "tier": new_tier.value,
                    "s": status,
                    "r": json.dumps(reasons),
                    "d": decision_id,
                    "u": u,
                    "i": cur["id"],
                },
            )
        return self.get_item(cur["id"]), event

    def get_item(self, item_id: int) -> dict[str, Any]:
        with self.store.engine.connect() as c:
            r = c.execute(
                text(f"SELECT {_ITEM_COLS} FROM homecare_worklist WHERE id = :i"), {"i": item_id}
            ).first()
        if r is None:
            raise NotFoundError(f"no worklist item {item_id}", field="item_id")
        return _item(r)

    def worklist(self, *, include_closed: bool = False, twin_ids: set[str] | None = None,
                 limit: int = 500) -> list[dict[str, Any]]:  # fmt: skip
        """Most urgent tier first, then the longest waiting."""
        where = "1 = 1" if include_closed else "status <> 'closed'"
        with self.store.engine.connect() as c:
            rows = c.execute(text(f"SELECT {_ITEM_COLS} FROM homecare_worklist WHERE {where} "
                                  f"ORDER BY {_TIER_ORDER}, opened_us, id LIMIT :n"), {"n": limit}).all()  # fmt: skip
        items = [_item(r) for r in rows]
        return items if twin_ids is None else [i for i in items if i["twin"] in twin_ids]

    def acknowledge(self, item_id: int, by: str, when: datetime) -> dict[str, Any]:
        it = self.get_item(item_id)
        if it["status"] == "closed":
            raise ValidationError("this item is already closed", field="item_id")
        with self.store.transaction() as c:
            c.execute(text("UPDATE homecare_worklist SET status = 'acknowledged', ack_by = :b, ack_us = :u, "
                           "updated_us = :u WHERE id = :i"), {"b": by, "u": to_us(when), "i": item_id})  # fmt: skip
        return self.get_item(item_id)

    def close(self, item_id: int, by: str, when: datetime, outcome: dict[str, Any]) -> dict[str, Any]:
        it = self.get_item(item_id)
        if it["status"] == "closed":
            raise ValidationError("this item is already closed", field="item_id")
        if outcome.get("disposition") not in OUTCOMES:
            raise ValidationError(f"disposition must be one of {', '.join(OUTCOMES)}", field="disposition")
        u = to_us(when)
        with self.store.transaction() as c:
            c.execute(
                text("UPDATE homecare_worklist SET status = 'closed', outcome = :o, closed_by = :b, closed_us = :u, "
                     "updated_us = :u, ack_by = COALESCE(ack_by, :b), ack_us = COALESCE(ack_us, :u) WHERE id = :i"),
                {"o": json.dumps(outcome), "b": by, "u": u, "i": item_id},
            )  # fmt: skip
        return self.get_item(item_id)
