"""Early-warning scores as pure functions: NEWS2 (RCP 2017), qSOFA (Seymour 2016), MEWS (Subbe 2001).

Each module cites its source and states its rounding and boundary conventions; docs/scores.md
summarises them. Missing readings make a result *partial*; they are never scored as normal.
"""

from __future__ import annotations

from medtwin.models.scores._common import Consciousness, round_half_up
from medtwin.models.scores.mews import SUBBE_2001, MewsBoundaries, MewsResult, mews
from medtwin.models.scores.news2 import Band, News2Result, clinical_response, news2
from medtwin.models.scores.qsofa import QsofaResult, qsofa

__all__ = [
    "SUBBE_2001",
    "Band",
    "Consciousness",
    "MewsBoundaries",
    "MewsResult",
    "News2Result",
    "QsofaResult",
    "clinical_response",
    "mews",
    "news2",
    "qsofa",
    "round_half_up",
]
