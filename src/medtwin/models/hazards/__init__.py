"""Hazards for the building twin: fire and smoke spread, gas leaks, outbreak zones, tenability.

* :mod:`.fed` toxic-gas fractional effective dose (Purser / ISO 13571), heat, visibility and
  walking speed in smoke: the formulas with their sources;
* :mod:`.fire` design fires (t-squared growth, yields) and plume entrainment;
* :mod:`.zones` medtwin's own well-mixed multi-zone transport model: smoke and gas move from
  room to room through doors over time (CFAST is not available here: docs/adr/0010);
* :mod:`.tenability` when each zone becomes untenable, and the dose a person collects moving
  through the zones.

Pure models: numpy in, numbers out, no I/O.
"""
