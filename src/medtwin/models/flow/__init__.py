"""Hospital flow models (pure, no I/O): queueing formulas, replication statistics, the building
graph, and the discrete-event engine the calibrated outpatient simulation and the single-station
capacity check share."""
