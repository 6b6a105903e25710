"""The near cache (issue 13): what a repeat read costs when it never leaves the process, and what that buys.

hit latency: one Python client, this process. HIT_KEYS keys of 100 B are
set and read twice (so every cache holds them), then read again and again
in batches: each batch is one `get` of each key, timed with two
perf_counter_ns calls, and its time / HIT_KEYS is one sample. A clock
read costs about as much as a near-cache hit, so sub-microsecond calls
cannot be timed one by one; the mean is exact, the p50 and p99 are of the
per-batch means (a single slow call is diluted HIT_KEYS times). The
systems take turns in rounds. Rows: TinyCache(near_cache=N) over unix
(its near_cache_stats() must count every timed read as a hit), a plain
dict's get (the floor: a hash lookup and a Python call), diskcache's get,
TinyCache without the near cache (a round trip), and redis-py's
client-side cache (Redis(protocol=3, cache_config=CacheConfig())) against
Redis and, as a diagnostic row, against our server, both over TCP: redis-py's
cache does not work over a unix socket (its CacheProxyConnection needs a
port, and Redis(unix_socket_path=..., cache_config=...) quietly runs
without the cache).

zipf 95/5: 8 client processes (the spawned pool), each running OPS
operations on KEYS keys of 100 B: 95 % gets of keys drawn from a
Zipf(ALPHA) popularity (its own seed; the popularity shuffled over the key
names, the same in every process), 5 % sets, in two cases: the sets go to
keys drawn from the same Zipf (as YCSB's workload B: the hottest keys are
also the most written, so every process's copy of them is invalidated
most), or to any key alike. Before the timed run each process reads once
every key it will read (untimed), so each cache starts warm. All start at
once; ops/s = all ops / (first start .. last end), median over rounds, the
systems taking turns in each round. The near cache's hits, as the clients
counted them, are reported too.

redis-py's cache needs a server whose HELLO reports 7.4 or later: with an
older redis-server its rows are n/a, with redis-py's reason, and a
diagnostic row lowers that check (to 6.0, the first Redis with tracking)
so that redis-py's cache can be seen against the Redis there is.
"""

from __future__ import annotations

import random
import time
from array import array
from itertools import accumulate
from typing import Any, Callable, Dict, List, Optional, Tuple

from .. import lab as L
from ..pool import WorkerError
from ..stats import median, percentile

NAME = "near_cache"
TITLE = "Near cache: hit latency and a Zipf 95/5 workload"
HIT_KEYS = 20  # reads per timed batch
VALUE = 100
KEYS, ALPHA, WRITE_RATIO = 10_000, 1.1, 0.05
DICT = "dict.get (floor)"

HIT_SYSTEMS = [
    (L.TMC_NEAR, "unix"),
    (L.DISKCACHE, "local"),
    (L.TMC_GO, "unix"),
    (L.REDIS_CACHE, "tcp"),
    (L.REDIS_CACHE_UNGATED, "tcp"),
    (L.REDIS_CACHE_TMC, "tcp"),
]
ZIPF_SYSTEMS = [
    (L.TMC_NEAR, "unix"),
    (L.TMC_GO, "unix"),
    (L.DISKCACHE, "local"),
    (L.REDIS_CACHE, "tcp"),
    (L.REDIS_CACHE_UNGATED, "tcp"),
    (L.REDIS_CACHE_TMC, "tcp"),
    (L.REDIS, "unix"),
    (L.MEMCACHED, "unix"),
]

LOAD = __name__ + ":worker_load"
WARM = __name__ + ":worker_warm"
ROUND = __name__ + ":worker_round"
WRITES_TO = ("zipf", "uniform")  # which keys the sets go to: the reads' Zipf (YCSB B), or any key alike


def _value(i: int) -> bytes:
    return (b"%d:" % i).ljust(VALUE, b"v")


def _near_stats(adapter: Any) -> Optional[Dict[str, Any]]:
    cache = getattr(adapter, "cache", None)
    stats = getattr(cache, "near_cache_stats", None)
    return stats() if stats is not None and getattr(adapter, "near", False) else None


# --- hit latency -------------------------------------------------------------------


def _batches(get: Callable[[str], Any], keys: List[str], n: int) -> array:
    """n timed batches of one get per key: each batch's time per get, in ns."""
    out = array("d")
    now, append, k = time.perf_counter_ns, out.append, len(keys)
    for _ in range(n):
        t0 = now()
        for key in keys:
            get(key)
        append((now() - t0) / k)
    return out


