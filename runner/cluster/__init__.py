"""The Kubernetes API edge: the operator's client for CRs (``kube``), ``discovery``, the jobs'
owner-injecting ``proxy`` (with ``apipath``, ``ownership``, ``access``), ``dependents`` watches,
and ``devcluster`` (kube-lite for tests). Receives reads and writes; hands objects and events back."""
