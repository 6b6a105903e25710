"""Scenarios, one module each, run in this order. Each has NAME, TITLE and
run(lab, profile, progress) -> a JSON-able dict (with an "errors" list)."""

from . import batch, big_values, hit_ratio, latency, memory, near_cache, producer_workers, redis_benchmark, shared_values, throughput, types

ALL = [latency, types, batch, throughput, producer_workers, big_values, redis_benchmark, memory, hit_ratio, near_cache, shared_values]
BY_NAME = {m.NAME: m for m in ALL}
