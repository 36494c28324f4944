"""Scaling out (``--sharding``): every replica holds a Lease of its own, and each CR is served by
the one live replica a hash ring picks for it, recorded on the CR as a label.

Pure: ``names`` (label keys, identities), ``ring`` (rendezvous hashing), ``members`` (Leases →
who is alive), ``handover`` (what to do with one CR). The edge: ``leases`` (the replica's own Lease
and the ring's listing), ``coordinator`` (label writes, and which CRs this replica may run).
"""
