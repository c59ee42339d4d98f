"""Statistics shared by every step: ``intervals`` (the one Wilson, mean and NPS interval)
and ``multiplicity`` (the one p-value adjustment)."""
