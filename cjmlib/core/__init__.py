"""The small core every workflow step stands on.

``config`` (project and workspace paths, YAML), ``io`` (atomic table and JSON writes),
``engine`` (the embedded DuckDB connection and Ibis helpers), ``checks`` (argument
validation), ``schema`` (every table's columns and types, once), ``runs`` (run ids and the
run-folder layout), ``figures`` (figure style, saving and showing) and ``privacy`` (personal
data in outputs: scan, redaction, small-group suppression).
"""
