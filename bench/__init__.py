"""Benchmarks of the pipeline against raw Kafka baselines: ``make bench``."""
