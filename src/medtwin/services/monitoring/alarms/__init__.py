"""The alarm engine (issue 3): IEC 60601-1-8 / BICEPS alarm states, limits, fatigue controls,
escalation, persistence. See docs/alarms.md.

* :mod:`.model` - Alarm, priorities (IEC 60601-1-8 Table 1 derivation), states, transitions
* :mod:`.limits` - default limits with sources, ward/patient overrides, validation
* :mod:`.config` - hospital settings (latching, pause, escalation, delays, hysteresis)
* :mod:`.machine` - the pure state machine
* :mod:`.signals`, :mod:`.conditions`, :mod:`.evaluate` - artefact rules, persistence, evaluators
* :mod:`.engine` - AlarmEngine (``process``, ``tick``)
* :mod:`.repository` - ``alarms`` and append-only ``alarm_events``
* :mod:`.service` - AlarmService (bus, worker thread, API operations)
"""

from __future__ import annotations

from medtwin.services.monitoring.alarms.config import AlarmConfig, TrendRule
from medtwin.services.monitoring.alarms.engine import AlarmEngine
from medtwin.services.monitoring.alarms.machine import AlarmMachine
from medtwin.services.monitoring.alarms.model import Alarm, Kind, Priority, State, Transition, derive_priority

__all__ = [
    "Alarm",
    "AlarmConfig",
    "AlarmEngine",
    "AlarmMachine",
    "Kind",
    "Priority",
    "State",
    "Transition",
    "TrendRule",
    "derive_priority",
]
