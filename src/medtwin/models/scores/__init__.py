"""Early-warning scores as pure functions: NEWS2 (RCP 2017), qSOFA (Seymour 2016), MEWS (Subbe 2001).

The functions are ``score_news2``, ``score_qsofa`` and ``score_mews`` (the submodules ``news2``,
``qsofa`` and ``mews`` hold their tables). Each module cites its source and states its rounding
and boundary conventions; docs/scores.md summarises them. Missing readings make a result *partial*; they are never scored as normal.
"""

from __future__ import annotations

from medtwin.models.scores._common import Consciousness, round_half_up
from medtwin.models.scores.mews import SUBBE_2001, MewsBoundaries, MewsResult, score_mews
from medtwin.models.scores.news2 import Band, News2Result, clinical_response, score_news2
from medtwin.models.scores.qsofa import QsofaResult, score_qsofa

__all__ = [
    "SUBBE_2001",
    "Band",
    "Consciousness",
    "MewsBoundaries",
    "MewsResult",
    "News2Result",
    "QsofaResult",
    "clinical_response",
    "round_half_up",
    "score_mews",
    "score_news2",
    "score_qsofa",
]
