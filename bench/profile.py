"""How much each scenario does: the full run, and --quick (a smoke run for CI)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Dict, List


@dataclass
class Profile:
    name: str
    # latency: ops per (system, op, size) per round, in each placement; rounds interleave the systems
    latency_ops: int
    latency_warmup: int
    latency_rounds: int
    # mget/mset of batch_keys keys: calls per repeat
    batch_calls: int
    batch_repeats: int
    # throughput: GETs per client process per round, with these process counts
    tp_ops: int
    tp_rounds: int
    # producer/workers: jobs per round
    pw_jobs: int
    pw_rounds: int
    # big values: one SET of big_size bytes per round, while another client GETs
    big_size: int
    big_rounds: int
    # redis-benchmark: requests at -P 1 and at -P 16
    rb_requests_p1: int
    rb_requests_p16: int
    rb_repeats: int
    # memory: each count of keys of mem_value bytes, in fresh servers
    mem_sizes: List[int]
    # hit ratio: distinct keys, requests in the trace, value size, bound as a fraction of keys*value
    hr_keys: int
    hr_requests: int
    # near cache: timed batches of 20 hits per round (hit latency); ops per process per round (Zipf 95/5)
    nc_hit_batches: int = 2000
    nc_hit_rounds: int = 5
    nc_ops: int = 5_000
    nc_rounds: int = 3
    nc_procs: int = 8
    # types: calls per (system, command) and messages per system per round, in each placement
    types_ops: int = 200
    types_warmup: int = 50
    types_rounds: int = 15
    hr_value: int = 1000
    # shared values: set/get of each size, rounds each; the data loader: producers x arrays of dl_size bytes,
    # at most dl_in_flight of them made and not yet consumed (DataLoader's default: 2 per worker; 0: no bound)
    sv_sizes: List[int] = field(default_factory=lambda: [1 << 20, 64 << 20])
    sv_rounds: int = 2
    dl_producers: int = 8
    dl_arrays: int = 2
    dl_size: int = 16 << 20
    dl_in_flight: int = 16
    hr_fraction: float = 0.1
    hr_min_bound: int = 4 << 20
    tp_levels: List[int] = field(default_factory=lambda: [1, 2, 4, 8])
    pw_workers: int = 8
    batch_keys: int = 100
    sizes: List[int] = field(default_factory=lambda: [100, 10240])
    mem_value: int = 100
    rb_clients: int = 50

    def as_dict(self) -> Dict:
        return asdict(self)


FULL = Profile(
    name="full",
    latency_ops=250, latency_warmup=100, latency_rounds=20,
    batch_calls=300, batch_repeats=3,
    tp_ops=5000, tp_rounds=3,
    pw_jobs=10000, pw_rounds=3,
    big_size=64 << 20, big_rounds=3,
    rb_requests_p1=100_000, rb_requests_p16=1_000_000, rb_repeats=3,
    mem_sizes=[100_000, 1_000_000, 5_000_000, 10_000_000],
    hr_keys=100_000, hr_requests=300_000,
    sv_sizes=[1 << 20, 16 << 20, 64 << 20, 256 << 20], sv_rounds=3, dl_arrays=24,
)

QUICK = Profile(
    name="quick",
    latency_ops=40, latency_warmup=20, latency_rounds=3,
    batch_calls=30, batch_repeats=1,
    tp_ops=500, tp_rounds=1,
    pw_jobs=1000, pw_rounds=1,
    big_size=8 << 20, big_rounds=1,
    rb_requests_p1=10_000, rb_requests_p16=50_000, rb_repeats=1,
    mem_sizes=[50_000],
    hr_keys=10_000, hr_requests=30_000,
    nc_hit_batches=300, nc_hit_rounds=2, nc_ops=1000, nc_rounds=1,
    types_ops=30, types_warmup=10, types_rounds=2,
)
