"""Step 3, notebook 03_voice: survey metrics, sentiment, themes, key drivers, segments and
personas."""
