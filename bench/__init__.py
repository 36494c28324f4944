"""Benchmarks of the runner against bare ansible-runner (``bench/run.sh``)."""
