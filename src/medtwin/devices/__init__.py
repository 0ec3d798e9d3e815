"""Device simulators: synthetic patients and the devices that watch them, speaking medtwin's
MQTT JSON format, deterministic by seed, with ground truth as data. See docs/devices.md.

Main entry points::

    BedsideMonitor(device_id, patient_seed, scenario, start).step(t) -> list[reading dict]
    Ward.generate(n_beds, start=..., seed=...).step(t) -> list[DeviceBatch]
    SimulationRunner(ward, MqttPublisher(...), speed=10).start()
"""

from __future__ import annotations

from medtwin.devices.activity import ActivitySensor
from medtwin.devices.artifacts import Fault, TechnicalEvent
from medtwin.devices.base import DeviceBatch
from medtwin.devices.environment import EnvironmentSensor, HvacFault
from medtwin.devices.medication import MedicationOrder, MedicationRecorder
from medtwin.devices.messages import DEFAULT_PREFIX, Sequencer, batch_messages, med_message, obs_message
from medtwin.devices.monitor import BedsideMonitor, MonitorBank, MonitorConfig
from medtwin.devices.patient import PatientProfile, sample_profile
from medtwin.devices.runner import SimulationRunner
from medtwin.devices.scenarios import Scenario, ScenarioKind
from medtwin.devices.truth import CRITICAL_RULES, GroundTruth
from medtwin.devices.ward import HospitalSimulator, Ward
from medtwin.devices.wearable import WearableBand

__all__ = [
    "CRITICAL_RULES",
    "DEFAULT_PREFIX",
    "ActivitySensor",
    "BedsideMonitor",
    "DeviceBatch",
    "EnvironmentSensor",
    "Fault",
    "GroundTruth",
    "HospitalSimulator",
    "HvacFault",
    "MedicationOrder",
    "MedicationRecorder",
    "MonitorBank",
    "MonitorConfig",
    "PatientProfile",
    "Scenario",
    "ScenarioKind",
    "Sequencer",
    "SimulationRunner",
    "TechnicalEvent",
    "Ward",
    "WearableBand",
    "batch_messages",
    "med_message",
    "obs_message",
    "sample_profile",
]
