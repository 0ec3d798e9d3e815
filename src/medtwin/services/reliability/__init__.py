"""Reliability services: per-device sequence-gap detection (technical alarms on lost messages)."""
