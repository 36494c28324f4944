"""What a CR shows: status conditions (``Running``, ``Successful``, ``Failure`` with
``ansibleResult``) computed from a job's result (pure). Receives a ``JobResult`` from
``runner.jobs``; hands new conditions to ``runner.control.reconciler``, which writes them."""
