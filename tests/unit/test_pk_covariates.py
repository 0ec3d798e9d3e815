"""Covariate formulas against their published numbers."""

from __future__ import annotations

import pytest

from medtwin.core.errors import ValidationError
from medtwin.models.pharmacology.covariates import (
    Covariates,
    adjusted_body_weight,
    ckd_epi_2021,
    cockcroft_gault,
    describe,
    ffm_al_sallami,
    ffm_janmahasatian,
    ibw_devine,
    lbm_james,
)


def test_lean_body_mass_james() -> None:
    assert lbm_james(70, 170, "male") == pytest.approx(55.298, abs=1e-3)
    assert lbm_james(60, 165, "female") == pytest.approx(1.07 * 60 - 148 * (60 / 165) ** 2)


def test_fat_free_mass_al_sallami_unrounded() -> None:
    # Janmahasatian male 70 kg / 170 cm: 9270*70/(6680 + 216*24.2215) = 54.475 (PyTCI rounds BMI -> 54.50)
    assert ffm_janmahasatian(70, 170, "male") == pytest.approx(54.4752, abs=1e-3)
    assert ffm_al_sallami(35, 70, 170, "male") == pytest.approx(54.4752, abs=2e-3)  # maturation ~1 at 35 y


def test_cockcroft_gault_and_weight() -> None:
    assert cockcroft_gault(60, 72, 1.0, "male") == pytest.approx(80.0)  # (140-60) x 72 / (72 x 1.0)
    assert cockcroft_gault(60, 72, 1.0, "female") == pytest.approx(68.0)
    assert ibw_devine(152.4 + 2.54 * 10, "male") == pytest.approx(73.0)  # 50 + 2.3 kg per inch over 5 ft
    assert adjusted_body_weight(120, 175.26, "male") == pytest.approx(
        70.7 + 0.4 * (120 - 70.7)
    )  # 69 in: IBW 70.7
    assert describe(Covariates(60, 72, 170, "male", scr=1.0))["crcl_weight"] == "total body weight"


def test_ckd_epi_2021_published_values() -> None:
    assert ckd_epi_2021(50, 1.0, "male") == pytest.approx(91.691, abs=1e-3)
    assert ckd_epi_2021(50, 0.7, "female") == pytest.approx(105.298, abs=1e-3)


def test_covariate_validation_names_the_field() -> None:
    with pytest.raises(ValidationError) as e:
        Covariates(40, -1, 170, "male")
    assert e.value.field == "weight"
    with pytest.raises(ValidationError) as e:
        Covariates(40, 70, 170, "x")  # type: ignore[arg-type]
    assert e.value.field == "sex"
