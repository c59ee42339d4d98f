"""The seeded sample generator with planted ground truth (``cjm sample``)."""
