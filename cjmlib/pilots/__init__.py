"""Steps 4 and 5, notebooks 04_pilot_design and 05_pilot_eval: pilot design, A/B evaluation
and quasi-experiments for store and region pilots."""
