"""Statistics shared by every step: ``intervals`` (the one Wilson, mean and NPS interval,
and the Newcombe and Poisson-rate difference intervals), ``multiplicity`` (the one p-value
adjustment) and ``changes`` (the temporal scan statistic for shifts and episodes)."""
