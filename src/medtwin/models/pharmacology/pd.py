"""Pharmacodynamics: the sigmoid Emax (Hill) model and the Bouillon 2004 response surface. Pure.

``E = E0 + Emax C^g / (EC50^g + C^g)`` (Hill AV, J Physiol 1910;40:iv-vii; the pharmacological
form of Holford NHG, Sheiner LB. Clin Pharmacokinet 1981;6:429-453). Test vector: E0 98,
Emax -98, EC50 3.4, g 3 gives E(1) = 95.568, E(3.4) = 49.0, E(6) = 15.087.

Propofol-remifentanil interaction on BIS (Bouillon TW et al. Anesthesiology 2004;100:1353-1372,
Greco-type surface with beta = 0): ``U = Cp/C50p + Cr/C50r``,
``BIS = E0 - E0 U^g / (1 + U^g)`` with E0 97.4, C50p 4.47 ug/mL, C50r 19.3 ng/mL, g 1.43.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def sigmoid_emax(
    c: FloatArray | float, e0: float, emax: float, ec50: FloatArray | float, gamma: float
) -> FloatArray:
    """Sigmoid Emax effect for concentrations ``c`` (any shape; ``ec50`` broadcasts)."""
    ca = np.maximum(np.asarray(c, dtype=np.float64), 0.0)
    ec = np.asarray(ec50, dtype=np.float64)
    r = (ca / ec) ** gamma
    return np.asarray(e0 + emax * r / (1.0 + r), dtype=np.float64)


def bouillon_bis(
    ce_propofol: FloatArray | float,
    ce_remifentanil_ng_ml: FloatArray | float = 0.0,
    *,
    e0: float = 97.4,
    c50p: float = 4.47,
    c50r: float = 19.3,
    gamma: float = 1.43,
) -> FloatArray:
    """BIS from effect-site propofol (ug/mL) and remifentanil (ng/mL), Bouillon 2004 (beta = 0)."""
    u = (
        np.maximum(np.asarray(ce_propofol, dtype=np.float64), 0.0) / c50p
        + np.maximum(np.asarray(ce_remifentanil_ng_ml, dtype=np.float64), 0.0) / c50r
    )
    ug = u**gamma
    return np.asarray(e0 - e0 * ug / (1.0 + ug), dtype=np.float64)
