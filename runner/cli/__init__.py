"""The ``ansible-operator`` command: ``run`` and ``version`` (``main``), ``init`` and ``create api``
(``scaffold``), ``vars`` (``varscmd``). Receives argv and the environment; hands a validated
``Config`` and the watches to ``runner.control.app`` (``run``) or to ``runner.scaffold``."""
