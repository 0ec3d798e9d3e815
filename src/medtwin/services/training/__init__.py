"""Training on virtual patients cloned from real cases (issue 12; docs/training.md).

* :mod:`.builder`, :mod:`.cases`: de-identified cases from real twins (through
  :mod:`medtwin.security.deid`) or condition templates; editing; the library;
* :mod:`.sessions`: progressive disclosure, accelerated clock, time-stamped actions and orders;
* :mod:`.scoring`: diagnosis match, weighted checklist with time targets and penalties, simulated
  outcome against the real team's treatment and the real outcome; the feedback report;
* :mod:`.instructor`: cohort results, difficulty from results, session replay;
* :mod:`.demo`: the demo hospital's cases; :mod:`.service`: the facade for the API and the CLI.

The virtual patient itself is :mod:`medtwin.models.virtual_patient`.
"""
