"""Live monitoring: early-warning scores, nurse charting, activity and environment, alarms."""
