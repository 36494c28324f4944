"""The control loop: CR event → decision → schedule → reconcile. ``operator`` is the kopf edge,
``decision`` says whether an event needs a run, ``scheduler`` runs one job per CR at a time,
``reconciler`` drives one run (plan → job → result → status), ``leader`` and ``app`` assemble it."""
