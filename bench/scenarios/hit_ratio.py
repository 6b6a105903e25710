"""Hit ratio under a memory bound, on a Zipf(0.99) trace.

Our server (--max-memory B, its default SIEVE eviction) against redis-server
(maxmemory B, allkeys-lru) with the same B. The trace draws keys from a
Zipf(0.99) popularity over K keys (fixed seed, popularity shuffled over key
names); each request is a read-through: GET, and on a miss SET the value.
Both are driven by the same client (TinyCache's Go client, which talks to
either server; redis-py if the Go library is unavailable). Reported:
hits/requests over the whole trace, and the keys held at the end.
"""

from __future__ import annotations

import random
from itertools import accumulate
from typing import Any, Dict, List

from ..systems import connect
from ..systems import redis_py as redis_sys
from ..systems import tmc as tmc_sys

NAME = "hit_ratio"
TITLE = "Hit ratio under a memory bound (Zipf 0.99 read-through)"
SEED = 20241124


def trace(keys: int, requests: int, alpha: float = 0.99, seed: int = SEED) -> List[str]:
    rng = random.Random(seed)
    cum = list(accumulate(1.0 / (r ** alpha) for r in range(1, keys + 1)))
    names = list(range(keys))
    rng.shuffle(names)
    ranks = rng.choices(range(keys), cum_weights=cum, k=requests)
    return [f"z:{names[r]}" for r in ranks]


def _replay(adapter: Any, keys: List[str], value: bytes) -> int:
    hits = 0
    get, set_ = adapter.get, adapter.set
    for k in keys:
        if get(k) is None:
            set_(k, value)
        else:
            hits += 1
    return hits


def _dbsize(srv: Any) -> Any:
    try:
        import redis

        r = redis.Redis(host=srv.tcp[0], port=srv.tcp[1])
        try:
            return r.dbsize()
        finally:
            r.close()
    except Exception:
        return None


def run(lab: Any, profile: Any, progress: Any) -> Dict[str, Any]:
    bound = max(int(profile.hr_keys * profile.hr_value * profile.hr_fraction), profile.hr_min_bound)
    results: Dict[str, Any] = {"servers": {}, "errors": [], "keys": profile.hr_keys, "requests": profile.hr_requests,
                               "value_size": profile.hr_value, "bound_bytes": bound, "alpha": 0.99}
    keys = trace(profile.hr_keys, profile.hr_requests)
    results["distinct_keys_in_trace"] = len(set(keys))
    value = b"h" * profile.hr_value
    starts = {
        "tiny-mp-cache": (lambda: lab.servers.tmc("tcp", max_memory=bound), "default policy (SIEVE)"),
        "redis": (lambda: lab.servers.redis(max_memory=bound, policy="allkeys-lru"), "allkeys-lru"),
    }
    progress.scenario(TITLE + f", bound {bound / 2**20:.1f} MiB", len(starts))
    for name, (start, policy) in starts.items():
        srv = adapter = None
        try:
            srv = start()
            if srv is None:
                progress.step(name, "skipped: not installed")
                continue
            if lab.have.get("cffi"):
                s = tmc_sys.spec(f"127.0.0.1:{srv.tcp[1]}", "tcp", pure=False)
                client = "TinyCache (Go client)"
            else:
                s = redis_sys.spec(srv.tcp, "tcp")
                client = "redis-py"
            adapter = connect(s)
            hits = _replay(adapter, keys, value)
            ratio = hits / len(keys)
            results["servers"][name] = {"hits": hits, "hit_ratio": ratio, "policy": policy,
                                        "keys_at_end": _dbsize(srv), "client": client}
            progress.step(name, f"hit ratio {ratio:.4f} ({policy})")
        except Exception as e:
            results["errors"].append({"system": name, "key": name, "error": f"{type(e).__name__}: {e}"})
            progress.step(name, f"ERROR {e}")
        finally:
            if adapter is not None:
                adapter.close()
            if srv is not None:
                lab.servers.stop(srv)
    return results
