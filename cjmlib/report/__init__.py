"""Step 6, notebook 06_report: the improvement report, backlog, monitoring and the comparison
with the previous run."""
