"""Pure models (no I/O): early-warning scores, physiology, pharmacology, flow, evacuation, hazards."""
