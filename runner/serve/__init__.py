"""What the operator serves and says: ``/healthz``, ``/readyz`` and ``/metrics`` (``endpoints``),
the runner's ``metrics`` and the roles' ``usermetrics``, and structured ``logs`` naming the CR."""
