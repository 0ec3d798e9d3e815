"""The responsive virtual patient of the training mode (issue 12). Pure and deterministic by seed.

A small state model whose vital signs evolve by condition (sepsis, haemorrhage, hypoglycaemia,
opioid overdose, acute heart failure, hypoxaemic respiratory failure) and respond to a trainee's
actions (oxygen, fluids, vasopressor, insulin, glucose, naloxone, antibiotics, transfusion,
diuretic, nitrate, CPAP, assisted ventilation, haemorrhage control). Where the platform has a
treatment model it is used: drug kinetics run on :mod:`medtwin.models.pharmacology.linear`
(exact compartmental solutions), the glucose-insulin system on the UVA/Padova engine of
:mod:`medtwin.models.glucose`. Every source is listed in :mod:`.sources`; magnitudes that are
modelling choices (no published number) are marked as such where they are set.

* :mod:`.engine`: :class:`~.engine.VirtualPatient` (advance, apply an action, observe);
* :mod:`.conditions`: the conditions and their presentation parameters;
* :mod:`.actions`: the orderable actions, their dose ranges and validation;
* :mod:`.respiration`, :mod:`.circulation`, :mod:`.drugs`, :mod:`.glycaemia`: the sub-models;
* :mod:`.outcome`: outcome summaries of a simulated course.
"""

from medtwin.models.virtual_patient.actions import ACTIONS, Action, parse_action
from medtwin.models.virtual_patient.conditions import CONDITIONS, Condition
from medtwin.models.virtual_patient.engine import PatientSpec, VirtualPatient, simulate

__all__ = [
    "ACTIONS",
    "CONDITIONS",
    "Action",
    "Condition",
    "PatientSpec",
    "VirtualPatient",
    "parse_action",
    "simulate",
]
