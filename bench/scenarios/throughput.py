"""Throughput with 1, 2, 4 and 8 client processes (spawn context).

Each process does N ops, alternating set and get of 100 B values over 1000
keys of its own. Total ops/s = all ops / (last end - first start), the
median over rounds (after one short warm-up round). The client processes
are spawned once and reused for every system (see pool.py).
"""

from __future__ import annotations

import time
from typing import Any, Dict, List

from .. import lab as L
from ..pool import WorkerError
from ..stats import median

NAME = "throughput"
TITLE = "Throughput, N client processes (ops/s, 50% set / 50% get, 100 B)"

SYSTEMS = [
    (L.TMC_GO, "tcp"), (L.TMC_GO, "unix"),
    (L.TMC_PURE, "unix"),
    (L.REDIS, "tcp"), (L.REDIS, "unix"),
    (L.MEMCACHED, "tcp"), (L.MEMCACHED, "unix"),
    (L.MANAGER, "unix"),
    (L.DISKCACHE, "local"),
    (L.ECHO, "tcp"), (L.ECHO, "unix"),
]

FN = __name__ + ":worker_round"


def worker_round(adapter: Any, wid: int, ops: int, value_size: int) -> List[float]:
    """In a client process: ops alternating set/get; returns [start, end] (monotonic clock)."""
    value = b"t" * value_size
    keys = [f"tp:{wid}:{i % 1000}" for i in range(ops)]
    set_, get = adapter.set, adapter.get
    t0 = time.monotonic()
    for i, k in enumerate(keys):
        if i & 1:
            get(k)
        else:
            set_(k, value)
    return [t0, time.monotonic()]


def run(lab: Any, profile: Any, progress: Any) -> Dict[str, Any]:
    specs = lab.specs(SYSTEMS)
    levels = [n for n in profile.tp_levels if n <= lab.pool_size]
    results: Dict[str, Any] = {"systems": {}, "errors": [], "levels": levels, "ops_per_process": profile.tp_ops}
    progress.scenario(TITLE, len(specs) * len(levels))
    for key, spec in specs:
        entry: Dict[str, Any] = {"key": key, "transport": spec.transport, "label": spec.label, "ops_per_s": {}}
        try:
            pool = lab.pool()
            workers = list(range(max(levels)))
            pool.open(spec, workers)
            try:
                for n in levels:
                    active = workers[:n]
                    pool.run(FN, active, {"ops": max(100, profile.tp_ops // 5), "value_size": 100})  # warm-up
                    rates = []
                    for _ in range(profile.tp_rounds):
                        spans = pool.run(FN, active, {"ops": profile.tp_ops, "value_size": 100})
                        wall = max(e for _, e in spans) - min(s for s, _ in spans)
                        rates.append(n * profile.tp_ops / wall)
                    entry["ops_per_s"][str(n)] = median(rates)
                    progress.step(f"{spec.name} x{n}", f"{entry['ops_per_s'][str(n)]:,.0f} ops/s")
            finally:
                pool.close(workers)
        except Exception as e:
            results["errors"].append({"system": spec.name, "key": key, "error": f"{type(e).__name__}: {e}"})
            if isinstance(e, WorkerError):
                lab.reset_pool()
        if entry["ops_per_s"]:
            results["systems"][spec.name] = entry
    return results