def _summary(samples: array) -> Dict[str, float]:
    s = sorted(samples)
    return {"mean_us": sum(s) / len(s) / 1000.0, "p50_us": percentile(s, 50) / 1000.0,
            "p99_us": percentile(s, 99) / 1000.0, "batches": len(s)}


def _hit_latency(lab: Any, profile: Any, progress: Any, results: Dict[str, Any]) -> Dict[str, Any]:
    from ..systems import connect

    keys = [f"nc:hit:{i:02d}" for i in range(HIT_KEYS)]
    values = {k: _value(i) for i, k in enumerate(keys)}
    gets: Dict[str, Callable[[str], Any]] = {DICT: dict(values).get}
    adapters: Dict[str, Any] = {}
    labels = {DICT: (None, "local")}
    for key, spec in lab.specs(HIT_SYSTEMS):
        try:
            a = connect(spec)
        except Exception as e:
            results["not_applicable"][spec.name] = f"{type(e).__name__}: {e}"
            continue
        try:
            for k, v in values.items():
                a.set(k, v)
            for _ in range(2):
                for k, v in values.items():
                    if a.get(k) != v:
                        raise RuntimeError(f"get {k} did not return what was set")
            adapters[spec.name] = a
            gets[spec.name] = a.get
            labels[spec.name] = (key, spec.transport)
        except Exception as e:
            a.close()
            results["errors"].append({"system": spec.name, "key": key, "error": f"{type(e).__name__}: {e}"})
    samples = {name: array("d") for name in gets}
    hits_before = {name: _near_stats(a) for name, a in adapters.items()}
    order = list(gets)
    try:
        progress.scenario(TITLE + ": hit latency", profile.nc_hit_rounds)
        for r in range(profile.nc_hit_rounds):
            shift = r % len(order)
            for name in order[shift:] + order[:shift]:
                samples[name].extend(_batches(gets[name], keys, profile.nc_hit_batches))
            progress.step(f"round {r + 1}/{profile.nc_hit_rounds}", ", ".join(
                f"{n} {sum(samples[n]) / len(samples[n]) / 1000:.2f}" for n in order))
        systems = {}
        for name in order:
            key, transport = labels[name]
            entry = {"key": key, "transport": transport, "label": name.rsplit(" [", 1)[0],
                     **_summary(samples[name])}
            stats = _near_stats(adapters[name]) if name in adapters else None
            if stats is not None:
                before = hits_before[name] or {}
                timed = len(samples[name]) * HIT_KEYS
                entry["near_hits"] = (stats["hits"] - before.get("hits", 0)) / timed
            systems[name] = entry
        return systems
    finally:
        for a in adapters.values():
            a.close()


# --- zipf 95/5 over N processes ------------------------------------------------------


def worker_load(adapter: Any, wid: int, keys: int) -> None:
    """In one client process: store every key (untimed)."""
    names = [f"nc:z:{i}" for i in range(keys)]
    for i in range(0, keys, 500):
        adapter.mset({k: _value(j) for j, k in enumerate(names[i:i + 500], i)})
    if adapter.get(names[0]) != _value(0):
        raise RuntimeError("get did not return what mset stored")


def _trace(wid: int, keys: int, ops: int, alpha: float, write_ratio: float, writes_to: str,
           seed: int) -> List[Tuple[str, bool]]:
    """This process's (key, is a set) per op: reads from Zipf(alpha); sets from the same Zipf or uniform."""
    rng = random.Random(seed * 100 + wid)
    popularity = list(range(keys))
    random.Random(seed).shuffle(popularity)  # the same popularity in every process
    cum = list(accumulate(1.0 / (r ** alpha) for r in range(1, keys + 1)))
    ranks = rng.choices(range(keys), cum_weights=cum, k=ops)
    out = []
    for r in ranks:
        if rng.random() < write_ratio:
            out.append((f"nc:z:{popularity[r] if writes_to == 'zipf' else rng.randrange(keys)}", True))
        else:
            out.append((f"nc:z:{popularity[r]}", False))
    return out


def worker_warm(adapter: Any, wid: int, **trace: Any) -> None:
    """In a client process: read every key the round will read once (untimed): a cache's steady state."""
    get = adapter.get
    for name in {name for name, write in _trace(wid, **trace) if not write}:
        get(name)


