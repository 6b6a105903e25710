"""The issue's targets, each a ratio measured in the same run: PASS, MISS or n/a.

A target line compares ours (tiny-mp-cache, Go client path) with its peer:
ratio = ours / peer, and the target holds when ratio <= limit (times) or
ratio >= limit (rates, hit ratio). A stretch target is reported like the
others, but a miss of one does not fail --strict.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from . import lab as L
from .scenarios.memory import runs as memory_runs


def _line(target: str, case: str, ours: Optional[float], peer: Optional[float], op: str, limit: float,
          unit: str, stretch: bool = False) -> Dict[str, Any]:
    ratio = ours / peer if ours is not None and peer else None
    if ratio is None:
        status = "n/a"
    elif op == "<=":
        status = "PASS" if ratio <= limit else "MISS"
    else:
        status = "PASS" if ratio >= limit else "MISS"
    return {"target": target, "case": case, "ours": ours, "peer": peer, "ratio": ratio, "op": op, "limit": limit,
            "unit": unit, "status": status, "stretch": stretch}


def _find(systems: Dict[str, Any], key: str, transport: str) -> Optional[Dict[str, Any]]:
    for entry in systems.values():
        if entry["key"] == key and entry["transport"] == transport:
            return entry
    return None


# Issue 11: (placement, peer, statistic, limit, stretch, ops), of 100 B over tcp and unix. Issue 23:
# the client's own cost, a GET through TinyCache against the same bytes from a raw socket to our server.
BOTH = ("get", "set")
LATENCY = [
    ("same-cpu", L.ECHO, "mean", 1.15, False, BOTH),
    ("same-cpu", L.ECHO, "p99", 1.5, False, BOTH),
    ("same-cpu", L.RAW_TMC, "mean", 1.15, False, ("get",)),
    ("same-cpu", L.REDIS, "mean", 0.5, False, BOTH),
    ("cross-cpu", L.ECHO, "mean", 1.3, False, BOTH),
    ("cross-cpu", L.ECHO, "mean", 1.15, True, BOTH),
    ("cross-cpu", L.ECHO, "p99", 1.5, False, BOTH),
    ("cross-cpu", L.RAW_TMC, "mean", 1.15, False, ("get",)),
    ("cross-cpu", L.REDIS, "mean", 0.5, False, BOTH),
]
LATENCY_SIZE = "100"
PEER_NAMES = {L.ECHO: "echo floor", L.REDIS: "redis-py->Redis", L.RAW_TMC: "raw socket->our server"}


def _latency(results: Dict[str, Any]) -> List[Dict[str, Any]]:
    lines = []
    placements = (results.get("latency") or {}).get("placements", {})
    for where, peer_key, stat, limit, stretch, ops in LATENCY:
        systems = placements.get(where, {}).get("systems", {})
        target = f"{stat} <= {limit:g}x {PEER_NAMES[peer_key]}, {where}" + (" (stretch)" if stretch else "")
        for transport in ("tcp", "unix"):
            ours, peer = _find(systems, L.TMC_GO, transport), _find(systems, peer_key, transport)
            for op in ops:
                o = ours["sizes"].get(LATENCY_SIZE, {}).get(op, {}).get(f"{stat}_us") if ours else None
                p = peer["sizes"].get(LATENCY_SIZE, {}).get(op, {}).get(f"{stat}_us") if peer else None
                lines.append(_line(target, f"{op} {LATENCY_SIZE} B {transport}", o, p, "<=", limit, "us", stretch))
    return lines


# Issue 21: each new type's command and pub/sub against Redis, mean of 100 B, tcp and unix, both placements.
# Server against server (redis-py to each), and our client to our server against redis-py to Redis.
TYPES = [(L.REDIS_TMC, "redis-py->our server"), (L.TMC_GO, "TinyCache->our server")]


def _types(results: Dict[str, Any]) -> List[Dict[str, Any]]:
    from .scenarios.types import OPS

    lines = []
    for where, placement in (results.get("types") or {}).get("placements", {}).items():
        systems = placement.get("systems", {})
        for ours_key, label in TYPES:
            target = f"{label} mean <= 1.0x redis-py->Redis, {where}"
            for transport in ("tcp", "unix"):
                ours, peer = _find(systems, ours_key, transport), _find(systems, L.REDIS, transport)
                for op in OPS:
                    o = ours["ops"].get(op, {}).get("mean_us") if ours else None
                    p = peer["ops"].get(op, {}).get("mean_us") if peer else None
                    lines.append(_line(target, f"{op} {transport}", o, p, "<=", 1.0, "us"))
    return lines


def _throughput(results: Dict[str, Any]) -> List[Dict[str, Any]]:
    lines = []
    systems = (results.get("throughput") or {}).get("systems", {})
    for transport in ("tcp", "unix"):
        ours = _find(systems, L.TMC_GO, transport)
        for peer_key, levels, target in ((L.MEMCACHED, ("2", "4", "8"), "GETs/s >= memcached (pymemcache)"),
                                         (L.TMC_PURE, ("8",), "Go client GETs/s >= pure-Python client")):
            peer = _find(systems, peer_key, transport)
            for n in levels:
                o = ours["ops_per_s"].get(n) if ours else None
                p = peer["ops_per_s"].get(n) if peer else None
                lines.append(_line(target, f"{n} processes {transport}", o, p, ">=", 1.0, "GETs/s"))
    return lines


def _big_values(results: Dict[str, Any]) -> List[Dict[str, Any]]:
    lines = []
    big = results.get("big_values") or {}
    systems = big.get("systems", {})
    size = f"{big.get('size', 0) / 2**20:g} MiB"
    for field, target in (("set_ms", f"SET of {size} <= 1.0x redis-py->Redis"),
                          ("probe_worst_ms", "other client's worst GET during it <= 1.0x Redis's")):
        for transport in ("tcp", "unix"):
            ours, peer = _find(systems, L.TMC_GO, transport), _find(systems, L.REDIS, transport)
            o = ours.get(field) if ours else None
            p = peer.get(field) if peer else None
            lines.append(_line(target, transport, o, p, "<=", 1.0, "ms"))
    return lines


def _shared_values(results: Dict[str, Any]) -> List[Dict[str, Any]]:
    """Issue 19: a 64 MiB value over a unix socket, against a numpy copy of it; the data loader against Redis and shm."""
    sv = results.get("shared_values") or {}
    row = sv.get("sizes", {}).get(str(64 << 20), {})
    copy = row.get("memcpy")
    loader = sv.get("loader", {}).get("systems", {})
    ours = loader.get("tiny-mp-cache")
    return [
        _line("64 MiB get (bytes) <= 2x a numpy copy", "unix", row.get("tmc_get"), copy, "<=", 2.0, "ms"),
        _line("64 MiB zero-copy read (get_buffer) < 1 ms", "unix", row.get("tmc_view"), 1.0 if row else None, "<=", 1.0, "ms"),
        _line("64 MiB set <= 2x a numpy copy", "unix", row.get("tmc_set"), copy, "<=", 2.0, "ms"),
        _line("data loader (8 producers, 16 MiB arrays, 2 each in flight) >= 5x Redis", "unix", ours, loader.get("redis-py->Redis"),
              ">=", 5.0, "arrays/s"),
        _line("data loader >= 0.5x hand-written shared_memory", "unix", ours, loader.get("shared_memory by hand"),
              ">=", 0.5, "arrays/s"),
    ]


def _batch(results: Dict[str, Any]) -> List[Dict[str, Any]]:
    lines = []
    systems = (results.get("batch") or {}).get("systems", {})
    for transport in ("tcp", "unix"):
        ours, peer = _find(systems, L.TMC_GO, transport), _find(systems, L.REDIS_PIPE, transport)
        for op in ("mget", "mset"):
            o = ours[op]["calls_per_s"] if ours else None
            p = peer[op]["calls_per_s"] if peer else None
            lines.append(_line("mget/mset 100 keys >= 2x redis-py pipeline", f"{op} {transport}", o, p, ">=", 2.0,
                               "calls/s"))
    return lines


def _redis_benchmark(results: Dict[str, Any]) -> List[Dict[str, Any]]:
    lines = []
    runs = (results.get("redis_benchmark") or {}).get("runs", {})
    for transport in ("tcp", "unix"):
        for p, limit in ((1, 1.0), (16, 1.2)):
            ours = runs.get(f"tiny-mp-cache|{transport}|{p}")
            peer = runs.get(f"redis|{transport}|{p}")
            for test in ("SET", "GET"):
                o = ours["rps"].get(test) if ours else None
                q = peer["rps"].get(test) if peer else None
                lines.append(_line(f"redis-benchmark -P {p} >= {limit:g}x Redis rps", f"{test} -P {p} {transport}", o,
                                   q, ">=", limit, "req/s"))
    return lines


def _memory(results: Dict[str, Any]) -> List[Dict[str, Any]]:
    m = results.get("memory") or {}
    lines = []
    for run in memory_runs(m):
        o = run["servers"].get("tiny-mp-cache", {}).get("rss")
        p = run["servers"].get("redis", {}).get("rss")
        lines.append(_line("memory <= 1.2x Redis RSS", f"{run['keys']:,} keys x {m.get('value_size', 100)} B", o, p,
                           "<=", 1.2, "bytes"))
    return lines


def _producer_workers(results: Dict[str, Any]) -> List[Dict[str, Any]]:
    lines = []
    modes = (results.get("producer_workers") or {}).get("modes", {})
    for mode in ("keys+pop", "list"):
        systems = modes.get(mode, {})
        for transport in ("tcp", "unix"):
            ours, peer = _find(systems, L.TMC_GO, transport), _find(systems, L.REDIS, transport)
            o = ours["jobs_per_s"] if ours else None
            p = peer["jobs_per_s"] if peer else None
            lines.append(_line("producer/workers >= 1.5x redis-py+Redis", f"{mode} {transport}", o, p, ">=", 1.5,
                               "jobs/s"))
    return lines


def _hit_ratio(results: Dict[str, Any]) -> List[Dict[str, Any]]:
    servers = (results.get("hit_ratio") or {}).get("servers", {})
    o = servers.get("tiny-mp-cache", {}).get("hit_ratio")
    p = servers.get("redis", {}).get("hit_ratio")
    return [_line("hit ratio >= Redis allkeys-lru", "Zipf 0.99", o, p, ">=", 1.0, "hits/req")]


def _near_cache(results: Dict[str, Any]) -> List[Dict[str, Any]]:
    nc = results.get("near_cache") or {}
    hit = nc.get("hit", {})

    def stat(systems: Dict[str, Any], key: str, transport: str, field: str) -> Optional[float]:
        e = _find(systems, key, transport)
        return e.get(field) if e else None

    near_hit = stat(hit, L.TMC_NEAR, "unix", "mean_us")
    lines = [
        _line("near-cache hit mean <= 1 us", "get 100 B", near_hit, 1.0 if near_hit is not None else None, "<=", 1.0,
              "us"),
        _line("near-cache hit mean <= diskcache get mean", "get 100 B", near_hit,
              stat(hit, L.DISKCACHE, "local", "mean_us"), "<=", 1.0, "us"),
    ]
    # Each workload target for both cases: sets drawn from the reads' Zipf (YCSB B), and sets to any key alike.
    for writes_to, zipf in (nc.get("zipf") or {}).items():
        near_ops = stat(zipf, L.TMC_NEAR, "unix", "ops_per_s")
        case = f"8 processes, sets {writes_to}"
        lines += [
            _line("Zipf 95/5 ops/s, near cache >= 5x without", case, near_ops,
                  stat(zipf, L.TMC_GO, "unix", "ops_per_s"), ">=", 5.0, "ops/s"),
            _line("Zipf 95/5 ops/s, near cache >= diskcache", case, near_ops,
                  stat(zipf, L.DISKCACHE, "local", "ops_per_s"), ">=", 1.0, "ops/s"),
            _line("Zipf 95/5 ops/s, near cache >= redis-py cache->Redis (tcp)", case, near_ops,
                  stat(zipf, L.REDIS_CACHE, "tcp", "ops_per_s"), ">=", 1.0, "ops/s"),
        ]
    return lines


def evaluate(results: Dict[str, Any]) -> List[Dict[str, Any]]:
    lines: List[Dict[str, Any]] = []
    for fn, scenario in ((_latency, "latency"), (_types, "types"), (_batch, "batch"), (_throughput, "throughput"),
                         (_producer_workers, "producer_workers"), (_big_values, "big_values"),
                         (_redis_benchmark, "redis_benchmark"), (_memory, "memory"), (_hit_ratio, "hit_ratio"),
                         (_near_cache, "near_cache"), (_shared_values, "shared_values")):
        if scenario in results:
            lines += fn(results)
    return lines
