"""Step 1, notebook 01_collect: raw exports to validated, identity-stitched canonical tables."""
