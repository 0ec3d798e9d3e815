"""Safety service (issue 10): the building twin, its occupants from the live census, evacuation
runs with hazards, scenario comparison; stored buildings and runs. See docs/evacuation.md."""
