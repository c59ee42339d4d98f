"""Step 2, notebook 02_journeys: journeys, touchpoints, transitions, funnels, attribution and
channel switching, computed inside the engine."""
