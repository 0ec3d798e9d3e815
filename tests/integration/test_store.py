"""The store contract, run against SQLite and against the real PostgreSQL server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from medtwin.core.errors import NotFoundError, StoreError
from medtwin.core.model import (
    MedicationAdministration,
    Method,
    Observation,
    ObsStatus,
    Relationship,
    RelType,
    Twin,
    TwinKind,
)
from medtwin.store import migrations
from medtwin.store.sql import SqlStore
from medtwin.store.writer import BatchWriter
from tests.conftest import add_patients

T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


def reading(
    i: int,
    twin: str = "P1",
    code: str = "8867-4",
    value: float | None = None,
    source: str = "mon-1",
    t: datetime | None = None,
    status: ObsStatus = ObsStatus.FINAL,
) -> Observation:
    when = t or T0 + timedelta(seconds=i)
    return Observation(
        twin_id=twin,
        code=code,
        effective=when,
        received=when,
        source=source,
        source_id=str(i),
        value=float(60 + i % 40) if value is None else value,
        unit="/min",
        status=status,
    )


def test_schema_version_and_idempotent_migrate(store: SqlStore) -> None:
    assert store.schema_version() == migrations.LATEST_VERSION
    assert store.migrate() == []


def test_newer_schema_is_refused(db_url: str) -> None:
    s = SqlStore(db_url)
    from sqlalchemy import text

    with s.engine.begin() as c:
        c.execute(text("INSERT INTO schema_version VALUES (:v, 0)"), {"v": migrations.LATEST_VERSION + 1})
    s.close()
    with pytest.raises(StoreError, match="newer"):
        SqlStore(db_url)


def test_twins_and_relationships(store: SqlStore) -> None:
    store.put_twin(Twin("W1", TwinKind.WARD, "Ward 1"))
    store.put_twin(Twin("B1", TwinKind.BED, "Bed 1"))
    store.put_twin(Twin("B2", TwinKind.BED, "Bed 2"))
    old = store.put_twin(Twin("P1", TwinKind.PATIENT, "Synthetic", {"age": 70}, {"mrn": "X1"}))
    assert old is None
    old = store.put_twin(Twin("P1", TwinKind.PATIENT, "Synthetic 2", {"age": 71}, {"mrn": "X1"}))
    assert old is not None and old.name == "Synthetic"
    assert store.get_twin("P1") == Twin("P1", TwinKind.PATIENT, "Synthetic 2", {"age": 71}, {"mrn": "X1"})
    assert [t.id for t in store.list_twins(TwinKind.BED)] == ["B1", "B2"]
    store.relate(Relationship("P1", RelType.LOCATED_IN, "B1"), exclusive=True)
    store.relate(Relationship("B1", RelType.PART_OF, "W1"))
    store.relate(Relationship("P1", RelType.LOCATED_IN, "B2"), exclusive=True)  # moved bed
    assert [r.dst for r in store.relationships("P1", direction="out")] == ["B2"]
    assert store.unrelate("P1", RelType.LOCATED_IN, "B2")
    assert not store.unrelate("P1", RelType.LOCATED_IN, "B2")
    with pytest.raises(NotFoundError):
        store.require_twin("nope")


def test_same_reading_twice_is_stored_once(store: SqlStore) -> None:
    add_patients(store, "P1")
    batch = [reading(i) for i in range(100)]
    r1 = store.write(batch)
    assert len(r1.accepted) == 100 and r1.duplicates == 0
    assert [o.id for o in r1.accepted] == sorted({o.id for o in r1.accepted})
    r2 = store.write(batch[50:] + [reading(i) for i in range(100, 110)])
    assert r2.duplicates == 50 and len(r2.accepted) == 10
    assert {o.source_id for o in r2.accepted} == {str(i) for i in range(100, 110)}
    assert store.count_observations() == 110
    # ids of the accepted rows are the stored ones
    for o in r2.accepted:
        assert store.get_observation(o.id).source_id == o.source_id  # type: ignore[arg-type]
    # duplicates inside one batch
    r3 = store.write([reading(200), reading(200)])
    assert len(r3.accepted) == 1 and r3.duplicates == 1


def test_latest_history_and_buckets(store: SqlStore) -> None:
    add_patients(store, "P1", "P2")
    rows = [reading(i, value=float(i)) for i in range(600)]  # 10 minutes at 1 Hz
    rows += [reading(1000 + i, twin="P2", code="2708-6", value=95.0, source="mon-2") for i in range(5)]
    store.write(rows)
    # an older reading arriving late does not replace the latest state
    store.write([reading(5000, value=1.0, t=T0 - timedelta(hours=1))])
    latest = store.latest("P1")
    assert latest["8867-4"].value == 599.0
    assert store.latest_many(["P1", "P2"])["P2"]["2708-6"].value == 95.0
    hist = store.history("P1", "8867-4", T0 + timedelta(seconds=10), T0 + timedelta(seconds=20))
    assert [o.value for o in hist] == [float(v) for v in range(10, 20)]
    assert len(store.history("P1", "8867-4", limit=5, descending=True)) == 5
    b = store.buckets("P1", "8867-4", T0, T0 + timedelta(minutes=10), 60)
    assert len(b) == 10
    assert b[0].count == 60 and b[0].min == 0 and b[0].max == 59 and b[0].mean == pytest.approx(29.5)
    assert b[9].start == T0 + timedelta(minutes=9)


def test_entered_in_error_is_kept_but_hidden(store: SqlStore) -> None:
    add_patients(store, "P1")
    store.write([reading(1, value=70), reading(2, value=999 - 900, status=ObsStatus.ENTERED_IN_ERROR)])
    assert [o.value for o in store.history("P1")] == [70.0]
    assert len(store.history("P1", include_errors=True)) == 2
    assert store.latest("P1")["8867-4"].value == 70.0


def test_medications(store: SqlStore) -> None:
    add_patients(store, "P1")
    m = MedicationAdministration(
        "P1", "paracetamol", 1000, "mg", "oral", T0, "nurse-1", "m1", performer="nurse-1"
    )
    r = store.write(medications=[m, m])
    assert len(r.medications) == 1 and r.medication_duplicates == 1
    assert store.medications("P1")[0].drug == "paracetamol"


def test_purge_keeps_latest_state(store: SqlStore) -> None:
    add_patients(store, "P1")
    store.write([reading(i) for i in range(10)])
    n = store.purge(T0 + timedelta(seconds=100))
    assert n == 9
    assert store.count_observations() == 1 and "8867-4" in store.latest("P1")


def test_batch_writer_groups_commits_and_acks(store: SqlStore) -> None:
    add_patients(store, "P1")
    with BatchWriter(store, linger=0.05) as w:
        futures = [w.submit([reading(i * 10 + k) for k in range(10)]) for i in range(50)]
        acks = [f.result(timeout=30) for f in futures]
        assert sum(len(a.accepted) for a in acks) == 500
        assert w.commits < 50  # grouped
        again = w.write([reading(0), reading(9999)])
        assert again.duplicates == 1 and len(again.accepted) == 1
    assert store.count_observations() == 501


def test_rejects_are_kept(store: SqlStore) -> None:
    store.record_rejects(
        "mqtt", "mon-1", [{"index": 2, "field": "value", "reason": "not a number"}], payload="{}"
    )
    r = store.rejects()
    assert r[0]["field"] == "value" and r[0]["adapter"] == "mqtt"


def test_method_roundtrip(store: SqlStore) -> None:
    add_patients(store, "P1")
    o = reading(1)
    o = Observation(
        **{
            **{f: getattr(o, f) for f in o.__dataclass_fields__},
            "method": Method.MANUAL,
            "meta": {"derived_from": [1, 2]},
        }
    )
    store.write([o])
    got = store.history("P1")[0]
    assert got.method is Method.MANUAL and got.meta == {"derived_from": [1, 2]}
