"""What the operator is told, as validated immutable values (pure): ``watches.yaml`` (``watches``,
with ``rolepaths``, ``selector`` and ``durations``) and the operator's settings (``settings``).
Receives files and flags; hands ``Watch`` and ``Config`` objects to every later stage."""
