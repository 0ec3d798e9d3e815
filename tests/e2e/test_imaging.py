"""The imaging page in a real browser: a surgeon opens a patient's two studies, sees the lesions in
3D (WebGL through SwiftShader), gets the RECIST 1.1 category and saves a second resection plan,
which the comparison table ranks against the first."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import E2E_PASSWORD, Server, login

pytestmark = pytest.mark.e2e
PATIENT = "IMG-e2e-1"


def _seed(server: Server, tmp: Path) -> None:
    from medtwin.core.model import Twin, TwinKind
    from medtwin.models.imaging import phantoms
    from medtwin.models.imaging.volume import LabelMap
    from medtwin.security.principal import Role
    from medtwin.security.service import security_for
    from medtwin.services.imaging import planning, synth
    from medtwin.services.imaging.service import ImagingService

    rt = server.runtime
    if rt.store.get_twin(PATIENT) is not None:
        return
    rt.registry.put(Twin(PATIENT, TwinKind.PATIENT, "Imaging Patient"))
    security_for(rt).accounts.add_user(
        "surgeon-e2e", Role.SURGEON, E2E_PASSWORD, name="Surgeon", patients=[PATIENT]
    )
    svc = ImagingService(rt)
    for i, (r, extra) in enumerate(((12, ()), (16, (((-25.0, -25.0, -15.0), 7.0),)))):
        p = phantoms.liver_phantom(
            shape=(40, 64, 64), spacing=(2.5, 2.0, 2.0), tumour_radius=r, extra_lesions=extra
        )
        synth.write_series(p.ct, tmp / f"s{i}", when=datetime(2026, 1 + 3 * i, 5, tzinfo=UTC))
        s = svc.import_path(PATIENT, [tmp / f"s{i}"])["series"][0]
        svc.segment(
            s["id"], {"lower": 100, "upper": 150, "split_islands": True, "name": "lesion", "role": "lesion"}
        )
        if i == 0:
            lm = LabelMap.from_masks(
                {"liver": p.masks["liver"], "tumour": p.masks["tumour"], "portal vein": p.masks["vessel"]},
                p.ct.affine,
            )
            organ = svc._save_seg(svc.repo.get("series", s["id"]), lm, "liver model", "import", {}, "e2e")
            planning.create_plan(svc, organ["id"], {"name": "extended", "liver_state": "cirrhosis",
                                                    "plane": {"point": [-45, 0, 0], "normal": [1, 0, 0]}})  # fmt: skip


def test_imaging_page_recist_3d_and_plans(context: Any, server: Server, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    _seed(server, tmp_path)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    login(pg, "surgeon-e2e", E2E_PASSWORD)
    pg.goto(f"/#/imaging/{PATIENT}")
    expect(pg.locator("h1")).to_have_text("Imaging and surgery planning")
    expect(pg.locator(".img-tree > li")).to_have_count(2)
    pg.locator(".img-tree button", has_text="3D").nth(1).click()  # the liver model (organ, tumour, vessel)
    expect(pg.locator(".img-view canvas")).to_have_count(1)
    expect(pg.locator("table.data").first.locator("tr")).to_have_count(4, timeout=20_000)
    pg.select_option("select[aria-label='Baseline segmentation']", index=0)
    pg.select_option("select[aria-label='Follow-up segmentation']", index=2)
    pg.locator("button", has_text="Assess RECIST 1.1").click()
    expect(pg.locator(".img-category")).to_have_text("PD", timeout=20_000)
    pg.fill("input[aria-label='Plane point x, y, z (LPS mm)']", "0, 0, 0")
    pg.fill("input[aria-label='Plan name']", "right hemi")
    pg.locator("button", has_text="Save plan").click()
    rows = pg.locator("section.panel:has(h2:text-is('Plans')) table.data tr")
    expect(rows).to_have_count(3, timeout=20_000)  # header + two plans
    expect(rows.nth(1)).to_contain_text("right hemi ★")
    expect(pg.locator(".img-risk").first).to_contain_text("insufficient")
    pg.screenshot(
        path=str(Path(__file__).resolve().parents[2] / "test-artifacts" / "imaging.png"), full_page=True
    )
    assert errors == []
