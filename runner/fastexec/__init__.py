"""The warm executor (``--executor=fast``): the same jobs as ``runner.jobs.executor``, run by warm
worker processes (``zygote``) that have already imported Ansible. ``executor`` is the door; the
rest is its workers, wire protocol, controller and module sides. Receives a ``JobSpec``; hands a
``JobOutcome`` back."""
