"""mget/mset of 100 keys (100 B values) from one Python client.

Each call writes (mset) or reads (mget) the same 100 keys. Reported: p50
per call and throughput in calls/s (median over repeats; a call moves 100
keys). The peers of the target are redis-py's pipeline of 100 GETs/SETs,
and redis-py's own MGET/MSET is shown too, as is a TinyCache pipeline.
The echo floor is for single commands only (the latency scenario).
"""

from __future__ import annotations

import time
from typing import Any, Dict, List

from .. import lab as L
from ..stats import median, summarize_ns
from ..systems import Unsupported

NAME = "batch"
TITLE = "mget/mset of 100 keys (one client)"

SYSTEMS = [
    (L.TMC_GO, "tcp"), (L.TMC_GO, "unix"),
    (L.TMC_PURE, "tcp"), (L.TMC_PURE, "unix"),
    (L.TMC_PIPE, "tcp"), (L.TMC_PIPE, "unix"),
    (L.REDIS, "tcp"), (L.REDIS, "unix"),
    (L.REDIS_PIPE, "tcp"), (L.REDIS_PIPE, "unix"),
    (L.MEMCACHED, "tcp"), (L.MEMCACHED, "unix"),
    (L.MANAGER, "unix"),
    (L.DISKCACHE, "local"),
]


def _round(adapter: Any, keys: List[str], mapping: Dict[str, bytes], calls: int) -> Dict[str, Dict[str, float]]:
    out = {}
    now = time.perf_counter_ns
    for op, fn, arg in (("mset", adapter.mset, mapping), ("mget", adapter.mget, keys)):
        samples = []
        t_start = now()
        for _ in range(calls):
            t0 = now()
            fn(arg)
            samples.append(now() - t0)
        total = now() - t_start
        s = summarize_ns(samples)
        s["calls_per_s"] = calls / (total / 1e9)
        out[op] = s
    return out


def run(lab: Any, profile: Any, progress: Any) -> Dict[str, Any]:
    from ..systems import connect

    n = profile.batch_keys
    keys = [f"batch:{i}" for i in range(n)]
    mapping = {k: (b"%03d" % i) * (profile.mem_value // 3) + b"x" * (profile.mem_value % 3) for i, k in enumerate(keys)}
    specs = lab.specs(SYSTEMS)
    results: Dict[str, Any] = {"systems": {}, "errors": [], "keys": n, "calls": profile.batch_calls}
    adapters = {}
    notes: Dict[str, Dict[str, str]] = {}
    for key, spec in specs:
        try:
            a = connect(spec)
            a.mset(mapping)
            got = a.mget(keys)
            if list(got) != [mapping[k] for k in keys]:
                raise RuntimeError("mget did not return what mset stored")
            _round(a, keys, mapping, max(3, profile.batch_calls // 10))  # warm-up
            adapters[spec.name] = (key, spec, a)
            notes[spec.name] = {op: v for op, v in a.notes.items() if op in ("mget", "mset")}
        except Unsupported as e:
            results.setdefault("not_applicable", {})[spec.name] = str(e)
        except Exception as e:
            results["errors"].append({"system": spec.name, "key": key, "error": f"{type(e).__name__}: {e}"})
    reps: Dict[str, List[Dict[str, Dict[str, float]]]] = {name: [] for name in adapters}
    progress.scenario(TITLE, profile.batch_repeats * len(adapters))
    try:
        for _ in range(profile.batch_repeats):
            for name, (key, spec, a) in list(adapters.items()):
                try:
                    r = _round(a, keys, mapping, profile.batch_calls)
                except Exception as e:
                    results["errors"].append({"system": name, "key": key, "error": f"{type(e).__name__}: {e}"})
                    del adapters[name]
                    a.close()
                    continue
                reps[name].append(r)
                progress.step(name, f"mset {r['mset']['p50_us']:.0f} us  mget {r['mget']['p50_us']:.0f} us")
    finally:
        for _, _, a in adapters.values():
            a.close()
    for key, spec in specs:
        rs = reps.get(spec.name)
        if not rs:
            continue
        entry = {"key": key, "transport": spec.transport, "label": spec.label, "notes": notes.get(spec.name, {})}
        for op in ("mset", "mget"):
            entry[op] = {f: median([r[op][f] for r in rs]) for f in rs[0][op]}
        results["systems"][spec.name] = entry
    return results

