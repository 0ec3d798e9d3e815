"""Treatment fits and runs on SQLite and the real PostgreSQL: supersede, history, selection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from medtwin.core.errors import NotFoundError, ValidationError
from medtwin.services.treatment.repository import TreatmentRepository
from medtwin.store.sql import SqlStore

pytestmark = pytest.mark.integration
T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


def test_fits_runs_and_selection(store: SqlStore) -> None:
    repo = TreatmentRepository(store)
    a = repo.add_fit("P1", "vancomycin", "goti2018", {"fit": {"n_levels": 1}}, confidence="informed", when=T0)
    b = repo.add_fit(
        "P1",
        "vancomycin",
        "goti2018",
        {"fit": {"n_levels": 2}},
        confidence="low",
        when=T0 + timedelta(hours=1),
    )
    repo.add_fit(
        "P1", "gentamicin", "hodiamont2017", {"fit": {"n_levels": 0}}, confidence="population", when=T0
    )
    cur = repo.current_fit("P1", "vancomycin")
    assert (
        cur is not None
        and cur["id"] == b["id"]
        and cur["fit"]["n_levels"] == 2
        and cur["confidence"] == "low"
    )
    assert [f["status"] for f in repo.fits("P1", "vancomycin")] == ["current", "superseded"]
    assert repo.get_fit(a["id"])["status"] == "superseded"
    assert repo.drugs_with_fits("P1") == ["gentamicin", "vancomycin"]
    out = {"results": [{"label": "1 g q12h", "rank": 1, "doses": [{"time_min": 0, "dose_mg": 1000}]}]}
    run = repo.add_run(twin_id="P1", kind="pk_compare", drug="vancomycin", fit_id=b["id"], actor="user:doc",
                       record={"input": {}, "output": out}, when=T0)  # fmt: skip
    assert run["selected"] is None and repo.runs("P1")[0]["id"] == run["id"]
    sel = repo.select(run["id"], "1 g q12h", "user:doc", T0 + timedelta(minutes=5))
    assert sel["selected"]["label"] == "1 g q12h" and sel["selected_by"] == "user:doc" and sel["selected_at"]
    with pytest.raises(ValidationError):
        repo.select(run["id"], "2 g", "user:doc", T0)
    with pytest.raises(NotFoundError):
        repo.get_run("nope")
