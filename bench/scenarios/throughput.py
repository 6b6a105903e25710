"""GET throughput with 1, 2, 4 and 8 client processes (spawn context).

Each process first stores up to 1000 keys of its own (100 B values;
untimed), then does N GETs over them. Total GETs/s = all GETs /
(first start .. last end); the processes start together, at a time
the harness gives them. The systems take turns within each round, and
the result is the median over rounds. The client processes are spawned
once and reused for every system (see pool.py). The echo floor is not
here: its server answers one connection at a time.
"""

from __future__ import annotations

import time
from typing import Any, Dict, List

from .. import lab as L
from ..pool import WorkerError
from ..stats import median

NAME = "throughput"
TITLE = "GET throughput, N client processes (GETs/s, 100 B)"
MAX_KEYS = 1000  # per process

SYSTEMS = [
    (L.TMC_GO, "tcp"), (L.TMC_GO, "unix"),
    (L.TMC_PURE, "tcp"), (L.TMC_PURE, "unix"),
    (L.REDIS, "tcp"), (L.REDIS, "unix"),
    (L.MEMCACHED, "tcp"), (L.MEMCACHED, "unix"),
    (L.MANAGER, "unix"),
    (L.DISKCACHE, "local"),
]

LOAD = __name__ + ":worker_load"
FN = __name__ + ":worker_round"


def _keys(wid: int, n: int) -> List[str]:
    return [f"tp:{wid}:{i}" for i in range(n)]


def worker_load(adapter: Any, wid: int, keys: int, value_size: int) -> None:
    """In a client process: store this process's keys, and check that a few read back."""
    value = b"t" * value_size
    for k in _keys(wid, keys):
        adapter.set(k, value)
    for k in _keys(wid, keys)[:10]:
        if adapter.get(k) != value:
            raise RuntimeError(f"get {k} did not return what was set")


def worker_round(adapter: Any, wid: int, keys: int, ops: int, start_at: float) -> List[float]:
    """In a client process: at start_at, ops GETs over this process's keys; returns [start, end] (monotonic clock)."""
    names = _keys(wid, keys)
    names = [names[i % keys] for i in range(ops)]
    get = adapter.get
    time.sleep(max(0.0, start_at - time.monotonic()))
    t0 = time.monotonic()
    for k in names:
        get(k)
    return [t0, time.monotonic()]


def run(lab: Any, profile: Any, progress: Any) -> Dict[str, Any]:
    specs = lab.specs(SYSTEMS)
    levels = [n for n in profile.tp_levels if n <= lab.pool_size]
    results: Dict[str, Any] = {"systems": {}, "errors": [], "levels": levels, "ops_per_process": profile.tp_ops,
                               "rounds": profile.tp_rounds}
    rates: Dict[str, Dict[str, List[float]]] = {spec.name: {str(n): [] for n in levels} for _, spec in specs}
    failed = set()
    keys = min(MAX_KEYS, profile.tp_ops)
    progress.scenario(TITLE, profile.tp_rounds * len(specs))
    for r in range(profile.tp_rounds):
        for key, spec in specs:
            if spec.name in failed:
                continue
            try:
                pool = lab.pool()
                workers = list(range(max(levels)))
                pool.open(spec, workers)
                try:
                    pool.run(LOAD, workers, {"keys": keys, "value_size": 100})
                    for n in levels:
                        start_at = time.monotonic() + 0.1
                        spans = pool.run(FN, workers[:n], {"keys": keys, "ops": profile.tp_ops, "start_at": start_at})
                        wall = max(e for _, e in spans) - min(s for s, _ in spans)
                        rates[spec.name][str(n)].append(n * profile.tp_ops / wall)
                finally:
                    pool.close(workers)
                progress.step(f"round {r + 1} {spec.name}",
                              "  ".join(f"x{n} {rates[spec.name][str(n)][-1]:,.0f}" for n in levels))
            except Exception as e:
                failed.add(spec.name)
                results["errors"].append({"system": spec.name, "key": key, "error": f"{type(e).__name__}: {e}"})
                if isinstance(e, WorkerError):
                    lab.reset_pool()
    for key, spec in specs:
        got = {n: v for n, v in rates[spec.name].items() if v}
        if got:
            results["systems"][spec.name] = {"key": key, "transport": spec.transport, "label": spec.label,
                                             "ops_per_s": {n: median(v) for n, v in got.items()}, "rounds": got}
    return results
