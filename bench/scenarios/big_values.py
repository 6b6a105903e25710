"""A big value (64 MiB; 8 MiB in --quick): how long its SET takes, and what it does to
another client meanwhile.

Per round and system: a client process (from the pool) GETs a 100 B key in
a loop; this process then SETs the big value, GETs it back (checked) and
deletes it, and tells the other client to stop. Reported: the SET's and the
GET's time, and the other client's worst GET that overlapped the SET (and
its median GET outside it, for scale), median over rounds. Systems take
turns within each round. Both processes take times from CLOCK_MONOTONIC,
which is the same clock in every process.
"""

from __future__ import annotations

import os
import time
from typing import Any, Dict, List, Tuple

from .. import lab as L
from ..pool import WorkerError
from ..stats import median, percentile

NAME = "big_values"
TITLE = "Big values: SET time, and another client's GETs meanwhile"
BIG_KEY = "big:value"
PROBE_KEY = "big:probe"

SYSTEMS = [
    (L.TMC_GO, "tcp"), (L.TMC_GO, "unix"),
    (L.REDIS, "tcp"), (L.REDIS, "unix"),
    (L.REDIS_TMC, "tcp"), (L.REDIS_TMC, "unix"),
]

PROBE = __name__ + ":worker_probe"


def worker_probe(adapter: Any, wid: int, stop: str, limit_s: float = 300.0) -> Tuple[List[int], List[int]]:
    """In a client process: GET PROBE_KEY until the file stop exists; (start, duration) of each GET in ns."""
    get, now = adapter.get, time.monotonic_ns
    starts: List[int] = []
    took: List[int] = []
    give_up = now() + int(limit_s * 1e9)
    while True:
        for _ in range(32):
            t0 = now()
            get(PROBE_KEY)
            t1 = now()
            starts.append(t0)
            took.append(t1 - t0)
        if os.path.exists(stop) or t1 > give_up:
            return starts, took


def _round(lab: Any, a: Any, spec: Any, big: bytes, stop: str) -> Dict[str, float]:
    pool = lab.pool()
    a.set(PROBE_KEY, b"p" * 100)
    pool.open(spec, [0])
    try:
        pool.start(PROBE, [0], {"stop": stop})
        time.sleep(0.3)  # the probe is connected and looping
        t0 = time.monotonic_ns()
        a.set(BIG_KEY, big)
        t1 = time.monotonic_ns()
        got = a.get(BIG_KEY)
        t2 = time.monotonic_ns()
        if got is None or len(got) != len(big) or got != big:
            raise RuntimeError(f"GET of the big value returned {None if got is None else len(got)} bytes, "
                               f"wanted {len(big)}")
        del got
        a.pop(BIG_KEY)
        time.sleep(0.1)
        with open(stop, "w"):
            pass
        starts, took = pool.collect([0], 120)[0]
    finally:
        try:
            os.unlink(stop)
        except OSError:
            pass
        pool.close([0])
    during = [d for s, d in zip(starts, took) if s < t1 and s + d > t0]
    outside = sorted(d for s, d in zip(starts, took) if s + d <= t0 or s >= t1)
    return {
        "set_ms": (t1 - t0) / 1e6,
        "get_ms": (t2 - t1) / 1e6,
        "probe_worst_ms": max(during) / 1e6 if during else 0.0,
        "probe_gets_during": len(during),
        "probe_p50_us": percentile(outside, 50) / 1e3 if outside else 0.0,
    }


def run(lab: Any, profile: Any, progress: Any) -> Dict[str, Any]:
    from ..systems import connect

    specs = lab.specs(SYSTEMS)
    big = os.urandom(1 << 20) * (profile.big_size >> 20) if profile.big_size >= 1 << 20 else os.urandom(profile.big_size)
    results: Dict[str, Any] = {"systems": {}, "errors": [], "size": len(big), "rounds": profile.big_rounds}
    rounds: Dict[str, List[Dict[str, float]]] = {spec.name: [] for _, spec in specs}
    adapters: Dict[str, Any] = {}
    for key, spec in specs:
        try:
            adapters[spec.name] = connect(spec)
        except Exception as e:
            results["errors"].append({"system": spec.name, "key": key, "error": f"{type(e).__name__}: {e}"})
    progress.scenario(TITLE, profile.big_rounds * len(adapters))
    try:
        for r in range(profile.big_rounds):
            for key, spec in specs:
                a = adapters.get(spec.name)
                if a is None:
                    continue
                stop = os.path.join(lab.servers.tmpdir, f"big-stop-{r}")
                try:
                    got = _round(lab, a, spec, big, stop)
                except Exception as e:
                    results["errors"].append({"system": spec.name, "key": key, "error": f"{type(e).__name__}: {e}"})
                    del adapters[spec.name]
                    a.close()
                    if isinstance(e, WorkerError):
                        lab.reset_pool()
                    continue
                rounds[spec.name].append(got)
                progress.step(f"round {r + 1} {spec.name}", f"SET {got['set_ms']:.0f} ms, other client's worst GET "
                                                           f"{got['probe_worst_ms']:.1f} ms")
    finally:
        for a in adapters.values():
            a.close()
    for key, spec in specs:
        rs = rounds[spec.name]
        if rs:
            results["systems"][spec.name] = {"key": key, "transport": spec.transport, "label": spec.label,
                                             **{f: median([x[f] for x in rs]) for f in rs[0]}, "rounds": rs}
    return results
