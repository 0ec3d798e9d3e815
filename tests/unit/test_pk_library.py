"""Drug library: published parameter formulas at their reference patients; PD test vectors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from medtwin.core.errors import ValidationError
from medtwin.models.pharmacology.covariates import Covariates
from medtwin.models.pharmacology.library import DRUGS, drug_for_code, drug_for_medication, get_drug
from medtwin.models.pharmacology.library.propofol import schnider_micro
from medtwin.models.pharmacology.library.vancomycin import goti_crcl
from medtwin.models.pharmacology.pd import bouillon_bis, sigmoid_emax

REF = Covariates(40, 70, 170, "male")


def test_marsh_published_constants() -> None:
    p = get_drug("propofol").model("marsh").typical_params(REF)
    assert p["V1"] == pytest.approx(15.96)
    assert p["CL"] / p["V1"] == pytest.approx(0.119)
    assert p["Q2"] / p["V2"] == pytest.approx(0.055) and p["Q3"] / p["V3"] == pytest.approx(0.0033)
    assert p["KE0"] == 0.26


def test_schnider_published_micro_constants() -> None:
    m = schnider_micro(REF)
    assert m["k10"] == pytest.approx(0.38357, abs=1e-5)
    assert m["k12"] == pytest.approx(0.37480, abs=1e-5)
    assert m["k21"] == pytest.approx(0.06680, abs=1e-5)
    p = get_drug("propofol").model("schnider").typical_params(REF)
    assert p["CL"] / p["V1"] == pytest.approx(m["k10"]) and p["KE0"] == 0.456


def test_eleveld_reference_patient() -> None:
    p = get_drug("propofol").model("eleveld").typical_params(Covariates(35, 70, 170, "male"))
    for k, v in {"V1": 6.28, "V2": 25.5, "V3": 273, "CL": 1.79, "Q3": 1.11, "KE0": 0.146}.items():
        assert p[k] == pytest.approx(v, rel=1e-3), k
    assert p["Q2"] == pytest.approx(1.75 * (1 + 1.30 * (1 - 1860 / (1860 + 68.3))), rel=1e-9)


def test_minto_reference_patient() -> None:
    p = get_drug("remifentanil").model("minto").typical_params(REF)
    assert p["V1"] == pytest.approx(5.1214, abs=1e-4)
    assert p["V2"] == pytest.approx(9.8521, abs=1e-4)
    assert p["V3"] == 5.42 and p["KE0"] == pytest.approx(0.595)


def test_goti_vancomycin_covariates() -> None:
    m = get_drug("vancomycin").model(None)
    # CrCL exactly 120 mL/min and 70 kg: typical CL 4.5 L/h, V1 58.4 L
    scr = (140 - 40) * 70 / (72 * 120)
    p = m.typical_params(Covariates(40, 70, 170, "male", scr=scr))
    assert p["CL"] * 60 == pytest.approx(4.5) and p["V1"] == pytest.approx(58.4)
    dial = m.typical_params(Covariates(40, 70, 170, "male", scr=scr, dialysis=True))
    assert dial["CL"] / p["CL"] == pytest.approx(0.7) and dial["V1"] / p["V1"] == pytest.approx(0.5)
    assert goti_crcl(Covariates(70, 70, 170, "male", scr=0.6)) == pytest.approx(
        (70 * 70) / 72
    )  # SCr floored at 1
    assert goti_crcl(Covariates(20, 120, 190, "male", scr=0.5)) == 150.0
    with pytest.raises(ValidationError) as e:
        m.typical_params(Covariates(40, 70, 170, "male"))
    assert e.value.field == "scr"


def test_gentamicin_and_lithium_published_values() -> None:
    g = get_drug("gentamicin").model(None)
    p = g.typical_params(REF)
    assert p["CL"] * 60 == pytest.approx(2.3) and p["V1"] == 21.6
    om = g.omega_matrix
    assert om[0, 1] / math.sqrt(om[0, 0] * om[1, 1]) == pytest.approx(0.21, abs=1e-3)
    li = get_drug("lithium").model(None)
    scr = (140 - 40) * 62 / (72 * 116)  # CrCL 116 mL/min at 62 kg
    p = li.typical_params(Covariates(40, 62, 165, "male", scr=scr), 600.0)
    assert p["CL"] * 60 == pytest.approx(0.909) and p["KA"] * 60 == pytest.approx(0.293)
    p2 = li.typical_params(Covariates(40, 62, 165, "male", scr=scr), 1200.0)
    assert p2["CL"] / p["CL"] == pytest.approx(2**0.354)
    assert li.amount_factor == pytest.approx(2 / 73.89)


def test_sigmoid_emax_and_bouillon_vectors() -> None:
    e = sigmoid_emax(np.array([1.0, 3.4, 6.0]), 98, -98, 3.4, 3)
    assert np.allclose(e, [95.568, 49.0, 15.087], atol=1e-3)
    assert float(bouillon_bis(4.47)) == pytest.approx(97.4 / 2)
    assert float(bouillon_bis(0.0, 19.3)) == pytest.approx(97.4 / 2)


def test_library_lookups_and_sources() -> None:
    assert drug_for_code("4092-3") is DRUGS["vancomycin"]
    assert drug_for_code("3663-2") is DRUGS["gentamicin"]
    assert drug_for_medication("Vancomycin 1 g IV") is DRUGS["vancomycin"]
    for d in DRUGS.values():
        assert d.sources
        for m in d.models.values():
            assert m.source and m.typical_params(Covariates(50, 75, 175, "female", scr=1.0), 600.0)
    assert get_drug("vancomycin").target is not None and get_drug("vancomycin").target.describe().startswith(
        "AUC24/MIC 400-600"
    )
    with pytest.raises(ValidationError):
        get_drug("aspirin")