def worker_round(adapter: Any, wid: int, start_at: float, **trace: Any) -> Dict[str, Any]:
    """In a client process: at start_at, the trace's gets and sets; [start, end], reads and near-cache hits."""
    ops = _trace(wid, **trace)
    value = _value(0)
    get, set_ = adapter.get, adapter.set
    before = _near_stats(adapter)
    time.sleep(max(0.0, start_at - time.monotonic()))
    t0 = time.monotonic()
    for name, write in ops:
        if write:
            set_(name, value)
        else:
            get(name)
    t1 = time.monotonic()
    after = _near_stats(adapter)
    hits = after["hits"] - before["hits"] if after and before else None
    return {"span": [t0, t1], "reads": sum(1 for _, write in ops if not write), "near_hits": hits}


def _zipf(lab: Any, profile: Any, progress: Any, results: Dict[str, Any]) -> Dict[str, Any]:
    specs = lab.specs(ZIPF_SYSTEMS)
    procs = min(profile.nc_procs, lab.pool_size)
    cases = [(spec, w) for _, spec in specs for w in WRITES_TO]
    rates: Dict[Tuple[str, str], List[float]] = {(spec.name, w): [] for spec, w in cases}
    hit_ratio: Dict[Tuple[str, str], List[float]] = {(spec.name, w): [] for spec, w in cases}
    kinds = {spec.name: key for key, spec in specs}
    failed = set()
    progress.scenario(TITLE + f": Zipf 95/5, {procs} processes", profile.nc_rounds * len(specs))
    for r in range(profile.nc_rounds):
        shift = r % len(specs) if specs else 0
        for key, spec in specs[shift:] + specs[:shift]:
            if spec.name in failed or spec.name in results["not_applicable"]:
                continue
            try:
                pool = lab.pool()
                workers = list(range(procs))
                try:
                    pool.open(spec, workers)
                except WorkerError as e:  # the client refused this server (the workers carry on)
                    results["not_applicable"][spec.name] = str(e).strip().splitlines()[-1]
                    continue
                try:
                    if r == 0:
                        pool.run(LOAD, workers[:1], {"keys": KEYS})
                    for writes_to in WRITES_TO:
                        trace = {"keys": KEYS, "ops": profile.nc_ops, "alpha": ALPHA, "write_ratio": WRITE_RATIO,
                                 "writes_to": writes_to, "seed": r + 1}
                        pool.run(WARM, workers, trace)
                        got = pool.run(ROUND, workers, {**trace, "start_at": time.monotonic() + 0.2})
                        wall = max(g["span"][1] for g in got) - min(g["span"][0] for g in got)
                        rates[spec.name, writes_to].append(procs * profile.nc_ops / wall)
                        if all(g["near_hits"] is not None for g in got):
                            hit_ratio[spec.name, writes_to].append(
                                sum(g["near_hits"] for g in got) / sum(g["reads"] for g in got))
                finally:
                    pool.close(workers)
                progress.step(f"round {r + 1} {spec.name}", ", ".join(
                    f"sets {w} {rates[spec.name, w][-1]:,.0f} ops/s" for w in WRITES_TO))
            except Exception as e:
                failed.add(spec.name)
                results["errors"].append({"system": spec.name, "key": key, "error": f"{type(e).__name__}: {e}"})
                if isinstance(e, WorkerError):
                    lab.reset_pool()
    out: Dict[str, Any] = {w: {} for w in WRITES_TO}
    for spec, w in cases:
        got = rates[spec.name, w]
        if got:
            hits = hit_ratio[spec.name, w]
            out[w][spec.name] = {"key": kinds[spec.name], "transport": spec.transport, "label": spec.label,
                                 "ops_per_s": median(got), "rounds": got, "near_hit_ratio": median(hits) if hits else None}
    return out


def run(lab: Any, profile: Any, progress: Any) -> Dict[str, Any]:
    results: Dict[str, Any] = {"errors": [], "not_applicable": {}, "hit_keys": HIT_KEYS, "value_size": VALUE,
                               "hit_batches": profile.nc_hit_batches * profile.nc_hit_rounds,
                               "keys": KEYS, "alpha": ALPHA, "write_ratio": WRITE_RATIO,
                               "processes": min(profile.nc_procs, lab.pool_size), "ops_per_process": profile.nc_ops,
                               "rounds": profile.nc_rounds, "near_cache_size": lab.near_cache_size}
    results["hit"] = _hit_latency(lab, profile, progress, results)
    results["zipf"] = _zipf(lab, profile, progress, results)
    return results
