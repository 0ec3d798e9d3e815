"""Evacuation of the building twin (issue 10): pure models, no I/O.

* :mod:`.classes` mobility classes, walking and device speeds, staff per device (cited);
* :mod:`.building` the building model (floors, compartments, rooms, corridors, doors, stairs,
  lifts, exits, refuges, beds) and its derived walkable geometry; :mod:`.geojson` its file form;
* :mod:`.grid` rasterised floors: zones per cell, walking distances, routes avoiding blocked zones;
* :mod:`.lidar` point cloud to floor plan (slice, occupancy grid, walls, walkable area, doors);
* :mod:`.engine` one floor in JuPedSim with guards (stuck agents, engine errors, time limit);
* :mod:`.assisted` staff-assisted moves of bed-bound and critical patients (staff as resources);
* :mod:`.hydraulic` SFPE hand calculations (door flows, guard bounds);
* :mod:`.scenario` and :mod:`.plan` the scenario schema and the coupled run (people, hazards,
  progressive horizontal or full evacuation); :mod:`.results` RSET/ASET and the reports.
"""
